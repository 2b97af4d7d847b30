#include "core/blas.h"

#include "cvae/ops.h"
#include "ops/activation.h"
#include "ops/linear.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

void cvae__linear_forward(float *y, const float *x, const float *w, const float *b,
                          const cvae__linear_dims *d)
{
    const int64_t n = d->n, in = d->in, out = d->out;
    for (int64_t i = 0; i < n; i++)
        if (b) memcpy(y + i * out, b, (size_t)out * sizeof(float));
    cvae__sgemm(false, true, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

void cvae__linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const cvae__linear_dims *d)
{
    const int64_t n = d->n, in = d->in, out = d->out;
    if (dx)
        cvae__sgemm(false, false, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    if (dw)
        cvae__sgemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++) db[o] += dy[i * out + o];
}

void cvae__linear_forward_ref(float *y, const float *x, const float *w, const float *b,
                              const cvae__linear_dims *d)
{
    const int64_t n = d->n, in = d->in, out = d->out;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t k = 0; k < in; k++) s += (double)x[i * in + k] * w[o * in + k];
            y[i * out + o] = (float)s;
        }
}

void cvae__linear_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, const cvae__linear_dims *d)
{
    const int64_t n = d->n, in = d->in, out = d->out;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            float g = dy[i * out + o];
            if (db) db[o] += g;
            for (int64_t k = 0; k < in; k++) {
                if (dx) dx[i * in + k] += g * w[o * in + k];
                if (dw) dw[o * in + k] += g * x[i * in + k];
            }
        }
}

/* The fused activation, differentiated from the node's output. */
typedef struct linear_ctx {
    cvae__act act;
} linear_ctx;

static cvae_status linear_backward(cvae_tape *t, const cvae__node *nd)
{
    const linear_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *w = nd->in[1];
    float *d[3] = {NULL, NULL, NULL};
    CVAE_TRY(cvae__node_grads(t, nd, d));
    const bool act = c->act.kind != CVAE_ACT_NONE;
    const float *dy = nd->out->grad;
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_LINEAR_ACT " backward");
    float *dya = act ? cvae__op_scratch_floats(&al, nd->out->size) : NULL; /* dY = dy f'(y) */
    CVAE_TRY(cvae__op_ready(&al));
    if (act) {
        cvae__act_backward(dya, dy, nd->out->data, nd->out->size, &c->act);
        dy = dya;
    }
    const cvae__linear_dims dims = {x->shape[0], x->shape[1], w->shape[0]};
    cvae__linear_backward(d[0], d[1], d[2], dy, x->data, w->data, &dims);
    cvae__op_end(&al);
    return CVAE_OK;
}

static cvae_status linear_op(const char *fn, cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                             cvae_activation act, float alpha, cvae_tensor **y)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(w, fn);
    CVAE_CHECK_NULL(y, fn);
    char sx[64], sw[64];
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1])
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s and w %s do not fit (want [N, I] and [O, I])", fn,
                           cvae__shape_str(x, sx, sizeof sx), cvae__shape_str(w, sw, sizeof sw));
    if (x->shape[0] > INT32_MAX || x->shape[1] > INT32_MAX || w->shape[0] > INT32_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias %s does not match %lld outputs", fn,
                           cvae__shape_str(b, sx, sizeof sx), (long long)w->shape[0]);
    cvae__act a;
    CVAE_TRY(cvae__act_make(&a, fn, act, alpha));
    cvae_tensor *in[3] = {x, w, b};
    int n_in = b ? 3 : 2;
    int64_t shape[2] = {x->shape[0], w->shape[0]};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 2, shape, in, n_in);
    CVAE_TRY(cvae__op_ready(&al));
    const cvae__linear_dims dims = {x->shape[0], x->shape[1], w->shape[0]};
    cvae__linear_forward(out->data, x->data, w->data, b ? b->data : NULL, &dims);
    cvae__act_forward(out->data, out->data, out->size, &a);
    linear_ctx *c;
    CVAE_TRY(cvae__op_record(&al, linear_backward, out, in, n_in, sizeof *c, (void **)&c));
    if (c) c->act = a;
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_linear(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b, cvae_tensor **y)
{
    return linear_op(CVAE__OP_LINEAR, t, x, w, b, CVAE_ACT_NONE, 0.0f, y);
}

cvae_status cvae_op_linear_act(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                               cvae_activation act, float alpha, cvae_tensor **y)
{
    return linear_op(CVAE__OP_LINEAR_ACT, t, x, w, b, act, alpha, y);
}

/* ---- matmul ---- */

