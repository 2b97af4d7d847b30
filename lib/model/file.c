/* Model files and checkpoints: safetensors with the configuration (and, for
 * checkpoints, the optimizer state) in the metadata. See docs/model-format.md. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/train_internal.h"

#define KIND_KEY "cvae.kind"
#define CONFIG_KEY "cvae.config"
#define TRAIN_KEY "cvae.train"
#define ADAM_M "optim.adam.m"
#define ADAM_V "optim.adam.v"

/* Writes the parameters plus `extra` tensors with kind/config(/train) metadata. */
static cvae_status save(const cvae_model *m, const char *path, const char *kind, const char *train_json,
                        const cvae_st_entry *extra, int n_extra)
{
    const cvae_params *p = m->params;
    const int np = cvae_params_count(p);
    cvae_st_entry *e = cvae__calloc((size_t)(np + n_extra), sizeof *e);
    char *config = NULL;
    if (!e) return cvae__nomem("saving a model", (size_t)(np + n_extra) * sizeof *e);
    cvae_status s = cvae_model_config_to_json(&m->cfg, &config);
    for (int i = 0; !s && i < np; i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        e[i].name = cvae_params_name(p, i);
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        e[i].data = t->data;
    }
    for (int i = 0; i < n_extra; i++) e[np + i] = extra[i];
    const char *keys[3] = {KIND_KEY, CONFIG_KEY, TRAIN_KEY}, *values[3] = {kind, config, train_json};
    if (!s) s = cvae_safetensors_save(path, e, np + n_extra, keys, values, train_json ? 3 : 2);
    cvae__free(config);
    cvae__free(e);
    return s;
}

cvae_status cvae_model_save(const cvae_model *m, const char *path)
{
    CVAE_CHECK_NULL(m, "cvae_model_save");
    CVAE_CHECK_NULL(path, "cvae_model_save");
    return save(m, path, "model", NULL, NULL, 0);
}

/* Builds the model described by an open file and copies its weights. Tensors
 * other than parameters are allowed only when `extra_ok` names them. */
static cvae_status model_from(const cvae_st_file *f, const char *path, int checkpoint, cvae_model **out)
{
    const char *kind = cvae_st_meta(f, KIND_KEY), *cfg_json = cvae_st_meta(f, CONFIG_KEY);
    if (!kind || (strcmp(kind, "model") && strcmp(kind, "checkpoint")))
        return cvae__error(CVAE_ERR_FORMAT, "%s: not a cvae model file (metadata \"%s\" missing)", path, KIND_KEY);
    if (checkpoint && strcmp(kind, "checkpoint"))
        return cvae__error(CVAE_ERR_FORMAT, "%s: a model file, not a training checkpoint", path);
    if (!cfg_json) return cvae__error(CVAE_ERR_FORMAT, "%s: metadata \"%s\" missing", path, CONFIG_KEY);
    cvae_model_config cfg;
    cvae_status s = cvae_model_config_from_json(cfg_json, strlen(cfg_json), &cfg);
    if (s) /* an invalid configuration in a file is a bad file, not a bad argument */
        return cvae__error(s == CVAE_ERR_NOMEM ? s : CVAE_ERR_FORMAT, "%s: %s", path, cvae_last_error());
    for (int i = 0; i < cvae_st_count(f); i++) {
        const char *name = cvae_st_name(f, i);
        bool optim = !strcmp(kind, "checkpoint") && (!strcmp(name, ADAM_M) || !strcmp(name, ADAM_V));
        if (!optim && strncmp(name, "enc.", 4) && strncmp(name, "dec.", 4))
            return cvae__error(CVAE_ERR_FORMAT, "%s: unexpected tensor \"%.64s\"", path, name);
    }
    /* Every parameter must be in the file: a configuration asking for more
     * weights than the file holds is rejected before allocating any (a few
     * bytes of JSON could otherwise ask for tens of gigabytes). */
    int64_t need, largest, have = 0;
    cvae__model_size(&cfg, &need, &largest);
    for (int i = 0; i < cvae_st_count(f); i++) {
        int ndim;
        int64_t shape[CVAE_MAX_DIMS], numel = 1;
        cvae_st_find(f, cvae_st_name(f, i), &ndim, shape, NULL);
        for (int d = 0; d < ndim; d++) numel *= shape[d];
        have += numel;
    }
    if (need > have)
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: the configuration needs %lld weights but the file holds %lld", path,
                           (long long)need, (long long)have);
    cvae_model *m = NULL;
    CVAE_TRY(cvae__model_alloc(&cfg, &m));
    s = cvae_safetensors_load_params(f, m->params, 0);
    for (int i = 0; !s && i < cvae_st_count(f); i++) {
        const char *name = cvae_st_name(f, i);
        if ((!strncmp(name, "enc.", 4) || !strncmp(name, "dec.", 4)) && !cvae_params_find(m->params, name))
            s = cvae__error(CVAE_ERR_FORMAT, "%s: tensor \"%.64s\" is not part of this configuration", path, name);
    }
    /* NaN or Inf weights would silently turn every output into NaN. */
    for (int i = 0; !s && i < cvae_params_count(m->params); i++)
        s = cvae_tensor_check_finite(cvae_params_at(m->params, i), cvae_params_name(m->params, i));
    if (s) {
        cvae_model_free(m);
        return s == CVAE_ERR_FORMAT || s == CVAE_ERR_SHAPE || s == CVAE_ERR_NUMERIC
                   ? cvae__error(s, "%s: %s", path, cvae_last_error())
                   : s;
    }
    *out = m;
    return CVAE_OK;
}

