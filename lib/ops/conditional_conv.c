/* cvae_op_conditional_conv2d: hard labels, grouped by label. */
#include "core/blas.h"
#include <limits.h>

#include "ops/activation.h"
#include "ops/conditional_conv.h"
#include "ops/conv.h"

cvae_status cvae__group_labels(cvae_tape *t, const int32_t *labels, int64_t n, int64_t k,
                               cvae__label_groups *gr)
{
    int64_t ng_max = n < k ? n : k;
    int64_t *order = cvae__tape_alloc(t, (size_t)n * sizeof *order, "label grouping");
    int64_t *start =
        order ? cvae__tape_alloc(t, (size_t)(ng_max + 1) * sizeof *start, "label grouping") : NULL;
    int32_t *label =
        start ? cvae__tape_alloc(t, (size_t)ng_max * sizeof *label, "label grouping") : NULL;
    if (!label) return CVAE_ERR_NOMEM;
    cvae_tape_mark m = cvae__tape_mark(t);
    int64_t *pos = cvae__tape_alloc(t, (size_t)k * sizeof *pos, "label grouping");
    if (!pos) return CVAE_ERR_NOMEM;
    memset(pos, 0, (size_t)k * sizeof *pos);
    for (int64_t s = 0; s < n; s++) pos[labels[s]]++;
    int64_t ng = 0, acc = 0;
    for (int64_t l = 0; l < k; l++) {
        if (!pos[l]) continue;
        label[ng] = (int32_t)l;
        start[ng++] = acc;
        int64_t c = pos[l];
        pos[l] = acc;
        acc += c;
    }
    start[ng] = n;
    for (int64_t s = 0; s < n; s++) order[pos[labels[s]]++] = s;
    cvae__tape_release(t, m);
    gr->order = order;
    gr->start = start;
    gr->label = label;
    gr->n_groups = ng;
    return CVAE_OK;
}

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

typedef struct cconv_ctx {
    cvae_conv_geom g;
    int64_t n, cl, cout; /* samples, learned (shared) rows, label-indexed rows */
    cvae__label_groups gr;
    float *
        cols; /* lowered input in group order; NULL when neither w nor the table needs a gradient */
    int blocked; /* cols layout: 1 group-blocked, 0 one [CKK, N P] matrix (see below) */
} cconv_ctx;

/* Two layouts of the lowered batch (samples in group order, P = Ho Wo, cn = n_g P):
 *  - group-blocked (grouped path): group g is its own contiguous [CKK, cn]
 *    matrix at offset CKK s0 P. Each per-group GEMM then reads a compact
 *    operand; measured about 2x faster than a [CKK, cn] window of one wide
 *    matrix (leading dimension N P) for the small GEMMs of many labels.
 *  - whole (all-K path): one [CKK, N P] matrix, group g in columns s0 P .. */
static const float *group_cols(const float *cols, int blocked, int64_t ckk, int64_t s0, int64_t cn,
                               int64_t np, int64_t p, int *ld)
{
    *ld = (int)(blocked ? cn : np);
    return blocked ? cols + ckk * s0 * p : cols + s0 * p;
}

/* y[order[s], c0 + r] = act(Yg[r, (s - s0) P + q] + bias[r]) for r < rows and the samples s
 * of group gi.  Yg: [rows, ld]; y: [N, ctot, P]; bias: [rows] or NULL. */
static void scatter_group(float *y, const float *yg, int64_t ld, const float *bias, int64_t rows,
                          int64_t c0, int64_t ctot, const cvae__label_groups *gr, int64_t gi,
                          int64_t p, const cvae__act *act)
{
    const int64_t s0 = gr->start[gi];
    for (int64_t s = s0; s < gr->start[gi + 1]; s++)
        for (int64_t r = 0; r < rows; r++)
            cvae__cn_to_nchw(y + (gr->order[s] * ctot + c0 + r) * p, yg + r * ld + (s - s0) * p, NULL, 1,
                             1, p, bias ? bias + r : NULL, CVAE__CN_STORE, act);
}

/* Largest group, in samples. */
static int64_t max_group(const cvae__label_groups *gr)
{
    int64_t m = 0;
    for (int64_t gi = 0; gi < gr->n_groups; gi++)
        if (gr->start[gi + 1] - gr->start[gi] > m) m = gr->start[gi + 1] - gr->start[gi];
    return m;
}

/* dY = dy f'(y) of n elements (dy itself when act is NONE): copied to dst (unless NULL) and,
 * when sum, returned summed (cvae__sum_floats' order); 0 otherwise. */
