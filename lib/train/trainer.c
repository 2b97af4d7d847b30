/* Training any network: one Adam step per batch, data-parallel over a thread team. */
#include <math.h>

#include "optim/optim_internal.h"
#include "train/train_internal.h"

cvae_train_opts cvae_train_opts_default(void)
{
    cvae_train_opts o = {.lr = 1e-3f,
                         .beta1 = 0.9f,
                         .beta2 = 0.999f,
                         .eps = 1e-8f,
                         .weight_decay = 0.0f,
                         .clip_norm = 0.0f,
                         .seed = 1,
                         .skip_nonfinite = 0,
                         .schedule = CVAE_LR_CONSTANT};
    return o;
}

float cvae_train_lr_at(const cvae_train_opts *o, int64_t t)
{
    if (!o || t < 0) return 0.0f;
    const double lr = o->lr, pi = 3.14159265358979323846;
    if (t < o->warmup_steps) return (float)(lr * (double)(t + 1) / (double)o->warmup_steps);
    const int64_t s = t - (o->warmup_steps > 0 ? o->warmup_steps : 0), T = o->decay_steps;
    if (T < 1) return o->lr;
    switch (o->schedule) {
    case CVAE_LR_COSINE:
        if (s >= T) return o->lr_min;
        return (float)(o->lr_min +
                       (lr - o->lr_min) * 0.5 * (1.0 + cos(pi * (double)s / (double)T)));
    case CVAE_LR_STEP:
        return (float)(lr * pow((double)o->gamma, (double)(s / T)));
    case CVAE_LR_CONSTANT:
        break;
    }
    return o->lr;
}

/* The schedule's fields (cvae__train_opts_check). */
static cvae_status check_schedule(const cvae_train_opts *o, const char *fn)
{
    if ((int)o->schedule < CVAE_LR_CONSTANT || o->schedule > CVAE_LR_STEP)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown lr schedule %d", fn,
                           (int)o->schedule);
    if (o->warmup_steps < 0 || o->decay_steps < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: warmup_steps %lld and decay_steps %lld must "
                           "be >= 0",
                           fn, (long long)o->warmup_steps, (long long)o->decay_steps);
    if (!(o->lr_min >= 0.0f) || !isfinite(o->lr_min) || !(o->gamma >= 0.0f) || !isfinite(o->gamma))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: lr_min %g and gamma %g must be finite and >= 0", fn,
                           (double)o->lr_min, (double)o->gamma);
    if (o->schedule != CVAE_LR_CONSTANT && o->decay_steps < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: a %s schedule needs decay_steps >= 1", fn,
                           o->schedule == CVAE_LR_COSINE ? "cosine" : "step");
    if (o->schedule == CVAE_LR_COSINE && o->lr_min > o->lr)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: lr_min %g is above lr %g", fn,
                           (double)o->lr_min, (double)o->lr);
    if (o->schedule == CVAE_LR_STEP && !(o->gamma > 0.0f && o->gamma <= 1.0f))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: a step schedule's gamma %g is outside (0, 1]",
                           fn, (double)o->gamma);
    return CVAE_OK;
}

cvae_status cvae__train_opts_check(const cvae_train_opts *o, const char *fn)
{
    if (!(o->lr > 0.0f) || !isfinite(o->lr))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: lr %g must be finite and > 0", fn,
                           (double)o->lr);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f) || !(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: betas (%g, %g) must lie in [0, 1)", fn,
                           (double)o->beta1, (double)o->beta2);
    if (!(o->eps > 0.0f) || !isfinite(o->eps))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: eps %g must be finite and > 0", fn,
                           (double)o->eps);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay) || !(o->clip_norm >= 0.0f) ||
        !isfinite(o->clip_norm))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: weight_decay %g and clip_norm %g must be finite and >= 0", fn,
                           (double)o->weight_decay, (double)o->clip_norm);
    if (o->skip_nonfinite != 0 && o->skip_nonfinite != 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: skip_nonfinite %d is not 0 or 1", fn,
                           o->skip_nonfinite);
    return check_schedule(o, fn);
}

cvae_adam_opts cvae__adam_opts_of(const cvae_train_opts *o)
{
    cvae_adam_opts a = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay};
    return a;
}

/* Frees the team and its members' replicas and tapes. */
static void drop_team(cvae_trainer *tr)
{
    const int helpers = cvae__team_size(tr->team) - 1;
    cvae__team_free(tr->team);
    for (int i = 0; i < helpers; i++) {
        if (tr->replicas) cvae_net_free(tr->replicas[i]);
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
        if (!tr->replicas || !tr->tapes)
            s = cvae__nomem(fn, (size_t)helpers * sizeof *tr->replicas);
    }
    for (int i = 0; !s && i < helpers; i++) {
        s = cvae__net_replica_new(tr->net, &tr->replicas[i]);
        if (!s) s = cvae_tape_new(&tr->tapes[i]);
    }
    if (s) drop_team(tr); /* the trainer stays usable, on one thread */
    return s;
}

