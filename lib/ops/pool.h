/* Raw kernels of 2-D pooling over planes (no tape): x: [planes, H, W] -> y: [planes, Ho, Wo]
 * with Ho = (H - k) / stride + 1 (likewise Wo), no padding. Gradients accumulate (+=). */
#ifndef CVAE_OPS_POOL_H
#define CVAE_OPS_POOL_H

#include <stdint.h>

typedef struct cvae__pool_geom {
    int64_t planes, h, w, ho, wo;
    int64_t k, stride;
} cvae__pool_geom;

/* y = mean of each k x k window. */
void cvae__avg_pool2d_forward(float *y, const float *x, const cvae__pool_geom *g);
/* dx += dy / k^2 spread over each window. */
void cvae__avg_pool2d_backward(float *dx, const float *dy, const cvae__pool_geom *g);
void cvae__avg_pool2d_forward_ref(float *y, const float *x, const cvae__pool_geom *g);
void cvae__avg_pool2d_backward_ref(float *dx, const float *dy, const cvae__pool_geom *g);

/* y = max of each window; argmax[o] = offset in its plane of the first maximum (a NaN
 * counts as the maximum). */
void cvae__max_pool2d_forward(float *y, int32_t *argmax, const float *x, const cvae__pool_geom *g);
/* dx[argmax] += dy. */
void cvae__max_pool2d_backward(float *dx, const float *dy, const int32_t *argmax, const cvae__pool_geom *g);
/* References: the backward finds each window's first maximum again in x. */
void cvae__max_pool2d_forward_ref(float *y, const float *x, const cvae__pool_geom *g);
void cvae__max_pool2d_backward_ref(float *dx, const float *dy, const float *x, const cvae__pool_geom *g);

#endif
