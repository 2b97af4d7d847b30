/* im2col/col2im: against a naive gather/scatter, over a batch and over index lists.
 * (Geometry: test_conv_core.c.) */
#include "ops/conv/lower.h"
#include "ops/conv/lower_avx512.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x value read by tap (c, i, j) at output (oy, ox) of image img, or 0 in the padding. */
static float tap(const float *x, int64_t img, int64_t c, int64_t i, int64_t j, int64_t oy,
                 int64_t ox, const cvae__conv_geom *g)
{
    int64_t iy = oy * g->o.stride_h - g->o.pad_top + i * g->o.dilation_h;
    int64_t ix = ox * g->o.stride_w - g->o.pad_left + j * g->o.dilation_w;
    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return 0.0f;
    return x[((img * g->c + c) * g->h + iy) * g->w + ix];
}

static void naive_im2col(float *cols, const float *x, const int64_t *idx, int64_t n,
                         const cvae__conv_geom *g)
{
    int64_t ld = n * g->ho * g->wo;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                for (int64_t s = 0; s < n; s++)
                    for (int64_t oy = 0; oy < g->ho; oy++)
                        for (int64_t ox = 0; ox < g->wo; ox++)
                            cols[((c * g->kh + i) * g->kw + j) * ld + (s * g->ho + oy) * g->wo +
                                 ox] = tap(x, idx ? idx[s] : s, c, i, j, oy, ox, g);
}

static void naive_col2im(float *x, const float *cols, const int64_t *idx, int64_t n,
                         const cvae__conv_geom *g)
{
    int64_t ld = n * g->ho * g->wo;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                for (int64_t s = 0; s < n; s++)
                    for (int64_t oy = 0; oy < g->ho; oy++)
                        for (int64_t ox = 0; ox < g->wo; ox++) {
                            int64_t iy = oy * g->o.stride_h - g->o.pad_top + i * g->o.dilation_h;
                            int64_t ix = ox * g->o.stride_w - g->o.pad_left + j * g->o.dilation_w;
                            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                            int64_t img = idx ? idx[s] : s;
                            x[((img * g->c + c) * g->h + iy) * g->w + ix] +=
                                cols[((c * g->kh + i) * g->kw + j) * ld + (s * g->ho + oy) * g->wo +
                                     ox];
                        }
}

/* An extent in 1..max; when max > 9, half the time one of the widths the lowering has
 * straight-line code for (rows of 4, 7, 8, 14, 16, 28 and their stride-2 halves) or a neighbour. */
static int64_t random_extent(test_rng *r, int64_t max)
{
    static const int64_t special[] = {7, 8, 13, 14, 15, 16, 28, 29, 32, 33, 56, 57};
    const int n = (int)(sizeof special / sizeof special[0]);
    if (max > 9 && test_rand_int(r, 0, 1)) {
        int64_t e = special[test_rand_int(r, 0, n - 1)];
        if (e <= max) return e;
    }
    return test_rand_int(r, 1, max);
}

/* Random geometry; stride 1..3, padding 0..2 per side, dilation 1..2, kernel 1..5,
 * extents 1..max; when max > 9, half the geometries are stride 2 without dilation (the
 * phase lowering's stride-2 rows). */
static void random_geom(test_rng *r, cvae__conv_geom *g, int64_t max)
{
    for (;;) {
        cvae_conv_opts o = {(int)test_rand_int(r, 1, 3),
                            (int)test_rand_int(r, 1, 3),
                            (int)test_rand_int(r, 0, 2),
                            (int)test_rand_int(r, 0, 2),
                            (int)test_rand_int(r, 0, 2),
                            (int)test_rand_int(r, 0, 2),
                            (int)test_rand_int(r, 1, 2),
                            (int)test_rand_int(r, 1, 2),
                            0,
                            0,
                            CVAE_ACT_NONE,
                            0.0f};
        if (max > 9 && test_rand_int(r, 0, 1))
            o.stride_h = o.stride_w = 2, o.dilation_h = o.dilation_w = 1;
        int64_t c = test_rand_int(r, 1, 3), h = random_extent(r, max), w = random_extent(r, max);
        int64_t kh = test_rand_int(r, 1, 5), kw = test_rand_int(r, 1, 5);
        if (cvae__conv_geom_init(g, "test", c, h, w, kh, kw, &o) == CVAE_OK) return;
    }
}