cvae_status cvae_model_load(const char *path, cvae_model **out)
{
    CVAE_CHECK_NULL(path, "cvae_model_load");
    CVAE_CHECK_NULL(out, "cvae_model_load");
    cvae_st_file *f;
    CVAE_TRY(cvae_safetensors_open(path, &f));
    cvae_status s = model_from(f, path, 0, out);
    cvae_safetensors_close(f);
    return s;
}

/* ---- checkpoints ---- */

cvae_status cvae_trainer_save(const cvae_trainer *tr, int64_t epoch, const char *path)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_save");
    CVAE_CHECK_NULL(path, "cvae_trainer_save");
    float *mom, *var;
    int64_t numel, step;
    CVAE_TRY(cvae_optim_state(tr->opt, &mom, &var, &numel, &step));
    const cvae_train_opts *o = &tr->opts;
    char json[768];
    int len = snprintf(json, sizeof json,
                       "{\"lr\":%.9g,\"beta1\":%.9g,\"beta2\":%.9g,\"eps\":%.9g,\"weight_decay\":%.9g,"
                       "\"clip_norm\":%.9g,\"seed\":\"%llu\",\"skip_nonfinite\":%d,\"step\":%lld,"
                       "\"skipped\":%lld,\"epoch\":%lld}",
                       (double)o->lr, (double)o->beta1, (double)o->beta2, (double)o->eps,
                       (double)o->weight_decay, (double)o->clip_norm, (unsigned long long)o->seed,
                       o->skip_nonfinite, (long long)step, (long long)tr->skipped, (long long)epoch);
    if (len < 0 || (size_t)len >= sizeof json) return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_trainer_save: options too long");
    cvae_st_entry extra[2] = {{ADAM_M, 1, {numel, 1, 1, 1, 1}, mom}, {ADAM_V, 1, {numel, 1, 1, 1, 1}, var}};
    return save(tr->m, path, "checkpoint", json, extra, 2);
}

static cvae_status num(const cJSON *o, const char *key, double lo, double hi, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < lo || it->valuedouble > hi)
        return cvae__error(CVAE_ERR_FORMAT, "training state: \"%s\" missing or out of range", key);
    *v = it->valuedouble;
    return CVAE_OK;
}

/* cvae_trainer_save writes exactly these keys, all required: another one would be an option
 * this build cannot honour when resuming. */
static cvae_status check_train_keys(const cJSON *root)
{
    static const char *const keys[] = {
        "lr",   "beta1",   "beta2", "eps", "weight_decay", "clip_norm", "skip_nonfinite",
        "step", "skipped", "epoch", "seed"};
    for (const cJSON *it = cJSON_IsObject(root) ? root->child : NULL; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof keys / sizeof *keys && strcmp(it->string, keys[k])) k++;
        if (k == sizeof keys / sizeof *keys)
            return cvae__error(CVAE_ERR_FORMAT, "training state: unknown key \"%.64s\"",
                               it->string);
    }
    return CVAE_OK;
}

