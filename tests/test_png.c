/* PNG output: grids and images read back with libpng's own reader, pixel for
 * pixel; bad arguments; atomic replacement when libpng fails mid-write. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failalloc.h"
#include "testutil.h"

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cvae-png-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (remove(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static int count_tmp(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

/* Reads a PNG with libpng's simplified API into a malloc'd buffer of `format`. */
static uint8_t *read_png(const char *path, uint32_t format, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) fail_msg("read %s: %s", path, img.message);
    img.format = format;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL))
        fail_msg("read %s: %s", path, img.message);
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

static uint8_t expect_byte(float v)
{
    double c = v != v ? 0.0 : v < 0 ? 0.0 : v > 1 ? 1.0 : v;
    return (uint8_t)(int)(c * 255.0 + 0.5);
}

static void test_grid_roundtrip(void **state)
{
    (void)state;
    test_rng r = {21};
    for (int trial = 0; trial < 6; trial++) {
        int64_t n = test_rand_int(&r, 1, 11), h = test_rand_int(&r, 1, 9),
                w = test_rand_int(&r, 1, 9);
        int cols = (int)test_rand_int(&r, 1, 5), pad = (int)test_rand_int(&r, 0, 3);
        float *x = malloc(sizeof(float) * (size_t)(n * h * w));
        test_fill(&r, x, n * h * w, -0.3f, 1.3f, 0.0f);
        x[0] = trial % 2 ? NAN : 0.5f; /* NaN maps to 0 */
        uint8_t *g = NULL;
        int gw = 0, gh = 0;
        CVAE_OK_OR_FAIL(cvae_image_grid(x, n, h, w, cols, pad, &g, &gw, &gh));
        int64_t c = cols < n ? cols : n, rows = (n + c - 1) / c;
        assert_int_equal(gw, c * (w + pad) + pad);
        assert_int_equal(gh, rows * (h + pad) + pad);
        /* every pixel: an image value or the pad value */
        for (int y = 0; y < gh; y++)
            for (int xx = 0; xx < gw; xx++) {
                int64_t cy = (y - pad) / (h + pad), cx = (xx - pad) / (w + pad);
                int64_t iy = (y - pad) % (h + pad), ix = (xx - pad) % (w + pad);
                int64_t i = cy * c + cx;
                uint8_t want = CVAE_GRID_PAD_VALUE;
                if (y >= pad && xx >= pad && iy < h && ix < w && i < n)
                    want = expect_byte(x[(i * h + iy) * w + ix]);
                if (g[y * gw + xx] != want)
                    fail_msg("trial %d pixel (%d, %d): %d, wanted %d", trial, xx, y, g[y * gw + xx],
                             want);
            }
        const char *path = tmp_path("grid.png");
        CVAE_OK_OR_FAIL(cvae_png_write_grid(path, x, n, h, w, cols, pad));
        int rw, rh;
        uint8_t *back = read_png(path, PNG_FORMAT_GRAY, &rw, &rh);
        assert_int_equal(rw, gw);
        assert_int_equal(rh, gh);
        assert_memory_equal(back, g, (size_t)gw * (size_t)gh);
        free(back);
        cvae_free_buffer(g);
        free(x);
    }
    assert_int_equal(count_tmp(), 0);
}

