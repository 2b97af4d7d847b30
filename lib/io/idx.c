/* IDX files (MNIST's format) through zlib, which reads gzip and plain files alike.
 * Layout: 4-byte big-endian magic 0x000008<ndim> (0x08 = unsigned bytes), ndim
 * big-endian uint32 extents, then the bytes in row-major order. */
#include <errno.h>
#include <stdio.h>
#include <zlib.h>

#include "core/internal.h"
#include "cvae/io.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_SIDE 4096u
#define IDX_MAX_N ((uint32_t)1 << 31)
#define IDX_FIRST_CHUNK ((size_t)1 << 20)

static const char *const FN = "cvae_dataset_load_idx";

/* Reads up to n bytes; the count read, or -1 on a zlib error. */
static int64_t gz_read_upto(gzFile f, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got < ((size_t)1 << 30) ? n - got : ((size_t)1 << 30);
        int r = gzread(f, buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int64_t)got;
}

/* zlib's error message without the "<path>: " prefix it adds; *err gets the code. */
static const char *gz_msg(gzFile f, const char *path, int *err)
{
    const char *msg = gzerror(f, err);
    if (!msg) return "zlib error";
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* The error for a short read of `what`: corrupt compressed data or a truncated file. */
static cvae_status short_read(gzFile f, const char *path, const char *what, size_t want,
                              int64_t got)
{
    int err = Z_OK;
    const char *msg = gz_msg(f, path, &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END))
        return cvae__error(CVAE_ERR_FORMAT,
                           "%s: %s: bad or truncated compressed data in the %s (%s)", FN, path,
                           what, msg);
    return cvae__error(CVAE_ERR_FORMAT, "%s: %s: truncated: the %s needs %zu bytes, found %lld", FN,
                       path, what, want, (long long)got);
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads `bytes` payload bytes into a buffer grown as data arrives, so a header
 * claiming a huge size costs memory only for the bytes really present. */
static cvae_status read_payload(gzFile f, const char *path, size_t bytes, uint8_t **out)
{
    size_t cap = bytes < IDX_FIRST_CHUNK ? bytes : IDX_FIRST_CHUNK, got = 0;
    uint8_t *buf = cvae__malloc(cap);
    if (!buf) return cvae__nomem(FN, cap);
    for (;;) {
        int64_t r = gz_read_upto(f, buf + got, cap - got);
        if (r < 0 || (size_t)r < cap - got) {
            cvae_status s =
                short_read(f, path, "data", bytes, r < 0 ? r : (int64_t)(got + (size_t)r));
            cvae__free(buf);
            return s;
        }
        got = cap;
        if (got == bytes) break;
        size_t next = cap > bytes / 2 ? bytes : 2 * cap;
        uint8_t *nb = cvae__realloc(buf, next);
        if (!nb) {
            cvae__free(buf);
            return cvae__nomem(FN, next);
        }
        buf = nb;
        cap = next;
    }
    *out = buf;
    return CVAE_OK;
}

/* Reads an open IDX file of unsigned bytes with `ndim` extents into dims[] and *data. */
static cvae_status idx_read_open(gzFile f, const char *path, uint32_t magic, int ndim,
                                 uint32_t *dims, uint8_t **data)
{
    const char *kind = ndim == 3 ? "images" : "labels";
    unsigned char hdr[16];
    int64_t r = gz_read_upto(f, hdr, 4);
    if (r != 4) return short_read(f, path, "header", 4, r);
    if (be32(hdr) != magic)
        return cvae__error(CVAE_ERR_FORMAT, "%s: %s: bad magic 0x%08x (IDX %s have 0x%08x)", FN,
                           path, be32(hdr), kind, magic);
    size_t dim_bytes = 4 * (size_t)ndim;
    r = gz_read_upto(f, hdr + 4, dim_bytes);
    if (r != (int64_t)dim_bytes)
        return short_read(f, path, "header", 4 + dim_bytes, r < 0 ? r : 4 + r);
    for (int d = 0; d < ndim; d++) dims[d] = be32(hdr + 4 + 4 * d);
    if (dims[0] < 1 || dims[0] > IDX_MAX_N)
        return cvae__error(CVAE_ERR_FORMAT, "%s: %s: count %u outside [1, 2^31]", FN, path,
                           dims[0]);
    for (int d = 1; d < ndim; d++)
        if (dims[d] < 1 || dims[d] > IDX_MAX_SIDE)
            return cvae__error(CVAE_ERR_FORMAT, "%s: %s: image side %u outside [1, %u]", FN, path,
                               dims[d], IDX_MAX_SIDE);
    int64_t total = 1;
    for (int d = 0; d < ndim; d++)
        if (!cvae__mul_ok(total, (int64_t)dims[d], &total) || (uint64_t)total > SIZE_MAX)
            return cvae__error(CVAE_ERR_NOMEM, "%s: %s: data size overflows", FN, path);
    uint8_t *buf = NULL;
    CVAE_TRY(read_payload(f, path, (size_t)total, &buf));
    unsigned char extra;
    r = gz_read_upto(f, &extra, 1);
    int err = Z_OK;
    const char *msg = gz_msg(f, path, &err);
    if (r != 0 || (err != Z_OK && err != Z_STREAM_END)) {
        cvae__free(buf);
        if (r == 1)
            return cvae__error(CVAE_ERR_FORMAT, "%s: %s: trailing bytes after the %lld data bytes",
                               FN, path, (long long)total);
        return cvae__error(CVAE_ERR_FORMAT, "%s: %s: bad compressed data at the end (%s)", FN, path,
                           msg);
    }
    *data = buf;
    return CVAE_OK;
}

static cvae_status idx_read(const char *path, uint32_t magic, int ndim, uint32_t *dims,
                            uint8_t **data)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return cvae__error(CVAE_ERR_IO, "%s: cannot open %s: %s", FN, path,
                           errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1u << 17);
    cvae_status s = idx_read_open(f, path, magic, ndim, dims, data);
    gzclose(f);
    return s;
}

