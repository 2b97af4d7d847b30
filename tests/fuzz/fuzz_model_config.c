/* libFuzzer target: cvae_model_config_from_json on arbitrary bytes. Oracle:
 * whatever it accepts is valid, and to_json then from_json reproduces it
 * field for field (beta bit for bit); otherwise abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cvae/cvae.h"

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) abort();                                                                    \
    } while (0)

static int same_config(const cvae_model_config *a, const cvae_model_config *b)
{
    uint32_t ba, bb;
    memcpy(&ba, &a->beta, 4);
    memcpy(&bb, &b->beta, 4);
    return a->image_channels == b->image_channels && a->image_h == b->image_h &&
           a->image_w == b->image_w && a->num_labels == b->num_labels && a->latent == b->latent &&
           a->enc_channels == b->enc_channels && a->cond_channels == b->cond_channels &&
           a->enc2_channels == b->enc2_channels && a->dec_channels == b->dec_channels &&
           a->table_trainable == b->table_trainable && a->table_init == b->table_init &&
           a->cond_decoder == b->cond_decoder && ba == bb && a->seed == b->seed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy with no terminating NUL: the parser must honour len. */
    char *json = malloc(size ? size : 1);
    if (!json) return 0;
    if (size) memcpy(json, data, size);
    cvae_model_config cfg, untouched, back;
    memset(&cfg, 0x5A, sizeof cfg);
    untouched = cfg;
    cvae_clear_error();
    cvae_status s = cvae_model_config_from_json(json, size, &cfg);
    free(json);
    if (s != CVAE_OK) {
        CHECK(memcmp(&cfg, &untouched, sizeof cfg) == 0);
        CHECK(cvae_last_error()[0] != '\0');
        CHECK(s == CVAE_ERR_FORMAT || s == CVAE_ERR_INVALID_ARG || s == CVAE_ERR_NOMEM);
        return 0;
    }
    CHECK(cvae_model_config_validate(&cfg) == CVAE_OK);
    char *text = NULL;
    CHECK(cvae_model_config_to_json(&cfg, &text) == CVAE_OK);
    memset(&back, 0, sizeof back);
    CHECK(cvae_model_config_from_json(text, strlen(text), &back) == CVAE_OK);
    CHECK(same_config(&cfg, &back));
    cvae_free_buffer(text);
    return 0;
}
