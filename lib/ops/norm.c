#include <math.h>

#include "cvae/conv.h"
#include "ops/names.h"
#include "ops/norm.h"
#include "tape/tape_internal.h"

void cvae__batch_norm2d_stats(double *mean, double *var, const cvae__bn_args *a)
{
    const int64_t n = a->n, c = a->c, hw = a->hw;
    const float *x = a->x;
    const double m = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        const double x0 = x[ch * hw]; /* shift: the sum is of values of the spread's size */
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * hw;
            for (int64_t p = 0; p < hw; p++) s += (double)xp[p] - x0;
        }
        const double mu = x0 + s / m;
        double q = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * hw;
            for (int64_t p = 0; p < hw; p++) {
                const double d = (double)xp[p] - mu;
                q += d * d;
            }
        }
        mean[ch] = mu;
        var[ch] = q / m;
    }
}

void cvae__batch_norm2d_forward(const cvae__bn_args *a)
{
    const int64_t n = a->n, c = a->c, hw = a->hw;
    const float *x = a->x, *gamma = a->gamma, *beta = a->beta;
    const double *mean = a->mean, *invstd = a->invstd;
    float *y = a->y;
    for (int64_t ch = 0; ch < c; ch++) {
        /* y = a (x - hi) + b with hi = float(mean): x - hi is exact near the mean, and a, b are
         * of the size of the result (b absorbs mean - hi), so nothing large cancels */
        const double ad = (gamma ? gamma[ch] : 1.0) * invstd[ch];
        const float hi = (float)mean[ch], k = (float)ad;
        const float b = (float)((beta ? beta[ch] : 0.0) - ad * (mean[ch] - hi));
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * hw;
            float *yp = y + (i * c + ch) * hw;
            for (int64_t p = 0; p < hw; p++) yp[p] = k * (xp[p] - hi) + b;
        }
    }
}

void cvae__batch_norm2d_backward(const cvae__bn_args *a)
{
    const int64_t n = a->n, c = a->c, hw = a->hw;
    const float *x = a->x, *gamma = a->gamma, *dy = a->dy;
    const double *mean = a->mean, *invstd = a->invstd;
    float *dx = a->dx, *dgamma = a->dgamma, *dbeta = a->dbeta;
    const int batch_stats = a->batch_stats;
    const double m = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        const double mu = mean[ch], is = invstd[ch];
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy (x - mean) */
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * hw, *gp = dy + (i * c + ch) * hw;
            for (int64_t p = 0; p < hw; p++) {
                sdy += gp[p];
                sdyx += gp[p] * ((double)xp[p] - mu);
            }
        }
        sdyx *= is; /* sum dy xhat */
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
        if (!dx) continue;
        /* dx = k (dy - mean(dy) - (x - mean) is mean(dy xhat)), with x - mean = (x - hi) - lo */
        const float hi = (float)mu, k = (float)((gamma ? gamma[ch] : 1.0) * is);
        const double c1 = batch_stats ? sdyx / m * is : 0.0;
        const float c0 = batch_stats ? (float)(sdy / m - (mu - hi) * c1) : 0.0f, c1f = (float)c1;
        for (int64_t i = 0; i < n; i++) {
            const float *xp = x + (i * c + ch) * hw, *gp = dy + (i * c + ch) * hw;
            float *dp = dx + (i * c + ch) * hw;
            for (int64_t p = 0; p < hw; p++) dp[p] += k * (gp[p] - c0 - (xp[p] - hi) * c1f);
        }
    }
}

void cvae__batch_norm2d_forward_ref(const cvae__bn_args *a)
{
    const int64_t n = a->n, c = a->c, hw = a->hw;
    const float *x = a->x, *gamma = a->gamma, *beta = a->beta;
    const double *mean = a->mean, *var = a->var, eps = a->eps;
    float *y = a->y;
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t p = 0; p < hw; p++) {
                int64_t o = (i * c + ch) * hw + p;
                double xhat = (x[o] - mean[ch]) / sqrt(var[ch] + eps);
                y[o] = (float)((gamma ? gamma[ch] : 1.0) * xhat + (beta ? beta[ch] : 0.0));
            }
}

void cvae__batch_norm2d_backward_ref(const cvae__bn_args *a)
{
    const int64_t n = a->n, c = a->c, hw = a->hw;
    const float *x = a->x, *gamma = a->gamma, *dy = a->dy;
    const double *mean = a->mean, *var = a->var, eps = a->eps;
    float *dx = a->dx, *dgamma = a->dgamma, *dbeta = a->dbeta;
    const int batch_stats = a->batch_stats;
    const double m = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        const double is = 1.0 / sqrt(var[ch] + eps), gm = gamma ? gamma[ch] : 1.0;
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < hw; p++) {
                int64_t o = (i * c + ch) * hw + p;
                sdy += dy[o];
                sdyx += dy[o] * (x[o] - mean[ch]) * is;
            }
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
        if (!dx) continue;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < hw; p++) {
                int64_t o = (i * c + ch) * hw + p;
                double xhat = (x[o] - mean[ch]) * is;
                double d = batch_stats ? dy[o] - sdy / m - xhat * sdyx / m : dy[o];
                dx[o] += (float)(gm * is * d);
            }
    }
}

/* ---- tape op ---- */

typedef struct bn_ctx {
    double *mean, *invstd; /* [C] statistics used by the forward */
    int batch_stats;
} bn_ctx;

