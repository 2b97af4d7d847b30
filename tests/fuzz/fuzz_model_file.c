/* libFuzzer target: cvae_model_load and cvae_trainer_load on arbitrary bytes
 * (safetensors parsing, then the configuration, tensor names and shapes, and
 * for checkpoints the training state). The bytes are an anonymous memory file
 * (memfd) opened as /proc/self/fd/N, so the loaders run unchanged. Oracles:
 * the sanitizers; on failure *out untouched and a message; on success a model
 * whose configuration validates and whose every parameter is readable and
 * finite, which saves and reloads to the same weights (bit for bit). */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvae/cvae.h"
#include "fuzz_util.h"


static volatile float model_sink;

static void check_model(cvae_model *m)
{
    CHECK(cvae_model_config_validate(cvae_model_get_config(m)) == CVAE_OK);
    cvae_params *p = cvae_model_params(m);
    const float *d = cvae_params_data(p);
    float acc = 0.0f;
    for (int64_t i = 0; i < cvae_params_numel(p); i++) {
        CHECK(isfinite(d[i]));
        acc += d[i];
    }
    model_sink = acc;
}

static void check_reload(cvae_model *m)
{
    /* The saver writes a temporary file next to the path, syncs and renames it:
     * it needs a real directory, preferably in memory. */
    char path[64];
    snprintf(path, sizeof path, "%s/cvae-fuzz-%d.safetensors",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    CHECK(cvae_model_save(m, path) == CVAE_OK);
    cvae_model *r = NULL;
    CHECK(cvae_model_load(path, &r) == CVAE_OK);
    unlink(path);
    cvae_params *a = cvae_model_params(m), *b = cvae_model_params(r);
    CHECK(cvae_params_numel(a) == cvae_params_numel(b));
    CHECK(memcmp(cvae_params_data(a), cvae_params_data(b),
                 (size_t)cvae_params_numel(a) * sizeof(float)) == 0);
    cvae_model_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_mem_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    cvae_model *m = (cvae_model *)(uintptr_t)0x1;
    cvae_clear_error();
    cvae_status s = cvae_model_load(path, &m);
    if (s == CVAE_OK) {
        check_model(m);
        check_reload(m);
        cvae_model_free(m);
    } else {
        CHECK(m == (cvae_model *)(uintptr_t)0x1);
        CHECK(cvae_last_error()[0] != '\0');
        CHECK(s == CVAE_ERR_FORMAT || s == CVAE_ERR_SHAPE || s == CVAE_ERR_UNSUPPORTED ||
              s == CVAE_ERR_NUMERIC || s == CVAE_ERR_NOMEM);
    }
    cvae_model *cm = (cvae_model *)(uintptr_t)0x1;
    cvae_trainer *tr = (cvae_trainer *)(uintptr_t)0x1;
    int64_t epoch = -1;
    s = cvae_trainer_load(path, &cm, &tr, &epoch);
    if (s == CVAE_OK) {
        CHECK(epoch >= 0);
        check_model(cm);
        cvae_trainer_free(tr);
        cvae_model_free(cm);
    } else {
        CHECK(cm == (cvae_model *)(uintptr_t)0x1 && tr == (cvae_trainer *)(uintptr_t)0x1);
        CHECK(cvae_last_error()[0] != '\0');
        CHECK(s == CVAE_ERR_FORMAT || s == CVAE_ERR_SHAPE || s == CVAE_ERR_UNSUPPORTED ||
              s == CVAE_ERR_NUMERIC || s == CVAE_ERR_NOMEM);
    }
    close(fd);
    return 0;
}
