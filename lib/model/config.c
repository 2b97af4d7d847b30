/* Model configuration: defaults, validation, JSON (cJSON) both ways. */
#include <cjson/cJSON.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/internal.h"
#include "model/arch.h"

cvae_model_config cvae_model_config_default(void)
{
    cvae_model_config c = {.image_channels = 1,
                           .image_h = 28,
                           .image_w = 28,
                           .num_labels = 10,
                           .latent = 16,
                           .enc_channels = 32,
                           .cond_channels = 8,
                           .enc2_channels = 64,
                           .dec_channels = 32,
                           .table_trainable = 1,
                           .table_init = CVAE_TABLE_RANDOM,
                           .cond_decoder = 0,
                           .init = CVAE_INIT_TORCH,
                           .beta = 1.0f,
                           .kl_warmup = 0,
                           .seed = 1};
    return c;
}

/* The JSON names of the initializations a model may take, by cvae_init value. */
static const char *const init_names[] = {"he_glorot",  "glorot_uniform", "he_normal",
                                         "he_uniform", NULL /* zeros */, "torch"};
#define INIT_NAMES ((int)(sizeof init_names / sizeof *init_names))

static const char *init_name(cvae_init init)
{
    return (int)init >= 0 && (int)init < INIT_NAMES ? init_names[init] : NULL;
}

static cvae_status check_range(const char *name, int v, int lo, int hi)
{
    if (v < lo || v > hi)
        return cvae__error(CVAE_ERR_INVALID_ARG, "model config: %s = %d outside [%d, %d]", name, v,
                           lo, hi);
    return CVAE_OK;
}

cvae_status cvae_model_config_validate(const cvae_model_config *c)
{
    CVAE_CHECK_NULL(c, "cvae_model_config_validate");
    CVAE_TRY(check_range("image_channels", c->image_channels, 1, 64));
    CVAE_TRY(check_range("image_h", c->image_h, 4, 1024));
    CVAE_TRY(check_range("image_w", c->image_w, 4, 1024));
    if (c->image_h % 4 || c->image_w % 4)
        return cvae__error(CVAE_ERR_INVALID_ARG, "model config: image %dx%d is not a multiple of 4",
                           c->image_h, c->image_w);
    CVAE_TRY(check_range("num_labels", c->num_labels, 1, 1000000));
    CVAE_TRY(check_range("latent", c->latent, 1, 4096));
    CVAE_TRY(check_range("enc_channels", c->enc_channels, 0, 4096));
    CVAE_TRY(check_range("cond_channels", c->cond_channels, 0, 4096));
    CVAE_TRY(check_range("enc2_channels", c->enc2_channels, 1, 4096));
    CVAE_TRY(check_range("dec_channels", c->dec_channels, 1, 4096));
    CVAE_TRY(check_range("table_trainable", c->table_trainable, 0, 1));
    CVAE_TRY(check_range("table_init", (int)c->table_init, 0, 1));
    CVAE_TRY(check_range("cond_decoder", c->cond_decoder, 0, 1));
    if (!init_name(c->init))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "model config: init = %d is not a scheme a model may start from",
                           (int)c->init);
    CVAE_TRY(check_range("kl_warmup", c->kl_warmup, 0, 2147483647));
    if (c->enc_channels + c->cond_channels < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "model config: the first layer has no filters");
    if (c->cond_decoder && c->cond_channels < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "model config: cond_decoder needs cond_channels >= 1");
    if (!isfinite(c->beta) || c->beta < 0.0f)
        return cvae__error(CVAE_ERR_INVALID_ARG, "model config: beta = %g must be finite and >= 0",
                           (double)c->beta);
    /* the layers check every extent (each weight at most 2^31 values) */
    int64_t total, largest;
    return cvae__model_size(c, &total, &largest);
}

// clang-format off
#define CONFIG_INT_FIELDS(X)                                                                       \
    X(image_channels) X(image_h) X(image_w) X(num_labels) X(latent) X(enc_channels)                \
    X(cond_channels) X(enc2_channels) X(dec_channels) X(table_trainable) X(cond_decoder)          \
    X(kl_warmup)
// clang-format on

cvae_status cvae_model_config_to_json(const cvae_model_config *c, char **json)
{
    CVAE_CHECK_NULL(c, "cvae_model_config_to_json");
    CVAE_CHECK_NULL(json, "cvae_model_config_to_json");
    char buf[1024], seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    const char *init = init_name(c->init);
    if (!init)
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_model_config_to_json: init = %d unknown",
                           (int)c->init);
    int len =
        snprintf(buf, sizeof buf,
                 "{\"image_channels\":%d,\"image_h\":%d,\"image_w\":%d,\"num_labels\":%d,"
                 "\"latent\":%d,\"enc_channels\":%d,\"cond_channels\":%d,\"enc2_channels\":%d,"
                 "\"dec_channels\":%d,\"table_trainable\":%d,\"table_init\":\"%s\","
                 "\"cond_decoder\":%d,\"init\":\"%s\",\"beta\":%.9g,\"kl_warmup\":%d,"
                 "\"seed\":\"%s\"}",
                 c->image_channels, c->image_h, c->image_w, c->num_labels, c->latent,
                 c->enc_channels, c->cond_channels, c->enc2_channels, c->dec_channels,
                 c->table_trainable, c->table_init == CVAE_TABLE_GABOR ? "gabor" : "random",
                 c->cond_decoder, init, (double)c->beta, c->kl_warmup, seed);
    if (len < 0 || (size_t)len >= sizeof buf)
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_model_config_to_json: config too long");
    char *s = cvae__malloc((size_t)len + 1);
    if (!s) return cvae__nomem("cvae_model_config_to_json", (size_t)len + 1);
    memcpy(s, buf, (size_t)len + 1);
    *json = s;
    return CVAE_OK;
}