int cvae_trainer_threads(const cvae_trainer *tr)
{
    return tr ? cvae__team_size(tr->team) : 0;
}

cvae_status cvae_trainer_new_net(cvae_net *net, const cvae_train_opts *opts, cvae_loss_fn loss,
                                 void *user, cvae_trainer **out)
{
    static const char *fn = "cvae_trainer_new_net";
    CVAE_CHECK_NULL(net, fn);
    CVAE_CHECK_NULL(opts, fn);
    CVAE_CHECK_NULL(loss, fn);
    CVAE_CHECK_NULL(out, fn);
    if (net->source) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: net is a replica", fn);
    if (cvae_net_stacks(net) < 1)
        return cvae__error(CVAE_ERR_STATE, "%s: the network has no stack", fn);
    CVAE_TRY(cvae__train_opts_check(opts, fn));
    cvae_trainer *tr = cvae__calloc(1, sizeof *tr);
    if (!tr) return cvae__nomem(fn, sizeof *tr);
    tr->net = net;
    tr->loss = loss;
    tr->user = user;
    tr->opts = *opts;
    tr->in_ndim = cvae_net_shape(net, 0, 1, tr->in);
    tr->per = tr->in[0] * tr->in[1] * tr->in[2] * tr->in[3];
    cvae_adam_opts a = cvae__adam_opts_of(opts);
    cvae_status s = cvae_optim_new_adam(net->params, &a, &tr->opt);
    if (!s) s = cvae_tape_new(&tr->tape);
    if (!s) s = cvae_trainer_set_threads(tr, cvae__team_default_size());
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
    cvae__dist_drop(tr);
    cvae_optim_free(tr->opt);
    cvae_tape_free(tr->tape);
    cvae__free(tr->meta_key);
    cvae__free(tr->meta_value);
    cvae__free(tr);
}

static char *copy_str(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *d = cvae__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

cvae_status cvae__trainer_set_meta(cvae_trainer *tr, const char *key, const char *value,
                                   cvae__meta_check_fn check, const void *owner)
{
    char *k = copy_str(key), *v = copy_str(value);
    if (!k || !v) {
        cvae__free(k);
        cvae__free(v);
        return cvae__nomem("trainer metadata", strlen(key) + strlen(value) + 2);
    }
    cvae__free(tr->meta_key);
    cvae__free(tr->meta_value);
    tr->meta_key = k;
    tr->meta_value = v;
    tr->meta_check = check;
    tr->meta_owner = owner;
    return CVAE_OK;
}

int64_t cvae_trainer_steps(const cvae_trainer *tr)
{
    return tr ? cvae_optim_step_count(tr->opt) : 0;
}
int64_t cvae_trainer_skipped(const cvae_trainer *tr)
{
    return tr ? tr->skipped : 0;
}
float cvae_trainer_lr(const cvae_trainer *tr)
{
    return tr ? cvae_train_lr_at(&tr->opts, cvae_trainer_steps(tr)) : 0.0f;
}
cvae_net *cvae_trainer_net(const cvae_trainer *tr)
{
    return tr ? tr->net : NULL;
}

cvae_status cvae_trainer_set_lr(cvae_trainer *tr, float lr)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_set_lr");
    if (tr->opts.schedule == CVAE_LR_COSINE && lr < tr->opts.lr_min)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "cvae_trainer_set_lr: lr %g is below the schedule's lr_min %g",
                           (double)lr, (double)tr->opts.lr_min);
    CVAE_TRY(cvae_optim_set_lr(tr->opt, lr));
    tr->opts.lr = lr;
    return CVAE_OK;
}

/* Fails (or skips, when asked) on a non-finite value; parameters stay as they were. */
static cvae_status nonfinite(cvae_trainer *tr, const char *what)
{
    cvae_params_zero_grad(tr->net->params);
    if (tr->opts.skip_nonfinite) {
        tr->skipped++;
        return CVAE_OK;
    }
    return cvae__error(CVAE_ERR_NUMERIC,
                       "cvae_trainer_step: %s is not finite at step %lld; "
                       "parameters unchanged",
                       what, (long long)cvae_trainer_steps(tr));
}

/* One data-parallel step: member i takes rows [r0, r1) of this worker's rows [first, first +
 * rows) of the batch of n rows (all of them without other workers). */
typedef struct step_job {
    cvae_trainer *tr;
    const float *inputs;
    const int32_t *labels;
    int64_t n, first, rows;
    int members;
    uint64_t seed, stream;
    bool train;     /* 0: evaluation only (no recording, no gradient) */
    float loss[64]; /* member i's share of the batch's mean loss */
} step_job;

