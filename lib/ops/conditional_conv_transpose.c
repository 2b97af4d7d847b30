/* cvae_op_conditional_conv_transpose2d: y[n] = conv_transpose(x[n], table[l_n]) + bias[l_n].
 * Samples grouped by label as in the forward op; per label present one GEMM
 * cols_g = table[l]^T [Cout kH kW, Cin] x X_g [Cin, n_l H W] and a col2im of the
 * group. X is gathered group-blocked (group g a compact [Cin, n_g H W] matrix),
 * the layout that keeps the per-label GEMMs fast (see conditional_conv.c). */
#include "core/blas.h"
#include <limits.h>

#include "ops/conditional_conv.h"

cvae_status cvae__cconvt_geom(cvae_conv_geom *gt, const char *fn, int64_t cout, int64_t h,
                              int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    if (!o) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: conv options are NULL", fn);
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stride %dx%d and dilation %dx%d must be >= 1",
                           fn, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w);
    if (o->output_pad_h < 0 || o->output_pad_w < 0 || o->output_pad_h >= o->stride_h ||
        o->output_pad_w >= o->stride_w)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: output padding %dx%d must lie in [0, stride)",
                           fn, o->output_pad_h, o->output_pad_w);
    if (o->pad_top < 0 || o->pad_bottom < 0 || o->pad_left < 0 || o->pad_right < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: negative padding", fn);
    int64_t ho = (h - 1) * o->stride_h - o->pad_top - o->pad_bottom +
                 (int64_t)o->dilation_h * (kh - 1) + o->output_pad_h + 1;
    int64_t wo = (w - 1) * o->stride_w - o->pad_left - o->pad_right +
                 (int64_t)o->dilation_w * (kw - 1) + o->output_pad_w + 1;
    if (ho < 1 || wo < 1)
        return cvae__error(CVAE_ERR_SHAPE, "%s: padding leaves an empty output (%lldx%lld)", fn,
                           (long long)ho, (long long)wo);
    CVAE_TRY(cvae__conv_geom(gt, fn, cout, ho, wo, kh, kw, o));
    if (gt->ho != h || gt->wo != w)
        return cvae__error(CVAE_ERR_SHAPE, "%s: inconsistent transposed geometry", fn);
    return CVAE_OK;
}

typedef struct cconvt_ctx {
    cvae_conv_geom gt; /* with the fused activation, differentiated from the node's output */
    int64_t n, cin;
    cvae__label_groups gr;
    float *xs; /* group-blocked [Cin, n_g H W] per group; NULL when the table needs no gradient */
} cconvt_ctx;

