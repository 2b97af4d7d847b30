/* Model files: safetensors with the configuration in the metadata; model checkpoints (the
 * trainer's, lib/train/checkpoint.c, plus the configuration). See docs/model-format.md. */
#include "model/arch.h"
#include "model/model_internal.h"
#include "train/train_internal.h"

#define KIND_KEY "cvae.kind"
#define CONFIG_KEY "cvae.config"

cvae_status cvae_model_save(const cvae_model *m, const char *path)
{
    CVAE_CHECK_NULL(m, "cvae_model_save");
    CVAE_CHECK_NULL(path, "cvae_model_save");
    char *config = NULL;
    CVAE_TRY(cvae_model_config_to_json(&m->cfg, &config));
    const char *keys[2] = {KIND_KEY, CONFIG_KEY}, *values[2] = {"model", config};
    cvae_status s = cvae_safetensors_save_params(path, cvae_net_params(m->net), keys, values, 2);
    cvae__free(config);
    return s;
}

/* The configuration of an open model file or checkpoint, checked against the file's size:
 * a configuration asking for more weights than the file holds is rejected before any is
 * allocated (a few bytes of JSON could otherwise ask for gigabytes). */
static cvae_status config_of(const cvae_st_file *f, cvae_model_config *cfg)
{
    const char *kind = cvae_st_meta(f, KIND_KEY), *json = cvae_st_meta(f, CONFIG_KEY);
    if (!kind || (strcmp(kind, "model") && strcmp(kind, "checkpoint")))
        return cvae__error(CVAE_ERR_FORMAT, "not a cvae model file (metadata \"%s\" missing)",
                           KIND_KEY);
    if (!json) return cvae__error(CVAE_ERR_FORMAT, "metadata \"%s\" missing", CONFIG_KEY);
    cvae_status s = cvae_model_config_from_json(json, strlen(json), cfg);
    if (s) return s == CVAE_ERR_NOMEM ? s : CVAE_ERR_FORMAT; /* a bad config is a bad file */
    int64_t need, largest, have = 0;
    CVAE_TRY(cvae__model_size(cfg, &need, &largest));
    for (int i = 0; i < cvae_st_count(f); i++) {
        int ndim;
        int64_t shape[CVAE_MAX_DIMS], numel = 1;
        cvae_st_find(f, cvae_st_name(f, i), &ndim, shape, NULL);
        for (int d = 0; d < ndim; d++) numel *= shape[d];
        have += numel;
    }
    if (need > have)
        return cvae__error(CVAE_ERR_FORMAT,
                           "the configuration needs %lld weights but the file holds %lld",
                           (long long)need, (long long)have);
    return CVAE_OK;
}

/* Builds the model an open file describes and copies its weights: every parameter present
 * with its shape, no other tensor but a checkpoint's optimizer state (strict). */
static cvae_status model_from(const cvae_st_file *f, cvae_model **out)
{
    cvae_model_config cfg;
    cvae_model *m = NULL;
    CVAE_TRY(config_of(f, &cfg));
    CVAE_TRY(cvae__model_build(&cfg, &m));
    cvae_status s =
        cvae_safetensors_load_params(f, cvae_net_params(m->net), CVAE_LOAD_STRICT, NULL);
    if (s) {
        cvae_model_free(m);
        return s;
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
    cvae_status s = model_from(f, out);
    cvae_safetensors_close(f);
    return cvae__error_in_file(s, path);
}

cvae_status cvae_trainer_load(const char *path, cvae_model **model, cvae_trainer **trainer,
                              int64_t *epoch)
{
    CVAE_CHECK_NULL(path, "cvae_trainer_load");
    CVAE_CHECK_NULL(model, "cvae_trainer_load");
    CVAE_CHECK_NULL(trainer, "cvae_trainer_load");
    cvae_st_file *f;
    CVAE_TRY(cvae_safetensors_open(path, &f));
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    const char *kind = cvae_st_meta(f, KIND_KEY);
    cvae_status s = kind && !strcmp(kind, "model")
                        ? cvae__error(CVAE_ERR_FORMAT, "a model file, not a training checkpoint")
                        : model_from(f, &m);
    if (!s) {
        cvae_train_opts o = cvae_train_opts_default();
        s = cvae_trainer_new(m, &o, &tr);
    }
    if (!s) s = cvae__trainer_restore_from(tr, f, epoch);
    cvae_safetensors_close(f);
    if (s) {
        cvae_trainer_free(tr);
        cvae_model_free(m);
        return cvae__error_in_file(s, path);
    }
    *model = m;
    *trainer = tr;
    return CVAE_OK;
}