static float gather_dy(float *dst, const float *dy, const float *y, int64_t n, const cvae__act *act,
                       bool sum)
{
    const bool grad = act->kind != CVAE_ACT_NONE;
    if (!dst) return grad ? cvae__act_backward_sum(dy, y, n, act) : cvae__sum_floats(dy, n);
    if (grad)
        cvae__act_backward(dst, dy, y, n, act);
    else
        memcpy(dst, dy, (size_t)n * sizeof(float));
    return sum ? cvae__sum_floats(dst, n) : 0.0f;
}

/* Inputs of the node: x, table, bias_table, w, b (any but x and table may be NULL). */
static cvae_status cconv_backward(cvae_tape *t, const cvae_node *nd)
{
    static const char *what = "cvae_op_conditional_conv2d backward";
    const cconv_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *table = nd->in[1], *tbias = nd->in[2], *w = nd->in[3],
                *b = nd->in[4];
    const cvae_conv_geom *g = &c->g;
    const cvae__label_groups *gr = &c->gr;
    const int64_t n = c->n, cl = c->cl, cout = c->cout, ctot = cl + cout;
    const int64_t p = g->ho * g->wo, np = n * p, ckk = g->c * g->kh * g->kw;
    const float *dy = nd->out->grad, *yv = nd->out->data;
    float *dx = NULL, *dt = NULL, *dtb = NULL, *dw = NULL, *db = NULL;
    if (cvae__needs_grad(x) && !(dx = cvae__tape_grad(t, x))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(table) && !(dt = cvae__tape_grad(t, table))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(tbias) && !(dtb = cvae__tape_grad(t, tbias))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(w) && !(dw = cvae__tape_grad(t, w))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(b) && !(db = cvae__tape_grad(t, b))) return CVAE_ERR_NOMEM;

    const bool gemms = dx || dt || dw, sums = dtb || db;
    if (!gemms && !sums) return CVAE_OK;
    const int64_t maxg = max_group(gr);
    cvae_tape_mark m = cvae__tape_mark(t);
    float *dyg = gemms ? cvae__tape_floats(t, ctot * maxg * p, what) : NULL;
    float *dcols = dx && dyg ? cvae__tape_floats(t, ckk * maxg * p, what) : NULL;
    if ((gemms && !dyg) || (dx && !dcols)) {
        cvae__tape_release(t, m);
        return CVAE_ERR_NOMEM;
    }
    for (int64_t gi = 0; gi < gr->n_groups; gi++) {
        const int64_t s0 = gr->start[gi], ng = gr->start[gi + 1] - s0, cn = ng * p;
        const float *wl = table->data + (int64_t)gr->label[gi] * cout * ckk;
        /* gather dY of the group into [ctot, cn], summing rows for the bias gradients */
        for (int64_t r = 0; r < ctot; r++) {
            double acc = 0.0;
            for (int64_t s = s0; s < s0 + ng; s++) {
                const int64_t off = (gr->order[s] * ctot + r) * p;
                float *dst = gemms ? dyg + r * cn + (s - s0) * p : NULL;
                acc += gather_dy(dst, dy + off, yv + off, p, &g->act, sums);
            }
            if (r < cl && db) db[r] += (float)acc;
            if (r >= cl && dtb) dtb[gr->label[gi] * cout + r - cl] += (float)acc;
        }
        if (!gemms) continue;
        int ldc;
        const float *cg =
            dt || dw ? group_cols(c->cols, c->blocked, ckk, s0, cn, np, p, &ldc) : NULL;
        if (dw)
            cvae__sgemm(false, true, cl, ckk, cn, 1.0f, dyg, cn, cg, ldc, 1.0f, dw, ckk);
        if (dt)
            cvae__sgemm(false, true, cout, ckk, cn, 1.0f, dyg + cl * cn, cn, cg, ldc, 1.0f, dt + (int64_t)gr->label[gi] * cout * ckk, ckk);
        if (!dx) continue;
        cvae__sgemm(true, false, ckk, cn, cout, 1.0f, wl, ckk, dyg + cl * cn, cn, 0.0f, dcols, cn);
        if (cl)
            cvae__sgemm(true, false, ckk, cn, cl, 1.0f, w->data, ckk, dyg, cn, 1.0f, dcols, cn);
        cvae__col2im(dx, dcols, gr->order + s0, ng, g);
    }
    cvae__tape_release(t, m);
    return CVAE_OK;
}

