/* Raw kernels of conv2d and conv_transpose2d (no tape), for the ops, tests and benchmarks.
 * The batch is lowered in chunks of samples (cvae__conv_chunk) small enough for the lowered
 * matrix to stay in L2 until its GEMM consumes it. Forward kernels write y = act(...) with
 * act = g->act; backward kernels read dY = dy f'(y) (dy itself when g->act is NONE) and
 * accumulate (+=) into each of dx, dw, db that is not NULL. References: direct loops in
 * double, without the activation. Arguments: cvae__conv_args (conv/core.h). */
#ifndef CVAE_OPS_CONV_CONV_H
#define CVAE_OPS_CONV_CONV_H

#include "ops/conv/core.h"

/* ---- conv2d: g: input [C, H, W] -> output [Ho, Wo]; a->ch = Cout ----
 * x: [n, C, H, W], w: [Cout, CKK], b: [Cout] or NULL, y, dy: [n, Cout, Ho, Wo]. */

/* y = act(conv(x, w) + b). Workspaces (rows = CKK): cols [CKK, Pc], cn [Cout, Pc]. */
void cvae__conv2d_forward(const cvae__conv_args *a, const cvae__conv_geom *g,
                          const cvae__conv_ws *ws);
/* dx += W^T dY lowered back by col2im; dw += dY im2col(x)^T (x read iff dw: re-lowered chunk by
 * chunk); db += sums of dY. Workspaces (iff dx or dw): cn [Cout, Pc], cols [CKK, Pc]. */
void cvae__conv2d_backward(const cvae__conv_args *a, const cvae__conv_geom *g,
                           const cvae__conv_ws *ws);

/* ---- conv_transpose2d: the adjoint of conv2d in its input, plus a bias ----
 * g is the geometry of that conv2d: its input is y [Cout, Ho, Wo] (g->c = Cout, g->h = Ho,
 * g->w = Wo), its output is x (g->ho = H, g->wo = W); a->ch = Cin; P = n H W.
 * x: [n, Cin, H, W], w: [Cin, Cout kH kW], b: [Cout] or NULL, y, dy: [n, Cout, Ho, Wo]. */

/* y = act(conv_transpose(x, w) + b), the activation on each chunk just raised by col2im.
 * Workspaces (rows = Cout kH kW, hw = H W): cn [Cin, Pc], cols [Cout kH kW, Pc]. */
void cvae__conv_transpose2d_forward(const cvae__conv_args *a, const cvae__conv_geom *g,
                                    const cvae__conv_ws *ws);
/* dx += W im2col(dY); dw += x im2col(dY)^T (x in CN layout, read iff dw); db += sums of dY.
 * Workspaces (iff dx or dw): cols [Cout kH kW, Pc], cn [Cin, Pc], and with an activation
 * dy [S Cout Ho Wo] (dY of one chunk). */
void cvae__conv_transpose2d_backward(const cvae__conv_args *a, const cvae__conv_geom *g,
                                     const cvae__conv_ws *ws);

/* ---- references ---- */

void cvae__conv2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);
void cvae__conv2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);
void cvae__conv_transpose2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);
void cvae__conv_transpose2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);

/* Input offset (iy W + ix) of tap (i, j) at output (oy, ox) of the convolution g, or -1 in the
 * padding (the references' indexing). */
static inline int64_t cvae__conv_tap(const cvae__conv_geom *g, int64_t i, int64_t j, int64_t oy,
                                     int64_t ox)
{
    const int64_t iy = oy * g->o.stride_h - g->o.pad_top + i * g->o.dilation_h;
    const int64_t ix = ox * g->o.stride_w - g->o.pad_left + j * g->o.dilation_w;
    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return -1;
    return iy * g->w + ix;
}

#endif
