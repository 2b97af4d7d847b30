#include <math.h>

#include "cvae/ops.h"
#include "ops/activation.h"
#include "tape/tape_internal.h"

void cvae__relu_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void cvae__relu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float d = dy[i], v = x[i]; /* both loaded unconditionally, so the loop vectorizes */
        dx[i] += v > 0.0f ? d : 0.0f;
    }
}

void cvae__relu_mask(float *dst, const float *src, const float *mask, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        const float d = src[i], m = mask[i]; /* both loaded unconditionally: the loop vectorizes */
        dst[i] = m > 0.0f ? d : 0.0f;
    }
}

void cvae__elu_forward(float *y, const float *x, float alpha, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
}

void cvae__elu_backward(float *dx, const float *dy, const float *x, const float *y, float alpha,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
}

void cvae__leaky_relu_forward(float *y, const float *x, float slope, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void cvae__leaky_relu_backward(float *dx, const float *dy, const float *x, float slope, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void cvae__sigmoid_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = cvae__sigmoidf(x[i]);
}

void cvae__sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

void cvae__tanh_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void cvae__tanh_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
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

/* ---- tape wrappers: one kind tag per activation, one parameter (alpha or slope) ---- */

typedef enum act_kind { RELU, ELU, LEAKY, SIGMOID, TANH, SOFTPLUS, EXP, LOG } act_kind;

typedef struct act_ctx {
    act_kind kind;
    float param;
} act_ctx;

static cvae_status act_backward(cvae_tape *t, const cvae_node *nd)
{
    const act_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *y = nd->out;
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    const float *dy = y->grad;
    int64_t n = x->size;
    switch (c->kind) {
    case RELU:
        cvae__relu_backward(dx, dy, x->data, n);
        break;
    case ELU:
        cvae__elu_backward(dx, dy, x->data, y->data, c->param, n);
        break;
    case LEAKY:
        cvae__leaky_relu_backward(dx, dy, x->data, c->param, n);
        break;
    case SIGMOID:
        cvae__sigmoid_backward(dx, dy, y->data, n);
        break;
    case TANH:
        cvae__tanh_backward(dx, dy, y->data, n);
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

static cvae_status act_op(cvae_tape *t, cvae_tensor *x, act_kind kind, float param, cvae_tensor **y,
                          const char *fn)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    if ((kind == ELU || kind == LEAKY) && !isfinite(param))
        return cvae__error(CVAE_ERR_NUMERIC, "%s: parameter %g is not finite", fn, (double)param);
    if (kind == LOG)
        for (int64_t i = 0; i < x->size; i++)
            if (!(x->data[i] > 0.0f))
                return cvae__error(CVAE_ERR_NUMERIC, "%s: element %lld is %g, not positive", fn,
                                   (long long)i, (double)x->data[i]);
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, x->ndim, x->shape, &x, 1, &out));
    int64_t n = x->size;
    switch (kind) {
    case RELU:
        cvae__relu_forward(out->data, x->data, n);
        break;
    case ELU:
        cvae__elu_forward(out->data, x->data, param, n);
        break;
    case LEAKY:
        cvae__leaky_relu_forward(out->data, x->data, param, n);
        break;
    case SIGMOID:
        cvae__sigmoid_forward(out->data, x->data, n);
        break;
    case TANH:
        cvae__tanh_forward(out->data, x->data, n);
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
    CVAE_TRY(cvae__tape_record(t, act_backward, out, &x, 1, sizeof *c, (void **)&c));
    if (c) *c = (act_ctx){kind, param};
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_relu(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, RELU, 0.0f, y, "cvae_op_relu");
}

cvae_status cvae_op_elu(cvae_tape *t, cvae_tensor *x, float alpha, cvae_tensor **y)
{
    return act_op(t, x, ELU, alpha, y, "cvae_op_elu");
}

cvae_status cvae_op_leaky_relu(cvae_tape *t, cvae_tensor *x, float slope, cvae_tensor **y)
{
    return act_op(t, x, LEAKY, slope, y, "cvae_op_leaky_relu");
}

cvae_status cvae_op_sigmoid(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, SIGMOID, 0.0f, y, "cvae_op_sigmoid");
}

cvae_status cvae_op_tanh(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, TANH, 0.0f, y, "cvae_op_tanh");
}

cvae_status cvae_op_softplus(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, SOFTPLUS, 0.0f, y, "cvae_op_softplus");
}

cvae_status cvae_op_exp(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, EXP, 0.0f, y, "cvae_op_exp");
}

cvae_status cvae_op_log(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return act_op(t, x, LOG, 0.0f, y, "cvae_op_log");
}
