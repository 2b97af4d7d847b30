/* cvae_op_conditional_conv2d_soft: y[n] = act(sum_k alpha[n,k] (conv(x[n], table[k]) + bias[k])).
 * One GEMM of all K kernels Y_all = W_all cols: [K Cout, N P], then a weighted sum over k. */
#include <stdio.h>

#include "core/blas.h"
#include "ops/conv/cond.h"
#include "ops/conv/lower.h"

typedef struct soft_ctx {
    cvae__conv_geom g; /* with the fused activation, differentiated from the node's output */
    int64_t n, k, cout;
    float *cols; /* [CKK, N P], natural sample order; NULL when the table needs no gradient */
    float *yall; /* [K Cout, N P] (bias not added); NULL when alpha needs no gradient */
} soft_ctx;

/* da[s, l] += sum over (co, q) of dY[s, co, q] (yall[l, co][s, q] + bias[l, co]);
 * db[l, co] += sum over s of alpha[s, l] sum_q dY[s, co, q]. */
static void soft_alpha_bias_grads(const cvae__conv_args *a, const soft_ctx *c)
{
    const int64_t n = c->n, k = c->k, cout = c->cout, p = c->g.ho * c->g.wo, np = n * p;
    for (int64_t s = 0; a->dalpha && s < n; s++)
        for (int64_t l = 0; l < k; l++) {
            double acc = 0.0;
            for (int64_t co = 0; co < cout; co++) {
                const float *gy = a->dy + (s * cout + co) * p,
                            *yk = c->yall + (l * cout + co) * np + s * p;
                const float bb = a->b ? a->b[l * cout + co] : 0.0f;
                float part = 0.0f;
                for (int64_t q = 0; q < p; q++) part += gy[q] * (yk[q] + bb);
                acc += part;
            }
            a->dalpha[s * k + l] += (float)acc;
        }
    for (int64_t l = 0; a->db && l < k; l++)
        for (int64_t co = 0; co < cout; co++) {
            double acc = 0.0;
            for (int64_t s = 0; s < n; s++) {
                const float *gy = a->dy + (s * cout + co) * p;
                double sum = 0.0;
                for (int64_t q = 0; q < p; q++) sum += gy[q];
                acc += a->alpha[s * k + l] * sum;
            }
            a->db[l * cout + co] += (float)acc;
        }
}

/* Inputs of the node: x, alpha, table, bias (optional). */
static cvae_status soft_backward(cvae_tape *t, const cvae__node *nd)
{
    const soft_ctx *c = nd->ctx;
    const cvae__conv_geom *g = &c->g;
    const int64_t n = c->n, k = c->k, cout = c->cout, p = g->ho * g->wo, np = n * p;
    const int64_t ckk = g->c * g->kh * g->kw, kc = k * cout;
    float *d[4] = {NULL, NULL, NULL, NULL};
    CVAE_TRY(cvae__node_grads(t, nd, d));
    cvae__conv_args a = {.n = n,
                         .ch = cout,
                         .k = k,
                         .x = nd->in[0]->data,
                         .w = nd->in[2]->data,
                         .b = nd->n_in > 3 ? nd->in[3]->data : NULL,
                         .alpha = nd->in[1]->data,
                         .y = nd->out->data,
                         .dy = nd->out->grad,
                         .dx = d[0],
                         .dw = d[2],
                         .db = d[3],
                         .dalpha = d[1]};
    const bool act = g->act.kind != CVAE_ACT_NONE, gemms = a.dx || a.dw;
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_COND_CONV2D_SOFT " backward");
    float *dya = act ? cvae__op_scratch_floats(&al, nd->out->size) : NULL; /* dY = dy f'(y) */
    float *dyall = gemms ? cvae__op_scratch_floats(&al, kc * np) : NULL;
    float *dcols = a.dx ? cvae__op_scratch_floats(&al, ckk * np) : NULL;
    CVAE_TRY(cvae__op_ready(&al));
    if (act) {
        cvae__act_backward(dya, a.dy, a.y, nd->out->size, &g->act);
        a.dy = dya;
    }
    soft_alpha_bias_grads(&a, c);
    if (gemms) {
        for (int64_t l = 0; l < k; l++)
            for (int64_t co = 0; co < cout; co++)
                for (int64_t s = 0; s < n; s++) {
                    const float w = a.alpha[s * k + l], *gy = a.dy + (s * cout + co) * p;
                    float *dst = dyall + (l * cout + co) * np + s * p;
                    for (int64_t q = 0; q < p; q++) dst[q] = w * gy[q];
                }
        if (a.dw)
            cvae__sgemm(false, true, kc, ckk, np, 1.0f, dyall, np, c->cols, np, 1.0f, a.dw, ckk);
        if (a.dx) {
            cvae__sgemm(true, false, ckk, np, kc, 1.0f, a.w, ckk, dyall, np, 0.0f, dcols, np);
            cvae__col2im(a.dx, dcols, NULL, n, g);
        }
    }
    cvae__op_end(&al);
    return CVAE_OK;
}

