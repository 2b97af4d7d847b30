#include "cvae/conv.h"
#include "ops/conv/core.h"
#include "ops/names.h"
#include "ops/upsample.h"
#include "tape/tape_internal.h"

void cvae__upsample_nearest2d_forward(float *y, const float *x, int64_t planes, int64_t h, int64_t w, int64_t s)
{
    const int64_t ws = w * s;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h; i++) {
            const float *xr = x + (p * h + i) * w;
            float *yr = y + (p * h + i) * s * ws;
            for (int64_t j = 0; j < w; j++)
                for (int64_t b = 0; b < s; b++) yr[j * s + b] = xr[j];
            for (int64_t a = 1; a < s; a++) memcpy(yr + a * ws, yr, (size_t)ws * sizeof(float));
        }
}

void cvae__upsample_nearest2d_backward(float *dx, const float *dy, int64_t planes, int64_t h, int64_t w,
                                       int64_t s)
{
    const int64_t ws = w * s;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h; i++) {
            float *xr = dx + (p * h + i) * w;
            const float *yr = dy + (p * h + i) * s * ws;
            for (int64_t a = 0; a < s; a++)
                for (int64_t j = 0; j < w; j++) {
                    float acc = 0.0f;
                    for (int64_t b = 0; b < s; b++) acc += yr[a * ws + j * s + b];
                    xr[j] += acc;
                }
        }
}

void cvae__upsample_nearest2d_forward_ref(float *y, const float *x, int64_t planes, int64_t h, int64_t w,
                                          int64_t s)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h * s; i++)
            for (int64_t j = 0; j < w * s; j++) y[(p * h * s + i) * w * s + j] = x[(p * h + i / s) * w + j / s];
}

void cvae__upsample_nearest2d_backward_ref(float *dx, const float *dy, int64_t planes, int64_t h, int64_t w,
                                           int64_t s)
{
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h * s; i++)
            for (int64_t j = 0; j < w * s; j++) dx[(p * h + i / s) * w + j / s] += dy[(p * h * s + i) * w * s + j];
}

typedef struct up_ctx {
    int64_t scale;
} up_ctx;

static cvae_status up_backward(cvae_tape *t, const cvae__node *nd)
{
    const up_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    cvae__upsample_nearest2d_backward(dx, nd->out->grad, x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                                      c->scale);
    return CVAE_OK;
}

cvae_status cvae_op_upsample_nearest2d(cvae_tape *t, cvae_tensor *x, int scale, cvae_tensor **y)
{
    const char *fn = CVAE__OP_UPSAMPLE_NEAREST2D;
    char sx[64];
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(cvae__conv_check_image(fn, x));
    if (scale < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: scale %d must be >= 1", fn, scale);
    int64_t shape[4] = {x->shape[0], x->shape[1], 0, 0}, s2, size;
    if (!cvae__mul_ok(x->shape[2], scale, &shape[2]) || !cvae__mul_ok(x->shape[3], scale, &shape[3]) ||
        !cvae__mul_ok(x->size, (int64_t)scale * scale, &s2) || cvae_shape_check(4, shape, &size) != CVAE_OK)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s upsampled by %d is too large", fn,
                           cvae__shape_str(x, sx, sizeof sx), scale);
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, &x, 1);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__upsample_nearest2d_forward(out->data, x->data, x->shape[0] * x->shape[1], x->shape[2], x->shape[3],
                                     scale);
    up_ctx *c;
    CVAE_TRY(cvae__op_record(&al, up_backward, out, &x, 1, sizeof *c, (void **)&c));
    if (c) c->scale = scale;
    *y = out;
    return CVAE_OK;
}