static void test_im2col_matches_naive(void **state)
{
    (void)state;
    test_rng r = {11};
    for (int trial = 0; trial < 400; trial++) {
        cvae__conv_geom g;
        random_geom(&r, &g, trial < 300 ? 9 : 60); /* small planes, then wide rows */
        int64_t total = test_rand_int(&r, 1, 4), n = total, idx[4], *pidx = NULL;
        if (trial % 2) { /* a random subset of the images, in random order */
            n = test_rand_int(&r, 1, total);
            for (int64_t s = 0; s < total; s++) idx[s] = s;
            for (int64_t s = total - 1; s > 0; s--) {
                int64_t k = test_rand_int(&r, 0, s), tmp = idx[s];
                idx[s] = idx[k], idx[k] = tmp;
            }
            pidx = idx;
        }
        int64_t xs = total * g.c * g.h * g.w, cs = g.c * g.kh * g.kw * n * g.ho * g.wo;
        float *x = malloc(sizeof(float) * (size_t)xs), *c1 = malloc(sizeof(float) * (size_t)cs);
        float *c2 = malloc(sizeof(float) * (size_t)cs);
        test_fill(&r, x, xs, -1, 1, 0.05f);
        for (int64_t k = 0; k < cs; k++) c1[k] = NAN; /* every entry must be written */
        cvae__im2col(c1, x, pidx, n, &g);
        naive_im2col(c2, x, pidx, n, &g);
        test_assert_close(c1, c2, cs, 0, 0, "im2col");

        float *x1 = malloc(sizeof(float) * (size_t)xs), *x2 = malloc(sizeof(float) * (size_t)xs);
        test_fill(&r, c1, cs, -1, 1, 0.05f);
        test_fill(&r, x1, xs, -1, 1, 0.05f);
        memcpy(x2, x1, sizeof(float) * (size_t)xs);
        cvae__col2im(x1, c1, pidx, n, &g);
        naive_col2im(x2, c1, pidx, n, &g);
        test_assert_close(x1, x2, xs, 1e-6, 1e-6, "col2im");

        /* adjoint: <im2col(x), C> == <x, col2im(C)> */
        memset(x1, 0, sizeof(float) * (size_t)xs);
        cvae__col2im(x1, c1, pidx, n, &g);
        cvae__im2col(c2, x, pidx, n, &g);
        double a = 0, b = 0, m = 0;
        for (int64_t k = 0; k < cs; k++)
            a += (double)c2[k] * c1[k], m += fabs((double)c2[k] * c1[k]);
        for (int64_t k = 0; k < xs; k++) b += (double)x[k] * x1[k];
        if (fabs(a - b) > 1e-5 * (m + 1)) fail_msg("im2col adjoint: %.9g vs %.9g", a, b);
        free(x), free(c1), free(c2), free(x1), free(x2);
    }
}

/* The AVX-512 path of im2col and col2im (lower_avx512.h) against the plain loops: the same bits
 * on random geometries, half of them stride 2 (the path's own) with planes of up to 60 (those
 * past 30 take the plain path either way), batches past its blocks of 16 samples. */
static void test_avx512_lowering_matches_plain(void **state)
{
    (void)state;
    if (!cvae__lower_avx512()) {
        print_message("no AVX-512 on this CPU: the plain loops only\n");
        return;
    }
    test_rng r = {29};
    for (int trial = 0; trial < 300; trial++) {
        cvae__conv_geom g;
        random_geom(&r, &g, 60);
        const int64_t n = trial % 10 ? test_rand_int(&r, 1, 3) : test_rand_int(&r, 15, 20);
        const int64_t xs = n * g.c * g.h * g.w, cs = g.c * g.kh * g.kw * n * g.ho * g.wo;
        float *x = malloc(sizeof(float) * (size_t)xs), *x1 = malloc(sizeof(float) * (size_t)xs);
        float *x2 = malloc(sizeof(float) * (size_t)xs), *c1 = malloc(sizeof(float) * (size_t)cs);
        float *c2 = malloc(sizeof(float) * (size_t)cs);
        test_fill(&r, x, xs, -1, 1, 0.05f);
        cvae__lower_set_avx512(false);
        cvae__im2col(c1, x, NULL, n, &g);
        cvae__lower_set_avx512(true);
        cvae__im2col(c2, x, NULL, n, &g);
        assert_memory_equal(c1, c2, sizeof(float) * (size_t)cs);
        test_fill(&r, c1, cs, -1, 1, 0.05f);
        memcpy(x1, x, sizeof(float) * (size_t)xs), memcpy(x2, x, sizeof(float) * (size_t)xs);
        cvae__lower_set_avx512(false);
        cvae__col2im(x1, c1, NULL, n, &g);
        cvae__lower_set_avx512(true);
        cvae__col2im(x2, c1, NULL, n, &g);
        assert_memory_equal(x1, x2, sizeof(float) * (size_t)xs);
        free(x), free(x1), free(x2), free(c1), free(c2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im2col_matches_naive),
        cmocka_unit_test(test_avx512_lowering_matches_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
