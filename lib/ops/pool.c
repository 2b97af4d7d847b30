#include "cvae/conv.h"
#include "ops/conv/core.h"
#include "ops/names.h"
#include "ops/pool.h"
#include "tape/tape_internal.h"

void cvae__avg_pool2d_forward(float *y, const float *x, const cvae__pool_geom *g)
{
    const float inv = 1.0f / (float)(g->k * g->k);
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->h * g->w;
        float *yp = y + p * g->ho * g->wo;
        for (int64_t oy = 0; oy < g->ho; oy++) {
            float *yr = yp + oy * g->wo;
            for (int64_t ox = 0; ox < g->wo; ox++) yr[ox] = 0.0f;
            for (int64_t i = 0; i < g->k; i++) {
                const float *xr = xp + (oy * g->stride + i) * g->w;
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    const float *xw = xr + ox * g->stride;
                    float s = 0.0f;
                    for (int64_t j = 0; j < g->k; j++) s += xw[j];
                    yr[ox] += s;
                }
            }
            for (int64_t ox = 0; ox < g->wo; ox++) yr[ox] *= inv;
        }
    }
}

void cvae__avg_pool2d_backward(float *dx, const float *dy, const cvae__pool_geom *g)
{
    const float inv = 1.0f / (float)(g->k * g->k);
    for (int64_t p = 0; p < g->planes; p++) {
        float *xp = dx + p * g->h * g->w;
        const float *yp = dy + p * g->ho * g->wo;
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t i = 0; i < g->k; i++) {
                float *xr = xp + (oy * g->stride + i) * g->w;
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    const float d = yp[oy * g->wo + ox] * inv;
                    float *xw = xr + ox * g->stride;
                    for (int64_t j = 0; j < g->k; j++) xw[j] += d;
                }
            }
    }
}

void cvae__avg_pool2d_forward_ref(float *y, const float *x, const cvae__pool_geom *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++) {
                double s = 0.0;
                for (int64_t i = 0; i < g->k; i++)
                    for (int64_t j = 0; j < g->k; j++)
                        s += x[(p * g->h + oy * g->stride + i) * g->w + ox * g->stride + j];
                y[(p * g->ho + oy) * g->wo + ox] = (float)(s / (double)(g->k * g->k));
            }
}

void cvae__avg_pool2d_backward_ref(float *dx, const float *dy, const cvae__pool_geom *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++)
                for (int64_t i = 0; i < g->k; i++)
                    for (int64_t j = 0; j < g->k; j++)
                        dx[(p * g->h + oy * g->stride + i) * g->w + ox * g->stride + j] +=
                            (float)(dy[(p * g->ho + oy) * g->wo + ox] / (double)(g->k * g->k));
}

/* Offset in plane xp of the first maximum of window (oy, ox); NaN wins. */
static int64_t window_argmax(const float *xp, const cvae__pool_geom *g, int64_t oy, int64_t ox)
{
    int64_t best = (oy * g->stride) * g->w + ox * g->stride;
    for (int64_t i = 0; i < g->k; i++)
        for (int64_t j = 0; j < g->k; j++) {
            int64_t o = (oy * g->stride + i) * g->w + ox * g->stride + j;
            if (xp[best] == xp[best] && !(xp[o] <= xp[best])) best = o;
        }
    return best;
}

void cvae__max_pool2d_forward(float *y, int32_t *argmax, const float *x, const cvae__pool_geom *g)
{
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->h * g->w;
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++) {
                const int64_t o = (p * g->ho + oy) * g->wo + ox, a = window_argmax(xp, g, oy, ox);
                argmax[o] = (int32_t)a;
                y[o] = xp[a];
            }
    }
}

void cvae__max_pool2d_backward(float *dx, const float *dy, const int32_t *argmax, const cvae__pool_geom *g)
{
    const int64_t hwo = g->ho * g->wo;
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t o = 0; o < hwo; o++) dx[p * g->h * g->w + argmax[p * hwo + o]] += dy[p * hwo + o];
}

