/* cvae_op_conv_transpose2d: y = act(conv_transpose(x, w) + b), by chunks of samples: x read as
 * its CN matrix (packed straight from NCHW for the built-in GEMM, gathered for OpenBLAS), one
 * GEMM into lowered columns, col2im onto the bias, the activation on the chunk. */
#include "core/blas.h"
#include "core/gemm.h"
#include "ops/conv/conv.h"
#include "ops/conv/lower.h"

void cvae__conv_transpose2d_forward(const cvae__conv_args *a, const cvae__conv_geom *g,
                                    const cvae__conv_ws *ws)
{
    const int64_t n = a->n, cin = a->ch;
    const int64_t rows = g->c * g->kh * g->kw, hw = g->ho * g->wo, yhw = g->h * g->w;
    const int64_t chunk = cvae__conv_chunk(rows, hw, n);
    if (ws->wp) cvae__sgemm_pack_a(true, rows, cin, a->w, rows, ws->wp);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        if (cvae__sgemm_is_builtin()) { /* B panels straight from x's samples */
            const cvae__cn_view v = {a->x + s0 * cin * hw, cin, hw};
            const cvae__gemm_opts o = {0, 0, 0, CVAE__GEMM_AUTO, ws->wp};
            cvae__gemm_run_packer(cvae__gemm_kernel_best(), &o, true, rows, pc, cin, 1.0f, a->w,
                                  rows, cvae__pack_cn, &v, 0.0f, ws->cols, pc);
        } else {
            const cvae__cn_map m = cvae__cn_all(NULL, ns, cin, hw);
            cvae__cn_gather(ws->cn, a->x + s0 * cin * hw, &m);
            cvae__sgemm(true, false, rows, pc, cin, 1.0f, a->w, rows, ws->cn, pc, 0.0f, ws->cols,
                        pc);
        }
        float *ys = a->y + s0 * g->c * yhw;
        for (int64_t k = 0; k < ns * g->c; k++) {
            const float bv = a->b ? a->b[k % g->c] : 0.0f;
            for (int64_t q = 0; q < yhw; q++) ys[k * yhw + q] = bv;
        }
        cvae__col2im(ys, ws->cols, NULL, ns, g);
        cvae__act_forward(ys, ys, ns * g->c * yhw, &g->act); /* the chunk is still in cache */
    }
}

void cvae__conv_transpose2d_backward(const cvae__conv_args *a, const cvae__conv_geom *g,
                                     const cvae__conv_ws *ws)
{
    const int64_t n = a->n, cin = a->ch;
    const int64_t rows = g->c * g->kh * g->kw, hw = g->ho * g->wo, yhw = g->h * g->w;
    if (!a->dx && !a->dw) {
        const cvae__cn_map m = cvae__cn_all(NULL, n, g->c, yhw);
        if (a->db) cvae__cn_gather_grad(NULL, a->dy, a->y, &g->act, a->db, NULL, &m);
        return;
    }
    const int64_t chunk = cvae__conv_chunk(rows, hw, n);
    if (a->dx && ws->wp) cvae__sgemm_pack_a(false, cin, rows, a->w, rows, ws->wp);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw, off = s0 * g->c * yhw;
        const float *dys = a->dy + off;
        if (g->act.kind != CVAE_ACT_NONE) { /* dY of the chunk */
            cvae__act_backward(ws->dy, dys, a->y + off, ns * g->c * yhw, &g->act);
            dys = ws->dy;
        }
        const cvae__cn_map my = cvae__cn_all(NULL, ns, g->c, yhw),
                           mx = cvae__cn_all(NULL, ns, cin, hw);
        if (a->db) cvae__cn_gather_grad(NULL, dys, NULL, NULL, a->db, NULL, &my);
        cvae__im2col(ws->cols, dys, NULL, ns, g);
        if (a->dw) {
            cvae__cn_gather(ws->cn, a->x + s0 * cin * hw, &mx);
            cvae__sgemm(false, true, cin, rows, pc, 1.0f, ws->cn, pc, ws->cols, pc, 1.0f, a->dw,
                        rows);
        }
        if (a->dx) {
            cvae__sgemm_packed(false, false, cin, pc, rows, 1.0f, a->w, rows, ws->wp, ws->cols, pc,
                               0.0f, ws->cn, pc);
            cvae__cn_scatter_add(a->dx + s0 * cin * hw, ws->cn, &mx);
        }
    }
}

