#include <math.h>

#include "cvae/ops.h"
#include "ops/activation.h"
#include "ops/loss.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

static float row_grad(const cvae__loss_grad *g, int64_t r)
{
    return g->scale * (g->per_row ? g->dy[r] : g->dy[0]);
}

/* The terms of a row are computed BCE_BLOCK at a time into a buffer (a loop the compiler
 * vectorizes: cvae__exp_nonpos and cvae__log1p_unit are plain arithmetic), then summed in
 * double in order. */
#define BCE_BLOCK 256

void cvae__bce_with_logits_rows(double *rows, const float *x, const float *z, int64_t n, int64_t d)
{
    float term[BCE_BLOCK];
    for (int64_t r = 0; r < n; r++) {
        double s = 0.0;
        for (int64_t j0 = r * d; j0 < (r + 1) * d; j0 += BCE_BLOCK) {
            const int64_t m = (r + 1) * d - j0 < BCE_BLOCK ? (r + 1) * d - j0 : BCE_BLOCK;
            const float *xs = x + j0, *zs = z + j0;
            for (int64_t j = 0; j < m; j++) {
                const float v = xs[j], pos = v > 0.0f ? v : 0.0f; /* finite: checked by the op */
                term[j] = pos - v * zs[j] + cvae__log1p_unit(cvae__exp_nonpos(-fabsf(v)));
            }
            for (int64_t j = 0; j < m; j++) s += term[j];
        }
        rows[r] = s;
    }
}

void cvae__bce_with_logits_backward(float *dx, const cvae__loss_grad *g, const float *x,
                                    const float *z, int64_t n, int64_t d)
{
    for (int64_t r = 0; r < n; r++) {
        const float gr = row_grad(g, r);
        for (int64_t j = r * d; j < (r + 1) * d; j++) dx[j] += gr * (cvae__sigmoidf(x[j]) - z[j]);
    }
}

void cvae__bce_with_logits_rows_ref(double *rows, const float *x, const float *z, int64_t n,
                                    int64_t d)
{
    for (int64_t r = 0; r < n; r++) {
        double s = 0.0;
        for (int64_t j = r * d; j < (r + 1) * d; j++)
            s += log1p(exp((double)x[j])) - (double)x[j] * z[j];
        rows[r] = s;
    }
}

void cvae__kl_normal_rows(double *rows, const float *mu, const float *lv, int64_t n, int64_t d)
{
    for (int64_t r = 0; r < n; r++) {
        double s = 0.0;
        for (int64_t j = r * d; j < (r + 1) * d; j++)
            s += 0.5 * (exp((double)lv[j]) + (double)mu[j] * mu[j] - 1.0 - lv[j]);
        rows[r] = s;
    }
}

void cvae__kl_normal_backward(float *dmu, float *dlv, const cvae__loss_grad *g, const float *mu,
                              const float *lv, int64_t n, int64_t d)
{
    for (int64_t r = 0; r < n; r++) {
        const float gr = row_grad(g, r);
        for (int64_t j = r * d; j < (r + 1) * d; j++) {
            if (dmu) dmu[j] += gr * mu[j];
            if (dlv) dlv[j] += gr * 0.5f * (expf(lv[j]) - 1.0f);
        }
    }
}

void cvae__softmax_xent_rows(double *rows, float *lse, const float *x, const int32_t *labels,
                             int64_t n, int64_t k)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * k;
        float m = xr[0];
        for (int64_t j = 1; j < k; j++) m = fmaxf(m, xr[j]);
        double s = 0.0;
        for (int64_t j = 0; j < k; j++) s += exp((double)xr[j] - m);
        double l = m + log(s);
        lse[r] = (float)l;
        rows[r] = l - xr[labels[r]];
    }
}

