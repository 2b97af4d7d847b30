/* Lowering of 2-D convolutions to GEMM, shared by conv2d, its transpose and
 * the conditional convolutions. A batch of images is lowered to one matrix so
 * that a single GEMM serves the whole batch (or one label group of it). */
#ifndef CVAE_OPS_IM2COL_H
#define CVAE_OPS_IM2COL_H

#include <stdint.h>

#include "cvae/conv.h"
#include "ops/activation.h"

/* Geometry of one lowering: input [C, H, W] per image, kernel kH x kW, output Ho x Wo. */
typedef struct cvae_conv_geom {
    int64_t c, h, w;  /* input channels and extents */
    int64_t kh, kw;   /* kernel extents */
    int64_t ho, wo;   /* output extents */
    cvae_conv_opts o; /* stride, padding, dilation */
    cvae__act act;    /* o's activation, its parameter resolved */
} cvae_conv_geom;

/* Fills g for a forward convolution; CVAE_ERR_SHAPE / CVAE_ERR_INVALID_ARG (with a message
 * naming fn) if the options (geometry, activation) are invalid or the output would be empty. */
cvae_status cvae__conv_geom(cvae_conv_geom *g, const char *fn, int64_t c, int64_t h, int64_t w,
                            int64_t kh, int64_t kw, const cvae_conv_opts *o);

/* cols: [C*kH*kW, n*Ho*Wo] (row r = (c, i, j), column = (sample, oy, ox)) from images
 * x: [*, C, H, W] taken in the order idx[0..n) (idx NULL means 0..n-1). Padding reads 0. */
void cvae__im2col(float *cols, const float *x, const int64_t *idx, int64_t n, const cvae_conv_geom *g);

/* The adjoint: x[idx[s]] += the contributions of cols: [C*kH*kW, n*Ho*Wo]. */
void cvae__col2im(float *x, const float *cols, const int64_t *idx, int64_t n, const cvae_conv_geom *g);

#endif
