/* Raw kernels of conv2d and conv_transpose2d (no tape): the batch is lowered in
 * chunks of samples (cvae__conv_chunk) small enough for the lowered matrix to stay
 * in L2 until its CBLAS GEMM consumes it; plain direct-loop references,
 * and the layout helpers the conditional convolutions reuse.
 * Notation: n images, P = n Ho Wo columns of a conv2d lowering, CKK = C kH kW.
 * "CN layout" is [C, n*HW]: channel-major over a list of images, the shape of
 * the GEMM operands. Every gradient kernel accumulates (+=) into its outputs. */
#ifndef CVAE_OPS_CONV_H
#define CVAE_OPS_CONV_H

#include <stdint.h>

#include "ops/im2col.h"

/* ---- fused activation ----
 * The ops apply g->act (the activation of their options, cvae_conv_geom) in the pass that
 * writes y, and their backward reads dY = dy f'(y) from the saved output y in a pass over dy
 * it makes anyway, writing dY into scratch: no pre-activation tensor, no gradient buffer for
 * it and no activation node exist. The kernels below take y for that (read only when
 * g->act is not CVAE_ACT_NONE). */

/* ---- layout helpers ---- */

/* cn: [C, n*hw] with cn[c, s*hw + p] = x[idx[s], c, p]; x: [*, C, hw] (idx NULL: 0..n-1).
 * With act not NULL and not NONE, x is an incoming gradient dy and the entries are dY = dy f'(y)
 * instead (cvae__act_backward), y laid out like x. If csum is not NULL, csum[c] += sum_{s,p}
 * of the entries written (a bias gradient). */
void cvae__nchw_to_cn(float *cn, const float *x, const int64_t *idx, int64_t n, int64_t c, int64_t hw,
                      float *csum, const float *y, const cvae__act *act);

/* How cvae__cn_to_nchw writes x. */
typedef enum cvae__cn_write {
    CVAE__CN_STORE, /* x = act(cn + bias) */
    CVAE__CN_ADD    /* x += cn + bias */
} cvae__cn_write;

/* x[idx[s], c, p] (op) cn[c, s*hw + p] + bias[c] (bias may be NULL; act NULL: none).
 * x: [*, C, hw], cn: [C, n*hw]. */
void cvae__cn_to_nchw(float *x, const float *cn, const int64_t *idx, int64_t n, int64_t c, int64_t hw,
                      const float *bias, cvae__cn_write op, const cvae__act *act);

/* db[c] += sum_{s,p} dY[s, c, p], dY = dy f'(y) (cvae__act_backward_sum), or dy itself when act
 * is NULL or NONE.  dy, y: [n, C, hw]. */
void cvae__channel_sums(float *db, const float *dy, int64_t n, int64_t c, int64_t hw, const float *y,
                        const cvae__act *act);

/* Samples per chunk for a lowering of `rows` rows and hw columns per sample (1..n).
 * Every workspace below is sized for one chunk: S = cvae__conv_chunk(rows, hw, n),
 * Pc = S hw (a bigger one works too). */
int64_t cvae__conv_chunk(int64_t rows, int64_t hw, int64_t n);

/* ---- conv2d: y = conv(x, w) + b;  g: input [C, H, W] -> output [Ho, Wo] ---- */

/* y: [n, Cout, Ho, Wo] = act(conv(x, w) + b) from x: [n, C, H, W], w: [Cout, CKK], b: [Cout]
 * or NULL, act = g->act. Workspaces (rows = CKK): cols [CKK, Pc], ycn [Cout, Pc]. */
void cvae__conv2d_forward(float *y, float *cols, float *ycn, const float *x, const float *w,
                          const float *b, int64_t n, int64_t cout, const cvae_conv_geom *g);

/* dx: [n, C, H, W] += W^T dY lowered back by col2im; dw: [Cout, CKK] += dY im2col(x)^T;
 * db: [Cout] += sums of dY, where dY = dy f'(y) from dy, y: [n, Cout, Ho, Wo] (dY = dy when
 * g->act is NONE; y is read only otherwise). Each of dx, dw, db may be NULL (no work for it).
 * x: [n, C, H, W] (read iff dw: re-lowered chunk by chunk); workspaces
 * (rows = CKK) dycn [Cout, Pc] and cols [CKK, Pc] (iff dx or dw). */
