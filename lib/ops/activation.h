/* Raw kernels of the elementwise activations (no tape). x, y, dy, dx: n floats each;
 * every backward accumulates dx += dy * f'(x), using y = f(x) where that is cheaper. */
#ifndef CVAE_OPS_ACTIVATION_H
#define CVAE_OPS_ACTIVATION_H

#include <math.h>
#include <stdint.h>

/* y = max(x, 0);  f' = [x > 0]. */
void cvae__relu_forward(float *y, const float *x, int64_t n);
void cvae__relu_backward(float *dx, const float *dy, const float *x, int64_t n);
/* y = x if x > 0 else alpha (e^x - 1);  f' = 1 or y + alpha. */
void cvae__elu_forward(float *y, const float *x, float alpha, int64_t n);
void cvae__elu_backward(float *dx, const float *dy, const float *x, const float *y, float alpha,
                        int64_t n);
/* y = x if x > 0 else slope x;  f' = 1 or slope. */
void cvae__leaky_relu_forward(float *y, const float *x, float slope, int64_t n);
void cvae__leaky_relu_backward(float *dx, const float *dy, const float *x, float slope, int64_t n);
/* y = 1 / (1 + e^-x), evaluated so that no exponent is positive;  f' = y (1 - y). */
void cvae__sigmoid_forward(float *y, const float *x, int64_t n);
void cvae__sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = tanh x;  f' = 1 - y^2. */
void cvae__tanh_forward(float *y, const float *x, int64_t n);
void cvae__tanh_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = max(x, 0) + log1p(e^-|x|) = log(1 + e^x) without overflow;  f' = sigmoid(x). */
void cvae__softplus_forward(float *y, const float *x, int64_t n);
void cvae__softplus_backward(float *dx, const float *dy, const float *x, int64_t n);
/* Plain log1p(e^x) in double (overflows for x > ~709; for tests). */
void cvae__softplus_forward_ref(float *y, const float *x, int64_t n);
/* y = e^x;  f' = y. */
void cvae__exp_forward(float *y, const float *x, int64_t n);
void cvae__exp_backward(float *dx, const float *dy, const float *y, int64_t n);
/* y = log x (x > 0);  f' = 1 / x. */
void cvae__log_forward(float *y, const float *x, int64_t n);
void cvae__log_backward(float *dx, const float *dy, const float *x, int64_t n);

/* Numerically stable logistic function of one value. */
static inline float cvae__sigmoidf(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

#endif
