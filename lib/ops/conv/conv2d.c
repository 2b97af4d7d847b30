/* cvae_op_conv2d: y = act(conv(x, w) + b), by chunks of samples: the lowered GEMM (im2col and a
 * GEMM, or the implicit lowering), and the layout copy to NCHW that adds the bias and applies the
 * activation. */
#include "core/blas.h"
#include "ops/conv/conv.h"
#include "ops/conv/lower.h"

void cvae__conv2d_forward(const cvae__conv_args *a, const cvae__conv_geom *g,
                          const cvae__conv_ws *ws)
{
    const int64_t n = a->n, cout = a->ch;
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo, chw = g->c * g->h * g->w;
    const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
    if (ws->wp) cvae__sgemm_pack_a(false, cout, ckk, a->w, ckk, ws->wp);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk;
        cvae__lowered_gemm(ws->cn, a->w, ws->wp, cout, a->x + s0 * chw, NULL, ns, g, ws->cols);
        const cvae__cn_map m = cvae__cn_all(NULL, ns, cout, hw);
        cvae__cn_scatter(a->y + s0 * cout * hw, ws->cn, a->b, &g->act, &m);
    }
}

void cvae__conv2d_backward(const cvae__conv_args *a, const cvae__conv_geom *g,
                           const cvae__conv_ws *ws)
{
    const int64_t n = a->n, cout = a->ch;
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo, chw = g->c * g->h * g->w;
    if (!a->dx && !a->dw) {
        const cvae__cn_map m = cvae__cn_all(NULL, n, cout, hw);
        if (a->db) cvae__cn_gather_grad(NULL, a->dy, a->y, &g->act, a->db, NULL, &m);
        return;
    }
    const bool act = g->act.kind != CVAE_ACT_NONE;
    const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
    if (a->dx && ws->wp) cvae__sgemm_pack_a(true, ckk, cout, a->w, ckk, ws->wp);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw, off = s0 * cout * hw;
        const cvae__cn_map m = cvae__cn_all(NULL, ns, cout, hw);
        cvae__cn_gather_grad(ws->cn, a->dy + off, act ? a->y + off : NULL, &g->act, a->db, NULL,
                             &m);
        if (a->dw) {
            cvae__im2col(ws->cols, a->x + s0 * chw, NULL, ns, g);
            cvae__sgemm(false, true, cout, ckk, pc, 1.0f, ws->cn, pc, ws->cols, pc, 1.0f, a->dw,
                        ckk);
        }
        if (a->dx) {
            cvae__sgemm_packed(true, false, ckk, pc, cout, 1.0f, a->w, ckk, ws->wp, ws->cn, pc,
                               0.0f, ws->cols, pc);
            cvae__col2im(a->dx + s0 * chw, ws->cols, NULL, ns, g);
        }
    }
}

/* Inputs x, w, b (b optional); ctx: the geometry. */
static cvae_status conv2d_backward(cvae_tape *t, const cvae__node *nd)
{
    const cvae__conv_geom *g = nd->ctx;
    float *d[3] = {NULL, NULL, NULL};
    CVAE_TRY(cvae__node_grads(t, nd, d));
    const cvae__conv_args a = cvae__conv_node_args(nd, nd->in[1]->shape[0], d);
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo;
    const int64_t pc = a.dx || a.dw ? cvae__conv_chunk(ckk, hw, a.n) * hw : 0;
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_CONV2D " backward");
    const cvae__conv_ws ws = {
        .cols = cvae__op_scratch_floats(&al, ckk * pc),
        .cn = cvae__op_scratch_floats(&al, a.ch * pc),
        .wp = cvae__op_scratch_floats(&al, a.dx ? cvae__sgemm_packed_a_floats(ckk, a.ch) : 0)};
    CVAE_TRY(cvae__op_ready(&al));
    cvae__conv2d_backward(&a, g, &ws);
    cvae__op_end(&al);
    return CVAE_OK;
}

cvae_status cvae_op_conv2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                           const cvae_conv_opts *o, cvae_tensor **y)
{
    const char *fn = CVAE__OP_CONV2D;
    CVAE_TRY(cvae__conv_check_args(fn, t, x, w, b, o, y, 1));
    cvae__conv_geom g;
    CVAE_TRY(cvae__conv_geom_init(&g, fn, x->shape[1], x->shape[2], x->shape[3], w->shape[2],
                                  w->shape[3], o));
    const int64_t n = x->shape[0], cout = w->shape[0], ckk = g.c * g.kh * g.kw, hw = g.ho * g.wo;
    CVAE_TRY(cvae__conv_check_gemm(fn, ckk, n, hw, cout));

    cvae_tensor *in[3] = {x, w, b};
    const int n_in = b ? 3 : 2;
    const int64_t shape[4] = {n, cout, g.ho, g.wo}, pc = cvae__conv_chunk(ckk, hw, n) * hw;
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, in, n_in);
    const cvae__conv_ws ws = {
        .cols = cvae__op_scratch_floats(&al, ckk * pc),
        .cn = cvae__op_scratch_floats(&al, cout * pc),
        .wp = cvae__op_scratch_floats(&al, cvae__sgemm_packed_a_floats(cout, ckk))};
    CVAE_TRY(cvae__op_ready(&al));
    const cvae__conv_args a = {
        .n = n, .ch = cout, .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = out->data};
    cvae__conv2d_forward(&a, &g, &ws);
    cvae__conv_geom *c;
    CVAE_TRY(cvae__op_record(&al, conv2d_backward, out, in, n_in, sizeof *c, (void **)&c));
    if (c) *c = g;
    *y = out;
    return CVAE_OK;
}
