/* cvae_op_conditional_conv2d and cvae_op_conditional_conv2d_concat: hard labels, the batch
 * grouped by label (conv/core.h), with optional learned filters sharing the lowering of x. */
#include "core/blas.h"
#include "ops/conv/cond.h"
#include "ops/conv/lower.h"

/* The rule, from measurements (docs/conditional_conv.md; forward, one thread,
 * forced algorithms side by side): with the group-blocked layout the grouped
 * path won or tied everywhere, by 1.1x to 15x once K Cout >= 8 (N = 128,
 * 28x28 and 6x6 images, Cin 1..16, Cout 1..8, K 2..32). The all-K GEMM does K
 * times the multiply-adds in one BLAS call; it tied (0.91..1.07) only where
 * K Cout <= 4 and the groups hold about one or two samples each, so that the
 * per-call overhead of the grouped path is all there is. That corner is the
 * only one given to all-K. */
cvae__cconv_algo cvae__cconv_choose(int64_t k, int64_t cout, int64_t ckk, int64_t n_groups,
                                    int64_t n)
{
    (void)ckk;
    if (n_groups > 1 && k * cout <= 4 && n <= 2 * n_groups) return CVAE__CCONV_ALL_K;
    return CVAE__CCONV_GROUPED;
}

/* Two layouts of the lowered batch (samples in group order, P = Ho Wo, cn = n_g P):
 *  - group-blocked (grouped path): group g is its own contiguous [CKK, cn] matrix at offset
 *    CKK s0 P. Each per-group GEMM then reads a compact operand; measured about 2x faster than
 *    a [CKK, cn] window of one wide matrix (leading dimension N P) for the small GEMMs of many
 *    labels.
 *  - whole (all-K path): one [CKK, N P] matrix, group g in columns s0 P .. */
typedef struct cconv_ctx {
    cvae__conv_geom g;   /* with the fused activation, differentiated from the node's output */
    int64_t n, cl, cout; /* samples, learned (shared) rows, label-indexed rows */
    cvae__label_groups gr;
    float *cols; /* lowered input in group order; NULL when neither w nor the table needs one */
    int blocked; /* cols layout: 1 group-blocked, 0 whole */
} cconv_ctx;

/* Inputs of the node: x, table, bias_table, w, b (any but x and table may be NULL). */
static cvae_status cconv_backward(cvae_tape *t, const cvae__node *nd)
{
    const cconv_ctx *c = nd->ctx;
    const cvae__conv_geom *g = &c->g;
    const cvae__label_groups *gr = &c->gr;
    const float *table = nd->in[1]->data, *w = nd->in[3] ? nd->in[3]->data : NULL;
    const int64_t cl = c->cl, cout = c->cout, ctot = cl + cout;
    const int64_t p = g->ho * g->wo, np = c->n * p, ckk = g->c * g->kh * g->kw;
    float *d[5];
    CVAE_TRY(cvae__node_grads(t, nd, d));
    float *dx = d[0], *dt = d[1], *dtb = d[2], *dw = d[3], *db = d[4];
    const bool gemms = dx || dt || dw, sums = dtb || db;
    if (!gemms && !sums) return CVAE_OK;

    const int64_t maxg = cvae__groups_max(gr);
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_COND_CONV2D " backward");
    float *dyg = gemms ? cvae__op_scratch_floats(&al, ctot * maxg * p) : NULL; /* dY of a group */
    float *dcols = dx ? cvae__op_scratch_floats(&al, ckk * maxg * p) : NULL;
    double *dsum = sums ? cvae__op_scratch(&al, (size_t)ctot * sizeof *dsum) : NULL;
    CVAE_TRY(cvae__op_ready(&al));
    for (int64_t gi = 0; gi < gr->n_groups; gi++) {
        const int64_t s0 = gr->start[gi], ng = gr->start[gi + 1] - s0, cn = ng * p;
        const int64_t l = gr->label[gi];
        /* gather dY of the group into [ctot, cn], summing its rows for the bias gradients */
        const cvae__cn_map m = {gr->order + s0, ng, ctot, p, 0, ctot, cn};
        if (dsum) memset(dsum, 0, (size_t)ctot * sizeof *dsum);
        cvae__cn_gather_grad(dyg, nd->out->grad, nd->out->data, &g->act, NULL, dsum, &m);
        for (int64_t r = 0; sums && r < ctot; r++) {
            if (r < cl && db) db[r] += (float)dsum[r];
            if (r >= cl && dtb) dtb[l * cout + r - cl] += (float)dsum[r];
        }
        if (!gemms) continue;
        const int ldc = (int)(c->blocked ? cn : np);
        const float *cg = c->cols ? c->cols + (c->blocked ? ckk * s0 * p : s0 * p) : NULL;
        if (dw) cvae__sgemm(false, true, cl, ckk, cn, 1.0f, dyg, cn, cg, ldc, 1.0f, dw, ckk);
        if (dt)
            cvae__sgemm(false, true, cout, ckk, cn, 1.0f, dyg + cl * cn, cn, cg, ldc, 1.0f,
                        dt + l * cout * ckk, ckk);
        if (!dx) continue;
        cvae__sgemm(true, false, ckk, cn, cout, 1.0f, table + l * cout * ckk, ckk, dyg + cl * cn,
                    cn, 0.0f, dcols, cn);
        if (cl) cvae__sgemm(true, false, ckk, cn, cl, 1.0f, w, ckk, dyg, cn, 1.0f, dcols, cn);
        cvae__col2im(dx, dcols, gr->order + s0, ng, g);
    }
    cvae__op_end(&al);
    return CVAE_OK;
}