/* The loss must be per-sample values [n] or their sum [1]. */
static cvae_status check_loss(const cvae_tensor *loss, int64_t n)
{
    if (!loss || !(loss->size == 1 || (loss->size == n && loss->shape[0] == n)))
        return cvae__error(CVAE_ERR_SHAPE,
                           "cvae_trainer_step: the loss function returned %lld "
                           "values for a slice of %lld samples (want [n] or [1])",
                           loss ? (long long)loss->size : 0LL, (long long)n);
    if (!(loss->flags & CVAE_TENSOR_ON_TAPE))
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_trainer_step: the loss is not a tensor of "
                                                 "the loss function's tape");
    return CVAE_OK;
}

/* Forward and backward of one slice: loss = sum of its values / n, gradients into the
 * member's network (the trainer's own for member 0). */
static cvae_status slice_step(void *ctx, int i)
{
    step_job *j = ctx;
    cvae_trainer *tr = j->tr;
    const cvae_net *net = tr->net;
    cvae_tape *t = tr->tape;
    if (i > 0) {
        net = tr->replicas[i - 1];
        t = tr->tapes[i - 1];
    }
    int64_t r0, r1;
    cvae__team_slice(j->rows, i, j->members, &r0, &r1);
    r0 += j->first;
    r1 += j->first;
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, j->train);
    int64_t shape[5] = {r1 - r0, 1, 1, 1, 1};
    memcpy(shape + 1, tr->in, (size_t)tr->in_ndim * sizeof *shape);
    cvae_tensor *x, *values, *sum, *loss;
    CVAE_TRY(cvae_tape_tensor(t, tr->in_ndim + 1, shape, &x));
    memcpy(x->data, j->inputs + r0 * tr->per, (size_t)x->size * sizeof(float));
    const cvae_batch b = {x,        j->labels ? j->labels + r0 : NULL, r1 - r0, r0, j->n, j->seed,
                          j->stream};
    CVAE_TRY(tr->loss(net, t, &b, tr->user, &values));
    CVAE_TRY(check_loss(values, r1 - r0));
    sum = values;
    if (values->size != 1) CVAE_TRY(cvae_op_sum(t, values, &sum));
    CVAE_TRY(cvae_op_scale(t, sum, 1.0f / (float)j->n, &loss));
    j->loss[i] = loss->data[0];
    if (!j->train || !isfinite(j->loss[i])) return CVAE_OK;         /* no gradient needed */
    if (!(loss->flags & CVAE_TENSOR_REQUIRES_GRAD)) return CVAE_OK; /* nothing trainable */
    return cvae_tape_backward(t, loss);
}

/* The parameter-wide tail of a step, member i of the team on elements [lo, hi) of the
 * block (multiples of 16 floats): sum the members' gradients, check them, apply the
 * optimizer. */
typedef enum tail_mode { TAIL_SUM_CHECK, TAIL_SUM, TAIL_CHECK, TAIL_APPLY } tail_mode;
typedef struct tail_job {
    cvae_trainer *tr;
    int members, slices; /* members of the tail, slices of the step (replicas to sum) */
    tail_mode mode;
    cvae__optim_coef coef;
    bool finite[64];
} tail_job;

static cvae_status tail_range(void *ctx, int i)
{
    tail_job *j = ctx;
    cvae_trainer *tr = j->tr;
    const int64_t numel = cvae__net_numel(tr->net), blocks = (numel + 15) / 16;
    int64_t lo, hi;
    cvae__team_slice(blocks, i, j->members, &lo, &hi);
    lo *= 16;
    hi = hi * 16 < numel ? hi * 16 : numel;
    if (j->mode == TAIL_APPLY) {
        cvae__optim_range(tr->opt, &j->coef, lo, hi);
        return CVAE_OK;
    }
    float *g = cvae__net_grad(tr->net);
    if (j->mode != TAIL_CHECK)
        for (int r = 1; r < j->slices; r++) {
            const float *gr = cvae__net_grad(tr->replicas[r - 1]);
            for (int64_t k = lo; k < hi; k++) g[k] += gr[k];
        }
    if (j->mode == TAIL_SUM) return CVAE_OK;
    bool ok = true;
    for (int64_t k = lo; k < hi; k++) ok &= isfinite(g[k]) != 0;
    j->finite[i] = ok;
    return CVAE_OK;
}

/* This worker's rows of the batch must be finite (a NaN pixel would otherwise surface as a
 * non-finite loss). */
