/* libFuzzer target: cvae_dataset_load_idx on arbitrary image and label files.
 * Input: a 4-byte little-endian length L, then L bytes of the images file and
 * the rest as the labels file (each plain or gzip-compressed; a short input
 * gives empty files). The reader opens paths through zlib, so each file is an
 * anonymous memory file (memfd) opened as /proc/self/fd/N: lib/io/idx.c is
 * fuzzed unchanged. Oracles: the sanitizers, and on success a dataset whose
 * every byte, label and batch is readable and consistent; on failure *out
 * untouched and a message. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvae/cvae.h"
#include "fuzz_util.h"


static volatile unsigned idx_sink;

static void idx_walk(const cvae_dataset *ds)
{
    CHECK(ds->n >= 1 && ds->rows >= 1 && ds->cols >= 1);
    CHECK(ds->num_classes >= 1 && ds->num_classes <= 256);
    const int64_t pix = (int64_t)ds->rows * ds->cols;
    unsigned acc = 0;
    for (int64_t i = 0; i < ds->n * pix; i++) acc += ds->images[i];
    for (int64_t i = 0; i < ds->n; i++) CHECK(ds->labels[i] >= 0 && ds->labels[i] < ds->num_classes);
    idx_sink = acc;
    int64_t sel[2] = {0, ds->n - 1};
    float *img = malloc((size_t)(2 * pix) * sizeof *img);
    int32_t lab[2];
    if (!img) return;
    for (int mode = 0; mode < 3; mode++) {
        CHECK(cvae_dataset_batch(ds, sel, 2, (cvae_binarize)mode, 7, img, lab) == CVAE_OK);
        for (int64_t j = 0; j < 2 * pix; j++) CHECK(img[j] >= 0.0f && img[j] <= 1.0f);
        CHECK(lab[1] == ds->labels[ds->n - 1]);
    }
    sel[1] = ds->n;
    CHECK(cvae_dataset_batch(ds, sel, 2, CVAE_BINARIZE_NONE, 0, img, lab) == CVAE_ERR_RANGE);
    free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t split = 0;
    if (size >= 4) {
        uint32_t len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                       (uint32_t)data[3] << 24;
        data += 4;
        size -= 4;
        split = len < size ? len : size;
    } else {
        size = 0;
    }
    char ipath[64], lpath[64];
    int ifd = fuzz_mem_file(data, split, ipath, sizeof ipath);
    int lfd = fuzz_mem_file(data + split, size - split, lpath, sizeof lpath);
    if (ifd >= 0 && lfd >= 0) {
        cvae_dataset *ds = (cvae_dataset *)(uintptr_t)0x1;
        cvae_clear_error();
        cvae_status s = cvae_dataset_load_idx(ipath, lpath, &ds);
        if (s == CVAE_OK) {
            idx_walk(ds);
            cvae_dataset_free(ds);
        } else {
            CHECK(ds == (cvae_dataset *)(uintptr_t)0x1);
            CHECK(cvae_last_error()[0] != '\0');
            CHECK(s == CVAE_ERR_FORMAT || s == CVAE_ERR_NOMEM);
        }
    }
    if (ifd >= 0) close(ifd);
    if (lfd >= 0) close(lfd);
    return 0;
}
