#include <math.h>
#include <stdio.h>

#include "core/internal.h"

cvae_status cvae_shape_check(int ndim, const int64_t *shape, int64_t *size)
{
    CVAE_CHECK_NULL(shape, "cvae_shape_check");
    if (ndim < 1 || ndim > CVAE_MAX_DIMS)
        return cvae__error(CVAE_ERR_SHAPE, "tensor rank %d outside [1, %d]", ndim, CVAE_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return cvae__error(CVAE_ERR_SHAPE, "extent %lld of dimension %d is not positive",
                               (long long)shape[i], i);
        if (!cvae__mul_ok(n, shape[i], &n) || n > (INT64_MAX / 8))
            return cvae__error(CVAE_ERR_NOMEM, "tensor size overflows at dimension %d", i);
    }
    if (size) *size = n;
    return CVAE_OK;
}

cvae_status cvae__tensor_init(cvae_tensor *t, int ndim, const int64_t *shape)
{
    int64_t size;
    CVAE_TRY(cvae_shape_check(ndim, shape, &size));
    memset(t, 0, sizeof *t);
    for (int i = 0; i < CVAE_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->ndim = ndim;
    t->size = size;
    return CVAE_OK;
}

const char *cvae__shape_str(const cvae_tensor *t, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, n - used, "[");
    for (int i = 0; t && i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

cvae_status cvae_tensor_new(int ndim, const int64_t *shape, cvae_tensor **out)
{
    CVAE_CHECK_NULL(out, "cvae_tensor_new");
    cvae_tensor h;
    CVAE_TRY(cvae__tensor_init(&h, ndim, shape));
    cvae_tensor *t = cvae__malloc(sizeof *t);
    if (!t) return cvae__nomem("cvae_tensor_new", sizeof *t);
    size_t bytes = (size_t)h.size * sizeof(float);
    h.data = cvae__aligned_alloc(bytes);
    if (!h.data) {
        cvae__free(t);
        return cvae__nomem("cvae_tensor_new", bytes);
    }
    memset(h.data, 0, bytes);
    h.flags = CVAE_TENSOR_OWNS_DATA;
    *t = h;
    *out = t;
    return CVAE_OK;
}

cvae_status cvae_tensor_wrap(float *data, int ndim, const int64_t *shape, cvae_tensor **out)
{
    CVAE_CHECK_NULL(data, "cvae_tensor_wrap");
    CVAE_CHECK_NULL(out, "cvae_tensor_wrap");
    cvae_tensor h;
    CVAE_TRY(cvae__tensor_init(&h, ndim, shape));
    cvae_tensor *t = cvae__malloc(sizeof *t);
    if (!t) return cvae__nomem("cvae_tensor_wrap", sizeof *t);
    h.data = data;
    *t = h;
    *out = t;
    return CVAE_OK;
}

void cvae_tensor_free(cvae_tensor *t)
{
    if (!t || (t->flags & (CVAE_TENSOR_ON_TAPE | CVAE_TENSOR_PARAM))) return;
    if (t->flags & CVAE_TENSOR_OWNS_DATA) {
        cvae__aligned_free(t->data);
        cvae__aligned_free(t->grad);
    }
    cvae__free(t);
}

int cvae_tensor_same_shape(const cvae_tensor *a, const cvae_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

cvae_status cvae_tensor_fill(cvae_tensor *t, float v)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_fill");
    for (int64_t i = 0; i < t->size; i++) t->data[i] = v;
    return CVAE_OK;
}

cvae_status cvae_tensor_copy(cvae_tensor *dst, const cvae_tensor *src)
{
    CVAE_CHECK_NULL(dst, "cvae_tensor_copy");
    CVAE_CHECK_NULL(src, "cvae_tensor_copy");
    if (dst->size != src->size)
        return cvae__error(CVAE_ERR_SHAPE, "cvae_tensor_copy: %lld elements into %lld",
                           (long long)src->size, (long long)dst->size);
    if (dst->data != src->data) memmove(dst->data, src->data, (size_t)src->size * sizeof(float));
    return CVAE_OK;
}

cvae_status cvae_tensor_set_data(cvae_tensor *t, const float *src, int64_t n)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_set_data");
    CVAE_CHECK_NULL(src, "cvae_tensor_set_data");
    if (n != t->size)
        return cvae__error(CVAE_ERR_SHAPE, "cvae_tensor_set_data: %lld values for %lld elements",
                           (long long)n, (long long)t->size);
    memcpy(t->data, src, (size_t)n * sizeof(float));
    return CVAE_OK;
}

/* Resolves a -1 extent against `size` into res[]. */
static cvae_status resolve_shape(int64_t size, int ndim, const int64_t *shape, int64_t *res)
{
    if (ndim < 1 || ndim > CVAE_MAX_DIMS)
        return cvae__error(CVAE_ERR_SHAPE, "reshape: rank %d outside [1, %d]", ndim, CVAE_MAX_DIMS);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        res[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 1 || !cvae__mul_ok(known, shape[i], &known))
            return cvae__error(CVAE_ERR_SHAPE, "reshape: bad extent %lld at dimension %d",
                               (long long)shape[i], i);
    }
    if (infer >= 0) {
        if (size % known)
            return cvae__error(CVAE_ERR_SHAPE, "reshape: %lld elements do not divide by %lld",
                               (long long)size, (long long)known);
        res[infer] = size / known;
        known = size;
    }
    if (known != size)
        return cvae__error(CVAE_ERR_SHAPE, "reshape: %lld elements into a shape of %lld",
                           (long long)size, (long long)known);
    return CVAE_OK;
}

