#include "ops/shape.h"
#include "cvae/ops.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

void cvae__concat_forward(float *y, const float *const *xs, const int64_t *ext, int n,
                          int64_t outer, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n; i++) {
            size_t len = (size_t)(ext[i] * inner);
            memcpy(y, xs[i] + (size_t)o * len, len * sizeof(float));
            y += len;
        }
}

void cvae__concat_forward_ref(float *y, const float *const *xs, const int64_t *ext, int n,
                              int64_t outer, int64_t inner)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += ext[i];
    for (int64_t e = 0; e < outer * total * inner; e++) {
        int64_t o = e / (total * inner), a = e / inner % total, j = e % inner;
        int i = 0;
        while (a >= ext[i]) a -= ext[i++];
        y[e] = xs[i][(o * ext[i] + a) * inner + j];
    }
}

void cvae__slice_add(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                     int64_t ext, int64_t inner)
{
    int64_t len = ext * inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + (o * total + off) * inner;
        float *d = dst + o * len;
        for (int64_t j = 0; j < len; j++) d[j] += s[j];
    }
}

void cvae__slice_add_into(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                          int64_t ext, int64_t inner)
{
    int64_t len = ext * inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + o * len;
        float *d = dst + (o * total + off) * inner;
        for (int64_t j = 0; j < len; j++) d[j] += s[j];
    }
}

void cvae__slice_add_ref(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                         int64_t ext, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t a = 0; a < ext; a++)
            for (int64_t j = 0; j < inner; j++)
                dst[(o * ext + a) * inner + j] += src[(o * total + off + a) * inner + j];
}

void cvae__slice_add_into_ref(float *dst, const float *src, int64_t outer, int64_t total,
                              int64_t off, int64_t ext, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t a = 0; a < ext; a++)
            for (int64_t j = 0; j < inner; j++)
                dst[(o * total + off + a) * inner + j] += src[(o * ext + a) * inner + j];
}

static void outer_inner(const cvae_tensor *x, int axis, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= x->shape[i];
    for (int i = axis + 1; i < x->ndim; i++) *inner *= x->shape[i];
}

/* ---- concat ---- */

static cvae_status concat_backward(cvae_tape *t, const cvae__node *nd)
{
    const int *axis = nd->ctx;
    cvae_tensor *y = nd->out;
    int64_t outer, inner, off = 0;
    outer_inner(y, *axis, &outer, &inner);
    for (int i = 0; i < nd->n_in; i++) {
        cvae_tensor *x = nd->in[i];
        int64_t ext = x->shape[*axis];
        if (cvae__needs_grad(x)) {
            float *dx = cvae__tape_grad(t, x);
            if (!dx) return CVAE_ERR_NOMEM;
            cvae__slice_add(dx, y->grad, outer, y->shape[*axis], off, ext, inner);
        }
        off += ext;
    }
    return CVAE_OK;
}

