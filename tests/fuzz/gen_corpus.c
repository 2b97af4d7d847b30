/* Writes the fuzzers' seed corpora with the library itself:
 *     fuzz_gen_corpus tests/fuzz/corpus
 * creates <dir>/safetensors/, <dir>/model_config/ (existing files are replaced;
 * regression inputs committed next to them are kept). Every file is < 64 KB. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cvae/cvae.h"

static const char *root;

static void die(const char *what, cvae_status s)
{
    fprintf(stderr, "fuzz_gen_corpus: %s: %s: %s\n", what, cvae_status_str(s), cvae_last_error());
    exit(1);
}

static const char *path_of(const char *target, const char *file)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", root, target);
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        perror(buf);
        exit(1);
    }
    snprintf(buf, sizeof buf, "%s/%s/%s", root, target, file);
    return buf;
}

static void write_text(const char *target, const char *file, const char *text)
{
    const char *p = path_of(target, file);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
        perror(p);
        exit(1);
    }
}

static void safetensors_seeds(void)
{
    static float a[2 * 3], b[4], c[1 * 2 * 2 * 2 * 2];
    for (int i = 0; i < 6; i++) a[i] = (float)i - 2.5f;
    for (int i = 0; i < 4; i++) b[i] = 1.0f / (float)(i + 1);
    for (int i = 0; i < 16; i++) c[i] = (float)(i * i) * 0.125f;
    cvae_st_entry e[4] = {{"w", 2, {2, 3, 1, 1, 1}, a},
                          {"layer.bias", 1, {4, 1, 1, 1, 1}, b},
                          {"five", 5, {1, 2, 2, 2, 2}, c},
                          {"empty", 2, {0, 3, 1, 1, 1}, NULL}};
    const char *keys[2] = {"note", "cvae.kind"}, *vals[2] = {"seed corpus \xc3\xa9", "model"};
    cvae_status s;
    if ((s = cvae_safetensors_save(path_of("safetensors", "no_tensors"), NULL, 0, NULL, NULL, 0)))
        die("no_tensors", s);
    if ((s = cvae_safetensors_save(path_of("safetensors", "one"), e, 1, NULL, NULL, 0)))
        die("one", s);
    if ((s = cvae_safetensors_save(path_of("safetensors", "four_meta"), e, 4, keys, vals, 2)))
        die("four_meta", s);
    if ((s = cvae_safetensors_save(path_of("safetensors", "empty_only"), e + 3, 1, keys, vals, 1)))
        die("empty_only", s);
}

static void config_seeds(void)
{
    cvae_model_config c = cvae_model_config_default();
    char *json;
    cvae_status s;
    if ((s = cvae_model_config_to_json(&c, &json))) die("default config", s);
    write_text("model_config", "default", json);
    cvae_free_buffer(json);
    c.image_h = c.image_w = 8;
    c.latent = 2;
    c.enc_channels = 2;
    c.cond_channels = 2;
    c.enc2_channels = 3;
    c.dec_channels = 2;
    c.table_init = CVAE_TABLE_GABOR;
    c.cond_decoder = 1;
    c.table_trainable = 0;
    c.beta = 0.25f;
    c.seed = 18446744073709551615ull;
    if ((s = cvae_model_config_to_json(&c, &json))) die("tiny config", s);
    write_text("model_config", "tiny_gabor", json);
    cvae_free_buffer(json);
    write_text("model_config", "partial", "{\"latent\": 4, \"beta\": 1e-3, \"seed\": \"7\"}");
    write_text("model_config", "empty_object", "{}");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    safetensors_seeds();
    config_seeds();
    return 0;
}
