/* Raw kernels of the elementwise activations (no tape). x, y, dy, dx: n floats each;
 * every backward accumulates dx += dy * f'(x), using y = f(x) where that is cheaper. */
#ifndef CVAE_OPS_ACTIVATION_H
#define CVAE_OPS_ACTIVATION_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* y = max(x, 0);  f' = [x > 0]. */
void cvae__relu_forward(float *y, const float *x, int64_t n);
void cvae__relu_backward(float *dx, const float *dy, const float *x, int64_t n);
/* dst[i] = mask[i] > 0 ? src[i] : 0 for i < count (dst may be src): the backward of a ReLU
 * whose output is mask, writing instead of accumulating (the fused ReLU ops, ops/conv.h). */
void cvae__relu_mask(float *dst, const float *src, const float *mask, int64_t count);
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

/* e^x for x <= 0, in plain arithmetic that the compiler vectorizes (glibc's expf is a call per
 * element): x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor polynomial of degree 7,
 * 2^n from exponent bits in two factors (so that results below FLT_MIN round into the
 * subnormals, and below e^-104 to 0, as expf's do); NaN gives NaN. Relative error < 3e-7 for
 * normal results (tests/test_activation.c). */
static inline float cvae__exp_nonpos(float x)
{
    const float xc = x >= -104.0f ? x : -104.0f; /* NaN too: the int conversion stays defined */
    const float magic = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to an integer */
    const float n = (xc * 1.44269504f + magic) - magic; /* in [-150, 0] */
    float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f; /* ln2 in two parts */
    r = x == x ? r : x;                                      /* NaN in, NaN out */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 64 + 127) * (1 << 23); /* 2^(n + 64), a normal float */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale * 5.42101086e-20f; /* 2^-64 */
}

/* log(1 + e) for e in [0, 1], as 2 atanh(s), s = e / (2 + e) in [0, 1/3], by its series to
 * s^17 (truncation < 3e-10): vectorizable like cvae__exp_nonpos. Relative error < 3e-7. */
static inline float cvae__log1p_unit(float e)
{
    const float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 17.0f;
    p = p * s2 + 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* Logistic function of one value without overflow (only e^-|x| is formed), vectorizable
 * through cvae__exp_nonpos; NaN gives NaN. */
static inline float cvae__sigmoidf(float x)
{
    const float e = cvae__exp_nonpos(-fabsf(x)), inv = 1.0f / (1.0f + e);
    return x >= 0.0f ? inv : e * inv;
}

#endif
