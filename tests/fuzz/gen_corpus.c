/* Writes the fuzzers' seed corpora with the library itself:
 *     fuzz_gen_corpus tests/fuzz/corpus
 * creates <dir>/safetensors/, <dir>/model_config/, <dir>/idx/ and
 * <dir>/model_file/ (existing files are replaced; regression inputs committed
 * next to them are kept, and so are the format-1 files v1_*, which this build
 * can no longer write). Every file is < 64 KB. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

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

/* ---- IDX: [u32 LE length of the images file][images file][labels file] ---- */

static size_t idx_file(unsigned char *out, int ndim, const uint32_t *dims, const unsigned char *data,
                       size_t n)
{
    size_t at = 0;
    uint32_t magic = 0x00000800u | (uint32_t)ndim;
    for (int b = 3; b >= 0; b--) out[at++] = (unsigned char)(magic >> (8 * b));
    for (int d = 0; d < ndim; d++)
        for (int b = 3; b >= 0; b--) out[at++] = (unsigned char)(dims[d] >> (8 * b));
    memcpy(out + at, data, n);
    return at + n;
}

/* gzip-compresses in[0..n) into out; returns the compressed size. */
static size_t gzip(unsigned char *out, size_t cap, const unsigned char *in, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) exit(1);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void write_pair(const char *file, const unsigned char *img, size_t ni,
                       const unsigned char *lab, size_t nl)
{
    const char *p = path_of("idx", file);
    FILE *f = fopen(p, "wb");
    unsigned char len[4] = {(unsigned char)ni, (unsigned char)(ni >> 8), (unsigned char)(ni >> 16),
                            (unsigned char)(ni >> 24)};
    if (!f || fwrite(len, 1, 4, f) != 4 || fwrite(img, 1, ni, f) != ni ||
        fwrite(lab, 1, nl, f) != nl || fclose(f) != 0) {
        perror(p);
        exit(1);
    }
}

static void idx_seeds(void)
{
    static unsigned char pixels[3 * 5 * 4], labels[3] = {0, 9, 4};
    static unsigned char img[64 + sizeof pixels], lab[64], gimg[256 + sizeof pixels], glab[256];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (unsigned char)(i * 37);
    uint32_t idims[3] = {3, 5, 4}, ldims[1] = {3};
    size_t ni = idx_file(img, 3, idims, pixels, sizeof pixels);
    size_t nl = idx_file(lab, 1, ldims, labels, sizeof labels);
    write_pair("plain", img, ni, lab, nl);
    size_t gi = gzip(gimg, sizeof gimg, img, ni), gl = gzip(glab, sizeof glab, lab, nl);
    write_pair("gzip", gimg, gi, glab, gl);
    write_pair("gzip_images_plain_labels", gimg, gi, lab, nl);
    uint32_t one[3] = {1, 1, 1}, lone[1] = {1};
    unsigned char px = 255, lb = 7;
    ni = idx_file(img, 3, one, &px, 1);
    nl = idx_file(lab, 1, lone, &lb, 1);
    write_pair("one_pixel", img, ni, lab, nl);
}

/* ---- model files: a tiny model and a tiny training checkpoint ---- */

static void model_seeds(void)
{
    cvae_model_config c = cvae_model_config_default();
    c.image_h = c.image_w = 8;
    c.num_labels = 3;
    c.latent = 2;
    c.enc_channels = 2;
    c.cond_channels = 1;
    c.enc2_channels = 2;
    c.dec_channels = 2;
    cvae_model *m;
    cvae_status s;
    if ((s = cvae_model_new(&c, &m))) die("tiny model", s);
    if ((s = cvae_model_save(m, path_of("model_file", "tiny_model")))) die("tiny model save", s);
    cvae_train_opts o = cvae_train_opts_default();
    cvae_trainer *tr;
    if ((s = cvae_trainer_new(m, &o, &tr))) die("trainer", s);
    float images[2 * 64];
    int32_t labels[2] = {0, 2};
    for (int i = 0; i < 2 * 64; i++) images[i] = (float)(i % 7) / 6.0f;
    if ((s = cvae_trainer_step(tr, images, labels, 2, NULL))) die("trainer step", s);
    if ((s = cvae_trainer_save(tr, 3, path_of("model_file", "tiny_checkpoint"))))
        die("checkpoint save", s);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    c.cond_decoder = 1;
    c.table_init = CVAE_TABLE_GABOR;
    c.table_trainable = 0;
    if ((s = cvae_model_new(&c, &m))) die("tiny conditional decoder", s);
    if ((s = cvae_model_save(m, path_of("model_file", "tiny_cond_decoder")))) die("save", s);
    cvae_model_free(m);
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
    idx_seeds();
    model_seeds();
    return 0;
}