static cvae_status cconvt_backward(cvae_tape *t, const cvae_node *nd)
{
    static const char *what = "cvae_op_conditional_conv_transpose2d backward";
    const cconvt_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *table = nd->in[1], *bias = nd->n_in > 2 ? nd->in[2] : NULL;
    const cvae_conv_geom *gt = &c->gt;
    const cvae__label_groups *gr = &c->gr;
    const int64_t cin = c->cin, cout = gt->c, hw = gt->ho * gt->wo;
    const int64_t ckk = cout * gt->kh * gt->kw, p = gt->h * gt->w;
    const float *dy = nd->out->grad;
    float *dx = NULL, *dt = NULL, *db = NULL;
    if (cvae__needs_grad(x) && !(dx = cvae__tape_grad(t, x))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(table) && !(dt = cvae__tape_grad(t, table))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(bias) && !(db = cvae__tape_grad(t, bias))) return CVAE_ERR_NOMEM;

    const bool act = gt->act.kind != CVAE_ACT_NONE, gemms = dx || dt;
    int64_t maxg = 0;
    for (int64_t gi = 0; gi < gr->n_groups; gi++)
        if (gr->start[gi + 1] - gr->start[gi] > maxg) maxg = gr->start[gi + 1] - gr->start[gi];
    cvae_tape_mark m = cvae__tape_mark(t);
    float *dyg = act ? cvae__tape_floats(t, cout * maxg * p, what) : NULL; /* dY of a group */
    float *dcols = gemms && (dyg || !act) ? cvae__tape_floats(t, ckk * maxg * hw, what) : NULL;
    float *dxs = dx && dcols ? cvae__tape_floats(t, cin * maxg * hw, what) : NULL;
    if ((act && !dyg) || (gemms && !dcols) || (dx && !dxs)) {
        cvae__tape_release(t, m);
        return CVAE_ERR_NOMEM;
    }
    for (int64_t gi = 0; gi < gr->n_groups; gi++) {
        const int64_t s0 = gr->start[gi], ng = gr->start[gi + 1] - s0, cn = ng * hw;
        const int64_t woff = (int64_t)gr->label[gi] * cin * ckk;
        /* dY of the group's samples: dy itself (rows order[s0..]) or gathered as dy f'(y) */
        const float *dyv = dy;
        const int64_t *idx = gr->order + s0;
        if (act) {
            for (int64_t s = 0; s < ng; s++) {
                const int64_t off = idx[s] * cout * p;
                cvae__act_backward(dyg + s * cout * p, dy + off, nd->out->data + off, cout * p,
                                   &gt->act);
            }
            dyv = dyg;
            idx = NULL;
        }
        for (int64_t co = 0; db && co < cout; co++) {
            double acc = 0.0;
            for (int64_t s = 0; s < ng; s++) {
                const float *src = dyv + ((idx ? idx[s] : s) * cout + co) * p;
                for (int64_t q = 0; q < p; q++) acc += src[q];
            }
            db[gr->label[gi] * cout + co] += (float)acc;
        }
        if (!gemms) continue;
        cvae__im2col(dcols, dyv, idx, ng, gt);
        if (dt)
            cvae__sgemm(false, true, cin, ckk, cn, 1.0f, c->xs + cin * s0 * hw, cn, dcols, cn, 1.0f,
                        dt + woff, ckk);
        if (!dx) continue;
        cvae__sgemm(false, false, cin, cn, ckk, 1.0f, table->data + woff, ckk, dcols, cn, 0.0f, dxs,
                    cn);
        for (int64_t s = s0; s < s0 + ng; s++)
            for (int64_t ci = 0; ci < cin; ci++) {
                float *dst = dx + (gr->order[s] * cin + ci) * hw;
                const float *src = dxs + ci * cn + (s - s0) * hw;
                for (int64_t q = 0; q < hw; q++) dst[q] += src[q];
            }
    }
    cvae__tape_release(t, m);
    return CVAE_OK;
}