void cvae__matmul_forward(float *y, const float *a, const float *b, const cvae__matmul_dims *d)
{
    const int ta = d->ta, tb = d->tb;
    const int64_t m = d->m, k = d->k, n = d->n;
    int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
    cvae__sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, y, n);
}

void cvae__matmul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                           const cvae__matmul_dims *d)
{
    const int ta = d->ta, tb = d->tb;
    const int64_t m = d->m, k = d->k, n = d->n;
    int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
    if (da && !ta) /* da[M,K] += dy[M,N] op(b)^T */
        cvae__sgemm(false, !tb, m, k, n, 1.0f, dy, n, b, ldb, 1.0f, da, lda);
    if (da && ta) /* da[K,M] += op(b)[K,N] dy^T */
        cvae__sgemm(tb, true, k, m, n, 1.0f, b, ldb, dy, n, 1.0f, da, lda);
    if (db && !tb) /* db[K,N] += op(a)^T[K,M] dy */
        cvae__sgemm(!ta, false, k, n, m, 1.0f, a, lda, dy, n, 1.0f, db, ldb);
    if (db && tb) /* db[N,K] += dy^T op(a) */
        cvae__sgemm(true, ta, n, k, m, 1.0f, dy, n, a, lda, 1.0f, db, ldb);
}

/* Offsets of op(a)[i, p] and op(b)[p, j] in their stored layouts. */
static int64_t at_a(int ta, int64_t m, int64_t k, int64_t i, int64_t p)
{
    return ta ? p * m + i : i * k + p;
}

static int64_t at_b(int tb, int64_t k, int64_t n, int64_t p, int64_t j)
{
    return tb ? j * k + p : p * n + j;
}

void cvae__matmul_forward_ref(float *y, const float *a, const float *b, const cvae__matmul_dims *d)
{
    const int ta = d->ta, tb = d->tb;
    const int64_t m = d->m, k = d->k, n = d->n;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++)
                s += (double)a[at_a(ta, m, k, i, p)] * b[at_b(tb, k, n, p, j)];
            y[i * n + j] = (float)s;
        }
}

void cvae__matmul_backward_ref(float *da, float *db, const float *dy, const float *a,
                               const float *b, const cvae__matmul_dims *d)
{
    const int ta = d->ta, tb = d->tb;
    const int64_t m = d->m, k = d->k, n = d->n;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float g = dy[i * n + j];
            for (int64_t p = 0; p < k; p++) {
                if (da) da[at_a(ta, m, k, i, p)] += g * b[at_b(tb, k, n, p, j)];
                if (db) db[at_b(tb, k, n, p, j)] += g * a[at_a(ta, m, k, i, p)];
            }
        }
}

/* ctx: the dimensions. */
static cvae_status matmul_backward(cvae_tape *t, const cvae__node *nd)
{
    float *d[2];
    CVAE_TRY(cvae__node_grads(t, nd, d));
    cvae__matmul_backward(d[0], d[1], nd->out->grad, nd->in[0]->data, nd->in[1]->data, nd->ctx);
    return CVAE_OK;
}

cvae_status cvae_op_matmul(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, int trans_a, int trans_b,
                           cvae_tensor **y)
{
    const char *fn = CVAE__OP_MATMUL;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(a, fn);
    CVAE_CHECK_NULL(b, fn);
    CVAE_CHECK_NULL(y, fn);
    char sa[64], sb[64];
    const int ta = trans_a != 0, tb = trans_b != 0;
    if (a->ndim != 2 || b->ndim != 2 || a->shape[ta ? 0 : 1] != b->shape[tb ? 1 : 0])
        return cvae__error(CVAE_ERR_SHAPE, "%s: a %s%s and b %s%s do not fit", fn,
                           cvae__shape_str(a, sa, sizeof sa), ta ? "^T" : "",
                           cvae__shape_str(b, sb, sizeof sb), tb ? "^T" : "");
    if (a->shape[0] > INT32_MAX || a->shape[1] > INT32_MAX || b->shape[0] > INT32_MAX ||
        b->shape[1] > INT32_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    const cvae__matmul_dims dims = {ta, tb, a->shape[ta ? 1 : 0], a->shape[ta ? 0 : 1],
                                    b->shape[tb ? 0 : 1]};
    const int64_t shape[2] = {dims.m, dims.n};
    cvae_tensor *in[2] = {a, b};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 2, shape, in, 2);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__matmul_forward(out->data, a->data, b->data, &dims);
    cvae__matmul_dims *c;
    CVAE_TRY(cvae__op_record(&al, matmul_backward, out, in, 2, sizeof *c, (void **)&c));
    if (c) *c = dims;
    *y = out;
    return CVAE_OK;
}
