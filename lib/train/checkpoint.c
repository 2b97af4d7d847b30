/* Checkpoints of a trainer: the network's parameters, Adam's moments, the step counters and
 * the training options in one safetensors file (see docs/model-format.md). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/safetensors_internal.h"
#include "optim/optim_internal.h"
#include "train/train_internal.h"

#define KIND_KEY "cvae.kind"
#define TRAIN_KEY "cvae.train"
#define ADAM_M "optim.adam.m"
#define ADAM_V "optim.adam.v"

/* cvae_lr_schedule's names in a checkpoint, by value. */
static const char *const schedule_names[] = {"constant", "cosine", "step"};

cvae_status cvae_trainer_save(const cvae_trainer *tr, int64_t epoch, const char *path)
{
    static const char *fn = "cvae_trainer_save";
    CVAE_CHECK_NULL(tr, fn);
    CVAE_CHECK_NULL(path, fn);
    if (epoch < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: epoch %lld is negative", fn,
                           (long long)epoch);
    float *mom, *var;
    int64_t numel, step;
    CVAE_TRY(cvae_optim_state(tr->opt, &mom, &var, &numel, &step));
    const cvae_train_opts *o = &tr->opts;
    char json[1024];
    int len = snprintf(
        json, sizeof json,
        "{\"lr\":%.9g,\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,\"weight_decay\":%.9g,"
        "\"clip_norm\":%.9g,\"seed\":\"%llu\",\"skip_nonfinite\":%d,\"step\":%lld,"
        "\"skipped\":%lld,\"epoch\":%lld,\"schedule\":\"%s\",\"warmup_steps\":%lld,"
        "\"decay_steps\":%lld,\"lr_min\":%.9g,\"gamma\":%.9g}",
        (double)o->lr, (double)o->beta1, (double)o->beta2, (double)o->eps, (double)o->weight_decay,
        (double)o->clip_norm, (unsigned long long)o->seed, o->skip_nonfinite, (long long)step,
        (long long)tr->skipped, (long long)epoch, schedule_names[o->schedule],
        (long long)o->warmup_steps, (long long)o->decay_steps, (double)o->lr_min, (double)o->gamma);
    if (len < 0 || (size_t)len >= sizeof json)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: options too long", fn);
    const cvae_params *p = tr->net->params;
    const int np = cvae_params_count(p);
    cvae_st_entry *e = cvae__calloc((size_t)np + 2, sizeof *e);
    if (!e) return cvae__nomem(fn, ((size_t)np + 2) * sizeof *e);
    for (int i = 0; i < np; i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        e[i] = (cvae_st_entry){cvae_params_name(p, i), t->ndim, {0}, t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    }
    e[np] = (cvae_st_entry){ADAM_M, 1, {numel, 1, 1, 1, 1}, mom};
    e[np + 1] = (cvae_st_entry){ADAM_V, 1, {numel, 1, 1, 1, 1}, var};
    const char *keys[3] = {KIND_KEY, TRAIN_KEY, tr->meta_key};
    const char *values[3] = {"checkpoint", json, tr->meta_value};
    cvae_status s = cvae_safetensors_save(path, e, np + 2, keys, values, tr->meta_key ? 3 : 2);
    cvae__free(e);
    return s;
}

/* ---- restoring ---- */

typedef struct train_state {
    cvae_train_opts opts;
    int64_t step, skipped, epoch;
} train_state;

static cvae_status num(const cJSON *o, const char *key, double lo, double hi, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo ||
        it->valuedouble > hi || (hi > 1e15 && it->valuedouble != floor(it->valuedouble)))
        return cvae__error(CVAE_ERR_FORMAT, "training state: \"%s\" missing or out of range", key);
    *v = it->valuedouble;
    return CVAE_OK;
}

static cvae_status parse_seed(const cJSON *root, uint64_t *seed)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "seed");
    char *end = NULL;
    errno = 0;
    unsigned long long v = 0;
    if (cJSON_IsString(it) && it->valuestring[0] >= '0' && it->valuestring[0] <= '9')
        v = strtoull(it->valuestring, &end, 10);
    if (!end || *end || errno) return cvae__error(CVAE_ERR_FORMAT, "training state: bad \"seed\"");
    *seed = v;
    return CVAE_OK;
}

/* The schedule's keys, written since they exist: absent (an older checkpoint), they keep
 * their zero (a constant learning rate). */
static cvae_status parse_schedule(const cJSON *root, cvae_train_opts *o)
{
    const double big = 9007199254740992.0;
    const char *const keys[4] = {"warmup_steps", "decay_steps", "lr_min", "gamma"};
    const double hi[4] = {big, big, 1e9, 1e9};
    double v[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++)
        if (cJSON_GetObjectItemCaseSensitive(root, keys[k]))
            CVAE_TRY(num(root, keys[k], 0, hi[k], &v[k]));
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "schedule");
    int s = 0;
    if (it) {
        while (s < 3 && !(cJSON_IsString(it) && !strcmp(it->valuestring, schedule_names[s]))) s++;
        if (s == 3) return cvae__error(CVAE_ERR_FORMAT, "training state: unknown \"schedule\"");
    }
    o->schedule = (cvae_lr_schedule)s;
    o->warmup_steps = (int64_t)v[0];
    o->decay_steps = (int64_t)v[1];
    o->lr_min = (float)v[2];
    o->gamma = (float)v[3];
    return CVAE_OK;
}

