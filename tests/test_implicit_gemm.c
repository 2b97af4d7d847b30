/* The implicit lowering (lib/ops/conv/lower.h): B panels packed straight from images must hold
 * bit for bit what the built-in GEMM's packing makes of im2col's cols, so that
 * the implicit GEMM gives the same bits as im2col + GEMM. Random geometries (strides, paddings
 * on each side, kernel extents, odd image sizes), random blocks of the lowering cutting through
 * channels, taps, samples and output rows, every panel width of the kernels, partial panels;
 * then whole products through every kernel with tiny and real blocking, and the conv2d op
 * (batches crossing its chunk) against im2col + cvae__sgemm. The comparisons are bitwise
 * (memcmp): the packing only moves data, the products are the same calls on the same panels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/gemm.h"
#include "ops/conv/core.h"
#include "ops/conv/lower.h"
#include "ops/conv/lower_avx512.h"
#include "testutil.h"

/* A random geometry cvae__lowered_fits takes, with n images x (filled) and idx (a random
 * permutation, or NULL). */
typedef struct setup {
    cvae__conv_geom g;
    int64_t n, rows, cols; /* the lowering is [rows, cols] */
    float *x;
    int64_t *idx;
} setup;

static void make_setup(test_rng *r, setup *s, int64_t max_n)
{
    for (;;) {
        cvae_conv_opts o = cvae_conv_opts_make((int)test_rand_int(r, 1, 3), 0);
        o.stride_w = (int)test_rand_int(r, 1, 3);
        o.pad_top = (int)test_rand_int(r, 0, 2), o.pad_bottom = (int)test_rand_int(r, 0, 2);
        o.pad_left = (int)test_rand_int(r, 0, 2), o.pad_right = (int)test_rand_int(r, 0, 2);
        const int64_t c = test_rand_int(r, 1, 5), h = test_rand_int(r, 1, 13),
                      w = test_rand_int(r, 1, 13), kh = test_rand_int(r, 1, 4),
                      kw = test_rand_int(r, 1, 4);
        if (cvae__conv_geom_init(&s->g, "test", c, h, w, kh, kw, &o) != CVAE_OK) continue;
        assert_true(cvae__lowered_fits(&s->g));
        break;
    }
    const cvae__conv_geom *g = &s->g;
    s->n = test_rand_int(r, 1, max_n);
    s->rows = g->c * g->kh * g->kw, s->cols = s->n * g->ho * g->wo;
    const int64_t xn = s->n * g->c * g->h * g->w;
    s->x = malloc(sizeof(float) * (size_t)xn);
    assert_non_null(s->x);
    test_fill(r, s->x, xn, -1.0f, 1.0f, 0.01f);
    s->idx = NULL;
    if (test_rand_int(r, 0, 1)) {
        s->idx = malloc(sizeof(int64_t) * (size_t)s->n);
        assert_non_null(s->idx);
        for (int64_t i = 0; i < s->n; i++) s->idx[i] = i;
        for (int64_t i = s->n - 1; i > 0; i--) {
            const int64_t j = test_rand_int(r, 0, i), t = s->idx[i];
            s->idx[i] = s->idx[j], s->idx[j] = t;
        }
    }
}

static void free_setup(setup *s)
{
    free(s->x), free(s->idx);
}

static float *lowered_explicit(const setup *s)
{
    float *cols = malloc(sizeof(float) * (size_t)(s->rows * s->cols));
    assert_non_null(cols);
    cvae__im2col(cols, s->x, s->idx, s->n, &s->g);
    return cols;
}

static const int widths[] = {6, 8, 12, 16, 32, 5};

/* Random blocks of cols, each panel width: the packer's panels against cvae__gemm_pack_b's, over
 * a destination first filled with NaN. Odd trials keep the lowering to its plain loops (on CPUs
 * with AVX-512, even ones may take its AVX-512 path, lower_avx512.h). */
