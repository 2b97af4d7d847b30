/* Raw kernels of the elementwise activations (no tape). x, y, dy, dx: n floats each.
 *
 * The activations of cvae_activation exist once, as the scalar forms below (cvae__act_value,
 * cvae__act_grad_value), used both by the unfused op (cvae_op_activation, cvae_op_relu, ...)
 * and by the ops that fuse them into the pass writing their output (the conv family, linear):
 * so that a fused op equals the op followed by the activation bit for bit. The derivative is
 * read from the output y (sign(y) = sign(v) for the parameters allowed), so no pre-activation
 * tensor is kept. The loops below switch on the kind outside the element loop. */
#ifndef CVAE_OPS_ACTIVATION_H
#define CVAE_OPS_ACTIVATION_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cvae/ops.h"

/* An activation with its parameter resolved (leaky relu's slope, elu's alpha; 0 otherwise). */
typedef struct cvae__act {
    cvae_activation kind;
    float alpha;
} cvae__act;

/* *a = `kind` with `alpha` (0: the default, 0.01 for leaky relu, 1 for elu). CVAE_ERR_INVALID_ARG
 * naming fn for a kind outside the enum, or a leaky relu / elu parameter that is not finite and
 * > 0 after that substitution (the backward needs sign(y) = sign(v)). alpha is ignored by the
 * other kinds. */
cvae_status cvae__act_make(cvae__act *a, const char *fn, cvae_activation kind, float alpha);

/* e^x for x <= 0, in plain arithmetic that the compiler vectorizes (glibc's expf is a call per
 * element): x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor polynomial of degree 7,
 * 2^n from exponent bits in two factors (so that results below FLT_MIN round into the
 * subnormals, and below e^-104 to 0, as expf's do); NaN gives NaN. Relative error < 3e-7 for
 * normal results (tests/test_activation.c). */
static inline float cvae__exp_nonpos(float x)
{
    const float xc = x >= -104.0f ? x : -104.0f; /* NaN too: the int conversion stays defined */
    const float magic = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to an integer */
    const float n = (xc * 1.44269504f + magic) - magic;      /* in [-150, 0] */
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

/* ---- the activations of cvae_activation: scalar forms ---- */

/* f(v) for kind k with parameter p (cvae__act.alpha). */
static inline float cvae__act_value(cvae_activation k, float p, float v)
{
    switch (k) {
    case CVAE_ACT_RELU:
        return v > 0.0f ? v : 0.0f;
    case CVAE_ACT_LEAKY_RELU:
        return v > 0.0f ? v : p * v;
    case CVAE_ACT_ELU:
        return v > 0.0f ? v : p * expm1f(v);
    case CVAE_ACT_SIGMOID:
        return cvae__sigmoidf(v);
    case CVAE_ACT_TANH:
        return tanhf(v);
    default:
        return v;
    }
}

/* d f'(v) read from y = f(v), for an incoming gradient d: relu [y > 0]; leaky relu 1 or p;
 * elu 1 or y + p; sigmoid y (1 - y); tanh 1 - y^2. */
static inline float cvae__act_grad_value(cvae_activation k, float p, float d, float y)
{
    switch (k) {
    case CVAE_ACT_RELU:
        return y > 0.0f ? d : 0.0f;
    case CVAE_ACT_LEAKY_RELU:
        return y > 0.0f ? d : p * d;
    case CVAE_ACT_ELU:
        return y > 0.0f ? d : d * (y + p);
    case CVAE_ACT_SIGMOID:
        return d * y * (1.0f - y);
    case CVAE_ACT_TANH:
        return d * (1.0f - y * y);
    default:
        return d;
    }
}

/* ---- loops over n elements (y may be x, dv may be dy) ---- */

/* y[i] = f(x[i]). */
void cvae__act_forward(float *y, const float *x, int64_t n, const cvae__act *a);
/* y[i] = f(x[i] + bias): the epilogue of a layout copy that adds a bias. */
void cvae__act_bias_forward(float *y, const float *x, float bias, int64_t n, const cvae__act *a);
/* dv[i] = 0 + dy[i] f'(v[i]), from y: written, not accumulated (the fused ops' scratch); the
 * 0 + makes a -0 the +0 that the unfused op's zeroed gradient buffer holds after += -0. */
void cvae__act_backward(float *dv, const float *dy, const float *y, int64_t n, const cvae__act *a);
/* dx[i] += dy[i] f'(x[i]), from y (the unfused op). */
void cvae__act_backward_acc(float *dx, const float *dy, const float *y, int64_t n,
                            const cvae__act *a);
/* sum(x[0..n)) in 8 interleaved partial sums (a fixed order the compiler can vectorize). */
float cvae__sum_floats(const float *x, int64_t n);
/* The sum of the dv[i] that cvae__act_backward writes, in cvae__sum_floats' order (so that it
 * equals cvae__sum_floats of them bit for bit), without storing them. */
float cvae__act_backward_sum(const float *dy, const float *y, int64_t n, const cvae__act *a);

/* ---- the other activations ---- */

/* y = 1 / (1 + e^-x) (as cvae__act_forward with CVAE_ACT_SIGMOID; the model's output). */
void cvae__sigmoid_forward(float *y, const float *x, int64_t n);
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

#endif