void cvae__max_pool2d_forward_ref(float *y, const float *x, const cvae__pool_geom *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++) {
                float m = x[(p * g->h + oy * g->stride) * g->w + ox * g->stride];
                for (int64_t i = 0; i < g->k; i++)
                    for (int64_t j = 0; j < g->k; j++) {
                        float v = x[(p * g->h + oy * g->stride + i) * g->w + ox * g->stride + j];
                        if (v > m || v != v) m = v;
                    }
                y[(p * g->ho + oy) * g->wo + ox] = m;
            }
}

void cvae__max_pool2d_backward_ref(float *dx, const float *dy, const float *x, const cvae__pool_geom *g)
{
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++) {
                const float *xp = x + p * g->h * g->w;
                int64_t a = window_argmax(xp, g, oy, ox);
                dx[p * g->h * g->w + a] += dy[(p * g->ho + oy) * g->wo + ox];
            }
}

/* ---- tape ops ---- */

static cvae_status plan(cvae__pool_geom *g, const char *fn, cvae_tape *t, const cvae_tensor *x, int k,
                        int stride, cvae_tensor *const *y)
{
    char sx[64];
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(cvae__conv_check_image(fn, x));
    if (k < 1 || stride < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: window %d and stride %d must be >= 1", fn, k, stride);
    if (k > x->shape[2] || k > x->shape[3])
        return cvae__error(CVAE_ERR_SHAPE, "%s: window %d does not fit input %s", fn, k,
                           cvae__shape_str(x, sx, sizeof sx));
    if (x->shape[2] * x->shape[3] > INT32_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: planes of %lld elements are too large", fn,
                           (long long)(x->shape[2] * x->shape[3]));
    g->planes = x->shape[0] * x->shape[1], g->h = x->shape[2], g->w = x->shape[3];
    g->k = k, g->stride = stride;
    g->ho = (g->h - k) / stride + 1, g->wo = (g->w - k) / stride + 1;
    return CVAE_OK;
}

typedef struct pool_ctx {
    cvae__pool_geom g;
    int32_t *argmax; /* max pooling only */
} pool_ctx;

static cvae_status avg_backward(cvae_tape *t, const cvae__node *nd)
{
    const pool_ctx *c = nd->ctx;
    float *dx = cvae__tape_grad(t, nd->in[0]);
    if (!dx) return CVAE_ERR_NOMEM;
    cvae__avg_pool2d_backward(dx, nd->out->grad, &c->g);
    return CVAE_OK;
}

static cvae_status max_backward(cvae_tape *t, const cvae__node *nd)
{
    const pool_ctx *c = nd->ctx;
    float *dx = cvae__tape_grad(t, nd->in[0]);
    if (!dx) return CVAE_ERR_NOMEM;
    cvae__max_pool2d_backward(dx, nd->out->grad, c->argmax, &c->g);
    return CVAE_OK;
}

static cvae_status pool(cvae_tape *t, cvae_tensor *x, int k, int stride, cvae_tensor **y, int is_max)
{
    const char *fn = is_max ? CVAE__OP_MAX_POOL2D : CVAE__OP_AVG_POOL2D;
    cvae__pool_geom g = {0};
    CVAE_TRY(plan(&g, fn, t, x, k, stride, y));
    const int64_t shape[4] = {x->shape[0], x->shape[1], g.ho, g.wo};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, shape, &x, 1);
    int32_t *argmax = is_max ? cvae__op_keep(&al, (size_t)(g.planes * g.ho * g.wo) * sizeof *argmax) : NULL;
    CVAE_TRY(cvae__op_ready(&al));
    if (is_max)
        cvae__max_pool2d_forward(out->data, argmax, x->data, &g);
    else
        cvae__avg_pool2d_forward(out->data, x->data, &g);
    pool_ctx *c;
    CVAE_TRY(cvae__op_record(&al, is_max ? max_backward : avg_backward, out, &x, 1, sizeof *c,
                             (void **)&c));
    if (c) *c = (pool_ctx){g, argmax};
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_avg_pool2d(cvae_tape *t, cvae_tensor *x, int k, int stride, cvae_tensor **y)
{
    return pool(t, x, k, stride, y, 0);
}

cvae_status cvae_op_max_pool2d(cvae_tape *t, cvae_tensor *x, int k, int stride, cvae_tensor **y)
{
    return pool(t, x, k, stride, y, 1);
}