void cvae__softmax_xent_backward(float *dx, const cvae__loss_grad *g, const float *x,
                                 const float *lse, const int32_t *labels, int64_t n, int64_t k)
{
    for (int64_t r = 0; r < n; r++) {
        const float gr = row_grad(g, r);
        for (int64_t j = 0; j < k; j++) dx[r * k + j] += gr * expf(x[r * k + j] - lse[r]);
        dx[r * k + labels[r]] -= gr;
    }
}

void cvae__softmax_xent_rows_ref(double *rows, const float *x, const int32_t *labels, int64_t n,
                                 int64_t k)
{
    for (int64_t r = 0; r < n; r++) {
        double s = 0.0;
        for (int64_t j = 0; j < k; j++) s += exp((double)x[r * k + j]);
        rows[r] = log(s) - x[r * k + labels[r]];
    }
}

void cvae__reparameterize_forward(float *z, const float *mu, const float *lv, const float *eps,
                                  int64_t n)
{
    for (int64_t i = 0; i < n; i++) z[i] = mu[i] + expf(0.5f * lv[i]) * eps[i];
}

void cvae__reparameterize_backward(float *dmu, float *dlv, const float *dz, const float *lv,
                                   const float *eps, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (dmu) dmu[i] += dz[i];
        if (dlv) dlv[i] += 0.5f * dz[i] * eps[i] * expf(0.5f * lv[i]);
    }
}

/* ---- reductions shared by the losses ---- */

static cvae_status check_reduction(cvae_reduction r, const char *fn)
{
    if (r != CVAE_REDUCE_SUM && r != CVAE_REDUCE_MEAN && r != CVAE_REDUCE_ROWS)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown reduction %d", fn, (int)r);
    return CVAE_OK;
}

/* Writes rows[0..n) (summing `count` loss elements) into y as reduction r asks. */
static void reduce_rows(float *y, const double *rows, int64_t n, int64_t count, cvae_reduction r)
{
    if (r == CVAE_REDUCE_ROWS) {
        for (int64_t i = 0; i < n; i++) y[i] = (float)rows[i];
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += rows[i];
    y[0] = (float)(r == CVAE_REDUCE_MEAN ? s / (double)count : s);
}

/* Rows of a loss's output over n rows: n for ROWS, 1 otherwise. */
#define LOSS_ROWS(r, n) ((r) == CVAE_REDUCE_ROWS ? (n) : 1)

static float grad_scale(cvae_reduction r, int64_t count)
{
    return r == CVAE_REDUCE_MEAN ? (float)(1.0 / (double)count) : 1.0f;
}

/* ---- bce_with_logits ---- */

typedef struct loss_ctx {
    cvae_reduction r;
    int32_t *labels; /* softmax cross-entropy only: a copy of the labels */
    float *lse;      /* softmax cross-entropy only: per-row log-sum-exp */
} loss_ctx;

static cvae_status bce_backward(cvae_tape *t, const cvae__node *nd)
{
    const loss_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0], *z = nd->in[1];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    int64_t n = x->shape[0], d = x->size / n;
    const cvae__loss_grad g = {nd->out->grad, c->r == CVAE_REDUCE_ROWS, grad_scale(c->r, x->size)};
    cvae__bce_with_logits_backward(dx, &g, x->data, z->data, n, d);
    return CVAE_OK;
}