cvae_status cvae_tensor_reshape(cvae_tensor *t, int ndim, const int64_t *shape)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_reshape");
    CVAE_CHECK_NULL(shape, "cvae_tensor_reshape");
    int64_t res[CVAE_MAX_DIMS] = {0};
    CVAE_TRY(resolve_shape(t->size, ndim, shape, res));
    for (int i = 0; i < CVAE_MAX_DIMS; i++) t->shape[i] = i < ndim ? res[i] : 1;
    t->ndim = ndim;
    return CVAE_OK;
}

cvae_status cvae_tensor_view(const cvae_tensor *t, int ndim, const int64_t *shape, cvae_tensor **out)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_view");
    CVAE_CHECK_NULL(shape, "cvae_tensor_view");
    int64_t res[CVAE_MAX_DIMS] = {0};
    CVAE_TRY(resolve_shape(t->size, ndim, shape, res));
    return cvae_tensor_wrap(t->data, ndim, res, out);
}

cvae_status cvae_tensor_randn(cvae_tensor *t, uint64_t seed, uint64_t stream, float mean, float std)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_randn");
    cvae_rng_fill_normal(seed, stream, mean, std, t->data, t->size);
    return CVAE_OK;
}

cvae_status cvae_tensor_rand_uniform(cvae_tensor *t, uint64_t seed, uint64_t stream, float lo, float hi)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_rand_uniform");
    cvae_rng_fill_uniform(seed, stream, lo, hi, t->data, t->size);
    return CVAE_OK;
}

int64_t cvae_tensor_offset(const cvae_tensor *t, const int64_t *idx)
{
    if (!t || !idx) return -1;
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (idx[i] < 0 || idx[i] >= t->shape[i]) return -1;
        off = off * t->shape[i] + idx[i];
    }
    return off;
}

float cvae_tensor_get(const cvae_tensor *t, const int64_t *idx)
{
    int64_t off = cvae_tensor_offset(t, idx);
    return off < 0 ? 0.0f : t->data[off];
}

cvae_status cvae_tensor_set(cvae_tensor *t, const int64_t *idx, float v)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_set");
    CVAE_CHECK_NULL(idx, "cvae_tensor_set");
    int64_t off = cvae_tensor_offset(t, idx);
    if (off < 0) return cvae__error(CVAE_ERR_RANGE, "cvae_tensor_set: index out of range");
    t->data[off] = v;
    return CVAE_OK;
}

cvae_status cvae_tensor_check_finite(const cvae_tensor *t, const char *what)
{
    CVAE_CHECK_NULL(t, "cvae_tensor_check_finite");
    for (int64_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i]))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: element %lld is %s", what ? what : "tensor",
                               (long long)i, isnan(t->data[i]) ? "NaN" : "Inf");
    return CVAE_OK;
}

cvae_status cvae__check_labels(const int32_t *labels, int64_t n, int64_t k, const char *fn)
{
    if (!labels) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: labels is NULL", fn);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return cvae__error(CVAE_ERR_RANGE, "%s: label %d out of range [0, %lld) at sample %lld",
                               fn, (int)labels[i], (long long)k, (long long)i);
    return CVAE_OK;
}
