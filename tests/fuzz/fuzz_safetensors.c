/* libFuzzer target: cvae_safetensors_open_memory on arbitrary bytes, then every
 * accessor on whatever it accepted, and cvae_safetensors_load_params into a
 * parameter block built from the file's own shapes (so the copy path runs).
 * Oracles: the sanitizers, plus the documented guarantees checked below
 * (failure leaves *out untouched and sets a message; success serves consistent
 * names, shapes and data). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cvae/cvae.h"

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) abort();                                                                    \
    } while (0)

static volatile float st_sink;

static void st_walk(const cvae_st_file *f)
{
    int n = cvae_st_count(f);
    CHECK(n >= 0);
    CHECK(cvae_st_name(f, -1) == NULL && cvae_st_name(f, n) == NULL);
    cvae_params *p = NULL;
    int params_ok = cvae_params_new(&p) == CVAE_OK;
    for (int i = 0; i < n; i++) {
        const char *name = cvae_st_name(f, i);
        CHECK(name && name[0]);
        int ndim = 0;
        int64_t shape[CVAE_MAX_DIMS];
        const float *data = NULL;
        CHECK(cvae_st_find(f, name, &ndim, shape, &data) == CVAE_OK);
        CHECK(ndim >= 1 && ndim <= CVAE_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < CVAE_MAX_DIMS; d++) {
            CHECK(shape[d] >= 0);
            if (d >= ndim) CHECK(shape[d] == 1);
            numel *= shape[d];
        }
        CHECK((numel == 0) == (data == NULL));
        float acc = 0.0f;
        for (int64_t k = 0; k < numel; k++) acc += data[k]; /* every byte is readable */
        st_sink = acc;
        cvae_tensor *t;
        bool finite = true;
        for (int64_t k = 0; k < numel; k++) finite &= isfinite(data[k]) != 0;
        /* non-finite weights are refused by the loader, optimizer state is no parameter */
        if (params_ok && numel > 0 && (!finite || !strncmp(name, "optim.", 6) ||
                                       cvae_params_add(p, name, ndim, shape, 1, &t) != CVAE_OK))
            params_ok = 0;
    }
    if (params_ok && cvae_params_count(p) == n && n > 0) {
        CHECK(cvae_safetensors_load_params(f, p, CVAE_LOAD_STRICT, NULL) == CVAE_OK);
        for (int i = 0; i < n; i++) {
            const cvae_tensor *t = cvae_params_at(p, i);
            const float *data;
            CHECK(cvae_st_find(f, cvae_params_name(p, i), NULL, NULL, &data) == CVAE_OK);
            CHECK(memcmp(t->data, data, (size_t)t->size * sizeof(float)) == 0);
        }
    }
    cvae_params_free(p);
    CHECK(cvae_st_find(f, "", NULL, NULL, NULL) == CVAE_ERR_RANGE);

    int nm = cvae_st_meta_count(f);
    CHECK(nm >= 1); /* crc32 is mandatory */
    CHECK(cvae_st_meta_key(f, -1) == NULL && cvae_st_meta_key(f, nm) == NULL);
    for (int i = 0; i < nm; i++) {
        const char *key = cvae_st_meta_key(f, i);
        CHECK(key);
        const char *v = cvae_st_meta(f, key);
        CHECK(v);
        st_sink = (float)strlen(v);
    }
    CHECK(cvae_st_meta(f, "crc32") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cvae_st_file *f = (cvae_st_file *)(uintptr_t)0x1;
    /* An exact-size heap copy: ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    cvae_clear_error();
    cvae_status s = cvae_safetensors_open_memory(copy, size, &f);
    if (s == CVAE_OK) {
        memset(copy, 0xA5, size); /* the file must own copies of everything */
        st_walk(f);
        cvae_safetensors_close(f);
    } else {
        CHECK(f == (cvae_st_file *)(uintptr_t)0x1);
        CHECK(cvae_last_error()[0] != '\0');
        CHECK(s == CVAE_ERR_FORMAT || s == CVAE_ERR_UNSUPPORTED || s == CVAE_ERR_NOMEM);
    }
    free(copy);
    return 0;
}
