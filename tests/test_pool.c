/* avg_pool2d / max_pool2d: fast path against references, ties, gradient checks, bad arguments. */
#include "ops/pool.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_args {
    int k, stride, is_max;
} pool_args;

static cvae_status pool_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const pool_args *a = ctx;
    return a->is_max ? cvae_op_max_pool2d(t, in[0], a->k, a->stride, out)
                     : cvae_op_avg_pool2d(t, in[0], a->k, a->stride, out);
}

/* Distinct values 0.05 apart in random order (no near-ties for finite differences). */
static void fill_distinct(test_rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = 0.05f * (float)(i - n / 2) + 0.025f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t k = test_rand_int(r, 0, i);
        float t = x[i];
        x[i] = x[k], x[k] = t;
    }
}

static cvae__pool_geom random_geom(test_rng *r)
{
    cvae__pool_geom g;
    g.planes = test_rand_int(r, 1, 6), g.k = test_rand_int(r, 1, 4), g.stride = test_rand_int(r, 1, 3);
    g.h = test_rand_int(r, g.k, 11), g.w = test_rand_int(r, g.k, 11);
    g.ho = (g.h - g.k) / g.stride + 1, g.wo = (g.w - g.k) / g.stride + 1;
    return g;
}

static void test_pool_matches_reference(void **state)
{
    (void)state;
    test_rng r = {41};
    for (int trial = 0; trial < 100; trial++) {
        cvae__pool_geom g = random_geom(&r);
        int64_t nx = g.planes * g.h * g.w, ny = g.planes * g.ho * g.wo;
        float *x = malloc(sizeof(float) * (size_t)nx), *y1 = malloc(sizeof(float) * (size_t)ny);
        float *y2 = malloc(sizeof(float) * (size_t)ny), *dy = malloc(sizeof(float) * (size_t)ny);
        float *dx1 = calloc((size_t)nx, sizeof(float)), *dx2 = calloc((size_t)nx, sizeof(float));
        int32_t *am = malloc(sizeof(int32_t) * (size_t)ny);
        test_fill(&r, x, nx, -1, 1, 0.05f);
        if (trial % 3 == 0) /* many ties */
            for (int64_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f) * 0.5f;
        test_fill(&r, dy, ny, -1, 1, 0.05f);
        cvae__avg_pool2d_forward(y1, x, &g);
        cvae__avg_pool2d_forward_ref(y2, x, &g);
        test_assert_close(y1, y2, ny, 1e-5, 1e-6, "avg_pool2d forward");
        cvae__avg_pool2d_backward(dx1, dy, &g);
        cvae__avg_pool2d_backward_ref(dx2, dy, &g);
        test_assert_close(dx1, dx2, nx, 1e-5, 1e-6, "avg_pool2d backward");
        memset(dx1, 0, sizeof(float) * (size_t)nx), memset(dx2, 0, sizeof(float) * (size_t)nx);
        cvae__max_pool2d_forward(y1, am, x, &g);
        cvae__max_pool2d_forward_ref(y2, x, &g);
        test_assert_close(y1, y2, ny, 0, 0, "max_pool2d forward");
        cvae__max_pool2d_backward(dx1, dy, am, &g);
        cvae__max_pool2d_backward_ref(dx2, dy, x, &g);
        test_assert_close(dx1, dx2, nx, 1e-6, 1e-6, "max_pool2d backward");
        free(x), free(y1), free(y2), free(dy), free(dx1), free(dx2), free(am);
    }
}

/* Ties go to the first maximum in row-major window order; a NaN is the maximum. */
static void test_max_pool_ties_and_nan(void **state)
{
    (void)state;
    int64_t sx[4] = {1, 1, 2, 4};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
    const float v[8] = {1, 3, 2, 2, 3, 0, 2, NAN};
    memcpy(x->data, v, sizeof v);
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    CVAE_OK_OR_FAIL(cvae_op_max_pool2d(t, x, 2, 2, &y));
    assert_float_equal(y->data[0], 3.0f, 0);
    assert_true(isnan(y->data[1]));
    const float dy[2] = {10, 20};
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    const float want[8] = {0, 10, 0, 0, 0, 0, 0, 20};
    test_assert_close(x->grad, want, 8, 0, 0, "max_pool2d tie gradient");
    cvae_tape_free(t);
}

/* Tolerances: step 1e-2, |g - g_fd| <= 1e-3 + 1e-3 max(|g|, |g_fd|); max pooling on
 * distinct values 0.05 apart, so the finite differences never cross a tie. */
static void test_pool_gradcheck(void **state)
{
    (void)state;
    test_rng r = {42};
    for (int trial = 0; trial < 12; trial++) {
        cvae__pool_geom g = random_geom(&r);
        int64_t n = test_rand_int(&r, 1, 2), sx[4] = {n, g.planes, g.h, g.w};
        cvae_tensor *x = test_tensor(&r, 4, sx);
        pool_args a = {(int)g.k, (int)g.stride, trial % 2};
        if (a.is_max) fill_distinct(&r, x->data, x->size);
        int check[1] = {1};
        test_gradcheck(pool_fn, &a, &x, check, 1, NULL, a.is_max ? "max_pool2d" : "avg_pool2d");
        cvae_tensor_free(x);
    }
}

static void test_pool_bad_arguments(void **state)
{
    (void)state;
    test_rng r = {43};
    int64_t sx[4] = {2, 3, 4, 5}, s3[3] = {3, 4, 5};
    cvae_tensor *x = test_tensor(&r, 4, sx), *x3 = test_tensor(&r, 3, s3);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y = (cvae_tensor *)0x1;
    for (int is_max = 0; is_max < 2; is_max++) {
        cvae_status (*op)(cvae_tape *, cvae_tensor *, int, int, cvae_tensor **) =
            is_max ? cvae_op_max_pool2d : cvae_op_avg_pool2d;
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, op(NULL, x, 2, 2, &y));
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, op(t, NULL, 2, 2, &y));
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, op(t, x, 2, 2, NULL));
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, op(t, x, 0, 2, &y));
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, op(t, x, 2, 0, &y));
        CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, op(t, x, 5, 1, &y));
        CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, op(t, x3, 2, 2, &y));
        assert_ptr_equal(y, (cvae_tensor *)0x1);
        CVAE_OK_OR_FAIL(op(t, x, 2, 2, &y));
        assert_int_equal(y->shape[2], 2);
        assert_int_equal(y->shape[3], 2);
        y = (cvae_tensor *)0x1;
    }
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(x3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_matches_reference),
        cmocka_unit_test(test_max_pool_ties_and_nan),
        cmocka_unit_test(test_pool_gradcheck),
        cmocka_unit_test(test_pool_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