/* The shape checks after the NULL checks; fills g. */
static cvae_status check_soft(const char *fn, const cvae_tensor *x, const cvae_tensor *alpha,
                              const cvae_tensor *table, const cvae_tensor *bias,
                              const cvae_conv_opts *o, cvae__conv_geom *g)
{
    CVAE_TRY(cvae__conv_check_image(fn, x));
    CVAE_TRY(cvae__cconv_check_inputs(fn, x, NULL, table, bias, 2));
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    char s1[80];
    if (alpha->ndim != 2 || alpha->shape[0] != n || alpha->shape[1] != k)
        return cvae__error(CVAE_ERR_SHAPE, "%s: alpha %s must be [N, K] = [%lld, %lld]", fn,
                           cvae__shape_str(alpha, s1, sizeof s1), (long long)n, (long long)k);
    char what[96];
    snprintf(what, sizeof what, "%s: alpha", fn);
    CVAE_TRY(cvae_tensor_check_finite(alpha, what));
    CVAE_TRY(cvae__conv_geom_init(g, fn, x->shape[1], x->shape[2], x->shape[3], table->shape[3],
                                  table->shape[4], o));
    return cvae__conv_check_gemm(fn, g->c * g->kh * g->kw, n, g->ho * g->wo, k * cout);
}

cvae_status cvae_op_conditional_conv2d_soft(cvae_tape *t, cvae_tensor *x, cvae_tensor *alpha,
                                            cvae_tensor *table, cvae_tensor *bias,
                                            const cvae_conv_opts *o, cvae_tensor **y)
{
    const char *fn = CVAE__OP_COND_CONV2D_SOFT;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(alpha, fn);
    CVAE_CHECK_NULL(table, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    cvae__conv_geom g;
    CVAE_TRY(check_soft(fn, x, alpha, table, bias, o, &g));
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    const int64_t p = g.ho * g.wo, np = n * p, ckk = g.c * g.kh * g.kw, kc = k * cout;

    cvae_tensor *in[4] = {x, alpha, table, bias};
    const int n_in = bias ? 4 : 3;
    const int64_t shape[4] = {n, cout, g.ho, g.wo};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, in, n_in);
    const bool record = out && cvae__needs_grad(out);
    float *kept_cols =
        record && cvae__needs_grad(table) ? cvae__op_keep_floats(&al, ckk * np) : NULL;
    float *kept_y = record && cvae__needs_grad(alpha) ? cvae__op_keep_floats(&al, kc * np) : NULL;
    float *cols = kept_cols ? kept_cols : cvae__op_scratch_floats(&al, ckk * np);
    float *yall = kept_y ? kept_y : cvae__op_scratch_floats(&al, kc * np);
    CVAE_TRY(cvae__op_ready(&al));

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
    soft_ctx *c;
    CVAE_TRY(cvae__op_record(&al, soft_backward, out, in, n_in, sizeof *c, (void **)&c));
    if (c) *c = (soft_ctx){g, n, k, cout, kept_cols, kept_y};
    *y = out;
    return CVAE_OK;
}
