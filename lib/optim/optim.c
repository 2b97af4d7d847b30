#include <math.h>

#include "optim/optim_internal.h"

cvae_sgd_opts cvae_sgd_opts_default(void)
{
    cvae_sgd_opts o = {0.01f, 0.0f, 0.0f, 0};
    return o;
}

cvae_adam_opts cvae_adam_opts_default(void)
{
    cvae_adam_opts o = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f};
    return o;
}

static bool finite_pos(float x)
{
    return isfinite(x) && x > 0.0f;
}
static bool finite_nonneg(float x)
{
    return isfinite(x) && x >= 0.0f;
}
static bool unit_interval(float x)
{
    return x >= 0.0f && x < 1.0f;
} /* false for NaN */

static cvae_status check_params(const cvae_params *p, const char *fn)
{
    if (cvae_params_numel(p) == 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: the parameter block is empty", fn);
    return CVAE_OK;
}

/* Allocates the optimizer and n_buf zeroed state blocks as long as the parameter block. */
static cvae_status optim_alloc(cvae_params *params, cvae__optim_kind kind, int n_buf,
                               const char *fn, cvae_optim **out)
{
    int64_t numel = cvae_params_numel(params);
    size_t bytes = (size_t)numel * sizeof(float);
    cvae_optim *o = cvae__calloc(1, sizeof *o);
    if (!o) return cvae__nomem(fn, sizeof *o);
    float **bufs[2] = {&o->m, &o->v};
    for (int i = 0; i < n_buf; i++) {
        *bufs[i] = cvae__aligned_alloc(bytes);
        if (!*bufs[i]) {
            cvae_optim_free(o);
            return cvae__nomem(fn, bytes);
        }
        memset(*bufs[i], 0, bytes);
    }
    o->kind = kind;
    o->params = params;
    o->numel = numel;
    *out = o;
    return CVAE_OK;
}

/* What both optimizers check: a non-empty block, lr > 0 and weight decay >= 0, finite. */
static cvae_status check_common(const char *fn, const cvae_params *params, float lr,
                                float weight_decay)
{
    CVAE_TRY(check_params(params, fn));
    if (!finite_pos(lr))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: lr %g must be finite and > 0", fn, lr);
    if (!finite_nonneg(weight_decay))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: weight_decay %g must be finite and >= 0", fn,
                           weight_decay);
    return CVAE_OK;
}

cvae_status cvae_optim_new_sgd(cvae_params *params, const cvae_sgd_opts *opts, cvae_optim **out)
{
    static const char *fn = "cvae_optim_new_sgd";
    CVAE_CHECK_NULL(params, fn);
    CVAE_CHECK_NULL(opts, fn);
    CVAE_CHECK_NULL(out, fn);
    CVAE_TRY(check_common(fn, params, opts->lr, opts->weight_decay));
    if (!unit_interval(opts->momentum))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: momentum %g outside [0, 1)", fn,
                           opts->momentum);
    if (opts->nesterov && opts->momentum == 0.0f)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: nesterov needs momentum > 0", fn);
    cvae_optim *o = NULL;
    CVAE_TRY(optim_alloc(params, CVAE__OPTIM_SGD, opts->momentum > 0.0f ? 1 : 0, fn, &o));
    o->sgd = *opts;
    *out = o;
    return CVAE_OK;
}

cvae_status cvae_optim_new_adam(cvae_params *params, const cvae_adam_opts *opts, cvae_optim **out)
{
    static const char *fn = "cvae_optim_new_adam";
    CVAE_CHECK_NULL(params, fn);
    CVAE_CHECK_NULL(opts, fn);
    CVAE_CHECK_NULL(out, fn);
    CVAE_TRY(check_common(fn, params, opts->lr, opts->weight_decay));
    if (!unit_interval(opts->beta1) || !unit_interval(opts->beta2))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: betas (%g, %g) must lie in [0, 1)", fn,
                           opts->beta1, opts->beta2);
    if (!finite_pos(opts->eps))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: eps %g must be finite and > 0", fn,
                           opts->eps);
    cvae_optim *o = NULL;
    CVAE_TRY(optim_alloc(params, CVAE__OPTIM_ADAM, 2, fn, &o));
    o->adam = *opts;
    *out = o;
    return CVAE_OK;
}

void cvae_optim_free(cvae_optim *opt)
{
    if (!opt) return;
    cvae__aligned_free(opt->m);
    cvae__aligned_free(opt->v);
    cvae__free(opt);
}