/* Checks every argument; fills g. */
static cvae_status check_args(const char *fn, cvae_tape *t, const cvae__cconv_in *in,
                              const cvae_conv_opts *o, cvae_tensor **y, cvae__conv_geom *g)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(in->x, fn);
    CVAE_CHECK_NULL(in->labels, fn);
    CVAE_CHECK_NULL(in->table, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    const cvae_tensor *x = in->x, *w = in->w, *b = in->b, *table = in->table;
    CVAE_TRY(cvae__conv_check_image(fn, x));
    CVAE_TRY(cvae__cconv_check_inputs(fn, x, in->labels, table, in->bias_table, 2));
    char s1[80];
    if (b && !w)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: a learned bias needs learned weights", fn);
    if (w && (w->ndim != 4 || w->shape[1] != x->shape[1] || w->shape[2] != table->shape[3] ||
              w->shape[3] != table->shape[4]))
        return cvae__error(CVAE_ERR_SHAPE, "%s: learned weight %s must be [C, %lld, %lld, %lld]",
                           fn, cvae__shape_str(w, s1, sizeof s1), (long long)x->shape[1],
                           (long long)table->shape[3], (long long)table->shape[4]);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return cvae__error(CVAE_ERR_SHAPE, "%s: learned bias %s must be [%lld]", fn,
                           cvae__shape_str(b, s1, sizeof s1), (long long)w->shape[0]);
    CVAE_TRY(cvae__conv_geom_init(g, fn, x->shape[1], x->shape[2], x->shape[3], table->shape[3],
                                  table->shape[4], o));
    const int64_t ctot = table->shape[1] + (w ? w->shape[0] : 0);
    return cvae__conv_check_gemm(fn, g->c * g->kh * g->kw, x->shape[0], g->ho * g->wo, ctot);
}

