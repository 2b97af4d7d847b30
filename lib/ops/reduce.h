/* Raw kernels of the reductions (no tape); sums accumulate in double. */
#ifndef CVAE_OPS_REDUCE_H
#define CVAE_OPS_REDUCE_H

#include <stdint.h>

/* y[i] = sum_j x[i, j].  x: [N, D], y: [N]. */
void cvae__sum_rows_forward(float *y, const float *x, int64_t n, int64_t d);
/* dx[i, j] += s dy[i * stride]: stride 1 spreads per-row gradients, stride 0 one scalar. */
void cvae__sum_rows_backward(float *dx, const float *dy, int64_t stride, float s, int64_t n,
                             int64_t d);
/* sum_i x[i] in double.  x: [N]. */
double cvae__sum(const float *x, int64_t n);

#endif
