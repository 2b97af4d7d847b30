/* upsample_nearest2d: fast path against the reference, gradient check, bad arguments. */
#include "ops/upsample.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static cvae_status up_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    return cvae_op_upsample_nearest2d(t, in[0], *(const int *)ctx, out);
}

static void test_upsample_matches_reference(void **state)
{
    (void)state;
    test_rng r = {51};
    for (int trial = 0; trial < 50; trial++) {
        int64_t p = test_rand_int(&r, 1, 5), h = test_rand_int(&r, 1, 7), w = test_rand_int(&r, 1, 7);
        int64_t s = test_rand_int(&r, 1, 4), nx = p * h * w, ny = nx * s * s;
        float *x = malloc(sizeof(float) * (size_t)nx), *y1 = malloc(sizeof(float) * (size_t)ny);
        float *y2 = malloc(sizeof(float) * (size_t)ny), *dx1 = malloc(sizeof(float) * (size_t)nx);
        float *dx2 = malloc(sizeof(float) * (size_t)nx);
        test_fill(&r, x, nx, -1, 1, 0.05f);
        test_fill(&r, dx1, nx, -1, 1, 0.05f);
        memcpy(dx2, dx1, sizeof(float) * (size_t)nx);
        cvae__upsample_nearest2d_forward(y1, x, p, h, w, s);
        cvae__upsample_nearest2d_forward_ref(y2, x, p, h, w, s);
        test_assert_close(y1, y2, ny, 0, 0, "upsample forward");
        test_fill(&r, y1, ny, -1, 1, 0.05f);
        cvae__upsample_nearest2d_backward(dx1, y1, p, h, w, s);
        cvae__upsample_nearest2d_backward_ref(dx2, y1, p, h, w, s);
        test_assert_close(dx1, dx2, nx, 1e-5, 1e-6, "upsample backward");
        free(x), free(y1), free(y2), free(dx1), free(dx2);
    }
}

/* Tolerances: step 1e-2, |g - g_fd| <= 1e-3 + 1e-3 max(|g|, |g_fd|). */
static void test_upsample_gradcheck(void **state)
{
    (void)state;
    test_rng r = {52};
    for (int scale = 1; scale <= 3; scale++) {
        int64_t sx[4] = {2, 2, 3, 5};
        cvae_tensor *x = test_tensor(&r, 4, sx);
        int check[1] = {1};
        test_gradcheck(up_fn, &scale, &x, check, 1, NULL, "upsample_nearest2d");
        cvae_tensor_free(x);
    }
}

static void test_upsample_bad_arguments(void **state)
{
    (void)state;
    test_rng r = {53};
    int64_t sx[4] = {1, 2, 3, 3}, s2[2] = {3, 3};
    cvae_tensor *x = test_tensor(&r, 4, sx), *x2 = test_tensor(&r, 2, s2);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_upsample_nearest2d(NULL, x, 2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_upsample_nearest2d(t, NULL, 2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_upsample_nearest2d(t, x, 2, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_upsample_nearest2d(t, x, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_upsample_nearest2d(t, x2, 2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_upsample_nearest2d(t, x, 2000000000, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_upsample_nearest2d(t, x, 2, &y));
    assert_int_equal(y->shape[2], 6);
    assert_int_equal(y->shape[3], 6);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(x2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsample_matches_reference),
        cmocka_unit_test(test_upsample_gradcheck),
        cmocka_unit_test(test_upsample_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