static cvae_status cond_conv2d(const char *fn, cvae_tape *t, const cvae__cconv_in *in,
                               const cvae_conv_opts *o, cvae__cconv_algo algo, cvae_tensor **y,
                               cvae__cconv_algo *used)
{
    cvae__conv_geom g;
    CVAE_TRY(check_args(fn, t, in, o, y, &g));
    cvae_tensor *x = in->x, *w = in->w, *table = in->table;
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    const int64_t cl = w ? w->shape[0] : 0, ctot = cl + cout;
    const int64_t p = g.ho * g.wo, np = n * p, ckk = g.c * g.kh * g.kw;
    if (algo == CVAE__CCONV_ALL_K) CVAE_TRY(cvae__conv_check_gemm(fn, ckk, n, p, k * cout + cl));

    cvae_tensor *ins[5] = {x, table, in->bias_table, w, in->b};
    const int64_t shape[4] = {n, ctot, g.ho, g.wo};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, ins, 5);
    const bool keep_cols =
        out && cvae__needs_grad(out) && (cvae__needs_grad(table) || cvae__needs_grad(w));
    float *kept = keep_cols ? cvae__op_keep_floats(&al, ckk * np) : NULL;
    cvae__label_groups gr;
    cvae__group_labels(&al, in->labels, n, k, &gr);
    CVAE_TRY(cvae__op_ready(&al)); /* the groups size the scratch */
    if (algo == CVAE__CCONV_AUTO) algo = cvae__cconv_choose(k, cout, ckk, gr.n_groups, n);
    const int all_k = algo == CVAE__CCONV_ALL_K;
    const int64_t maxg = cvae__groups_max(&gr);
    /* grouped without a weight gradient: lowering and output one group at a time (cache-sized) */
    float *cols = kept ? kept : cvae__op_scratch_floats(&al, ckk * (all_k ? np : maxg * p));
    float *ys = cvae__op_scratch_floats(&al, all_k ? (k * cout + cl) * np : ctot * maxg * p);
    CVAE_TRY(cvae__op_ready(&al));

    const float *bd = in->bias_table ? in->bias_table->data : NULL;
    const float *lb = in->b ? in->b->data : NULL;
    if (all_k) {
        cvae__im2col(cols, x->data, gr.order, n, &g);
        cvae__sgemm(false, false, k * cout, np, ckk, 1.0f, table->data, ckk, cols, np, 0.0f, ys,
                    np);
        float *yl = ys + k * cout * np;
        if (cl) cvae__sgemm(false, false, cl, np, ckk, 1.0f, w->data, ckk, cols, np, 0.0f, yl, np);
        for (int64_t gi = 0; gi < gr.n_groups; gi++) {
            const int64_t l = gr.label[gi], s0 = gr.start[gi], ng = gr.start[gi + 1] - s0;
            const cvae__cn_map ml = {gr.order + s0, ng, cl, p, 0, ctot, np};
            const cvae__cn_map mc = {gr.order + s0, ng, cout, p, cl, ctot, np};
            if (cl) cvae__cn_scatter(out->data, yl + s0 * p, lb, &g.act, &ml);
            cvae__cn_scatter(out->data, ys + l * cout * np + s0 * p, bd ? bd + l * cout : NULL,
                             &g.act, &mc);
        }
    } else {
        for (int64_t gi = 0; gi < gr.n_groups; gi++) {
            const int64_t l = gr.label[gi], s0 = gr.start[gi], ng = gr.start[gi + 1] - s0;
            const int64_t cn = ng * p;
            float *cg = kept ? cols + ckk * s0 * p : cols;
            cvae__im2col(cg, x->data, gr.order + s0, ng, &g);
            if (cl)
                cvae__sgemm(false, false, cl, cn, ckk, 1.0f, w->data, ckk, cg, cn, 0.0f, ys, cn);
            cvae__sgemm(false, false, cout, cn, ckk, 1.0f, table->data + l * cout * ckk, ckk, cg,
                        cn, 0.0f, ys + cl * cn, cn);
            const cvae__cn_map ml = {gr.order + s0, ng, cl, p, 0, ctot, cn};
            const cvae__cn_map mc = {gr.order + s0, ng, cout, p, cl, ctot, cn};
            if (cl) cvae__cn_scatter(out->data, ys, lb, &g.act, &ml);
            cvae__cn_scatter(out->data, ys + cl * cn, bd ? bd + l * cout : NULL, &g.act, &mc);
        }
    }
    cconv_ctx *c;
    CVAE_TRY(cvae__op_record(&al, cconv_backward, out, ins, 5, sizeof *c, (void **)&c));
    if (c) *c = (cconv_ctx){g, n, cl, cout, gr, kept, !all_k};
    if (used) *used = algo;
    *y = out;
    return CVAE_OK;
}

cvae_status cvae__op_conditional_conv2d_algo(cvae_tape *t, const cvae__cconv_in *in,
                                             const cvae_conv_opts *o, cvae__cconv_algo algo,
                                             cvae_tensor **y, cvae__cconv_algo *used)
{
    CVAE_CHECK_NULL(in, CVAE__OP_COND_CONV2D);
    return cond_conv2d(in->w ? CVAE__OP_COND_CONV2D_CONCAT : CVAE__OP_COND_CONV2D, t, in, o, algo,
                       y, used);
}

cvae_status cvae_op_conditional_conv2d_concat(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                              cvae_tensor *w, cvae_tensor *b, cvae_tensor *table,
                                              cvae_tensor *bias_table, const cvae_conv_opts *o,
                                              cvae_tensor **y)
{
    const cvae__cconv_in in = {x, labels, w, b, table, bias_table};
    return cond_conv2d(CVAE__OP_COND_CONV2D_CONCAT, t, &in, o, CVAE__CCONV_AUTO, y, NULL);
}

cvae_status cvae_op_conditional_conv2d(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                       cvae_tensor *table, cvae_tensor *bias_table,
                                       const cvae_conv_opts *o, cvae_tensor **y)
{
    const cvae__cconv_in in = {x, labels, NULL, NULL, table, bias_table};
    return cond_conv2d(CVAE__OP_COND_CONV2D, t, &in, o, CVAE__CCONV_AUTO, y, NULL);
}
