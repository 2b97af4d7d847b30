#include <math.h>

#include "cvae/ops.h"
#include "ops/activation.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

/* ---- the activations of cvae_activation ---- */

const char *cvae_activation_name(cvae_activation a)
{
    switch (a) {
    case CVAE_ACT_NONE:
        return "none";
    case CVAE_ACT_RELU:
        return "relu";
    case CVAE_ACT_LEAKY_RELU:
        return "leaky_relu";
    case CVAE_ACT_ELU:
        return "elu";
    case CVAE_ACT_SIGMOID:
        return "sigmoid";
    case CVAE_ACT_TANH:
        return "tanh";
    }
    return "?";
}

cvae_status cvae__act_make(cvae__act *a, const char *fn, cvae_activation kind, float alpha)
{
    switch (kind) {
    case CVAE_ACT_NONE:
    case CVAE_ACT_RELU:
    case CVAE_ACT_SIGMOID:
    case CVAE_ACT_TANH:
        *a = (cvae__act){kind, 0.0f};
        return CVAE_OK;
    case CVAE_ACT_LEAKY_RELU:
    case CVAE_ACT_ELU: {
        const float p = alpha != 0.0f ? alpha : kind == CVAE_ACT_ELU ? 1.0f : 0.01f;
        if (!(isfinite(p) && p > 0.0f))
            return cvae__error(CVAE_ERR_INVALID_ARG,
                               "%s: %s parameter alpha %g must be finite and > 0", fn,
                               cvae_activation_name(kind), (double)alpha);
        *a = (cvae__act){kind, p};
        return CVAE_OK;
    }
    }
    return cvae__error(CVAE_ERR_INVALID_ARG, "%s: activation %d is not a cvae_activation", fn,
                       (int)kind);
}

/* The loops are written once, as always-inlined functions of a kind K, and instantiated per
 * kind by ACT_SWITCH: K is then a constant, the scalar form's switch folds away and each loop
 * vectorizes where its function allows (relu, leaky relu, sigmoid). */
#define LOOP static inline __attribute__((always_inline))

#define ACT_CASE(k, STMT)                                                                          \
    case k: {                                                                                      \
        const cvae_activation K = k;                                                               \
        STMT;                                                                                      \
    } break

#define ACT_SWITCH(kind, STMT)                                                                     \
    switch (kind) {                                                                                \
        ACT_CASE(CVAE_ACT_RELU, STMT);                                                             \
        ACT_CASE(CVAE_ACT_LEAKY_RELU, STMT);                                                       \
        ACT_CASE(CVAE_ACT_ELU, STMT);                                                              \
        ACT_CASE(CVAE_ACT_SIGMOID, STMT);                                                          \
        ACT_CASE(CVAE_ACT_TANH, STMT);                                                             \
        ACT_CASE(CVAE_ACT_NONE, STMT);                                                             \
    }

LOOP void forward_loop(float *y, const float *x, float bias, int64_t n, cvae_activation k, float p)
{
    for (int64_t i = 0; i < n; i++) y[i] = cvae__act_value(k, p, x[i] + bias);
}

LOOP void plain_loop(float *y, const float *x, int64_t n, cvae_activation k, float p)
{
    for (int64_t i = 0; i < n; i++) y[i] = cvae__act_value(k, p, x[i]);
}

void cvae__act_forward(float *y, const float *x, int64_t n, const cvae__act *a)
{
    if (a->kind == CVAE_ACT_NONE) {
        if (y != x) memmove(y, x, (size_t)n * sizeof(float));
        return;
    }
    ACT_SWITCH(a->kind, plain_loop(y, x, n, K, a->alpha))
}

void cvae__act_bias_forward(float *y, const float *x, float bias, int64_t n, const cvae__act *a){
    ACT_SWITCH(a->kind, forward_loop(y, x, bias, n, K, a->alpha))}

LOOP void backward_loop(float *dv, const float *dy, const float *y, int64_t n, cvae_activation k,
                        float p)
{
    for (int64_t i = 0; i < n; i++) {
        const float d = dy[i], v = y[i]; /* both loaded unconditionally, so the loop vectorizes */
        dv[i] = 0.0f + cvae__act_grad_value(k, p, d, v);
    }
}

LOOP void backward_acc_loop(float *dx, const float *dy, const float *y, int64_t n,
                            cvae_activation k, float p)
{
    for (int64_t i = 0; i < n; i++) {
        const float d = dy[i], v = y[i];
        dx[i] += cvae__act_grad_value(k, p, d, v);
    }
}

void cvae__act_backward(float *dv, const float *dy, const float *y, int64_t n, const cvae__act *a)
{
    ACT_SWITCH(a->kind, backward_loop(dv, dy, y, n, K, a->alpha))
}

void cvae__act_backward_acc(float *dx, const float *dy, const float *y, int64_t n,
                            const cvae__act *a){
    ACT_SWITCH(a->kind, backward_acc_loop(dx, dy, y, n, K, a->alpha))}

/* Element i of a sum: dy[i] itself (kind NONE, y unused) or dv[i] as cvae__act_backward writes. */
LOOP float term(const float *dy, const float *y, int64_t i, cvae_activation k, float p)
{
    return k == CVAE_ACT_NONE ? dy[i] : 0.0f + cvae__act_grad_value(k, p, dy[i], y[i]);
}

LOOP float sum_loop(const float *dy, const float *y, int64_t n, cvae_activation k, float p)
{
    float a[8] = {0}, tail = 0.0f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) a[j] += term(dy, y, i + j, k, p);
    for (; i < n; i++) tail += term(dy, y, i, k, p);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + tail;
}