static cvae_status parse_train(const char *json, train_state *st)
{
    static const char *const keys[] = {"lr",           "beta1",       "beta2",          "eps",
                                       "weight_decay", "clip_norm",   "skip_nonfinite", "step",
                                       "skipped",      "epoch",       "seed",           "schedule",
                                       "warmup_steps", "decay_steps", "lr_min",         "gamma"};
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cvae__error(CVAE_ERR_FORMAT, "training state: not a JSON object");
    }
    const double big = 9007199254740992.0,
                 lim[10][2] = {{0, 1e9},  {0, 1}, {0, 1},   {0, 1e9}, {0, 1e9},
                               {0, 1e30}, {0, 1}, {0, big}, {0, big}, {0, big}};
    double v[10] = {0};
    cvae_status s = CVAE_OK;
    for (const cJSON *it = root->child; !s && it; it = it->next) {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(it->string, keys[k])) k++;
        if (k == sizeof keys / sizeof keys[0])
            s = cvae__error(CVAE_ERR_FORMAT, "training state: unknown key \"%.64s\"", it->string);
    }
    for (int k = 0; !s && k < 10; k++) s = num(root, keys[k], lim[k][0], lim[k][1], &v[k]);
    cvae_train_opts o = {.lr = (float)v[0],
                         .beta1 = (float)v[1],
                         .beta2 = (float)v[2],
                         .eps = (float)v[3],
                         .weight_decay = (float)v[4],
                         .clip_norm = (float)v[5],
                         .skip_nonfinite = (int)v[6]};
    if (!s) s = parse_seed(root, &o.seed);
    if (!s) s = parse_schedule(root, &o);
    cJSON_Delete(root);
    if (s) return s;
    st->opts = o;
    st->step = (int64_t)v[7];
    st->skipped = (int64_t)v[8];
    st->epoch = (int64_t)v[9];
    return cvae__train_opts_check(&st->opts, "training state");
}

/* Adam's moments in the file: [numel] each, finite, the second one >= 0. */
static cvae_status find_moments(const cvae_st_file *f, int64_t numel, const float **m,
                                const float **v)
{
    int nd_m, nd_v;
    int64_t sm[CVAE_MAX_DIMS], sv[CVAE_MAX_DIMS];
    if (cvae_st_find(f, ADAM_M, &nd_m, sm, m) || cvae_st_find(f, ADAM_V, &nd_v, sv, v))
        return cvae__error(CVAE_ERR_FORMAT, "checkpoint: optimizer state missing");
    if (nd_m != 1 || nd_v != 1 || sm[0] != numel || sv[0] != numel)
        return cvae__error(CVAE_ERR_SHAPE,
                           "checkpoint: optimizer state holds %lld values, the "
                           "network %lld",
                           (long long)sm[0], (long long)numel);
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite((*m)[i]) || !isfinite((*v)[i]) || (*v)[i] < 0.0f)
            return cvae__error(CVAE_ERR_NUMERIC,
                               "checkpoint: optimizer state at %lld is not finite "
                               "(or a negative second moment)",
                               (long long)i);
    return CVAE_OK;
}

cvae_status cvae__trainer_restore_from(cvae_trainer *tr, const cvae_st_file *f, int64_t *epoch)
{
    const char *kind = cvae_st_meta(f, KIND_KEY), *json = cvae_st_meta(f, TRAIN_KEY);
    if (!kind || strcmp(kind, "checkpoint"))
        return cvae__error(CVAE_ERR_FORMAT, "not a training checkpoint (metadata \"%s\" is %s)",
                           KIND_KEY, kind ? kind : "missing");
    if (!json) return cvae__error(CVAE_ERR_FORMAT, "metadata \"%s\" missing", TRAIN_KEY);
    if (tr->meta_key) {
        const char *value = cvae_st_meta(f, tr->meta_key);
        if (!value) return cvae__error(CVAE_ERR_FORMAT, "metadata \"%s\" missing", tr->meta_key);
        if (tr->meta_check) CVAE_TRY(tr->meta_check(tr->meta_owner, value));
        else if (strcmp(value, tr->meta_value))
            return cvae__error(CVAE_ERR_FORMAT, "metadata \"%s\" differs from the trainer's",
                               tr->meta_key);
    }
    train_state st;
    CVAE_TRY(parse_train(json, &st));
    CVAE_TRY(cvae__st_params_match(f, tr->net->params, CVAE_LOAD_STRICT, NULL));
    float *mom, *var;
    int64_t numel;
    CVAE_TRY(cvae_optim_state(tr->opt, &mom, &var, &numel, NULL));
    const float *fm, *fv;
    CVAE_TRY(find_moments(f, numel, &fm, &fv));
    CVAE_TRY(cvae_safetensors_load_params(f, tr->net->params, CVAE_LOAD_STRICT, NULL));
    memcpy(mom, fm, (size_t)numel * sizeof(float));
    memcpy(var, fv, (size_t)numel * sizeof(float));
    cvae_optim_set_step(tr->opt, st.step);
    tr->opt->adam = cvae__adam_opts_of(&st.opts);
    tr->opts = st.opts;
    tr->skipped = st.skipped;
    if (epoch) *epoch = st.epoch;
    return CVAE_OK;
}

cvae_status cvae_trainer_restore(cvae_trainer *tr, const char *path, int64_t *epoch)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_restore");
    CVAE_CHECK_NULL(path, "cvae_trainer_restore");
    cvae_st_file *f;
    CVAE_TRY(cvae_safetensors_open(path, &f));
    cvae_status s = cvae__trainer_restore_from(tr, f, epoch);
    cvae_safetensors_close(f);
    return cvae__error_in_file(s, path);
}