cvae_status cvae_op_bce_with_logits(cvae_tape *t, cvae_tensor *logits, cvae_tensor *targets,
                                    cvae_reduction r, cvae_tensor **y)
{
    const char *fn = CVAE__OP_BCE_WITH_LOGITS;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(logits, fn);
    CVAE_CHECK_NULL(targets, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(check_reduction(r, fn));
    char sa[64], sb[64];
    if (!cvae_tensor_same_shape(logits, targets))
        return cvae__error(CVAE_ERR_SHAPE, "%s: logits %s and targets %s differ", fn,
                           cvae__shape_str(logits, sa, sizeof sa),
                           cvae__shape_str(targets, sb, sizeof sb));
    for (int64_t i = 0; i < targets->size; i++) {
        float v = targets->data[i];
        if (!isfinite(v))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: target %lld is %s", fn, (long long)i,
                               isnan(v) ? "NaN" : "Inf");
        if (v < 0.0f || v > 1.0f)
            return cvae__error(CVAE_ERR_RANGE, "%s: target %lld is %g, outside [0, 1]", fn,
                               (long long)i, (double)v);
    }
    const int64_t n = logits->shape[0], d = logits->size / n, shape[1] = {LOSS_ROWS(r, n)};
    cvae_tensor *in[2] = {logits, targets};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 1, shape, in, 1); /* no gradient for the targets */
    double *rows = cvae__op_scratch(&al, (size_t)n * sizeof *rows);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__bce_with_logits_rows(rows, logits->data, targets->data, n, d);
    reduce_rows(out->data, rows, n, logits->size, r);
    loss_ctx *c;
    CVAE_TRY(cvae__op_record(&al, bce_backward, out, in, 2, sizeof *c, (void **)&c));
    if (c) c->r = r;
    *y = out;
    return CVAE_OK;
}

/* ---- kl_normal ---- */

static cvae_status kl_backward(cvae_tape *t, const cvae__node *nd)
{
    const loss_ctx *c = nd->ctx;
    cvae_tensor *mu = nd->in[0], *lv = nd->in[1];
    float *dmu = NULL, *dlv = NULL;
    if (cvae__needs_grad(mu) && !(dmu = cvae__tape_grad(t, mu))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(lv) && !(dlv = cvae__tape_grad(t, lv))) return CVAE_ERR_NOMEM;
    int64_t n = mu->shape[0], d = mu->size / n;
    const cvae__loss_grad g = {nd->out->grad, c->r == CVAE_REDUCE_ROWS, grad_scale(c->r, mu->size)};
    cvae__kl_normal_backward(dmu, dlv, &g, mu->data, lv->data, n, d);
    return CVAE_OK;
}

cvae_status cvae_op_kl_normal(cvae_tape *t, cvae_tensor *mu, cvae_tensor *logvar, cvae_reduction r,
                              cvae_tensor **y)
{
    const char *fn = CVAE__OP_KL_NORMAL;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(mu, fn);
    CVAE_CHECK_NULL(logvar, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(check_reduction(r, fn));
    char sa[64], sb[64];
    if (!cvae_tensor_same_shape(mu, logvar))
        return cvae__error(CVAE_ERR_SHAPE, "%s: mu %s and logvar %s differ", fn,
                           cvae__shape_str(mu, sa, sizeof sa),
                           cvae__shape_str(logvar, sb, sizeof sb));
    const int64_t n = mu->shape[0], d = mu->size / n, shape[1] = {LOSS_ROWS(r, n)};
    cvae_tensor *in[2] = {mu, logvar};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 1, shape, in, 2);
    double *rows = cvae__op_scratch(&al, (size_t)n * sizeof *rows);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__kl_normal_rows(rows, mu->data, logvar->data, n, d);
    reduce_rows(out->data, rows, n, mu->size, r);
    loss_ctx *c;
    CVAE_TRY(cvae__op_record(&al, kl_backward, out, in, 2, sizeof *c, (void **)&c));
    if (c) c->r = r;
    *y = out;
    return CVAE_OK;
}

/* ---- softmax_cross_entropy ---- */

static cvae_status xent_backward(cvae_tape *t, const cvae__node *nd)
{
    const loss_ctx *c = nd->ctx;
    cvae_tensor *x = nd->in[0];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    int64_t n = x->shape[0], k = x->shape[1];
    const cvae__loss_grad g = {nd->out->grad, c->r == CVAE_REDUCE_ROWS, grad_scale(c->r, n)};
    cvae__softmax_xent_backward(dx, &g, x->data, c->lse, c->labels, n, k);
    return CVAE_OK;
}