static void test_gray_and_rgb_roundtrip(void **state)
{
    (void)state;
    test_rng r = {22};
    int w = 37, h = 23;
    uint8_t *px = malloc((size_t)(w * h * 3));
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)test_rand_u32(&r);
    int rw, rh;
    CVAE_OK_OR_FAIL(cvae_png_write_gray(tmp_path("g.png"), w, h, px));
    uint8_t *back = read_png(tmp_path("g.png"), PNG_FORMAT_GRAY, &rw, &rh);
    assert_int_equal(rw, w);
    assert_int_equal(rh, h);
    assert_memory_equal(back, px, (size_t)(w * h));
    free(back);
    CVAE_OK_OR_FAIL(cvae_png_write_rgb(tmp_path("c.png"), w, h, px));
    back = read_png(tmp_path("c.png"), PNG_FORMAT_RGB, &rw, &rh);
    assert_int_equal(rw, w);
    assert_int_equal(rh, h);
    assert_memory_equal(back, px, (size_t)(w * h * 3));
    free(back);
    free(px);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    uint8_t px[4] = {0};
    float img[4] = {0};
    const char *p = tmp_path("bad.png");
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_gray(NULL, 2, 2, px));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_gray(p, 2, 2, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_gray("", 2, 2, px));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_gray(p, 0, 2, px));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_rgb(p, 2, -1, px));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_rgb(p, 1000001, 1, px));
    assert_int_equal(access(p, F_OK), -1);

    uint8_t *out = (uint8_t *)0x1;
    int ow = -5, oh = -5;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(NULL, 1, 2, 2, 1, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 0, 2, 2, 1, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 0, 2, 1, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, -2, 1, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 0, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 1, -1, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 1, 0, NULL, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 1, 0, &out, NULL, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 1, 0, &out, &ow, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_image_grid(img, 1, 2, (int64_t)1 << 40, 1, 0, &out, &ow, &oh));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_image_grid(img, 1, 2, 2, 1, 600000, &out, &ow, &oh));
    assert_ptr_equal(out, (uint8_t *)0x1);
    assert_int_equal(ow, -5);
    assert_int_equal(oh, -5);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_grid(NULL, img, 1, 2, 2, 1, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_png_write_grid(p, img, 1, 2, 2, 0, 0));

    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_png_write_gray(tmpdir, 2, 2, px)); /* a directory */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir.png", tmpdir);
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_png_write_gray(missing, 2, 2, px));
    assert_non_null(strstr(cvae_last_error(), missing));
    assert_int_equal(count_tmp(), 0);
    cvae_free_buffer(NULL);
}

/* libpng fails mid-write (file size limit): its longjmp path frees
 * everything, the old file stays, no temporary file is left. */
static void test_failed_write_keeps_old_file(void **state)
{
    (void)state;
    const char *path = tmp_path("keep.png");
    uint8_t small[6] = {1, 2, 3, 4, 5, 6};
    CVAE_OK_OR_FAIL(cvae_png_write_gray(path, 3, 2, small));
    test_rng r = {23};
    int w = 700, h = 700;
    uint8_t *noise = malloc((size_t)(w * h * 3));
    for (int i = 0; i < w * h * 3; i++) noise[i] = (uint8_t)test_rand_u32(&r);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 65536;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cvae_status s = cvae_png_write_rgb(path, w, h, noise);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    if (s != CVAE_ERR_IO) fail_msg("got %s, wanted i/o error", cvae_status_str(s));
    assert_non_null(strstr(cvae_last_error(), path));
    assert_non_null(strstr(cvae_last_error(), "libpng")); /* failed inside libpng: longjmp path */
    assert_int_equal(count_tmp(), 0);
    int rw, rh;
    uint8_t *back = read_png(path, PNG_FORMAT_GRAY, &rw, &rh);
    assert_int_equal(rw, 3);
    assert_int_equal(rh, 2);
    assert_memory_equal(back, small, 6);
    free(back);
    free(noise);
}

/* Every allocation failure (ours or libpng's, through the library allocator)
 * gives CVAE_ERR_NOMEM, frees everything, leaves no temporary file and keeps
 * the old file. */
static void test_allocation_failures_do_not_leak(void **state)
{
    (void)state;
    float img[3 * 5 * 4];
    test_rng r = {24};
    test_fill(&r, img, 60, 0, 1, 0);
    const char *path = tmp_path("oom.png");
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_png_write_grid(path, img, 3, 5, 4, 2, 1));
    long n = failalloc_calls();
    assert_true(n > 2); /* some failures are exercised */
    assert_int_equal(failalloc_live(), 0);
    uint8_t small[6] = {1, 2, 3, 4, 5, 6};
    CVAE_OK_OR_FAIL(cvae_png_write_gray(path, 3, 2, small));
    for (long k = 1; k <= n; k++) {
        failalloc_arm(k);
        cvae_status s = cvae_png_write_grid(path, img, 3, 5, 4, 2, 1);
        if (!failalloc_fired()) fail_msg("allocation %ld of %ld never happened", k, n);
        if (s != CVAE_ERR_NOMEM)
            fail_msg("failing allocation %ld of %ld: %s: %s", k, n, cvae_status_str(s), cvae_last_error());
        assert_int_equal(failalloc_live(), 0);
        assert_int_equal(count_tmp(), 0);
        int rw, rh;
        uint8_t *back = read_png(path, PNG_FORMAT_GRAY, &rw, &rh);
        assert_int_equal(rw, 3);
        assert_int_equal(rh, 2);
        assert_memory_equal(back, small, 6);
        free(back);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_roundtrip),
        cmocka_unit_test(test_gray_and_rgb_roundtrip),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test_setup_teardown(test_allocation_failures_do_not_leak, failalloc_setup,
                                        failalloc_teardown),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