static cvae_status parse_train(const char *json, cvae_train_opts *o, int64_t *step, int64_t *skipped,
                               int64_t *epoch)
{
    cJSON *root = cJSON_Parse(json);
    if (!root) return cvae__error(CVAE_ERR_FORMAT, "training state: invalid JSON");
    double v[11];
    const double big = 9007199254740992.0;
    cvae_status s = check_train_keys(root);
    if (!s) s = num(root, "lr", 0, 1e9, &v[0]);
    if (!s) s = num(root, "beta1", 0, 1, &v[1]);
    if (!s) s = num(root, "beta2", 0, 1, &v[2]);
    if (!s) s = num(root, "eps", 0, 1e9, &v[3]);
    if (!s) s = num(root, "weight_decay", 0, 1e9, &v[4]);
    if (!s) s = num(root, "clip_norm", 0, 1e30, &v[5]);
    if (!s) s = num(root, "skip_nonfinite", 0, 1, &v[6]);
    if (!s) s = num(root, "step", 0, big, &v[7]);
    if (!s) s = num(root, "skipped", 0, big, &v[8]);
    if (!s) s = num(root, "epoch", 0, big, &v[9]);
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    unsigned long long sd = 0;
    if (!s) {
        char *end = NULL;
        errno = 0;
        if (cJSON_IsString(seed) && seed->valuestring[0] >= '0' && seed->valuestring[0] <= '9')
            sd = strtoull(seed->valuestring, &end, 10);
        if (!end || *end || errno) s = cvae__error(CVAE_ERR_FORMAT, "training state: bad \"seed\"");
    }
    cJSON_Delete(root);
    if (s) return s;
    *o = (cvae_train_opts){(float)v[0], (float)v[1], (float)v[2], (float)v[3], (float)v[4],
                           (float)v[5], sd, (int)v[6]};
    *step = (int64_t)v[7];
    *skipped = (int64_t)v[8];
    *epoch = (int64_t)v[9];
    return CVAE_OK;
}

/* Copies the file's Adam moments into the trainer after checking their shape. */
static cvae_status load_moments(const cvae_st_file *f, cvae_trainer *tr, int64_t step)
{
    float *mom, *var;
    int64_t numel, cur;
    CVAE_TRY(cvae_optim_state(tr->opt, &mom, &var, &numel, &cur));
    const float *fm, *fv;
    int nd_m, nd_v;
    int64_t sm[CVAE_MAX_DIMS], sv[CVAE_MAX_DIMS];
    if (cvae_st_find(f, ADAM_M, &nd_m, sm, &fm) || cvae_st_find(f, ADAM_V, &nd_v, sv, &fv))
        return cvae__error(CVAE_ERR_FORMAT, "checkpoint: optimizer state missing");
    if (nd_m != 1 || nd_v != 1 || sm[0] != numel || sv[0] != numel)
        return cvae__error(CVAE_ERR_SHAPE, "checkpoint: optimizer state holds %lld values, the model %lld",
                           (long long)sm[0], (long long)numel);
    for (int64_t i = 0; i < numel; i++) /* Adam's moments: finite, second one >= 0 */
        if (!isfinite(fm[i]) || !isfinite(fv[i]) || fv[i] < 0.0f)
            return cvae__error(CVAE_ERR_NUMERIC,
                               "checkpoint: optimizer state at %lld is not finite (or a negative "
                               "second moment)",
                               (long long)i);
    CVAE_TRY(cvae_optim_set_step(tr->opt, step));
    memcpy(mom, fm, (size_t)numel * sizeof(float));
    memcpy(var, fv, (size_t)numel * sizeof(float));
    return CVAE_OK;
}

cvae_status cvae_trainer_load(const char *path, cvae_model **model, cvae_trainer **trainer, int64_t *epoch)
{
    CVAE_CHECK_NULL(path, "cvae_trainer_load");
    CVAE_CHECK_NULL(model, "cvae_trainer_load");
    CVAE_CHECK_NULL(trainer, "cvae_trainer_load");
    cvae_st_file *f;
    CVAE_TRY(cvae_safetensors_open(path, &f));
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    cvae_train_opts o;
    int64_t step = 0, skipped = 0, ep = 0;
    const char *json = cvae_st_meta(f, TRAIN_KEY);
    cvae_status s = model_from(f, path, 1, &m);
    if (!s && !json) s = cvae__error(CVAE_ERR_FORMAT, "%s: metadata \"%s\" missing", path, TRAIN_KEY);
    if (!s) s = parse_train(json, &o, &step, &skipped, &ep);
    if (!s) s = cvae_trainer_new(m, &o, &tr);
    if (!s) s = load_moments(f, tr, step);
    cvae_safetensors_close(f);
    if (s) {
        cvae_trainer_free(tr);
        cvae_model_free(m);
        return s;
    }
    tr->skipped = skipped;
    *model = m;
    *trainer = tr;
    if (epoch) *epoch = ep;
    return CVAE_OK;
}
