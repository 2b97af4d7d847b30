/* cvae_op_conditional_conv2d_soft: y[n] = sum_k alpha[n,k] (conv(x[n], table[k]) + bias[k]).
 * One GEMM of all K kernels Y_all = W_all cols: [K Cout, N P], then a weighted sum over k. */
#include "core/blas.h"
#include <limits.h>
#include <stdio.h>

#include "ops/conditional_conv.h"

typedef struct soft_ctx {
    cvae_conv_geom g; /* with the fused activation, differentiated from the node's output */
    int64_t n, k, cout;
    float *cols; /* [CKK, N P], natural sample order; NULL when the table needs no gradient */
    float *yall; /* [K Cout, N P] (bias not added); NULL when alpha needs no gradient */
} soft_ctx;

static cvae_status soft_backward(cvae_tape *t, const cvae_node *nd)
{
    const soft_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *alpha = nd->in[1], *table = nd->in[2];
    cvae_tensor *bias = nd->n_in > 3 ? nd->in[3] : NULL;
    const cvae_conv_geom *g = &c->g;
    const int64_t n = c->n, k = c->k, cout = c->cout, p = g->ho * g->wo, np = n * p;
    const int64_t ckk = g->c * g->kh * g->kw, kc = k * cout;
    static const char *what = "cvae_op_conditional_conv2d_soft backward";
    const float *dy = nd->out->grad, *a = alpha->data, *b = bias ? bias->data : NULL;
    float *dx = NULL, *da = NULL, *dt = NULL, *db = NULL;
    if (cvae__needs_grad(x) && !(dx = cvae__tape_grad(t, x))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(alpha) && !(da = cvae__tape_grad(t, alpha))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(table) && !(dt = cvae__tape_grad(t, table))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(bias) && !(db = cvae__tape_grad(t, bias))) return CVAE_ERR_NOMEM;
    cvae_tape_mark m = cvae__tape_mark(t);
    if (g->act.kind != CVAE_ACT_NONE) { /* dY = dy f'(y), read by everything below */
        float *dya = cvae__tape_floats(t, nd->out->size, what);
        if (!dya) return CVAE_ERR_NOMEM;
        cvae__act_backward(dya, dy, nd->out->data, nd->out->size, &g->act);
        dy = dya;
    }

    for (int64_t s = 0; da && s < n; s++)
        for (int64_t l = 0; l < k; l++) {
            double acc = 0.0;
            for (int64_t co = 0; co < cout; co++) {
                const float *gy = dy + (s * cout + co) * p,
                            *yk = c->yall + (l * cout + co) * np + s * p;
                const float bb = b ? b[l * cout + co] : 0.0f;
                float part = 0.0f;
                for (int64_t q = 0; q < p; q++) part += gy[q] * (yk[q] + bb);
                acc += part;
            }
            da[s * k + l] += (float)acc;
        }
    for (int64_t l = 0; db && l < k; l++)
        for (int64_t co = 0; co < cout; co++) {
            double acc = 0.0;
            for (int64_t s = 0; s < n; s++) {
                const float *gy = dy + (s * cout + co) * p;
                double sum = 0.0;
                for (int64_t q = 0; q < p; q++) sum += gy[q];
                acc += a[s * k + l] * sum;
            }
            db[l * cout + co] += (float)acc;
        }
    if (!dx && !dt) {
        cvae__tape_release(t, m);
        return CVAE_OK;
    }
    float *dyall = cvae__tape_floats(t, kc * np, what);
    float *dcols = dx && dyall ? cvae__tape_floats(t, ckk * np, what) : NULL;
    if (!dyall || (dx && !dcols)) {
        cvae__tape_release(t, m);
        return CVAE_ERR_NOMEM;
    }
    for (int64_t l = 0; l < k; l++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t s = 0; s < n; s++) {
                const float w = a[s * k + l], *gy = dy + (s * cout + co) * p;
                float *dst = dyall + (l * cout + co) * np + s * p;
                for (int64_t q = 0; q < p; q++) dst[q] = w * gy[q];
            }
    if (dt)
        cvae__sgemm(false, true, kc, ckk, np, 1.0f, dyall, np, c->cols, np, 1.0f, dt, ckk);
    if (dx) {
        cvae__sgemm(true, false, ckk, np, kc, 1.0f, table->data, ckk, dyall, np, 0.0f, dcols, np);
        cvae__col2im(dx, dcols, NULL, n, g);
    }
    cvae__tape_release(t, m);
    return CVAE_OK;
}

