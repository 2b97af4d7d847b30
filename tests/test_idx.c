/* IDX datasets: the bundled digits (gzip and plain), hand-made bad files, batches. */
#define _POSIX_C_SOURCE 200809L
#include "failalloc.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cvae_test_idx_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static const char *const tmp_files[] = {
    "images", "labels", "bad", "bad.gz", "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
};

static int teardown_tmp(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tmp_files / sizeof tmp_files[0]; i++)
        unlink(tmp_path(tmp_files[i]));
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static unsigned char *read_raw(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Decompresses a whole gzip file. */
static unsigned char *gunzip_file(const char *path, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 20, len = 0;
    unsigned char *b = malloc(cap);
    int r;
    while ((r = gzread(f, b + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)r;
        if (len == cap) b = realloc(b, cap *= 2);
    }
    assert_int_equal(r, 0);
    gzclose(f);
    *n = len;
    return b;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A hand-made IDX file: magic, dims[0..ndim), then `payload` bytes of pattern data. */
static size_t make_idx(unsigned char *buf, uint32_t magic, int ndim, const uint32_t *dims,
                       size_t payload)
{
    put_be32(buf, magic);
    for (int d = 0; d < ndim; d++) put_be32(buf + 4 + 4 * d, dims[d]);
    size_t h = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < payload; i++) buf[h + i] = (unsigned char)((i * 37) % 10);
    return h + payload;
}

static void check_bundled(const cvae_dataset *ds, int64_t n, int64_t per_class)
{
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->rows, 28);
    assert_int_equal(ds->cols, 28);
    assert_int_equal(ds->num_classes, 10);
    int64_t counts[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        assert_true(ds->labels[i] >= 0 && ds->labels[i] < 10);
        counts[ds->labels[i]]++;
    }
    for (int k = 0; k < 10; k++) assert_int_equal(counts[k], per_class);
    /* real digits: mostly background, some full ink, ink in every image */
    int64_t ink = 0, full = 0;
    for (int64_t i = 0; i < n * 784; i++) ink += ds->images[i] > 0, full += ds->images[i] == 255;
    assert_true(full > 0);
    double frac = (double)ink / (double)(n * 784);
    assert_true(frac > 0.05 && frac < 0.4);
    for (int64_t i = 0; i < n; i++) {
        int64_t s = 0;
        for (int j = 0; j < 784; j++) s += ds->images[i * 784 + j];
        assert_true(s > 0);
    }
}

static void test_load_bundled(void **state)
{
    (void)state;
    cvae_dataset *train, *test, *dir_train;
    char ipath[512], lpath[512]; /* test_data_path returns a static buffer */
    snprintf(ipath, sizeof ipath, "%s", test_data_path("train-images-idx3-ubyte.gz"));
    snprintf(lpath, sizeof lpath, "%s", test_data_path("train-labels-idx1-ubyte.gz"));
    CVAE_OK_OR_FAIL(cvae_dataset_load_idx(ipath, lpath, &train));
    check_bundled(train, 4000, 400);
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &test));
    check_bundled(test, 1000, 100);
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &dir_train));
    assert_memory_equal(train->images, dir_train->images, 4000 * 784);
    assert_memory_equal(train->labels, dir_train->labels, 4000 * sizeof(int32_t));

    /* plain (uncompressed) copies read the same, directly and through load_dir's fallback */
    size_t ni, nl;
    unsigned char *pi = gunzip_file(ipath, &ni), *pl = gunzip_file(lpath, &nl);
    assert_int_equal(ni, 16 + 4000 * 784);
    assert_int_equal(nl, 8 + 4000);
    write_file(tmp_path("images"), pi, ni);
    write_file(tmp_path("labels"), pl, nl);
    write_file(tmp_path("train-images-idx3-ubyte"), pi, ni);
    write_file(tmp_path("train-labels-idx1-ubyte"), pl, nl);
    cvae_dataset *plain, *plain_dir;
    CVAE_OK_OR_FAIL(cvae_dataset_load_idx(tmp_path("images"), tmp_path("labels"), &plain));
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(tmpdir, "train", &plain_dir));
    for (int k = 0; k < 2; k++) {
        const cvae_dataset *d = k ? plain_dir : plain;
        assert_int_equal(d->n, 4000);
        assert_memory_equal(d->images, train->images, 4000 * 784);
        assert_memory_equal(d->labels, train->labels, 4000 * sizeof(int32_t));
        assert_memory_equal(d->images, pi + 16, 4000 * 784);
    }
    free(pi), free(pl);
    cvae_dataset_free(train), cvae_dataset_free(test), cvae_dataset_free(dir_train);
    cvae_dataset_free(plain), cvae_dataset_free(plain_dir);
    cvae_dataset_free(NULL);
}