void cvae__conv2d_backward(float *dx, float *dw, float *db, float *dycn, float *cols, const float *dy,
                           const float *y, const float *x, const float *w, int64_t n, int64_t cout,
                           const cvae_conv_geom *g);

/* Direct loops (double accumulation) computing the same; dx, dw, db accumulate. */
void cvae__conv2d_forward_ref(float *y, const float *x, const float *w, const float *b, int64_t n,
                              int64_t cout, const cvae_conv_geom *g);
void cvae__conv2d_dx_ref(float *dx, const float *dy, const float *w, int64_t n, int64_t cout,
                         const cvae_conv_geom *g);
void cvae__conv2d_dw_ref(float *dw, const float *dy, const float *x, int64_t n, int64_t cout,
                         const cvae_conv_geom *g);
/* Also the bias-gradient reference of conv_transpose2d. */
void cvae__conv2d_db_ref(float *db, const float *dy, int64_t n, int64_t cout, int64_t hw);

/* ---- conv_transpose2d: the adjoint of conv2d in its input, plus a bias ----
 * g is the geometry of that conv2d: its input is y [Cout, Ho, Wo] (g->c = Cout,
 * g->h = Ho, g->w = Wo), its output is x (g->ho = H, g->wo = W). Here P = n H W. */

/* y: [n, Cout, Ho, Wo] = act(conv_transpose(x, w) + b) from x: [n, Cin, H, W],
 * w: [Cin, Cout kH kW], b: [Cout] or NULL, act = g->act (applied to each chunk just raised by
 * col2im). Workspaces (rows = Cout kH kW, hw = H W): xcn [Cin, Pc], cols [Cout kH kW, Pc]. */
void cvae__conv_transpose2d_forward(float *y, float *xcn, float *cols, const float *x, const float *w,
                                    const float *b, int64_t n, int64_t cin, const cvae_conv_geom *g);

/* dx += W im2col(dY); dw += x im2col(dY)^T (x in CN layout); db += sums of dY, where dY = dy
 * f'(y) from dy, y: [n, Cout, Ho, Wo] (dY = dy when g->act is NONE; y read only otherwise).
 * Each of dx, dw, db may be NULL. x: [n, Cin, H, W] (read iff dw); workspaces (rows = Cout kH kW,
 * hw = H W) cols [Cout kH kW, Pc] and xcn [Cin, Pc] (iff dx or dw), and with an activation
 * dym [S Cout Ho Wo] (dY of one chunk). */
void cvae__conv_transpose2d_backward(float *dx, float *dw, float *db, float *cols, float *xcn,
                                     float *dym, const float *dy, const float *y, const float *x,
                                     const float *w, int64_t n, int64_t cin, const cvae_conv_geom *g);

void cvae__conv_transpose2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                                        int64_t n, int64_t cin, const cvae_conv_geom *g);
void cvae__conv_transpose2d_dx_ref(float *dx, const float *dy, const float *w, int64_t n, int64_t cin,
                                   const cvae_conv_geom *g);
void cvae__conv_transpose2d_dw_ref(float *dw, const float *dy, const float *x, int64_t n, int64_t cin,
                                   const cvae_conv_geom *g);

/* ---- argument checks shared with the conditional convolutions ---- */

/* Fills g for conv2d of x: [N, C, H, W] with a kH x kW kernel and checks that
 * the lowering of nmax images fits the BLAS int range and int64 sizes
 * (rows C kH kW, columns nmax Ho Wo, cout rows of output). Sets a message naming fn. */
cvae_status cvae__conv2d_plan(cvae_conv_geom *g, const char *fn, const cvae_tensor *x, int64_t cout,
                              int64_t kh, int64_t kw, const cvae_conv_opts *o);

/* The same for conv_transpose2d of x: [N, Cin, H, W] into cout channels; also
 * checks output_pad in [0, stride) and a non-empty output. g as documented above. */
cvae_status cvae__conv_transpose2d_plan(cvae_conv_geom *g, const char *fn, const cvae_tensor *x,
                                        int64_t cout, int64_t kh, int64_t kw, const cvae_conv_opts *o);

#endif