static void test_panels_match_pack_b(void **state)
{
    (void)state;
    test_rng r = {1701};
    for (int trial = 0; trial < 300; trial++) {
        setup s;
        cvae__lower_set_avx512(trial % 2 == 0);
        make_setup(&r, &s, 6);
        float *cols = lowered_explicit(&s);
        const cvae__lowered L = {s.x, s.idx, s.n, &s.g};
        for (int rep = 0; rep < 3; rep++) {
            const int nr = widths[test_rand_int(&r, 0, 5)];
            const int64_t p0 = test_rand_int(&r, 0, s.rows - 1),
                          j0 = test_rand_int(&r, 0, s.cols - 1);
            const int64_t kc = test_rand_int(&r, 1, s.rows - p0),
                          nc = test_rand_int(&r, 1, s.cols - j0);
            const size_t len = (size_t)((nc + nr - 1) / nr * nr * kc);
            float *want = malloc(sizeof(float) * len), *got = malloc(sizeof(float) * len);
            assert_non_null(want), assert_non_null(got);
            for (size_t i = 0; i < len; i++) want[i] = got[i] = NAN;
            cvae__gemm_pack_b(nr, false, cols + p0 * s.cols + j0, s.cols, kc, nc, want);
            cvae__pack_lowered(&L, p0, kc, j0, nc, nr, got);
            if (memcmp(want, got, sizeof(float) * len))
                fail_msg("trial %d: C %lld H %lld W %lld k %lldx%lld stride %dx%d pads "
                         "%d %d %d %d n %lld, block [%lld +%lld) x [%lld +%lld) nr %d differs",
                         trial, (long long)s.g.c, (long long)s.g.h, (long long)s.g.w,
                         (long long)s.g.kh, (long long)s.g.kw, s.g.o.stride_h, s.g.o.stride_w,
                         s.g.o.pad_top, s.g.o.pad_bottom, s.g.o.pad_left, s.g.o.pad_right,
                         (long long)s.n, (long long)p0, (long long)kc, (long long)j0, (long long)nc,
                         nr);
            free(want), free(got);
        }
        free(cols);
        free_setup(&s);
    }
    cvae__lower_set_avx512(true);
}

/* cvae__pack_cn: random images [n, c, hw] and blocks, each panel width, against cvae__gemm_pack_b
 * of the gathered CN matrix. */
static void test_cn_view_matches_pack_b(void **state)
{
    (void)state;
    test_rng r = {1811};
    for (int trial = 0; trial < 200; trial++) {
        const int64_t n = test_rand_int(&r, 1, 5), c = test_rand_int(&r, 1, 9),
                      hw = test_rand_int(&r, 1, 70), cols = n * hw;
        float *x = malloc(sizeof(float) * (size_t)(n * c * hw)),
              *cn = malloc(sizeof(float) * (size_t)(n * c * hw));
        assert_non_null(x), assert_non_null(cn);
        test_fill(&r, x, n * c * hw, -1.0f, 1.0f, 0.0f);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t s = 0; s < n; s++)
                memcpy(cn + ch * cols + s * hw, x + (s * c + ch) * hw, sizeof(float) * (size_t)hw);
        const cvae__cn_view v = {x, c, hw};
        const int nr = widths[test_rand_int(&r, 0, 5)];
        const int64_t p0 = test_rand_int(&r, 0, c - 1), j0 = test_rand_int(&r, 0, cols - 1);
        const int64_t kc = test_rand_int(&r, 1, c - p0), nc = test_rand_int(&r, 1, cols - j0);
        const size_t len = (size_t)((nc + nr - 1) / nr * nr * kc);
        float *want = malloc(sizeof(float) * len), *got = malloc(sizeof(float) * len);
        assert_non_null(want), assert_non_null(got);
        for (size_t i = 0; i < len; i++) want[i] = got[i] = NAN;
        cvae__gemm_pack_b(nr, false, cn + p0 * cols + j0, cols, kc, nc, want);
        cvae__pack_cn(&v, p0, kc, j0, nc, nr, got);
        assert_memory_equal(want, got, sizeof(float) * len);
        free(x), free(cn), free(want), free(got);
    }
}

static const char *const kernel_names[] = {"portable", "avx2", "avx512"};

/* Whole products through the blocked driver, y = w lowering, implicit against cvae__gemm_run on
 * cols, each kernel, with tiny blocks (many cuts) and the kernel's own. */
static void test_products_bitwise(void **state)
{
    (void)state;
    test_rng r = {1702};
    for (size_t ki = 0; ki < sizeof kernel_names / sizeof kernel_names[0]; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        for (int trial = 0; trial < 60; trial++) {
            setup s;
            make_setup(&r, &s, 5);
            float *cols = lowered_explicit(&s);
            const cvae__lowered L = {s.x, s.idx, s.n, &s.g};
            const cvae__gemm_opts tiny = {(int)test_rand_int(&r, 1, 9), k->mr,
                                          (int)test_rand_int(&r, 1, 3) * k->nr, CVAE__GEMM_PACKED,
                                          NULL};
            const cvae__gemm_opts *opts = trial % 2 ? &tiny : NULL;
            const int64_t m = test_rand_int(&r, 1, 2 * k->mr + 1);
            /* forward: [m, cols] = w [m, rows] cols */
            float *w = malloc(sizeof(float) * (size_t)(m * s.rows));
            float *y0 = malloc(sizeof(float) * (size_t)(m * s.cols));
            float *y1 = malloc(sizeof(float) * (size_t)(m * s.cols));
            assert_non_null(w), assert_non_null(y0), assert_non_null(y1);
            test_fill(&r, w, m * s.rows, -1.0f, 1.0f, 0.01f);
            cvae__gemm_run(k, opts, false, false, m, s.cols, s.rows, 1.0f, w, s.rows, cols, s.cols,
                           0.0f, y0, s.cols);
            cvae__gemm_run_packer(k, opts, false, m, s.cols, s.rows, 1.0f, w, s.rows,
                                  cvae__pack_lowered, &L, 0.0f, y1, s.cols);
            assert_memory_equal(y0, y1, sizeof(float) * (size_t)(m * s.cols));
            free(w), free(y0), free(y1), free(cols);
            free_setup(&s);
        }
    }
}