/* Inputs x, w, b (b optional); ctx: the geometry (of the adjoint convolution). */
static cvae_status conv_transpose2d_backward(cvae_tape *t, const cvae__node *nd)
{
    const cvae__conv_geom *g = nd->ctx;
    float *d[3] = {NULL, NULL, NULL};
    CVAE_TRY(cvae__node_grads(t, nd, d));
    const cvae__conv_args a = cvae__conv_node_args(nd, nd->in[0]->shape[1], d);
    const int64_t hw = g->ho * g->wo, rows = g->c * g->kh * g->kw;
    const int64_t chunk = a.dx || a.dw ? cvae__conv_chunk(rows, hw, a.n) : 0, pc = chunk * hw;
    const int64_t dyc = g->act.kind != CVAE_ACT_NONE ? chunk * g->c * g->h * g->w : 0;
    cvae__op_alloc al = cvae__op_begin(t, CVAE__OP_CONV_TRANSPOSE2D " backward");
    const cvae__conv_ws ws = {
        .cols = cvae__op_scratch_floats(&al, rows * pc),
        .cn = cvae__op_scratch_floats(&al, a.ch * pc),
        .dy = cvae__op_scratch_floats(&al, dyc),
        .wp = cvae__op_scratch_floats(&al, a.dx ? cvae__sgemm_packed_a_floats(a.ch, rows) : 0)};
    CVAE_TRY(cvae__op_ready(&al));
    cvae__conv_transpose2d_backward(&a, g, &ws);
    cvae__op_end(&al);
    return CVAE_OK;
}

cvae_status cvae_op_conv_transpose2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                                     const cvae_conv_opts *o, cvae_tensor **y)
{
    const char *fn = CVAE__OP_CONV_TRANSPOSE2D;
    CVAE_TRY(cvae__conv_check_args(fn, t, x, w, b, o, y, 0));
    cvae__conv_geom g;
    CVAE_TRY(cvae__conv_geom_transposed(&g, fn, w->shape[1], x->shape[2], x->shape[3], w->shape[2],
                                        w->shape[3], o));
    const int64_t n = x->shape[0], cin = x->shape[1], cout = g.c, hw = g.ho * g.wo;
    const int64_t rows = cout * g.kh * g.kw;
    CVAE_TRY(cvae__conv_check_gemm(fn, rows, n, hw, cin));

    cvae_tensor *in[3] = {x, w, b};
    const int n_in = b ? 3 : 2;
    const int64_t shape[4] = {n, cout, g.h, g.w}, pc = cvae__conv_chunk(rows, hw, n) * hw;
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, in, n_in);
    const cvae__conv_ws ws = {
        .cn = cvae__op_scratch_floats(&al, cin * pc),
        .cols = cvae__op_scratch_floats(&al, rows * pc),
        .wp = cvae__op_scratch_floats(&al, cvae__sgemm_packed_a_floats(rows, cin))};
    CVAE_TRY(cvae__op_ready(&al));
    const cvae__conv_args a = {
        .n = n, .ch = cin, .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = out->data};
    cvae__conv_transpose2d_forward(&a, &g, &ws);
    cvae__conv_geom *c;
    CVAE_TRY(
        cvae__op_record(&al, conv_transpose2d_backward, out, in, n_in, sizeof *c, (void **)&c));
    if (c) *c = g;
    *y = out;
    return CVAE_OK;
}