/* Loading (images, labels) must fail with `want`, name `named`, leave *out alone, leak nothing. */
static void expect_load_error(cvae_status want, const char *images, const char *labels,
                              const char *named, const char *what)
{
    cvae_dataset *const sentinel = (cvae_dataset *)0x1;
    cvae_dataset *ds = sentinel;
    long before = failalloc_live();
    cvae_clear_error();
    cvae_status s = cvae_dataset_load_idx(images, labels, &ds);
    if (s != want)
        fail_msg("%s: got %s (%s), wanted %s", what, cvae_status_str(s), cvae_last_error(),
                 cvae_status_str(want));
    if (!strstr(cvae_last_error(), named))
        fail_msg("%s: message '%s' does not name %s", what, cvae_last_error(), named);
    assert_ptr_equal(ds, sentinel);
    assert_int_equal(failalloc_live(), before);
}

static void test_bad_files(void **state)
{
    (void)state;
    failalloc_install(0); /* counts live blocks, to show that failing loads leak nothing */
    char bad[256], badgz[256], img[256], lab[256];
    snprintf(bad, sizeof bad, "%s", tmp_path("bad"));
    snprintf(badgz, sizeof badgz, "%s", tmp_path("bad.gz"));
    snprintf(img, sizeof img, "%s", tmp_path("images"));
    snprintf(lab, sizeof lab, "%s", tmp_path("labels"));
    unsigned char ib[256], lb[64], buf[256];
    uint32_t idims[3] = {5, 3, 4}, ldims[1] = {5};
    size_t ni = make_idx(ib, 0x803, 3, idims, 60), nl = make_idx(lb, 0x801, 1, ldims, 5);
    write_file(img, ib, ni);
    write_file(lab, lb, nl);
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_idx(img, lab, &ds));
    assert_int_equal(ds->n, 5);
    assert_int_equal(ds->rows, 3);
    assert_int_equal(ds->cols, 4);
    assert_memory_equal(ds->images, ib + 16, 60);
    cvae_dataset_free(ds);
    assert_int_equal(failalloc_live(), 0);

    /* missing file */
    expect_load_error(CVAE_ERR_IO, tmp_path("nonexistent"), lab, "nonexistent", "missing images");
    expect_load_error(CVAE_ERR_IO, img, tmp_path("nonexistent"), "nonexistent", "missing labels");

    /* wrong magic, including images and labels swapped */
    const uint32_t magics[] = {0x802, 0x801, 0x903, 0x08030000, 0x00000d03};
    for (size_t m = 0; m < sizeof magics / sizeof magics[0]; m++) {
        memcpy(buf, ib, ni);
        put_be32(buf, magics[m]);
        write_file(bad, buf, ni);
        expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "image magic");
    }
    expect_load_error(CVAE_ERR_FORMAT, lab, img, lab, "swapped files");
    memcpy(buf, lb, nl);
    put_be32(buf, 0x803);
    write_file(bad, buf, nl);
    expect_load_error(CVAE_ERR_FORMAT, img, bad, bad, "label magic");

    /* truncated at every length, plain and gzip */
    for (size_t len = 0; len < ni; len++) {
        write_file(bad, ib, len);
        expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "truncated images");
    }
    for (size_t len = 0; len < nl; len++) {
        write_file(bad, lb, len);
        expect_load_error(CVAE_ERR_FORMAT, img, bad, bad, "truncated labels");
    }
    write_gz(badgz, ib, ni);
    size_t ngz;
    unsigned char *gz = read_raw(badgz, &ngz);
    CVAE_OK_OR_FAIL(cvae_dataset_load_idx(badgz, lab, &ds));
    cvae_dataset_free(ds);
    for (size_t len = 0; len < ngz; len++) {
        write_file(bad, gz, len);
        expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "truncated gzip images");
    }
    /* a corrupted compressed byte fails the data or checksum test */
    for (size_t pos = 12; pos < ngz; pos += 3) {
        memcpy(buf, gz, ngz);
        buf[pos] ^= 0x55;
        write_file(bad, buf, ngz);
        expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "corrupt gzip");
    }
    free(gz);

    /* a byte more than the header announces */
    memcpy(buf, ib, ni);
    buf[ni] = 7;
    write_file(bad, buf, ni + 1);
    expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "trailing byte");
    write_gz(badgz, buf, ni + 1);
    expect_load_error(CVAE_ERR_FORMAT, badgz, lab, badgz, "trailing byte, gzip");

    /* count mismatch */
    uint32_t l4[1] = {4};
    write_file(bad, buf, make_idx(buf, 0x801, 1, l4, 4));
    expect_load_error(CVAE_ERR_FORMAT, img, bad, bad, "count mismatch");

    /* zero or huge dims; a huge claimed size with little data is a truncation, not an OOM */
    const uint32_t dims[][3] = {
        {0, 3, 4},
        {5, 0, 4},
        {5, 3, 0},
        {5, 4097, 4},
        {5, 3, 5000},
        {0x80000001u, 1, 1},
        {0xffffffffu, 28, 28},
        {0x80000000u, 4096, 4096},
    };
    for (size_t k = 0; k < sizeof dims / sizeof dims[0]; k++) {
        write_file(bad, buf, make_idx(buf, 0x803, 3, dims[k], 60));
        expect_load_error(CVAE_ERR_FORMAT, bad, lab, bad, "bad dims");
    }
    uint32_t lhuge[1] = {0x80000000u}, lzero[1] = {0};
    write_file(bad, buf, make_idx(buf, 0x801, 1, lhuge, 5));
    expect_load_error(CVAE_ERR_FORMAT, img, bad, bad, "huge label count");
    write_file(bad, buf, make_idx(buf, 0x801, 1, lzero, 0));
    expect_load_error(CVAE_ERR_FORMAT, img, bad, bad, "zero label count");

    /* any byte value is a valid label */
    memcpy(buf, lb, nl);
    buf[8 + 2] = 200;
    write_file(bad, buf, nl);
    CVAE_OK_OR_FAIL(cvae_dataset_load_idx(img, bad, &ds));
    assert_int_equal(ds->num_classes, 201);
    assert_int_equal(ds->labels[2], 200);
    cvae_dataset_free(ds);

    cvae_dataset *const sentinel = (cvae_dataset *)0x1;
    ds = sentinel;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_idx(NULL, lab, &ds));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_idx(img, NULL, &ds));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_idx(img, lab, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_dir(NULL, "train", &ds));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_dir(tmpdir, "", &ds));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_dataset_load_dir(tmpdir, "../x", &ds));
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_dataset_load_dir(tmpdir, "nosuchsplit", &ds));
    assert_non_null(strstr(cvae_last_error(), "nosuchsplit-images-idx3-ubyte"));
    assert_ptr_equal(ds, sentinel);
    assert_int_equal(failalloc_live(), 0);
    failalloc_uninstall();
}

