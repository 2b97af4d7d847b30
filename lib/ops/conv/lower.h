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

#endif