static cvae_status check_inputs(const cvae_trainer *tr, const step_job *j)
{
    const float *x = j->inputs + j->first * tr->per;
    for (int64_t i = 0; i < j->rows * tr->per; i++)
        if (!isfinite(x[i]))
            return cvae__error(CVAE_ERR_NUMERIC,
                               "cvae_trainer_step: input %lld holds a non-finite "
                               "value",
                               (long long)(j->first + i / tr->per));
    return CVAE_OK;
}

/* The batch's arguments, and a job for the team on this worker's rows. */
static cvae_status start(cvae_trainer *tr, const char *fn, const float *inputs, int64_t n,
                         step_job *j)
{
    CVAE_CHECK_NULL(tr, fn);
    CVAE_CHECK_NULL(inputs, fn);
    if (n < 1 || n > (1 << 24))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: batch size %lld outside [1, 2^24]", fn,
                           (long long)n);
    const int threads = cvae__team_size(tr->team);
    int64_t end = n;
    j->first = 0;
    if (tr->dist.ranks) cvae__worker_rows(n, tr->dist.rank, tr->dist.ranks, &j->first, &end);
    j->tr = tr;
    j->inputs = inputs;
    j->n = n;
    j->rows = end - j->first;
    j->members = j->rows < threads ? (int)j->rows : threads;
    return CVAE_OK;
}

/* Forward (and backward) of this worker's rows on its team: the status, *value the rows'
 * share of the batch's mean loss. */
static cvae_status run_rows(cvae_trainer *tr, step_job *j, float *value)
{
    *value = 0.0f;
    cvae_status s = check_inputs(tr, j);
    /* before the team starts: member 0 updates the running statistics the refresh copies */
    for (int i = 1; !s && i < j->members; i++) cvae__net_replica_refresh(tr->replicas[i - 1]);
    if (!s && j->members > 0) s = cvae__team_run(tr->team, j->members, slice_step, j);
    for (int i = 0; !s && i < j->members; i++) *value += j->loss[i];
    return s;
}

cvae_status cvae_trainer_eval(cvae_trainer *tr, const float *inputs, const int32_t *labels,
                              int64_t n, uint64_t seed, float *out_loss)
{
    static const char *fn = "cvae_trainer_eval";
    step_job j = {.labels = labels, .seed = seed};
    CVAE_TRY(start(tr, fn, inputs, n, &j));
    float value;
    cvae_status s = run_rows(tr, &j, &value);
    if (tr->dist.ranks) s = cvae__dist_gather(tr, &value, s, false, false, fn);
    if (s) return s;
    if (out_loss) *out_loss = value;
    return CVAE_OK;
}

cvae_status cvae_trainer_step(cvae_trainer *tr, const float *inputs, const int32_t *labels,
                              int64_t n, float *out_loss)
{
    static const char *fn = "cvae_trainer_step";
    step_job j = {.labels = labels, .train = true};
    CVAE_TRY(start(tr, fn, inputs, n, &j));
    j.seed = tr->opts.seed;
    j.stream = (uint64_t)cvae_trainer_steps(tr) + (uint64_t)tr->skipped;
    const int threads = cvae__team_size(tr->team);
    const bool dist = tr->dist.ranks > 0;
    bool differs = false;
    if (dist && cvae__dist_check_due(tr)) CVAE_TRY(cvae__dist_compare(tr, &differs));
    cvae_params_zero_grad(tr->net->params);
    float value;
    cvae_status s = run_rows(tr, &j, &value);
    if (dist) s = cvae__dist_gather(tr, &value, s, differs, true, fn);
    if (s) return s;
    if (!isfinite(value)) return nonfinite(tr, "the loss");
    tail_job tail = {.tr = tr, .members = threads, .slices = j.members};
    tail.mode = dist ? TAIL_SUM : TAIL_SUM_CHECK;
    CVAE_TRY(cvae__team_run(tr->team, tail.members, tail_range, &tail));
    if (dist) {
        CVAE_TRY(tr->dist.sum(cvae__net_grad(tr->net), cvae__net_numel(tr->net), tr->dist.user));
        tail.mode = TAIL_CHECK;
        CVAE_TRY(cvae__team_run(tr->team, tail.members, tail_range, &tail));
    }
    for (int i = 0; i < tail.members; i++)
        if (!tail.finite[i]) return nonfinite(tr, "a gradient");
    if (tr->opts.clip_norm > 0.0f)
        CVAE_TRY(cvae_clip_grad_norm(tr->net->params, tr->opts.clip_norm, NULL));
    tr->opt->adam.lr = cvae_train_lr_at(&tr->opts, cvae_trainer_steps(tr));
    CVAE_TRY(cvae__optim_begin(tr->opt, &tail.coef));
    tail.mode = TAIL_APPLY;
    CVAE_TRY(cvae__team_run(tr->team, tail.members, tail_range, &tail));
    cvae__optim_end(tr->opt);
    if (out_loss) *out_loss = value;
    return CVAE_OK;
}