static cvae_status check_soft(const char *fn, cvae_tape *t, const cvae_tensor *x,
                              const cvae_tensor *alpha, const cvae_tensor *table,
                              const cvae_tensor *bias, const cvae_conv_opts *o, cvae_tensor **y,
                              cvae_conv_geom *g)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(alpha, fn);
    CVAE_CHECK_NULL(table, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    char s1[80], s2[80];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s must be [N, Cin, H, W]", fn,
                           cvae__shape_str(x, s1, sizeof s1));
    if (table->ndim != 5)
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s must be [K, Cout, Cin, kH, kW]", fn,
                           cvae__shape_str(table, s1, sizeof s1));
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    if (alpha->ndim != 2 || alpha->shape[0] != n || alpha->shape[1] != k)
        return cvae__error(CVAE_ERR_SHAPE, "%s: alpha %s must be [N, K] = [%lld, %lld]", fn,
                           cvae__shape_str(alpha, s1, sizeof s1), (long long)n, (long long)k);
    char what[96];
    snprintf(what, sizeof what, "%s: alpha", fn);
    CVAE_TRY(cvae_tensor_check_finite(alpha, what));
    if (table->shape[2] != x->shape[1])
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s has Cin %lld but x %s has %lld channels",
                           fn, cvae__shape_str(table, s1, sizeof s1), (long long)table->shape[2],
                           cvae__shape_str(x, s2, sizeof s2), (long long)x->shape[1]);
    if (bias && (bias->ndim != 2 || bias->shape[0] != k || bias->shape[1] != cout))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias_table %s must be [K, Cout] = [%lld, %lld]", fn,
                           cvae__shape_str(bias, s1, sizeof s1), (long long)k, (long long)cout);
    CVAE_TRY(cvae__conv_geom(g, fn, x->shape[1], x->shape[2], x->shape[3], table->shape[3],
                             table->shape[4], o));
    const int64_t ckk = table->size / (k * cout);
    int64_t np, cols, kc, yall;
    if (!cvae__mul_ok(g->ho * g->wo, n, &np) || np > INT_MAX || ckk > INT_MAX ||
        !cvae__mul_ok(ckk, np, &cols) || cols > INT64_MAX / 8 || !cvae__mul_ok(k, cout, &kc) ||
        kc > INT_MAX || !cvae__mul_ok(kc, np, &yall) || yall > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    return CVAE_OK;
}

cvae_status cvae_op_conditional_conv2d_soft(cvae_tape *t, cvae_tensor *x, cvae_tensor *alpha,
                                            cvae_tensor *table, cvae_tensor *bias,
                                            const cvae_conv_opts *o, cvae_tensor **y)
{
    static const char *fn = "cvae_op_conditional_conv2d_soft";
    cvae_conv_geom g;
    CVAE_TRY(check_soft(fn, t, x, alpha, table, bias, o, y, &g));
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    const int64_t p = g.ho * g.wo, np = n * p, ckk = g.c * g.kh * g.kw, kc = k * cout;

    cvae_tape_mark m_start = cvae__tape_mark(t);
    cvae_tensor *in[4] = {x, alpha, table, bias};
    const int n_in = bias ? 4 : 3;
    const int64_t shape[4] = {n, cout, g.ho, g.wo};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 4, shape, in, n_in, &out));
    cvae_tape_mark m0 = cvae__tape_mark(t);
    const bool record = cvae__needs_grad(out);
    const bool keep_cols = record && cvae__needs_grad(table),
               keep_y = record && cvae__needs_grad(alpha);
    float *cols = NULL, *yall = NULL;
    bool ok = true;
    if (keep_cols) ok = (cols = cvae__tape_floats(t, ckk * np, fn)) != NULL;
    if (ok && keep_y) ok = (yall = cvae__tape_floats(t, kc * np, fn)) != NULL;
    cvae_tape_mark m1 = cvae__tape_mark(t);
    if (ok && !cols) ok = (cols = cvae__tape_floats(t, ckk * np, fn)) != NULL;
    if (ok && !yall) ok = (yall = cvae__tape_floats(t, kc * np, fn)) != NULL;
    if (!ok) {
        cvae__tape_release(t, m_start);
        return CVAE_ERR_NOMEM;
    }

    cvae__im2col(cols, x->data, NULL, n, &g);
    cvae__sgemm(false, false, kc, np, ckk, 1.0f, table->data, ckk, cols, np, 0.0f, yall, np);
    const float *a = alpha->data;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++) {
            float *dst = out->data + (s * cout + co) * p;
            float b = 0.0f;
            for (int64_t l = 0; l < k; l++)
                b += bias ? a[s * k + l] * bias->data[l * cout + co] : 0.0f;
            for (int64_t q = 0; q < p; q++) dst[q] = b;
            for (int64_t l = 0; l < k; l++) {
                const float w = a[s * k + l], *src = yall + (l * cout + co) * np + s * p;
                for (int64_t q = 0; q < p; q++) dst[q] += w * src[q];
            }
            cvae__act_forward(dst, dst, p, &g.act);
        }
    cvae__tape_release(t, m1);

    if (record) {
        soft_ctx *c;
        cvae_status st = cvae__tape_record(t, soft_backward, out, in, n_in, sizeof *c, (void **)&c);
        if (st) {
            cvae__tape_release(t, m_start);
            return st;
        }
        *c = (soft_ctx){g, n, k, cout, keep_cols ? cols : NULL, keep_y ? yall : NULL};
    } else {
        cvae__tape_release(t, m0);
    }
    *y = out;
    return CVAE_OK;
}
