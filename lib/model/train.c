/* Training: one Adam step per batch on the model's parameter block. */
#include <math.h>

#include "model/model_internal.h"
#include "model/train_internal.h"

cvae_train_opts cvae_train_opts_default(void)
{
    cvae_train_opts o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                         .weight_decay = 0.0f, .clip_norm = 0.0f, .seed = 1, .skip_nonfinite = 0};
    return o;
}

static cvae_adam_opts adam_opts(const cvae_train_opts *o)
{
    cvae_adam_opts a = cvae_adam_opts_default();
    a.lr = o->lr;
    a.beta1 = o->beta1;
    a.beta2 = o->beta2;
    a.eps = o->eps;
    a.weight_decay = o->weight_decay;
    return a;
}

cvae_status cvae_trainer_new(cvae_model *m, const cvae_train_opts *opts, cvae_trainer **out)
{
    static const char *fn = "cvae_trainer_new";
    CVAE_CHECK_NULL(m, fn);
    CVAE_CHECK_NULL(opts, fn);
    CVAE_CHECK_NULL(out, fn);
    if (!(opts->clip_norm >= 0.0f) || !isfinite(opts->clip_norm))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: clip_norm %g must be finite and >= 0", fn,
                           (double)opts->clip_norm);
    cvae_trainer *tr = cvae__calloc(1, sizeof *tr);
    if (!tr) return cvae__nomem(fn, sizeof *tr);
    tr->m = m;
    tr->opts = *opts;
    cvae_adam_opts a = adam_opts(opts);
    cvae_status s = cvae_optim_new_adam(m->params, &a, &tr->opt);
    if (!s) s = cvae_tape_new(&tr->tape);
    if (s) {
        cvae_trainer_free(tr);
        return s;
    }
    *out = tr;
    return CVAE_OK;
}

void cvae_trainer_free(cvae_trainer *tr)
{
    if (!tr) return;
    cvae_optim_free(tr->opt);
    cvae_tape_free(tr->tape);
    cvae__free(tr);
}

int64_t cvae_trainer_steps(const cvae_trainer *tr) { return tr ? cvae_optim_step_count(tr->opt) : 0; }
int64_t cvae_trainer_skipped(const cvae_trainer *tr) { return tr ? tr->skipped : 0; }

cvae_status cvae_trainer_set_lr(cvae_trainer *tr, float lr)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_set_lr");
    CVAE_TRY(cvae_optim_set_lr(tr->opt, lr));
    tr->opts.lr = lr;
    return CVAE_OK;
}

static bool grads_finite(const cvae_params *p)
{
    const float *g = cvae_params_grad(p);
    for (int64_t i = 0, n = cvae_params_numel(p); i < n; i++)
        if (!isfinite(g[i])) return false;
    return true;
}

/* Fails (or skips, when asked) on a non-finite value; parameters stay as they were. */
static cvae_status nonfinite(cvae_trainer *tr, const char *what)
{
    if (tr->opts.skip_nonfinite) {
        tr->skipped++;
        return CVAE_OK;
    }
    return cvae__error(CVAE_ERR_NUMERIC, "cvae_trainer_step: %s is not finite at step %lld; "
                       "parameters unchanged", what, (long long)cvae_trainer_steps(tr));
}

cvae_status cvae_trainer_step(cvae_trainer *tr, const float *images, const int32_t *labels,
                              int64_t n, float *out_loss)
{
    static const char *fn = "cvae_trainer_step";
    CVAE_CHECK_NULL(tr, fn);
    CVAE_CHECK_NULL(images, fn);
    const cvae_model *m = tr->m;
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    cvae_tape *t = tr->tape;
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, 1);
    cvae_params_zero_grad(m->params);
    const int64_t shape[4] = {n, m->cfg.image_channels, m->cfg.image_h, m->cfg.image_w};
    cvae_tensor *x, *kl, *total, *loss;
    cvae_model_pass p;
    CVAE_TRY(cvae_tape_tensor(t, 4, shape, &x));
    memcpy(x->data, images, (size_t)x->size * sizeof(float));
    CVAE_TRY(cvae__model_pass(m, t, x, labels, tr->opts.seed, (uint64_t)cvae_trainer_steps(tr) + tr->skipped, &p));
    CVAE_TRY(cvae_op_scale(t, p.kl, m->cfg.beta, &kl));
    CVAE_TRY(cvae_op_add(t, p.rec, kl, &total));
    CVAE_TRY(cvae_op_mean(t, total, &loss));
    float value = loss->data[0];
    if (!isfinite(value)) return nonfinite(tr, "the loss");
    CVAE_TRY(cvae_tape_backward(t, loss));
    if (!grads_finite(m->params)) {
        cvae_params_zero_grad(m->params);
        return nonfinite(tr, "a gradient");
    }
    if (tr->opts.clip_norm > 0.0f) CVAE_TRY(cvae_clip_grad_norm(m->params, tr->opts.clip_norm, NULL));
    CVAE_TRY(cvae_optim_step(tr->opt));
    if (out_loss) *out_loss = value;
    return CVAE_OK;
}