cvae_status cvae__cconv_check_labelled(const char *fn, const cvae_tape *t, const cvae_tensor *x,
                                       const int32_t *labels, const cvae_tensor *table,
                                       const cvae_tensor *tbias, const cvae_conv_opts *o,
                                       cvae_tensor *const *y, int cin_dim)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(table, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    char s1[80], s2[80];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s must be [N, Cin, H, W]", fn,
                           cvae__shape_str(x, s1, sizeof s1));
    if (table->ndim != 5)
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s must be %s", fn,
                           cvae__shape_str(table, s1, sizeof s1),
                           cin_dim == 2 ? "[K, Cout, Cin, kH, kW]" : "[K, Cin, Cout, kH, kW]");
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[3 - cin_dim];
    CVAE_TRY(cvae__check_labels(labels, n, k, fn));
    if (table->shape[cin_dim] != x->shape[1])
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s has Cin %lld but x %s has %lld channels",
                           fn, cvae__shape_str(table, s1, sizeof s1),
                           (long long)table->shape[cin_dim], cvae__shape_str(x, s2, sizeof s2),
                           (long long)x->shape[1]);
    if (tbias && (tbias->ndim != 2 || tbias->shape[0] != k || tbias->shape[1] != cout))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias_table %s must be [K, Cout] = [%lld, %lld]", fn,
                           cvae__shape_str(tbias, s1, sizeof s1), (long long)k, (long long)cout);
    return CVAE_OK;
}

