/* cvae_op_conditional_conv_transpose2d: y[n] = act(conv_transpose(x[n], table[l_n]) + bias[l_n]).
 * Samples grouped by label (conv/core.h); per label present one GEMM
 * cols_g = table[l]^T [Cout kH kW, Cin] x X_g [Cin, n_l H W] and a col2im of the group. X is
 * gathered group-blocked (group g a compact [Cin, n_g H W] matrix), the layout that keeps the
 * per-label GEMMs fast (see cond_conv2d.c). */
#include "core/blas.h"
#include "ops/conv/cond.h"
#include "ops/conv/lower.h"

typedef struct cconvt_ctx {
    cvae__conv_geom gt; /* with the fused activation, differentiated from the node's output */
    int64_t n, cin;
    cvae__label_groups gr;
    float *xs; /* group-blocked [Cin, n_g H W] per group; NULL when the table needs no gradient */
} cconvt_ctx;

/* db[label, co] += the sums of dY over the group's samples: dY [ng, Cout, P] rows idx[s] (idx
 * NULL: s). */
static void group_bias_grad(float *db, const float *dyv, const int64_t *idx, int64_t ng,
                            int64_t cout, int64_t p)
{
    for (int64_t co = 0; co < cout; co++) {
        double acc = 0.0;
        for (int64_t s = 0; s < ng; s++) {
            const float *src = dyv + ((idx ? idx[s] : s) * cout + co) * p;
            for (int64_t q = 0; q < p; q++) acc += src[q];
        }
        db[co] += (float)acc;
    }
}

/* Inputs of the node: x, table, bias (optional). */
static cvae_status cconvt_backward(cvae_tape *t, const cvae__node *nd)
{
    const cconvt_ctx *c = nd->ctx;
    const cvae__conv_geom *gt = &c->gt;
    const cvae__label_groups *gr = &c->gr;
    const float *table = nd->in[1]->data;
    const int64_t cin = c->cin, cout = gt->c, hw = gt->ho * gt->wo;
    const int64_t ckk = cout * gt->kh * gt->kw, p = gt->h * gt->w;
    float *d[3] = {NULL, NULL, NULL};
    CVAE_TRY(cvae__node_grads(t, nd, d));
    float *dx = d[0], *dt = d[1], *db = d[2];

    const bool act = gt->act.kind != CVAE_ACT_NONE, gemms = dx || dt;
    const int64_t maxg = cvae__groups_max(gr);
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_COND_CONV_TRANSPOSE2D " backward");
    float *dyg = act ? cvae__op_scratch_floats(&al, cout * maxg * p) : NULL; /* dY of a group */
    float *dcols = gemms ? cvae__op_scratch_floats(&al, ckk * maxg * hw) : NULL;
    float *dxs = dx ? cvae__op_scratch_floats(&al, cin * maxg * hw) : NULL;
    CVAE_TRY(cvae__op_ready(&al));
    for (int64_t gi = 0; gi < gr->n_groups; gi++) {
        const int64_t s0 = gr->start[gi], ng = gr->start[gi + 1] - s0, cn = ng * hw;
        const int64_t l = gr->label[gi], woff = l * cin * ckk;
        /* dY of the group's samples: dy itself (rows order[s0..]) or gathered as dy f'(y) */
        const float *dyv = nd->out->grad;
        const int64_t *idx = gr->order + s0;
        if (act) {
            const cvae__cn_map whole = {idx, ng, 1, cout * p, 0, 1, ng * cout * p};
            cvae__cn_gather_grad(dyg, dyv, nd->out->data, &gt->act, NULL, NULL, &whole);
            dyv = dyg;
            idx = NULL;
        }
        if (db) group_bias_grad(db + l * cout, dyv, idx, ng, cout, p);
        if (!gemms) continue;
        cvae__im2col(dcols, dyv, idx, ng, gt);
        if (dt)
            cvae__sgemm(false, true, cin, ckk, cn, 1.0f, c->xs + cin * s0 * hw, cn, dcols, cn, 1.0f,
                        dt + woff, ckk);
        if (!dx) continue;
        cvae__sgemm(false, false, cin, cn, ckk, 1.0f, table + woff, ckk, dcols, cn, 0.0f, dxs, cn);
        const cvae__cn_map mx = cvae__cn_all(gr->order + s0, ng, cin, hw);
        cvae__cn_scatter_add(dx, dxs, &mx);
    }
    cvae__op_end(&al);
    return CVAE_OK;
}

cvae_status cvae_op_conditional_conv_transpose2d(cvae_tape *t, cvae_tensor *x,
                                                 const int32_t *labels, cvae_tensor *table,
                                                 cvae_tensor *bias, const cvae_conv_opts *o,
                                                 cvae_tensor **y)
{
    const char *fn = CVAE__OP_COND_CONV_TRANSPOSE2D;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(table, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(cvae__conv_check_image(fn, x));
    CVAE_TRY(cvae__cconv_check_inputs(fn, x, labels, table, bias, 1));
    cvae__conv_geom gt;
    CVAE_TRY(cvae__conv_geom_transposed(&gt, fn, table->shape[2], x->shape[2], x->shape[3],
                                        table->shape[3], table->shape[4], o));
    const int64_t n = x->shape[0], k = table->shape[0], cin = x->shape[1], cout = gt.c;
    const int64_t hw = gt.ho * gt.wo, nhw = n * hw, ckk = cout * gt.kh * gt.kw, p = gt.h * gt.w;
    CVAE_TRY(cvae__conv_check_gemm(fn, ckk, n, hw, cin));

    cvae_tensor *in[3] = {x, table, bias};
    const int n_in = bias ? 3 : 2;
    const int64_t shape[4] = {n, cout, gt.h, gt.w};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, in, n_in);
    const bool keep_xs = out && cvae__needs_grad(out) && cvae__needs_grad(table);
    float *kept = keep_xs ? cvae__op_keep_floats(&al, cin * nhw) : NULL;
    cvae__label_groups gr;
    cvae__group_labels(&al, labels, n, k, &gr);
    CVAE_TRY(cvae__op_ready(&al)); /* the groups size the scratch */
    const int64_t maxg = cvae__groups_max(&gr);
    float *xs = kept ? kept : cvae__op_scratch_floats(&al, cin * maxg * hw);
    float *cols = cvae__op_scratch_floats(&al, ckk * maxg * hw);
    CVAE_TRY(cvae__op_ready(&al));

    memset(out->data, 0, (size_t)out->size * sizeof(float));
    for (int64_t gi = 0; gi < gr.n_groups; gi++) {
        const int64_t s0 = gr.start[gi], ng = gr.start[gi + 1] - s0, cn = ng * hw;
        float *xg = kept ? xs + cin * s0 * hw : xs;
        const cvae__cn_map mx = cvae__cn_all(gr.order + s0, ng, cin, hw);
        cvae__cn_gather(xg, x->data, &mx);
        cvae__sgemm(true, false, ckk, cn, cin, 1.0f, table->data + gr.label[gi] * cin * ckk, ckk,
                    xg, cn, 0.0f, cols, cn);
        cvae__col2im(out->data, cols, gr.order + s0, ng, &gt);
    }
    /* the bias of each sample's label, then the activation, in one pass */
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
    cconvt_ctx *c;
    CVAE_TRY(cvae__op_record(&al, cconvt_backward, out, in, n_in, sizeof *c, (void **)&c));
    if (c) *c = (cconvt_ctx){gt, n, cin, gr, kept};
    *y = out;
    return CVAE_OK;
}
