/* Training: one Adam step per batch on the model's parameter block. */
#include <math.h>

#include "model/model_internal.h"
#include "model/train_internal.h"
#include "optim/optim_internal.h"

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

/* Frees the team and its members' replicas and tapes. */
static void drop_team(cvae_trainer *tr)
{
    const int helpers = cvae__team_size(tr->team) - 1;
    cvae__team_free(tr->team);
    for (int i = 0; i < helpers; i++) {
        if (tr->replicas) cvae__replica_free(&tr->replicas[i]);
        if (tr->tapes) cvae_tape_free(tr->tapes[i]);
    }
    cvae__free(tr->replicas);
    cvae__free(tr->tapes);
    tr->team = NULL;
    tr->replicas = NULL;
    tr->tapes = NULL;
}

cvae_status cvae_trainer_set_threads(cvae_trainer *tr, int threads)
{
    static const char *fn = "cvae_trainer_set_threads";
    CVAE_CHECK_NULL(tr, fn);
    if (threads < 1 || threads > 64)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %d threads outside [1, 64]", fn, threads);
    if (threads == cvae__team_size(tr->team)) return CVAE_OK;
    drop_team(tr);
    if (threads == 1) return CVAE_OK; /* no team: the caller alone */
    const int helpers = threads - 1;
    cvae_status s = cvae__team_new(threads, &tr->team);
    if (!s) {
        tr->replicas = cvae__calloc((size_t)helpers, sizeof *tr->replicas);
        tr->tapes = cvae__calloc((size_t)helpers, sizeof *tr->tapes);
        if (!tr->replicas || !tr->tapes) s = cvae__nomem(fn, (size_t)helpers * sizeof *tr->replicas);
    }
    for (int i = 0; !s && i < helpers; i++) {
        s = cvae__replica_init(&tr->replicas[i], tr->m);
        if (!s) s = cvae_tape_new(&tr->tapes[i]);
    }
    if (s) drop_team(tr); /* the trainer stays usable, on one thread */
    return s;
}

int cvae_trainer_threads(const cvae_trainer *tr) { return tr ? cvae__team_size(tr->team) : 0; }

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
    if (!s) s = cvae_trainer_set_threads(tr, cvae__default_threads());
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
    drop_team(tr);
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

/* One data-parallel step: member i takes rows [r0, r1) of the batch. */
typedef struct step_job {
    cvae_trainer *tr;
    const float *images;
    const int32_t *labels;
    int64_t n;
    int members;
    uint64_t stream;
    float loss[64]; /* member i's share of the batch's mean loss */
} step_job;

/* Forward and backward of one slice: loss = sum over its rows of (rec + beta kl) / n,
 * gradients into the member's model (the trainer's own for member 0). */
static cvae_status slice_step(void *ctx, int i)
{
    step_job *j = ctx;
    cvae_trainer *tr = j->tr;
    const cvae_model *m = tr->m;
    cvae_tape *t = tr->tape;
    if (i > 0) {
        cvae__replica_refresh(&tr->replicas[i - 1], tr->m);
        m = &tr->replicas[i - 1].m;
        t = tr->tapes[i - 1];
    }
    int64_t r0, r1;
    cvae__team_slice(j->n, i, j->members, &r0, &r1);
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, 1);
    const cvae_model_config *c = &m->cfg;
    const int64_t shape[4] = {r1 - r0, c->image_channels, c->image_h, c->image_w};
    const int64_t per = shape[1] * shape[2] * shape[3];
    cvae_tensor *x, *kl, *total, *sum, *loss;
    cvae_model_pass p;
    CVAE_TRY(cvae_tape_tensor(t, 4, shape, &x));
    memcpy(x->data, j->images + r0 * per, (size_t)x->size * sizeof(float));
    CVAE_TRY(cvae__model_pass(m, t, x, j->labels + r0, tr->opts.seed, j->stream, r0, &p));
    CVAE_TRY(cvae_op_scale(t, p.kl, c->beta, &kl));
    CVAE_TRY(cvae_op_add(t, p.rec, kl, &total));
    CVAE_TRY(cvae_op_sum(t, total, &sum));
    CVAE_TRY(cvae_op_scale(t, sum, 1.0f / (float)j->n, &loss));
    j->loss[i] = loss->data[0];
    if (!isfinite(j->loss[i])) return CVAE_OK; /* the step stops; no gradient needed */
    return cvae_tape_backward(t, loss);
}