static cvae_status get_int(const cJSON *o, const char *key, int *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return CVAE_OK;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble != floor(it->valuedouble) ||
        fabs(it->valuedouble) > 2147483647.0)
        return cvae__error(CVAE_ERR_FORMAT, "model config: \"%s\" is not an integer", key);
    *v = (int)it->valuedouble;
    return CVAE_OK;
}

/* Every key a configuration may hold: one it does not know (a newer writer's option, a
 * typo) is an error rather than a silently different model. */
static cvae_status check_keys(const cJSON *o)
{
#define NAME(f) #f,
    static const char *const keys[] = {CONFIG_INT_FIELDS(NAME) "table_init", "init", "beta",
                                       "seed"};
#undef NAME
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof keys / sizeof *keys && strcmp(it->string, keys[k])) k++;
        if (k == sizeof keys / sizeof *keys)
            return cvae__error(CVAE_ERR_FORMAT, "model config: unknown key \"%.64s\"", it->string);
        if (cJSON_GetObjectItemCaseSensitive(o, it->string) != it)
            return cvae__error(CVAE_ERR_FORMAT, "model config: key \"%s\" appears twice",
                               it->string);
    }
    return CVAE_OK;
}

static cvae_status parse(const cJSON *o, cvae_model_config *c)
{
    if (!cJSON_IsObject(o)) return cvae__error(CVAE_ERR_FORMAT, "model config: not a JSON object");
    CVAE_TRY(check_keys(o));
#define GET(f) CVAE_TRY(get_int(o, #f, &c->f));
    CONFIG_INT_FIELDS(GET)
#undef GET
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "table_init");
    if (it) {
        if (!cJSON_IsString(it)) return cvae__error(CVAE_ERR_FORMAT, "model config: \"table_init\" is not a string");
        if (strcmp(it->valuestring, "random") == 0) c->table_init = CVAE_TABLE_RANDOM;
        else if (strcmp(it->valuestring, "gabor") == 0) c->table_init = CVAE_TABLE_GABOR;
        else return cvae__error(CVAE_ERR_FORMAT, "model config: unknown table_init \"%.32s\"", it->valuestring);
    }
    it = cJSON_GetObjectItemCaseSensitive(o, "init");
    if (it) {
        int k = 0;
        while (k < INIT_NAMES && !(cJSON_IsString(it) && init_names[k] &&
                                   strcmp(it->valuestring, init_names[k]) == 0))
            k++;
        if (k == INIT_NAMES)
            return cvae__error(CVAE_ERR_FORMAT, "model config: \"init\" is not one of he_glorot, "
                                                "glorot_uniform, he_normal, he_uniform, torch");
        c->init = (cvae_init)k;
    }
    it = cJSON_GetObjectItemCaseSensitive(o, "beta");
    if (it) {
        if (!cJSON_IsNumber(it)) return cvae__error(CVAE_ERR_FORMAT, "model config: \"beta\" is not a number");
        c->beta = (float)it->valuedouble;
    }
    it = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (it) {
        char *end = NULL;
        if (!cJSON_IsString(it) || !it->valuestring[0]) return cvae__error(CVAE_ERR_FORMAT, "model config: \"seed\" is not a decimal string");
        errno = 0;
        unsigned long long s = strtoull(it->valuestring, &end, 10);
        /* strtoull alone would take " -1" (wrapping to 2^64 - 1) and "+1". */
        if (*end || errno || it->valuestring[0] < '0' || it->valuestring[0] > '9') return cvae__error(CVAE_ERR_FORMAT, "model config: \"seed\" is not a decimal string");
        c->seed = s;
    }
    return CVAE_OK;
}

cvae_status cvae_model_config_from_json(const char *json, size_t len, cvae_model_config *cfg)
{
    CVAE_CHECK_NULL(json, "cvae_model_config_from_json");
    CVAE_CHECK_NULL(cfg, "cvae_model_config_from_json");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return cvae__error(CVAE_ERR_FORMAT, "model config: invalid JSON");
    cvae_model_config c = cvae_model_config_default();
    c.init = CVAE_INIT_DEFAULT; /* what a configuration without the key was made with */
    cvae_status s = parse(root, &c);
    cJSON_Delete(root);
    if (s == CVAE_OK) s = cvae_model_config_validate(&c);
    if (s == CVAE_OK) *cfg = c;
    return s;
}