cvae_status cvae_dataset_load_idx(const char *images_path, const char *labels_path,
                                  cvae_dataset **out)
{
    CVAE_CHECK_NULL(images_path, FN);
    CVAE_CHECK_NULL(labels_path, FN);
    CVAE_CHECK_NULL(out, FN);
    uint32_t idims[3], ldims[1];
    uint8_t *images = NULL, *lbytes = NULL;
    CVAE_TRY(idx_read(images_path, IDX_IMAGES_MAGIC, 3, idims, &images));
    cvae_status s = idx_read(labels_path, IDX_LABELS_MAGIC, 1, ldims, &lbytes);
    if (s) {
        cvae__free(images);
        return s;
    }
    cvae_dataset *ds = NULL;
    int32_t *labels = NULL;
    if (idims[0] != ldims[0]) {
        s = cvae__error(CVAE_ERR_FORMAT, "%s: %s holds %u images but %s holds %u labels", FN,
                        images_path, idims[0], labels_path, ldims[0]);
        goto fail;
    }
    ds = cvae__calloc(1, sizeof *ds);
    labels = cvae__malloc((size_t)ldims[0] * sizeof *labels);
    if (!ds || !labels) {
        s = cvae__nomem(FN, (size_t)ldims[0] * sizeof *labels);
        goto fail;
    }
    int max_label = 0;
    for (uint32_t i = 0; i < ldims[0]; i++) {
        labels[i] = lbytes[i];
        if (lbytes[i] > max_label) max_label = lbytes[i];
    }
    cvae__free(lbytes);
    ds->n = idims[0];
    ds->rows = (int)idims[1];
    ds->cols = (int)idims[2];
    ds->images = images;
    ds->labels = labels;
    ds->num_classes = max_label + 1;
    *out = ds;
    return CVAE_OK;
fail:
    cvae__free(ds);
    cvae__free(labels);
    cvae__free(images);
    cvae__free(lbytes);
    return s;
}