static cvae_status bn_backward(cvae_tape *t, const cvae__node *nd)
{
    const bn_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *gamma = nd->in[1]; /* gamma, beta may be NULL */
    float *d[3];
    CVAE_TRY(cvae__node_grads(t, nd, d));
    const cvae__bn_args a = {.n = x->shape[0], .c = x->shape[1], .hw = x->shape[2] * x->shape[3],
                             .x = x->data, .gamma = gamma ? gamma->data : NULL, .mean = c->mean,
                             .invstd = c->invstd, .batch_stats = c->batch_stats,
                             .dy = nd->out->grad, .dx = d[0], .dgamma = d[1], .dbeta = d[2]};
    cvae__batch_norm2d_backward(&a);
    return CVAE_OK;
}

static cvae_status check_channel_vector(const char *fn, const char *what, const cvae_tensor *v, int64_t c)
{
    char sv[64];
    if (v && (v->ndim != 1 || v->shape[0] != c))
        return cvae__error(CVAE_ERR_SHAPE, "%s: %s %s does not match %lld channels", fn, what,
                           cvae__shape_str(v, sv, sizeof sv), (long long)c);
    return CVAE_OK;
}

/* Every argument of cvae_op_batch_norm2d but the tensors' data. */
static cvae_status check_args(const char *fn, const cvae_tensor *x, const cvae_tensor *gamma,
                              const cvae_tensor *beta, const cvae_tensor *rm, const cvae_tensor *rv,
                              float momentum, float eps, int training)
{
    char sx[64];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s is not [N, C, H, W]", fn, cvae__shape_str(x, sx, sizeof sx));
    const int64_t c = x->shape[1], m = x->shape[0] * x->shape[2] * x->shape[3];
    CVAE_TRY(check_channel_vector(fn, "gamma", gamma, c));
    CVAE_TRY(check_channel_vector(fn, "beta", beta, c));
    CVAE_TRY(check_channel_vector(fn, "running_mean", rm, c));
    CVAE_TRY(check_channel_vector(fn, "running_var", rv, c));
    if (!rm != !rv)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: give both running_mean and running_var or neither", fn);
    if (!training && !rm)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: inference (training = 0) needs the running statistics", fn);
    if (!(eps > 0.0f) || !isfinite(eps))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: eps %g must be finite and > 0", fn, (double)eps);
    if (training && rm && !(momentum >= 0.0f && momentum <= 1.0f))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: momentum %g must be in [0, 1]", fn, (double)momentum);
    if (training && m < 2)
        return cvae__error(CVAE_ERR_SHAPE, "%s: batch statistics of x %s need more than one value per channel",
                           fn, cvae__shape_str(x, sx, sizeof sx));
    for (int64_t ch = 0; !training && ch < c; ch++)
        if (!isfinite(rm->data[ch]) || !isfinite(rv->data[ch]) || !(rv->data[ch] >= 0.0f))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: running statistics of channel %lld are invalid "
                               "(mean %g, var %g)", fn, (long long)ch, (double)rm->data[ch],
                               (double)rv->data[ch]);
    return CVAE_OK;
}

cvae_status cvae_op_batch_norm2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *gamma, cvae_tensor *beta,
                                 cvae_tensor *running_mean, cvae_tensor *running_var, float momentum,
                                 float eps, int training, cvae_tensor **y)
{
    static const char *fn = CVAE__OP_BATCH_NORM2D;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(check_args(fn, x, gamma, beta, running_mean, running_var, momentum, eps, training));
    const int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3], m = n * hw;
    cvae_tensor *in[3] = {x, gamma, beta};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 4, x->shape, in, 3);
    /* the statistics live as long as the output: the backward reads them, and the running
     * statistics are updated only after the node is recorded (nothing changes on a failure) */
    double *mean = cvae__op_bytes(&al, (size_t)(2 * c) * sizeof(double)), *invstd = mean + c;
    CVAE_TRY(cvae__op_ready(&al));
    bn_ctx *ctx;
    CVAE_TRY(cvae__op_record(&al, bn_backward, out, in, 3, sizeof *ctx, (void **)&ctx));
    cvae__bn_args a = {.n = n, .c = c, .hw = hw, .x = x->data, .gamma = gamma ? gamma->data : NULL,
                       .beta = beta ? beta->data : NULL, .mean = mean, .invstd = invstd,
                       .y = out->data};
    if (training) {
        cvae__batch_norm2d_stats(mean, invstd, &a); /* invstd holds the variance */
        for (int64_t ch = 0; ch < c; ch++) {
            const double var = invstd[ch];
            invstd[ch] = 1.0 / sqrt(var + (double)eps);
            if (running_mean) {
                running_mean->data[ch] =
                    (1.0f - momentum) * running_mean->data[ch] + momentum * (float)mean[ch];
                running_var->data[ch] = (1.0f - momentum) * running_var->data[ch] +
                                        momentum * (float)(var * (double)m / (double)(m - 1));
            }
        }
    } else {
        for (int64_t ch = 0; ch < c; ch++) {
            mean[ch] = running_mean->data[ch];
            invstd[ch] = 1.0 / sqrt((double)running_var->data[ch] + (double)eps);
        }
    }
    cvae__batch_norm2d_forward(&a);
    if (ctx) *ctx = (bn_ctx){mean, invstd, training != 0};
    *y = out;
    return CVAE_OK;
}
