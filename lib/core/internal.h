/* Private helpers of the core layer, used by every layer above it. */
#ifndef CVAE_CORE_INTERNAL_H
#define CVAE_CORE_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "cvae/rng.h"
#include "cvae/tensor.h"

#if defined(__GNUC__)
#define CVAE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CVAE_PRINTF(a, b)
#endif

/* Records a formatted message for cvae_last_error() and returns s. */
cvae_status cvae__error(cvae_status s, const char *fmt, ...) CVAE_PRINTF(2, 3);

/* s, with the last message prefixed by "<path>: " when s says a file's contents are bad
 * (CVAE_ERR_FORMAT, CVAE_ERR_SHAPE, CVAE_ERR_NUMERIC); other statuses pass unchanged. */
cvae_status cvae__error_in_file(cvae_status s, const char *path);

/* Allocation through the user-settable allocator. NULL on failure (and on 0 bytes),
 * with no error message set: callers report CVAE_ERR_NOMEM via cvae__nomem. */
void *cvae__malloc(size_t bytes);
void *cvae__calloc(size_t count, size_t size);
void *cvae__realloc(void *p, size_t bytes);
void cvae__free(void *p);
cvae_status cvae__nomem(const char *what, size_t bytes);

/* 64-byte aligned allocation; free with cvae__aligned_free. */
void *cvae__aligned_alloc(size_t bytes);
void cvae__aligned_free(void *p);

/* a*b without overflow into *out (both >= 0); false on overflow. */
static inline bool cvae__mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

#define CVAE_CHECK_NULL(ptr, fn)                                                          \
    do {                                                                                  \
        if ((ptr) == NULL)                                                                \
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: argument '%s' is NULL", fn, #ptr); \
    } while (0)

#define CVAE_TRY(expr)                                                                    \
    do {                                                                                  \
        cvae_status cvae__s = (expr);                                                     \
        if (cvae__s != CVAE_OK) return cvae__s;                                           \
    } while (0)

/* Outputs first .. first + n - 1 of cvae_rng_fill_normal's sequence into out[0..n). */
void cvae__rng_fill_normal_from(uint64_t seed, uint64_t stream, int64_t first, float mean, float std,
                                float *out, int64_t n);

/* Writes "[2, 3, 4]" into buf (for messages). Returns buf. */
const char *cvae__shape_str(const cvae_tensor *t, char *buf, size_t n);

/* Fills a tensor header (no data) after validating the shape. */
cvae_status cvae__tensor_init(cvae_tensor *t, int ndim, const int64_t *shape);

/* Checks labels[0..n) against [0, k); the message names the first bad sample. */
cvae_status cvae__check_labels(const int32_t *labels, int64_t n, int64_t k, const char *fn);

#endif