/* Checks every argument; fills g. */
static cvae_status check_args(const char *fn, cvae_tape *t, const cvae_tensor *x,
                              const int32_t *labels, const cvae_tensor *w, const cvae_tensor *b,
                              const cvae_tensor *table, const cvae_tensor *tbias,
                              const cvae_conv_opts *o, cvae_tensor **y, cvae_conv_geom *g)
{
    CVAE_TRY(cvae__cconv_check_labelled(fn, t, x, labels, table, tbias, o, y, 2));
    char s1[80];
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
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
    CVAE_TRY(cvae__conv_geom(g, fn, x->shape[1], x->shape[2], x->shape[3], table->shape[3],
                             table->shape[4], o));
    const int64_t ckk = table->size / (k * cout), ctot = cout + (w ? w->shape[0] : 0);
    int64_t np, cols, ycols, kc;
    if (!cvae__mul_ok(g->ho * g->wo, n, &np) || np > INT_MAX || ckk > INT_MAX ||
        !cvae__mul_ok(ckk, np, &cols) || cols > INT64_MAX / 8 || !cvae__mul_ok(ctot, np, &ycols) ||
        ycols > INT64_MAX / 8 || !cvae__mul_ok(k, cout, &kc) || kc > INT_MAX || ctot > INT_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    return CVAE_OK;
}

#define FAIL_NOMEM()                                                                               \
    do {                                                                                           \
        cvae__tape_release(t, m_start);                                                            \
        return CVAE_ERR_NOMEM;                                                                     \
    } while (0)

static cvae_status cond_conv2d(const char *fn, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                               cvae_tensor *w, cvae_tensor *b, cvae_tensor *table, cvae_tensor *bias,
                               const cvae_conv_opts *o, cvae__cconv_algo algo, cvae_tensor **y,
                               cvae__cconv_algo *used)
{
    cvae_conv_geom g;
    CVAE_TRY(check_args(fn, t, x, labels, w, b, table, bias, o, y, &g));
    const int64_t n = x->shape[0], k = table->shape[0], cout = table->shape[1];
    const int64_t cl = w ? w->shape[0] : 0, ctot = cl + cout;
    const int64_t p = g.ho * g.wo, np = n * p, ckk = g.c * g.kh * g.kw;
    int64_t kc_np;
    if (algo == CVAE__CCONV_ALL_K && !cvae__mul_ok(k * cout, np, &kc_np))
        return cvae__error(CVAE_ERR_SHAPE, "%s: all-K buffer size overflows", fn);

    cvae_tape_mark m_start = cvae__tape_mark(t);
    cvae_tensor *in[5] = {x, table, bias, w, b};
    const int64_t shape[4] = {n, ctot, g.ho, g.wo};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 4, shape, in, 5, &out));
    cvae_tape_mark m0 = cvae__tape_mark(t);
    const bool record = cvae__needs_grad(out);
    const bool keep_cols = record && (cvae__needs_grad(table) || cvae__needs_grad(w));
    cvae__label_groups gr;
    if (cvae__group_labels(t, labels, n, k, &gr)) FAIL_NOMEM();
    if (algo == CVAE__CCONV_AUTO) algo = cvae__cconv_choose(k, cout, ckk, gr.n_groups, n);
    const int all_k = algo == CVAE__CCONV_ALL_K;
    const int64_t maxg = max_group(&gr);
    /* grouped without a weight gradient: lowering and output one group at a time (cache-sized) */
    float *cols = keep_cols ? cvae__tape_floats(t, ckk * np, fn) : NULL;
    if (keep_cols && !cols) FAIL_NOMEM();
    cvae_tape_mark m1 = cvae__tape_mark(t);
    if (!keep_cols && !(cols = cvae__tape_floats(t, ckk * (all_k ? np : maxg * p), fn)))
        FAIL_NOMEM();
    float *ys = cvae__tape_floats(t, all_k ? (k * cout + cl) * np : ctot * maxg * p, fn);
    if (!ys) FAIL_NOMEM();
    const float *bd = bias ? bias->data : NULL, *lb = b ? b->data : NULL;

    if (all_k) {
        cvae__im2col(cols, x->data, gr.order, n, &g);
        cvae__sgemm(false, false, (k * cout), np, ckk, 1.0f, table->data, ckk, cols, np, 0.0f, ys, np);
        float *yl = ys + k * cout * np;
        if (cl)
            cvae__sgemm(false, false, cl, np, ckk, 1.0f, w->data, ckk, cols, np, 0.0f, yl, np);
        for (int64_t gi = 0; gi < gr.n_groups; gi++) {
            const int64_t l = gr.label[gi], off = gr.start[gi] * p;
            if (cl) scatter_group(out->data, yl + off, np, lb, cl, 0, ctot, &gr, gi, p, &g.act);
            scatter_group(out->data, ys + l * cout * np + off, np, bd ? bd + l * cout : NULL, cout,
                          cl, ctot, &gr, gi, p, &g.act);
        }
    } else {
        for (int64_t gi = 0; gi < gr.n_groups; gi++) {
            const int64_t s0 = gr.start[gi], ng = gr.start[gi + 1] - s0, cn = ng * p;
            const int64_t l = gr.label[gi];
            float *cg = keep_cols ? cols + ckk * s0 * p : cols;
            cvae__im2col(cg, x->data, gr.order + s0, ng, &g);
            if (cl)
                cvae__sgemm(false, false, cl, cn, ckk, 1.0f, w->data, ckk, cg, cn, 0.0f, ys, cn);
            cvae__sgemm(false, false, cout, cn, ckk, 1.0f, table->data + l * cout * ckk, ckk, cg, cn, 0.0f, ys + cl * cn, cn);
            if (cl) scatter_group(out->data, ys, cn, lb, cl, 0, ctot, &gr, gi, p, &g.act);
            scatter_group(out->data, ys + cl * cn, cn, bd ? bd + l * cout : NULL, cout, cl, ctot,
                          &gr, gi, p, &g.act);
        }
    }
    cvae__tape_release(t, m1);

    if (record) {
        cconv_ctx *c;
        cvae_status st = cvae__tape_record(t, cconv_backward, out, in, 5, sizeof *c, (void **)&c);
        if (st) {
            cvae__tape_release(t, m_start);
            return st;
        }
        *c = (cconv_ctx){g, n, cl, cout, gr, keep_cols ? cols : NULL, !all_k};
    } else {
        cvae__tape_release(t, m0);
    }
    if (used) *used = algo;
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_conditional_conv2d_concat(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                              cvae_tensor *w, cvae_tensor *b, cvae_tensor *table,
                                              cvae_tensor *bias_table, const cvae_conv_opts *o,
                                              cvae_tensor **y)
{
    return cond_conv2d("cvae_op_conditional_conv2d_concat", t, x, labels, w, b, table, bias_table, o,
                       CVAE__CCONV_AUTO, y, NULL);
}

cvae_status cvae__op_conditional_conv2d_algo(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                             cvae_tensor *w, cvae_tensor *b, cvae_tensor *table,
                                             cvae_tensor *bias_table, const cvae_conv_opts *o,
                                             cvae__cconv_algo algo, cvae_tensor **y,
                                             cvae__cconv_algo *used)
{
    return cond_conv2d(w ? "cvae_op_conditional_conv2d_concat" : "cvae_op_conditional_conv2d", t, x,
                       labels, w, b, table, bias_table, o, algo, y, used);
}

cvae_status cvae_op_conditional_conv2d(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                       cvae_tensor *table, cvae_tensor *bias_table,
                                       const cvae_conv_opts *o, cvae_tensor **y)
{
    return cond_conv2d("cvae_op_conditional_conv2d", t, x, labels, NULL, NULL, table, bias_table, o,
                       CVAE__CCONV_AUTO, y, NULL);
}