static bool can_open(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* dir/<split>-<kind>.gz when it can be opened, else dir/<split>-<kind>. */
static cvae_status pick_path(const char *dir, const char *split, const char *kind, char **out)
{
    static const char *fn = "cvae_dataset_load_dir";
    size_t len = strlen(dir) + strlen(split) + strlen(kind) + 8;
    char *path = cvae__malloc(len);
    if (!path) return cvae__nomem(fn, len);
    snprintf(path, len, "%s/%s-%s.gz", dir, split, kind);
    if (!can_open(path)) {
        snprintf(path, len, "%s/%s-%s", dir, split, kind);
        if (!can_open(path)) {
            cvae_status s = cvae__error(CVAE_ERR_IO, "%s: cannot open %s (nor %s.gz): %s", fn, path,
                                        path, strerror(errno));
            cvae__free(path);
            return s;
        }
    }
    *out = path;
    return CVAE_OK;
}

cvae_status cvae_dataset_load_dir(const char *dir, const char *split, cvae_dataset **out)
{
    static const char *fn = "cvae_dataset_load_dir";
    CVAE_CHECK_NULL(dir, fn);
    CVAE_CHECK_NULL(split, fn);
    CVAE_CHECK_NULL(out, fn);
    if (!split[0] || strchr(split, '/'))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: bad split name '%s' (e.g. \"train\", \"t10k\")", fn, split);
    char *ipath = NULL, *lpath = NULL;
    cvae_status s = pick_path(dir, split, "images-idx3-ubyte", &ipath);
    if (!s) s = pick_path(dir, split, "labels-idx1-ubyte", &lpath);
    if (!s) s = cvae_dataset_load_idx(ipath, lpath, out);
    cvae__free(ipath);
    cvae__free(lpath);
    return s;
}

void cvae_dataset_free(cvae_dataset *ds)
{
    if (!ds) return;
    cvae__free(ds->images);
    cvae__free(ds->labels);
    cvae__free(ds);
}

cvae_status cvae_dataset_batch(const cvae_dataset *ds, const int64_t *idx, int64_t n,
                               cvae_binarize mode, uint64_t seed, float *images, int32_t *labels)
{
    static const char *fn = "cvae_dataset_batch";
    CVAE_CHECK_NULL(ds, fn);
    if (n < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: negative count %lld", fn, (long long)n);
    if (n == 0) return CVAE_OK;
    CVAE_CHECK_NULL(idx, fn);
    CVAE_CHECK_NULL(images, fn);
    if (!ds->images || !ds->labels || ds->n < 1 || ds->rows < 1 || ds->cols < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: the dataset is empty or was not loaded", fn);
    if (mode != CVAE_BINARIZE_NONE && mode != CVAE_BINARIZE_THRESHOLD &&
        mode != CVAE_BINARIZE_STOCHASTIC)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown binarize mode %d", fn, (int)mode);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return cvae__error(CVAE_ERR_RANGE,
                               "%s: index %lld out of range [0, %lld) at position %lld", fn,
                               (long long)idx[i], (long long)ds->n, (long long)i);
    const int64_t pix = (int64_t)ds->rows * ds->cols;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = ds->images + idx[i] * pix;
        float *dst = images + i * pix;
        switch (mode) {
        case CVAE_BINARIZE_NONE:
            for (int64_t j = 0; j < pix; j++) dst[j] = (float)src[j] * (1.0f / 255.0f);
            break;
        case CVAE_BINARIZE_THRESHOLD:
            for (int64_t j = 0; j < pix; j++) dst[j] = src[j] > 127 ? 1.0f : 0.0f;
            break;
        case CVAE_BINARIZE_STOCHASTIC: {
            cvae_rng r = cvae_rng_make(seed, (uint64_t)idx[i]);
            for (int64_t j = 0; j < pix; j++)
                dst[j] = cvae_rng_uniform(&r) < (float)src[j] * (1.0f / 255.0f) ? 1.0f : 0.0f;
            break;
        }
        }
        if (labels) labels[i] = ds->labels[idx[i]];
    }
    return CVAE_OK;
}