static void test_batch(void **state)
{
    (void)state;
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &ds));
    enum { B = 64, P = 784 };
    int64_t idx[B], rev[B];
    test_rng r = {31};
    for (int i = 0; i < B; i++) idx[i] = test_rand_int(&r, 0, ds->n - 1);
    for (int i = 0; i < B; i++) rev[i] = idx[B - 1 - i];
    float *x = malloc(sizeof(float) * B * P), *y = malloc(sizeof(float) * B * P);
    int32_t lab[B];

    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_NONE, 0, x, lab));
    for (int i = 0; i < B; i++) {
        assert_int_equal(lab[i], ds->labels[idx[i]]);
        for (int j = 0; j < P; j++) {
            uint8_t b = ds->images[idx[i] * P + j];
            assert_true(x[i * P + j] == (float)b / 255.0f ||
                        fabsf(x[i * P + j] - b / 255.0f) < 1e-7f);
        }
    }
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_THRESHOLD, 0, x, NULL));
    for (int i = 0; i < B; i++)
        for (int j = 0; j < P; j++) {
            uint8_t b = ds->images[idx[i] * P + j];
            assert_true(x[i * P + j] == (b / 255.0 > 0.5 ? 1.0f : 0.0f));
        }

    /* stochastic: bits, 0 and 255 are certain, same (seed, sample) -> same bits
     * wherever the sample sits in the batch, other seed -> other bits, mean ~ p */
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_STOCHASTIC, 77, x, NULL));
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, rev, B, CVAE_BINARIZE_STOCHASTIC, 77, y, NULL));
    double ones = 0, expect = 0, var = 0;
    for (int i = 0; i < B; i++) {
        assert_memory_equal(x + i * P, y + (B - 1 - i) * P, sizeof(float) * P);
        for (int j = 0; j < P; j++) {
            uint8_t b = ds->images[idx[i] * P + j];
            float v = x[i * P + j];
            assert_true(v == 0.0f || v == 1.0f);
            if (b == 0) assert_true(v == 0.0f);
            if (b == 255) assert_true(v == 1.0f);
            double p = b / 255.0;
            ones += v, expect += p, var += p * (1 - p);
        }
    }
    assert_true(fabs(ones - expect) < 5 * sqrt(var));
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_STOCHASTIC, 78, y, NULL));
    assert_true(memcmp(x, y, sizeof(float) * B * P) != 0);

    /* bad arguments: nothing written */
    memset(y, 0x7f, sizeof(float) * B * P);
    memcpy(x, y, sizeof(float) * B * P);
    int32_t lab2[B];
    memset(lab2, 0x7f, sizeof lab2);
    idx[B - 1] = ds->n;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_NONE, 0, x, lab2));
    idx[B - 1] = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_NONE, 0, x, lab2));
    idx[B - 1] = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_dataset_batch(ds, idx, B, (cvae_binarize)9, 0, x, lab2));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_dataset_batch(ds, idx, -1, CVAE_BINARIZE_NONE, 0, x, lab2));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_dataset_batch(NULL, idx, B, CVAE_BINARIZE_NONE, 0, x, lab2));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_dataset_batch(ds, NULL, B, CVAE_BINARIZE_NONE, 0, x, lab2));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_dataset_batch(ds, idx, B, CVAE_BINARIZE_NONE, 0, NULL, lab2));
    assert_memory_equal(x, y, sizeof(float) * B * P);
    for (int i = 0; i < B; i++) assert_int_equal(lab2[i], 0x7f7f7f7f);
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, NULL, 0, CVAE_BINARIZE_NONE, 0, NULL, NULL));
    free(x), free(y);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_bundled),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