static cvae_status check_t(const char *fn, cvae_tape *t, const cvae_tensor *x,
                           const int32_t *labels, const cvae_tensor *table, const cvae_tensor *bias,
                           const cvae_conv_opts *o, cvae_tensor **y, cvae_conv_geom *gt)
{
    CVAE_TRY(cvae__cconv_check_labelled(fn, t, x, labels, table, bias, o, y, 1));
    const int64_t n = x->shape[0], cout = table->shape[2];
    CVAE_TRY(cvae__cconvt_geom(gt, fn, cout, x->shape[2], x->shape[3], table->shape[3],
                               table->shape[4], o));
    const int64_t ckk = cout * table->shape[3] * table->shape[4];
    int64_t nhw, cols, xs, ysz;
    if (!cvae__mul_ok(x->shape[2] * x->shape[3], n, &nhw) || nhw > INT_MAX || ckk > INT_MAX ||
        x->shape[1] > INT_MAX || !cvae__mul_ok(ckk, nhw, &cols) || cols > INT64_MAX / 8 ||
        !cvae__mul_ok(x->shape[1], nhw, &xs) || !cvae__mul_ok(gt->h * gt->w, n * cout, &ysz) ||
        ysz > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    return CVAE_OK;
}

cvae_status cvae_op_conditional_conv_transpose2d(cvae_tape *t, cvae_tensor *x,
                                                 const int32_t *labels, cvae_tensor *table,
                                                 cvae_tensor *bias, const cvae_conv_opts *o,
                                                 cvae_tensor **y)
{
    static const char *fn = "cvae_op_conditional_conv_transpose2d";
    cvae_conv_geom gt;
    CVAE_TRY(check_t(fn, t, x, labels, table, bias, o, y, &gt));
    const int64_t n = x->shape[0], k = table->shape[0], cin = x->shape[1], cout = gt.c;
    const int64_t hw = gt.ho * gt.wo, nhw = n * hw, ckk = cout * gt.kh * gt.kw, p = gt.h * gt.w;

    cvae_tape_mark m_start = cvae__tape_mark(t);
    cvae_tensor *in[3] = {x, table, bias};
    const int n_in = bias ? 3 : 2;
    const int64_t shape[4] = {n, cout, gt.h, gt.w};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 4, shape, in, n_in, &out));
    cvae_tape_mark m0 = cvae__tape_mark(t);
    const bool record = cvae__needs_grad(out), keep_xs = record && cvae__needs_grad(table);
    cvae__label_groups gr;
    bool ok = cvae__group_labels(t, labels, n, k, &gr) == CVAE_OK;
    int64_t maxg = 0;
    for (int64_t gi = 0; ok && gi < gr.n_groups; gi++)
        if (gr.start[gi + 1] - gr.start[gi] > maxg) maxg = gr.start[gi + 1] - gr.start[gi];
    float *xs = NULL, *cols = NULL;
    if (ok && keep_xs) ok = (xs = cvae__tape_floats(t, cin * nhw, fn)) != NULL;
    cvae_tape_mark m1 = cvae__tape_mark(t);
    if (ok && !xs) ok = (xs = cvae__tape_floats(t, cin * maxg * hw, fn)) != NULL;
    if (ok) ok = (cols = cvae__tape_floats(t, ckk * maxg * hw, fn)) != NULL;
    if (!ok) {
        cvae__tape_release(t, m_start);
        return CVAE_ERR_NOMEM;
    }

    memset(out->data, 0, (size_t)out->size * sizeof(float));
    for (int64_t gi = 0; gi < gr.n_groups; gi++) {
        const int64_t s0 = gr.start[gi], ng = gr.start[gi + 1] - s0, cn = ng * hw;
        float *xg = keep_xs ? xs + cin * s0 * hw : xs;
        for (int64_t s = s0; s < s0 + ng; s++)
            for (int64_t ci = 0; ci < cin; ci++)
                memcpy(xg + ci * cn + (s - s0) * hw, x->data + (gr.order[s] * cin + ci) * hw,
                       (size_t)hw * sizeof(float));
        cvae__sgemm(true, false, ckk, cn, cin, 1.0f,
                    table->data + (int64_t)gr.label[gi] * cin * ckk, ckk, xg, cn, 0.0f, cols, cn);
        cvae__col2im(out->data, cols, gr.order + s0, ng, &gt);
    }
    /* the bias of each sample's label, then the activation (the rows just raised by col2im) */
    for (int64_t gi = 0; (bias || gt.act.kind != CVAE_ACT_NONE) && gi < gr.n_groups; gi++)
        for (int64_t s = gr.start[gi]; s < gr.start[gi + 1]; s++)
            for (int64_t co = 0; co < cout; co++) {
                float *dst = out->data + (gr.order[s] * cout + co) * p;
                if (bias)
                    cvae__act_bias_forward(dst, dst, bias->data[gr.label[gi] * cout + co], p,
                                           &gt.act);
                else
                    cvae__act_forward(dst, dst, p, &gt.act);
            }
    cvae__tape_release(t, m1);

    if (record) {
        cconvt_ctx *c;
        cvae_status st =
            cvae__tape_record(t, cconvt_backward, out, in, n_in, sizeof *c, (void **)&c);
        if (st) {
            cvae__tape_release(t, m_start);
            return st;
        }
        *c = (cconvt_ctx){gt, n, cin, gr, keep_xs ? xs : NULL};
    } else {
        cvae__tape_release(t, m0);
    }
    *y = out;
    return CVAE_OK;
}