float cvae__sum_floats(const float *x, int64_t n)
{
    return sum_loop(x, NULL, n, CVAE_ACT_NONE, 0.0f);
}

float cvae__act_backward_sum(const float *dy, const float *y, int64_t n, const cvae__act *a)
{
    float s = 0.0f;
    ACT_SWITCH(a->kind, s = sum_loop(dy, y, n, K, a->alpha))
    return s;
}

/* ---- the other activations ---- */

void cvae__sigmoid_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = cvae__sigmoidf(x[i]);
}

void cvae__softplus_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
}

void cvae__softplus_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * cvae__sigmoidf(x[i]);
}

void cvae__softplus_forward_ref(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = (float)log1p(exp((double)x[i]));
}

void cvae__exp_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

void cvae__exp_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i];
}

void cvae__log_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
}

void cvae__log_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] / x[i];
}

/* ---- tape wrappers ---- */

/* An activation of cvae_activation (a) or one of the others. */
typedef enum act_kind { FUSABLE, SOFTPLUS, EXP, LOG } act_kind;

typedef struct act_ctx {
    act_kind kind;
    cvae__act a;
} act_ctx;

static cvae_status act_backward(cvae_tape *t, const cvae__node *nd)
{
    const act_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *y = nd->out;
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    const float *dy = y->grad;
    int64_t n = x->size;
    switch (c->kind) {
    case FUSABLE:
        cvae__act_backward_acc(dx, dy, y->data, n, &c->a);
        break;
    case SOFTPLUS:
        cvae__softplus_backward(dx, dy, x->data, n);
        break;
    case EXP:
        cvae__exp_backward(dx, dy, y->data, n);
        break;
    case LOG:
        cvae__log_backward(dx, dy, x->data, n);
        break;
    }
    return CVAE_OK;
}

static cvae_status act_op(const char *fn, cvae_tape *t, cvae_tensor *x, act_kind kind, cvae__act a,
                          cvae_tensor **y)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    if (kind == LOG)
        for (int64_t i = 0; i < x->size; i++)
            if (!(x->data[i] > 0.0f))
                return cvae__error(CVAE_ERR_NUMERIC, "%s: element %lld is %g, not positive", fn,
                                   (long long)i, (double)x->data[i]);
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, x->ndim, x->shape, &x, 1);
    CVAE_TRY(cvae__op_ready(&al));
    int64_t n = x->size;
    switch (kind) {
    case FUSABLE:
        cvae__act_forward(out->data, x->data, n, &a);
        break;
    case SOFTPLUS:
        cvae__softplus_forward(out->data, x->data, n);
        break;
    case EXP:
        cvae__exp_forward(out->data, x->data, n);
        break;
    case LOG:
        cvae__log_forward(out->data, x->data, n);
        break;
    }
    act_ctx *c;
    CVAE_TRY(cvae__op_record(&al, act_backward, out, &x, 1, sizeof *c, (void **)&c));
    if (c) *c = (act_ctx){kind, a};
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_activation(cvae_tape *t, cvae_tensor *x, cvae_activation act, float alpha,
                               cvae_tensor **y)
{
    const char *fn = CVAE__OP_ACTIVATION;
    cvae__act a;
    CVAE_TRY(cvae__act_make(&a, fn, act, alpha));
    return act_op(fn, t, x, FUSABLE, a, y);
}

/* The parameter of cvae_op_elu / cvae_op_leaky_relu, taken as given (0 means 0): finite
 * (CVAE_ERR_NUMERIC) and >= 0 (CVAE_ERR_INVALID_ARG: the derivative is read from y). */
static cvae_status legacy_param(const char *fn, const char *name, float p)
{
    if (!isfinite(p))
        return cvae__error(CVAE_ERR_NUMERIC, "%s: %s %g is not finite", fn, name, (double)p);
    if (p < 0.0f)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %s %g is negative", fn, name, (double)p);
    return CVAE_OK;
}

cvae_status cvae_op_relu(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_RELU, t, x, FUSABLE, (cvae__act){CVAE_ACT_RELU, 0.0f}, y);
}

cvae_status cvae_op_elu(cvae_tape *t, cvae_tensor *x, float alpha, cvae_tensor **y)
{
    const char *fn = CVAE__OP_ELU;
    CVAE_TRY(legacy_param(fn, "alpha", alpha));
    return act_op(fn, t, x, FUSABLE, (cvae__act){CVAE_ACT_ELU, alpha}, y);
}

cvae_status cvae_op_leaky_relu(cvae_tape *t, cvae_tensor *x, float slope, cvae_tensor **y)
{
    const char *fn = CVAE__OP_LEAKY_RELU;
    CVAE_TRY(legacy_param(fn, "slope", slope));
    return act_op(fn, t, x, FUSABLE, (cvae__act){CVAE_ACT_LEAKY_RELU, slope}, y);
}

cvae_status cvae_op_sigmoid(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_SIGMOID, t, x, FUSABLE, (cvae__act){CVAE_ACT_SIGMOID, 0.0f}, y);
}

cvae_status cvae_op_tanh(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_TANH, t, x, FUSABLE, (cvae__act){CVAE_ACT_TANH, 0.0f}, y);
}

cvae_status cvae_op_softplus(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_SOFTPLUS, t, x, SOFTPLUS, (cvae__act){CVAE_ACT_NONE, 0.0f}, y);
}

cvae_status cvae_op_exp(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_EXP, t, x, EXP, (cvae__act){CVAE_ACT_NONE, 0.0f}, y);
}

cvae_status cvae_op_log(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(CVAE__OP_LOG, t, x, LOG, (cvae__act){CVAE_ACT_NONE, 0.0f}, y);
}