cvae_status cvae_op_softmax_cross_entropy(cvae_tape *t, cvae_tensor *logits, const int32_t *labels,
                                          cvae_reduction r, cvae_tensor **y)
{
    const char *fn = CVAE__OP_SOFTMAX_CROSS_ENTROPY;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(logits, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(check_reduction(r, fn));
    char sa[64];
    if (logits->ndim != 2)
        return cvae__error(CVAE_ERR_SHAPE, "%s: logits %s are not [N, K]", fn,
                           cvae__shape_str(logits, sa, sizeof sa));
    const int64_t n = logits->shape[0], k = logits->shape[1], shape[1] = {LOSS_ROWS(r, n)};
    CVAE_TRY(cvae__check_labels(labels, n, k, fn));
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 1, shape, &logits, 1);
    float *lse = cvae__op_keep_floats(&al, n);
    int32_t *saved = cvae__op_keep(&al, (size_t)n * sizeof *saved); /* the labels may change */
    double *rows = cvae__op_scratch(&al, (size_t)n * sizeof *rows);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__softmax_xent_rows(rows, lse, logits->data, labels, n, k);
    reduce_rows(out->data, rows, n, n, r);
    memcpy(saved, labels, (size_t)n * sizeof *saved);
    loss_ctx *c;
    CVAE_TRY(cvae__op_record(&al, xent_backward, out, &logits, 1, sizeof *c, (void **)&c));
    if (c) *c = (loss_ctx){r, saved, lse};
    *y = out;
    return CVAE_OK;
}

/* ---- reparameterize ---- */

static cvae_status reparam_backward(cvae_tape *t, const cvae__node *nd)
{
    const float *eps = *(float *const *)nd->ctx;
    cvae_tensor *mu = nd->in[0], *lv = nd->in[1];
    float *dmu = NULL, *dlv = NULL;
    if (cvae__needs_grad(mu) && !(dmu = cvae__tape_grad(t, mu))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(lv) && !(dlv = cvae__tape_grad(t, lv))) return CVAE_ERR_NOMEM;
    cvae__reparameterize_backward(dmu, dlv, nd->out->grad, lv->data, eps, mu->size);
    return CVAE_OK;
}

cvae_status cvae_op_reparameterize(cvae_tape *t, cvae_tensor *mu, cvae_tensor *logvar,
                                   uint64_t seed, uint64_t stream, cvae_tensor **z)
{
    return cvae_op_reparameterize_from(t, mu, logvar, seed, stream, 0, z);
}

cvae_status cvae_op_reparameterize_from(cvae_tape *t, cvae_tensor *mu, cvae_tensor *logvar,
                                         uint64_t seed, uint64_t stream, int64_t first, cvae_tensor **z)
{
    const char *fn = CVAE__OP_REPARAMETERIZE;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(mu, fn);
    CVAE_CHECK_NULL(logvar, fn);
    CVAE_CHECK_NULL(z, fn);
    if (first < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: first noise index %lld is negative", fn,
                           (long long)first);
    char sa[64], sb[64];
    if (!cvae_tensor_same_shape(mu, logvar))
        return cvae__error(CVAE_ERR_SHAPE, "%s: mu %s and logvar %s differ", fn,
                           cvae__shape_str(mu, sa, sizeof sa),
                           cvae__shape_str(logvar, sb, sizeof sb));
    cvae_tensor *in[2] = {mu, logvar};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, mu->ndim, mu->shape, in, 2);
    float *eps = cvae__op_keep_floats(&al, mu->size); /* the noise, read by the backward */
    CVAE_TRY(cvae__op_ready(&al));
    cvae__rng_fill_normal_from(seed, stream, first, 0.0f, 1.0f, eps, mu->size);
    cvae__reparameterize_forward(out->data, mu->data, logvar->data, eps, mu->size);
    float **c;
    CVAE_TRY(cvae__op_record(&al, reparam_backward, out, in, 2, sizeof *c, (void **)&c));
    if (c) *c = eps;
    *z = out;
    return CVAE_OK;
}