/* The parameter-wide tail of a step, member i of the team on elements [lo, hi) of the
 * block (multiples of 16 floats): first sum the members' gradients and check them,
 * then apply the optimizer. */
typedef struct tail_job {
    cvae_trainer *tr;
    int members, slices; /* slices of the step (replicas to sum), members of the tail */
    int apply;           /* 0: sum and check, 1: optimizer update */
    cvae__optim_coef coef;
    bool finite[64];
} tail_job;

static cvae_status tail_range(void *ctx, int i)
{
    tail_job *j = ctx;
    cvae_trainer *tr = j->tr;
    const int64_t numel = cvae_params_numel(tr->m->params), blocks = (numel + 15) / 16;
    int64_t lo, hi;
    cvae__team_slice(blocks, i, j->members, &lo, &hi);
    lo *= 16;
    hi = hi * 16 < numel ? hi * 16 : numel;
    if (j->apply) {
        cvae__optim_range(tr->opt, &j->coef, lo, hi);
        return CVAE_OK;
    }
    float *g = cvae_params_grad(tr->m->params);
    for (int r = 1; r < j->slices; r++) {
        const float *gr = tr->replicas[r - 1].grad;
        for (int64_t k = lo; k < hi; k++) g[k] += gr[k];
    }
    bool ok = true;
    for (int64_t k = lo; k < hi; k++) ok &= isfinite(g[k]) != 0;
    j->finite[i] = ok;
    return CVAE_OK;
}

cvae_status cvae_trainer_step(cvae_trainer *tr, const float *images, const int32_t *labels,
                              int64_t n, float *out_loss)
{
    static const char *fn = "cvae_trainer_step";
    CVAE_CHECK_NULL(tr, fn);
    CVAE_CHECK_NULL(images, fn);
    const cvae_model *m = tr->m;
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    const int threads = cvae__team_size(tr->team);
    step_job j = {.tr = tr, .images = images, .labels = labels, .n = n,
                  .members = n < threads ? (int)n : threads,
                  .stream = (uint64_t)cvae_trainer_steps(tr) + (uint64_t)tr->skipped};
    cvae_params_zero_grad(m->params);
    CVAE_TRY(cvae__team_run(tr->team, j.members, slice_step, &j));
    float value = 0.0f;
    for (int i = 0; i < j.members; i++) value += j.loss[i];
    if (!isfinite(value)) {
        cvae_params_zero_grad(m->params);
        return nonfinite(tr, "the loss");
    }
    tail_job tail = {.tr = tr, .members = threads, .slices = j.members};
    CVAE_TRY(cvae__team_run(tr->team, tail.members, tail_range, &tail));
    for (int i = 0; i < tail.members; i++)
        if (!tail.finite[i]) {
            cvae_params_zero_grad(m->params);
            return nonfinite(tr, "a gradient");
        }
    if (tr->opts.clip_norm > 0.0f) CVAE_TRY(cvae_clip_grad_norm(m->params, tr->opts.clip_norm, NULL));
    CVAE_TRY(cvae__optim_begin(tr->opt, &tail.coef));
    tail.apply = 1;
    CVAE_TRY(cvae__team_run(tr->team, tail.members, tail_range, &tail));
    cvae__optim_end(tr->opt);
    if (out_loss) *out_loss = value;
    return CVAE_OK;
}
