/* Raw kernels of the elementwise arithmetic ops (no tape). Backwards accumulate (+=). */
#ifndef CVAE_OPS_ELEMENTWISE_H
#define CVAE_OPS_ELEMENTWISE_H

#include <stdint.h>

/* y = a + s b (s = 1: add, s = -1: sub).  a, b, y: n floats. */
void cvae__axpby_forward(float *y, const float *a, const float *b, float s, int64_t n);
/* y = a * b;  da += dy b, db += dy a (da, db may be NULL). */
void cvae__mul_forward(float *y, const float *a, const float *b, int64_t n);
void cvae__mul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                        int64_t n);
/* dx += s dy.  dx, dy: n floats (scale's y = s x backward, add/sub's backward). */
void cvae__scaled_add(float *dx, const float *dy, float s, int64_t n);

/* y[n, c, j] = x[n, c, j] + b[c].  x, y: [N, C, S] (S = product of the trailing extents), b: [C].
 */
void cvae__bias_add_forward(float *y, const float *x, const float *b, int64_t n, int64_t c,
                            int64_t s);
/* db[c] += sum_{n, j} dy[n, c, j], summed in double. */
void cvae__bias_add_backward(float *db, const float *dy, int64_t n, int64_t c, int64_t s);

#endif
