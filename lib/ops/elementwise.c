#include <math.h>

#include "cvae/ops.h"
#include "ops/elementwise.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

void cvae__axpby_forward(float *y, const float *a, const float *b, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + s * b[i];
}

void cvae__mul_forward(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void cvae__mul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                        int64_t n)
{
    if (da)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i] * b[i];
    if (db)
        for (int64_t i = 0; i < n; i++) db[i] += dy[i] * a[i];
}

void cvae__scaled_add(float *dx, const float *dy, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += s * dy[i];
}

void cvae__bias_add_forward(float *y, const float *x, const float *b, int64_t n, int64_t c,
                            int64_t s)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            int64_t o = (i * c + k) * s;
            for (int64_t j = 0; j < s; j++) y[o + j] = x[o + j] + b[k];
        }
}

void cvae__bias_add_backward(float *db, const float *dy, int64_t n, int64_t c, int64_t s)
{
    for (int64_t k = 0; k < c; k++) {
        double acc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *g = dy + (i * c + k) * s;
            for (int64_t j = 0; j < s; j++) acc += g[j];
        }
        db[k] += (float)acc;
    }
}

/* ---- add, sub, mul: two same-shaped inputs ---- */

typedef enum bin_kind { ADD, SUB, MUL } bin_kind;

static cvae_status add_backward(cvae_tape *t, const cvae__node *nd)
{
    const float *sign = nd->ctx; /* +1 add, -1 sub */
    cvae_tensor *a = nd->in[0], *b = nd->in[1];
    const float *dy = nd->out->grad;
    if (cvae__needs_grad(a)) {
        float *da = cvae__tape_grad(t, a);
        if (!da) return CVAE_ERR_NOMEM;
        cvae__scaled_add(da, dy, 1.0f, a->size);
    }
    if (cvae__needs_grad(b)) {
        float *db = cvae__tape_grad(t, b);
        if (!db) return CVAE_ERR_NOMEM;
        cvae__scaled_add(db, dy, *sign, b->size);
    }
    return CVAE_OK;
}

static cvae_status mul_backward(cvae_tape *t, const cvae__node *nd)
{
    cvae_tensor *a = nd->in[0], *b = nd->in[1];
    float *da = NULL, *db = NULL;
    if (cvae__needs_grad(a) && !(da = cvae__tape_grad(t, a))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(b) && !(db = cvae__tape_grad(t, b))) return CVAE_ERR_NOMEM;
    cvae__mul_backward(da, db, nd->out->grad, a->data, b->data, a->size);
    return CVAE_OK;
}

static cvae_status binary_op(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, bin_kind kind,
                             cvae_tensor **y, const char *fn)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(a, fn);
    CVAE_CHECK_NULL(b, fn);
    CVAE_CHECK_NULL(y, fn);
    char sa[64], sb[64];
    if (!cvae_tensor_same_shape(a, b))
        return cvae__error(CVAE_ERR_SHAPE, "%s: a %s and b %s differ", fn,
                           cvae__shape_str(a, sa, sizeof sa), cvae__shape_str(b, sb, sizeof sb));
    cvae_tensor *in[2] = {a, b}, *out;
    cvae__op_alloc al = cvae__op_begin(t, fn);
    out = cvae__op_output(&al, a->ndim, a->shape, in, 2);
    CVAE_TRY(cvae__op_ready(&al));
    if (kind == MUL) {
        cvae__mul_forward(out->data, a->data, b->data, a->size);
        CVAE_TRY(cvae__op_record(&al, mul_backward, out, in, 2, 0, NULL));
    } else {
        float s = kind == ADD ? 1.0f : -1.0f, *c;
        cvae__axpby_forward(out->data, a->data, b->data, s, a->size);
        CVAE_TRY(cvae__op_record(&al, add_backward, out, in, 2, sizeof *c, (void **)&c));
        if (c) *c = s;
    }
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_add(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y)
{
    return binary_op(t, a, b, ADD, y, CVAE__OP_ADD);
}

cvae_status cvae_op_sub(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y)
{
    return binary_op(t, a, b, SUB, y, CVAE__OP_SUB);
}

cvae_status cvae_op_mul(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y)
{
    return binary_op(t, a, b, MUL, y, CVAE__OP_MUL);
}

/* ---- scale ---- */

static cvae_status scale_backward(cvae_tape *t, const cvae__node *nd)
{
    cvae_tensor *x = nd->in[0];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    cvae__scaled_add(dx, nd->out->grad, *(const float *)nd->ctx, x->size);
    return CVAE_OK;
}

cvae_status cvae_op_scale(cvae_tape *t, cvae_tensor *x, float s, cvae_tensor **y)
{
    const char *fn = CVAE__OP_SCALE;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    if (!isfinite(s))
        return cvae__error(CVAE_ERR_NUMERIC, "%s: factor %g is not finite", fn, (double)s);
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, x->ndim, x->shape, &x, 1);
    CVAE_TRY(cvae__op_ready(&al));
    for (int64_t i = 0; i < x->size; i++) out->data[i] = s * x->data[i];
    float *c;
    CVAE_TRY(cvae__op_record(&al, scale_backward, out, &x, 1, sizeof *c, (void **)&c));
    if (c) *c = s;
    *y = out;
    return CVAE_OK;
}

/* ---- bias_add ---- */

static cvae_status bias_add_backward(cvae_tape *t, const cvae__node *nd)
{
    cvae_tensor *x = nd->in[0], *b = nd->in[1];
    const float *dy = nd->out->grad;
    if (cvae__needs_grad(x)) {
        float *dx = cvae__tape_grad(t, x);
        if (!dx) return CVAE_ERR_NOMEM;
        cvae__scaled_add(dx, dy, 1.0f, x->size);
    }
    if (cvae__needs_grad(b)) {
        float *db = cvae__tape_grad(t, b);
        if (!db) return CVAE_ERR_NOMEM;
        int64_t n = x->shape[0], c = x->shape[1];
        cvae__bias_add_backward(db, dy, n, c, x->size / (n * c));
    }
    return CVAE_OK;
}

cvae_status cvae_op_bias_add(cvae_tape *t, cvae_tensor *x, cvae_tensor *b, cvae_tensor **y)
{
    const char *fn = CVAE__OP_BIAS_ADD;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(b, fn);
    CVAE_CHECK_NULL(y, fn);
    char sa[64], sb[64];
    if (x->ndim < 2 || b->ndim != 1 || b->shape[0] != x->shape[1])
        return cvae__error(CVAE_ERR_SHAPE,
                           "%s: x %s and b %s do not fit (want [N, C, ...] and [C])", fn,
                           cvae__shape_str(x, sa, sizeof sa), cvae__shape_str(b, sb, sizeof sb));
    cvae_tensor *in[2] = {x, b}, *out;
    cvae__op_alloc al = cvae__op_begin(t, fn);
    out = cvae__op_output(&al, x->ndim, x->shape, in, 2);
    CVAE_TRY(cvae__op_ready(&al));
    int64_t n = x->shape[0], c = x->shape[1];
    cvae__bias_add_forward(out->data, x->data, b->data, n, c, x->size / (n * c));
    CVAE_TRY(cvae__op_record(&al, bias_add_backward, out, in, 2, 0, NULL));
    *y = out;
    return CVAE_OK;
}