cvae_status cvae_op_concat(cvae_tape *t, cvae_tensor *const *xs, int n, int axis, cvae_tensor **y)
{
    const char *fn = CVAE__OP_CONCAT;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(xs, fn);
    CVAE_CHECK_NULL(y, fn);
    if (n < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %d inputs, want at least 1", fn, n);
    for (int i = 0; i < n; i++)
        if (!xs[i]) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: input %d is NULL", fn, i);
    const cvae_tensor *x0 = xs[0];
    if (axis < 0 || axis >= x0->ndim)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: axis %d outside [0, %d)", fn, axis, x0->ndim);
    int64_t shape[CVAE_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    char sa[64], sb[64];
    for (int i = 1; i < n; i++) {
        int ok = xs[i]->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == axis || xs[i]->shape[d] == x0->shape[d];
        if (!ok)
            return cvae__error(
                CVAE_ERR_SHAPE, "%s: input %d %s does not fit input 0 %s along axis %d", fn, i,
                cvae__shape_str(xs[i], sa, sizeof sa), cvae__shape_str(x0, sb, sizeof sb), axis);
        if (__builtin_add_overflow(shape[axis], xs[i]->shape[axis], &shape[axis]))
            return cvae__error(CVAE_ERR_NOMEM, "%s: extent along axis %d overflows", fn, axis);
    }
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, x0->ndim, shape, xs, n);
    const float **data = cvae__op_scratch(&al, (size_t)n * sizeof *data);
    int64_t *ext = cvae__op_scratch(&al, (size_t)n * sizeof *ext);
    CVAE_TRY(cvae__op_ready(&al));
    for (int i = 0; i < n; i++) {
        data[i] = xs[i]->data;
        ext[i] = xs[i]->shape[axis];
    }
    int64_t outer, inner;
    outer_inner(out, axis, &outer, &inner);
    cvae__concat_forward(out->data, data, ext, n, outer, inner);
    int *c;
    CVAE_TRY(cvae__op_record(&al, concat_backward, out, xs, n, sizeof *c, (void **)&c));
    if (c) *c = axis;
    *y = out;
    return CVAE_OK;
}

/* ---- split ---- */

typedef struct split_ctx {
    int axis;
    int64_t off;
} split_ctx;

static cvae_status split_backward(cvae_tape *t, const cvae__node *nd)
{
    const split_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *y = nd->out;
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    int64_t outer, inner;
    outer_inner(x, c->axis, &outer, &inner);
    cvae__slice_add_into(dx, y->grad, outer, x->shape[c->axis], c->off, y->shape[c->axis], inner);
    return CVAE_OK;
}

cvae_status cvae_op_split(cvae_tape *t, cvae_tensor *x, int axis, const int64_t *sizes, int n,
                          cvae_tensor **ys)
{
    const char *fn = CVAE__OP_SPLIT;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(sizes, fn);
    CVAE_CHECK_NULL(ys, fn);
    if (n < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %d outputs, want at least 1", fn, n);
    if (axis < 0 || axis >= x->ndim)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: axis %d outside [0, %d)", fn, axis, x->ndim);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 1)
            return cvae__error(CVAE_ERR_SHAPE, "%s: size %d is %lld, not positive", fn, i,
                               (long long)sizes[i]);
        if (__builtin_add_overflow(total, sizes[i], &total) || total > x->shape[axis]) break;
    }
    if (total != x->shape[axis])
        return cvae__error(CVAE_ERR_SHAPE, "%s: sizes do not sum to extent %lld of axis %d", fn,
                           (long long)x->shape[axis], axis);
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor **outs = cvae__op_bytes(&al, (size_t)n * sizeof *outs);
    int64_t outer, inner, off = 0, shape[CVAE_MAX_DIMS];
    outer_inner(x, axis, &outer, &inner);
    memcpy(shape, x->shape, sizeof shape);
    for (int i = 0; outs && i < n; i++) {
        shape[axis] = sizes[i];
        outs[i] = cvae__op_output(&al, x->ndim, shape, &x, 1);
    }
    CVAE_TRY(cvae__op_ready(&al));
    for (int i = 0; i < n; i++) {
        memset(outs[i]->data, 0, (size_t)outs[i]->size * sizeof(float));
        cvae__slice_add(outs[i]->data, x->data, outer, x->shape[axis], off, sizes[i], inner);
        split_ctx *c;
        CVAE_TRY(cvae__op_record(&al, split_backward, outs[i], &x, 1, sizeof *c, (void **)&c));
        if (c) *c = (split_ctx){axis, off};
        off += sizes[i];
    }
    memcpy(ys, outs, (size_t)n * sizeof *ys);
    return CVAE_OK;
}

/* ---- reshape, flatten: y shares x's data; backward adds dy into dx ---- */

static cvae_status reshape_backward(cvae_tape *t, const cvae__node *nd)
{
    cvae_tensor *x = nd->in[0];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    const float *dy = nd->out->grad;
    for (int64_t i = 0; i < x->size; i++) dx[i] += dy[i];
    return CVAE_OK;
}

static cvae_status view_op(cvae_tape *t, cvae_tensor *x, int ndim, const int64_t *shape,
                           cvae_tensor **y, const char *fn)
{
    cvae_tensor *h = NULL;
    /* validate (and resolve -1) on a temporary header; nothing is written on failure */
    cvae_tensor tmp = *x;
    tmp.flags = 0;
    CVAE_TRY(cvae_tensor_reshape(&tmp, ndim, shape));
    cvae__op_alloc al = cvae__op_begin(t, fn);
    h = cvae__op_bytes(&al, sizeof *h);
    CVAE_TRY(cvae__op_ready(&al));
    *h = tmp;
    h->grad = NULL;
    h->name = NULL;
    h->flags = CVAE_TENSOR_ON_TAPE;
    if (cvae_tape_recording(t) && cvae__needs_grad(x)) h->flags |= CVAE_TENSOR_REQUIRES_GRAD;
    CVAE_TRY(cvae__op_record(&al, reshape_backward, h, &x, 1, 0, NULL));
    *y = h;
    return CVAE_OK;
}

cvae_status cvae_op_reshape(cvae_tape *t, cvae_tensor *x, int ndim, const int64_t *shape,
                            cvae_tensor **y)
{
    const char *fn = CVAE__OP_RESHAPE;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(shape, fn);
    CVAE_CHECK_NULL(y, fn);
    return view_op(t, x, ndim, shape, y, fn);
}

cvae_status cvae_op_flatten(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    const char *fn = CVAE__OP_FLATTEN;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    int64_t shape[2] = {x->shape[0], x->size / x->shape[0]};
    return view_op(t, x, 2, shape, y, fn);
}
