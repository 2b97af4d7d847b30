/** @file
 * cvae/tensor.h: dense float32 tensors, row-major, up to 5 dimensions (NCHW for images). */
#ifndef CVAE_TENSOR_H
#define CVAE_TENSOR_H

#include "cvae/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Highest tensor rank (N, C, H, W plus one more for kernel tables). */
#define CVAE_MAX_DIMS 5

enum {
    CVAE_TENSOR_OWNS_DATA = 1u << 0,     /**< data is freed with the tensor */
    CVAE_TENSOR_REQUIRES_GRAD = 1u << 1, /**< gradients flow into this tensor */
    CVAE_TENSOR_PARAM = 1u << 2,         /**< owned by a cvae_params block */
    CVAE_TENSOR_ON_TAPE = 1u << 3        /**< lives in a tape's arena; freed by cvae_tape_reset */
};

/** A dense float32 tensor. Fields are public for reading; change them only
 *  through the functions below. */
typedef struct cvae_tensor {
    float *data;                   /**< size elements, row-major */
    float *grad;                   /**< size elements or NULL (no gradient yet / none wanted) */
    int64_t shape[CVAE_MAX_DIMS];  /**< extents; unused trailing entries are 1 */
    int64_t size;                  /**< product of the extents */
    int ndim;                      /**< 1..CVAE_MAX_DIMS */
    uint32_t flags;                /**< CVAE_TENSOR_* bits */
    const char *name;              /**< optional label (static storage), may be NULL */
} cvae_tensor;

/** Allocates a zero-filled tensor of shape[0..ndim). Free with cvae_tensor_free. */
CVAE_API cvae_status cvae_tensor_new(int ndim, const int64_t *shape, cvae_tensor **out);

/** A tensor header over caller memory `data` (not copied, not freed). */
CVAE_API cvae_status cvae_tensor_wrap(float *data, int ndim, const int64_t *shape,
                                      cvae_tensor **out);

/** Releases a tensor made by cvae_tensor_new or cvae_tensor_wrap. NULL is a no-op;
 *  tape and parameter tensors are ignored (their owner frees them). */
CVAE_API void cvae_tensor_free(cvae_tensor *t);

/** Checks a shape (1..5 dims, each extent >= 1, product without overflow) and
 *  stores its element count in *size. */
CVAE_API cvae_status cvae_shape_check(int ndim, const int64_t *shape, int64_t *size);

/** True when both tensors have the same ndim and extents. */
CVAE_API int cvae_tensor_same_shape(const cvae_tensor *a, const cvae_tensor *b);

/** Sets every element to v. */
CVAE_API cvae_status cvae_tensor_fill(cvae_tensor *t, float v);

/** Copies src's elements into dst; both must hold the same number of elements. */
CVAE_API cvae_status cvae_tensor_copy(cvae_tensor *dst, const cvae_tensor *src);

/** Copies n floats from `src` into t (n must equal t->size). */
CVAE_API cvae_status cvae_tensor_set_data(cvae_tensor *t, const float *src, int64_t n);

/** Changes t's shape in place to one with the same element count. One extent
 *  may be -1 and is inferred. */
CVAE_API cvae_status cvae_tensor_reshape(cvae_tensor *t, int ndim, const int64_t *shape);

/** A new header sharing t's data with another shape of the same size (one extent
 *  may be -1). Free it with cvae_tensor_free; t must outlive it. */
CVAE_API cvae_status cvae_tensor_view(const cvae_tensor *t, int ndim, const int64_t *shape,
                                      cvae_tensor **out);

/** Fills t with N(mean, std^2) from the counter-based stream (seed, stream). */
CVAE_API cvae_status cvae_tensor_randn(cvae_tensor *t, uint64_t seed, uint64_t stream,
                                       float mean, float std);

/** Fills t with U[lo, hi) from the counter-based stream (seed, stream). */
CVAE_API cvae_status cvae_tensor_rand_uniform(cvae_tensor *t, uint64_t seed, uint64_t stream,
                                              float lo, float hi);

/** Row-major offset of index idx[0..ndim), or -1 when out of range. */
CVAE_API int64_t cvae_tensor_offset(const cvae_tensor *t, const int64_t *idx);

/** Element at idx[0..ndim) (0.0f when out of range; for tests and debugging). */
CVAE_API float cvae_tensor_get(const cvae_tensor *t, const int64_t *idx);

/** Sets the element at idx[0..ndim); CVAE_ERR_RANGE when out of range. */
CVAE_API cvae_status cvae_tensor_set(cvae_tensor *t, const int64_t *idx, float v);

/** Returns CVAE_ERR_NUMERIC (naming the first bad index) if any element is NaN or Inf. */
CVAE_API cvae_status cvae_tensor_check_finite(const cvae_tensor *t, const char *what);

#ifdef __cplusplus
}
#endif
#endif
