/* Raw kernels of nearest-neighbour upsampling (no tape): x: [planes, H, W] ->
 * y: [planes, s H, s W], y[p, i, j] = x[p, i / s, j / s]. */
#ifndef CVAE_OPS_UPSAMPLE_H
#define CVAE_OPS_UPSAMPLE_H

#include <stdint.h>

void cvae__upsample_nearest2d_forward(float *y, const float *x, int64_t planes, int64_t h, int64_t w, int64_t s);
/* dx[p, i, j] += sum of dy over the s x s block above (i, j). */
void cvae__upsample_nearest2d_backward(float *dx, const float *dy, int64_t planes, int64_t h, int64_t w,
                                       int64_t s);
/* Per output element by index division. */
void cvae__upsample_nearest2d_forward_ref(float *y, const float *x, int64_t planes, int64_t h, int64_t w,
                                          int64_t s);
void cvae__upsample_nearest2d_backward_ref(float *dx, const float *dy, int64_t planes, int64_t h, int64_t w,
                                           int64_t s);

#endif