/* cvae__lowered_gemm (whichever path cvae__sgemm's backend gives) against im2col + cvae__sgemm. */
static void test_lowered_gemm_entry(void **state)
{
    (void)state;
    test_rng r = {1703};
    for (int trial = 0; trial < 40; trial++) {
        setup s;
        make_setup(&r, &s, 9);
        float *cols = lowered_explicit(&s),
              *scratch = malloc(sizeof(float) * (size_t)(s.rows * s.cols));
        const int64_t m = test_rand_int(&r, 1, 40);
        float *w = malloc(sizeof(float) * (size_t)(m * s.rows));
        float *y0 = malloc(sizeof(float) * (size_t)(m * s.cols));
        float *y1 = malloc(sizeof(float) * (size_t)(m * s.cols));
        assert_non_null(scratch), assert_non_null(w), assert_non_null(y0), assert_non_null(y1);
        test_fill(&r, w, m * s.rows, -1.0f, 1.0f, 0.01f);
        cvae__sgemm(false, false, m, s.cols, s.rows, 1.0f, w, s.rows, cols, s.cols, 0.0f, y0,
                    s.cols);
        cvae__lowered_gemm(y1, w, NULL, m, s.x, s.idx, s.n, &s.g, scratch);
        assert_memory_equal(y0, y1, sizeof(float) * (size_t)(m * s.cols));
        free(cols), free(scratch), free(w), free(y0), free(y1);
        free_setup(&s);
    }
}

/* The conv2d op's output against im2col + cvae__sgemm + bias by chunks, the way the op ran
 * before the implicit lowering: bitwise, on batches that cross the chunk size. */
static void test_conv2d_op_bitwise(void **state)
{
    (void)state;
    test_rng r = {1704};
    for (int trial = 0; trial < 12; trial++) {
        const int64_t c = test_rand_int(&r, 4, 12), hgt = test_rand_int(&r, 12, 21),
                      cout = test_rand_int(&r, 1, 40), n = test_rand_int(&r, 1, 30);
        cvae_conv_opts o =
            cvae_conv_opts_make((int)test_rand_int(&r, 1, 2), (int)test_rand_int(&r, 0, 1));
        cvae__conv_geom g;
        assert_int_equal(cvae__conv_geom_init(&g, "test", c, hgt, hgt, 3, 3, &o), CVAE_OK);
        const int64_t ckk = c * 9, hw = g.ho * g.wo;
        const int64_t x_shape[4] = {n, c, hgt, hgt}, w_shape[4] = {cout, c, 3, 3},
                      b_shape[1] = {cout};
        cvae_tensor *x = test_tensor(&r, 4, x_shape), *w = test_tensor(&r, 4, w_shape),
                    *b = test_tensor(&r, 1, b_shape), *y;
        cvae_tape *t;
        assert_int_equal(cvae_tape_new(&t), CVAE_OK);
        assert_int_equal(cvae_op_conv2d(t, x, w, b, &o, &y), CVAE_OK);
        const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
        float *cols = malloc(sizeof(float) * (size_t)(ckk * chunk * hw));
        float *cn = malloc(sizeof(float) * (size_t)(cout * chunk * hw));
        assert_non_null(cols), assert_non_null(cn);
        for (int64_t s0 = 0; s0 < n; s0 += chunk) {
            const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
            cvae__im2col(cols, x->data + s0 * c * hgt * hgt, NULL, ns, &g);
            cvae__sgemm(false, false, cout, pc, ckk, 1.0f, w->data, ckk, cols, pc, 0.0f, cn, pc);
            for (int64_t s = 0; s < ns; s++)
                for (int64_t ch = 0; ch < cout; ch++)
                    for (int64_t q = 0; q < hw; q++) {
                        const float want = cn[ch * pc + s * hw + q] + b->data[ch];
                        const float got = y->data[((s0 + s) * cout + ch) * hw + q];
                        if (memcmp(&want, &got, sizeof want))
                            fail_msg("trial %d n %lld (chunk %lld): y[%lld, %lld, %lld] = %.9g, "
                                     "want %.9g",
                                     trial, (long long)n, (long long)chunk, (long long)(s0 + s),
                                     (long long)ch, (long long)q, got, want);
                    }
        }
        free(cols), free(cn);
        cvae_tape_free(t);
        cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panels_match_pack_b), cmocka_unit_test(test_cn_view_matches_pack_b),
        cmocka_unit_test(test_products_bitwise),    cmocka_unit_test(test_lowered_gemm_entry),
        cmocka_unit_test(test_conv2d_op_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