/* Calls the method's kernel on each maximal run of adjacent trainable tensors. */
void cvae__optim_range(cvae_optim *o, const cvae__optim_coef *c, int64_t lo, int64_t hi)
{
    cvae_params *p = o->params;
    float *data = cvae_params_data(p), *grad = cvae_params_grad(p);
    int count = cvae_params_count(p);
    for (int i = 0; i < count;) {
        if (!cvae_params_is_trainable(cvae_params_at(p, i))) {
            i++;
            continue;
        }
        int64_t begin = cvae_params_offset(p, i), end = begin;
        for (; i < count && cvae_params_is_trainable(cvae_params_at(p, i)); i++)
            end += cvae_params_at(p, i)->size;
        if (begin < lo) begin = lo;
        if (end > hi) end = hi;
        if (begin >= end) continue;
        const int64_t n = end - begin;
        if (o->kind == CVAE__OPTIM_SGD)
            cvae__sgd_run(data + begin, grad + begin, o->m ? o->m + begin : NULL, n, &o->sgd);
        else
            cvae__adam_run(data + begin, grad + begin, o->m + begin, o->v + begin, n, &o->adam, c);
    }
}

cvae_status cvae__optim_begin(const cvae_optim *opt, cvae__optim_coef *c)
{
    if (cvae_params_numel(opt->params) != opt->numel)
        return cvae__error(CVAE_ERR_STATE,
                           "cvae_optim_step: the parameter block grew from %lld to %lld elements "
                           "after the optimizer was created",
                           (long long)opt->numel, (long long)cvae_params_numel(opt->params));
    if (opt->step == INT64_MAX)
        return cvae__error(CVAE_ERR_STATE, "cvae_optim_step: step count overflows");
    const int64_t t = opt->step + 1;
    *c = (cvae__optim_coef){1.0f, 0.0f, 1.0f};
    if (opt->kind == CVAE__OPTIM_ADAM) {
        const cvae_adam_opts *a = &opt->adam;
        double bc1 = 1.0 - pow((double)a->beta1, (double)t);
        double bc2 = 1.0 - pow((double)a->beta2, (double)t);
        c->decay = (float)(1.0 - (double)a->lr * a->weight_decay);
        c->step_size = (float)(a->lr / bc1);
        c->bc2_sqrt = (float)sqrt(bc2);
    }
    return CVAE_OK;
}

void cvae__optim_end(cvae_optim *opt) { opt->step++; }

cvae_status cvae_optim_step(cvae_optim *opt)
{
    CVAE_CHECK_NULL(opt, "cvae_optim_step");
    cvae__optim_coef c;
    CVAE_TRY(cvae__optim_begin(opt, &c));
    cvae__optim_range(opt, &c, 0, opt->numel);
    cvae__optim_end(opt);
    return CVAE_OK;
}

cvae_status cvae_optim_set_lr(cvae_optim *opt, float lr)
{
    CVAE_CHECK_NULL(opt, "cvae_optim_set_lr");
    if (!finite_pos(lr))
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_optim_set_lr: lr %g must be finite and > 0",
                           lr);
    if (opt->kind == CVAE__OPTIM_SGD)
        opt->sgd.lr = lr;
    else
        opt->adam.lr = lr;
    return CVAE_OK;
}

float cvae_optim_lr(const cvae_optim *opt)
{
    if (!opt) return 0.0f;
    return opt->kind == CVAE__OPTIM_SGD ? opt->sgd.lr : opt->adam.lr;
}

int64_t cvae_optim_step_count(const cvae_optim *opt)
{
    return opt ? opt->step : 0;
}

cvae_status cvae_optim_set_step(cvae_optim *opt, int64_t step)
{
    CVAE_CHECK_NULL(opt, "cvae_optim_set_step");
    if (step < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_optim_set_step: step %lld is negative",
                           (long long)step);
    opt->step = step;
    return CVAE_OK;
}

cvae_status cvae_optim_state(cvae_optim *opt, float **m, float **v, int64_t *numel, int64_t *step)
{
    CVAE_CHECK_NULL(opt, "cvae_optim_state");
    if (m) *m = opt->m;
    if (v) *v = opt->v;
    if (numel) *numel = opt->numel;
    if (step) *step = opt->step;
    return CVAE_OK;
}
