/* Lowering of 2-D convolutions to GEMM, shared by conv2d, its transpose and
 * the conditional convolutions. A batch of images is lowered to one matrix so
 * that a single GEMM serves the whole batch (or one label group of it). */
#ifndef CVAE_OPS_CONV_LOWER_H
#define CVAE_OPS_CONV_LOWER_H

#include "ops/conv/core.h"

/* cols: [C*kH*kW, n*Ho*Wo] (row r = (c, i, j), column = (sample, oy, ox)) from images
 * x: [*, C, H, W] taken in the order idx[0..n) (idx NULL means 0..n-1). Padding reads 0. */
void cvae__im2col(float *cols, const float *x, const int64_t *idx, int64_t n,
                  const cvae__conv_geom *g);

/* The adjoint: x[idx[s]] += the contributions of cols: [C*kH*kW, n*Ho*Wo]. */
void cvae__col2im(float *x, const float *cols, const int64_t *idx, int64_t n,
                  const cvae__conv_geom *g);

/* The implicit lowering (implicit GEMM): the lowering of images x: [*, C, H, W] taken in the
 * order idx[0..n) (NULL: 0..n-1), cols as cvae__im2col would write it, given to the built-in GEMM
 * through its B packing (core/gemm.h) so that cols is never stored. */
typedef struct cvae__lowered {
    const float *x;
    const int64_t *idx;
    int64_t n;
    const cvae__conv_geom *g;
} cvae__lowered;

/* Whether cvae__pack_lowered takes g: the geometries of im2col's stride-phase path (dilation 1,
 * strides up to 8, small planes) with at most 64 kernel taps. */
bool cvae__lowered_fits(const cvae__conv_geom *g);

/* A cvae__gemm_b_packer (ctx: a cvae__lowered whose g fits): rows [p0, p0 + kc) x columns
 * [j0, j0 + nc) of the lowering as ceil(nc / nr) B panels [kc][nr], bit for bit what
 * cvae__gemm_pack_b makes of cols. */
void cvae__pack_lowered(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                        float *dst);

/* Images x [n, c, hw] read as their CN matrix [c, n hw] (the operand of a transposed
 * convolution's forward product) without gathering it: a cvae__gemm_b_packer (ctx: a
 * cvae__cn_view), bit for bit what cvae__gemm_pack_b makes of the gathered matrix. */
typedef struct cvae__cn_view {
    const float *x;
    int64_t c, hw;
} cvae__cn_view;
void cvae__pack_cn(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                   float *dst);

/* c: [m, n Ho Wo] = w: [m, C kH kW] times the lowering of x (idx, n as above); wp: w packed by
 * cvae__sgemm_pack_a (core/blas.h), or NULL. Where cvae__sgemm runs the built-in GEMM, g fits and
 * C kH kW >= 32 (measured to pay), the implicit lowering (cols not touched);
 * otherwise im2col into cols: [C kH kW, n Ho Wo] and cvae__sgemm. The same bits either way. */
void cvae__lowered_gemm(float *c, const float *w, const float *wp, int64_t m, const float *x,
                        const int64_t *idx, int64_t n, const cvae__conv_geom *g, float *cols);

#endif
