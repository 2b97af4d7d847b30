/* linear: fast path (cblas) against the plain reference, and gradient checks. */
#include "ops/linear.h"
#include "testutil.h"

#include <stdlib.h>

static cvae_status linear_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    (void)ctx;
    return cvae_op_linear(t, in[0], in[1], in[2], out);
}

static void test_linear_matches_reference(void **state)
{
    (void)state;
    test_rng r = {1};
    for (int trial = 0; trial < 20; trial++) {
        int64_t n = test_rand_int(&r, 1, 17), in = test_rand_int(&r, 1, 40), out = test_rand_int(&r, 1, 23);
        int64_t sx[2] = {n, in}, sw[2] = {out, in}, sb[1] = {out}, sy[2] = {n, out};
        cvae_tensor *x = test_tensor(&r, 2, sx), *w = test_tensor(&r, 2, sw), *b = test_tensor(&r, 1, sb);
        cvae_tensor *dy = test_tensor(&r, 2, sy);
        float *y1 = malloc(sizeof(float) * (size_t)(n * out)), *y2 = malloc(sizeof(float) * (size_t)(n * out));
        const cvae__linear_dims d = {n, in, out};
        cvae__linear_forward(y1, x->data, w->data, trial % 2 ? b->data : NULL, &d);
        cvae__linear_forward_ref(y2, x->data, w->data, trial % 2 ? b->data : NULL, &d);
        test_assert_close(y1, y2, n * out, 1e-5, 1e-6, "linear forward");
        float *g1 = calloc((size_t)(n * in + out * in + out), sizeof(float));
        float *g2 = calloc((size_t)(n * in + out * in + out), sizeof(float));
        cvae__linear_backward(g1, g1 + n * in, g1 + n * in + out * in, dy->data, x->data, w->data, &d);
        cvae__linear_backward_ref(g2, g2 + n * in, g2 + n * in + out * in, dy->data, x->data, w->data, &d);
        test_assert_close(g1, g2, n * in + out * in + out, 1e-5, 1e-5, "linear backward");
        free(y1), free(y2), free(g1), free(g2);
        cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(b), cvae_tensor_free(dy);
    }
}

static void test_linear_gradcheck(void **state)
{
    (void)state;
    test_rng r = {2};
    for (int trial = 0; trial < 5; trial++) {
        int64_t n = test_rand_int(&r, 1, 6), in = test_rand_int(&r, 1, 9), out = test_rand_int(&r, 1, 7);
        int64_t sx[2] = {n, in}, sw[2] = {out, in}, sb[1] = {out};
        cvae_tensor *in3[3] = {test_tensor(&r, 2, sx), test_tensor(&r, 2, sw), test_tensor(&r, 1, sb)};
        int check[3] = {1, 1, 1};
        test_gradcheck(linear_fn, NULL, in3, check, 3, NULL, "linear");
        for (int i = 0; i < 3; i++) cvae_tensor_free(in3[i]);
    }
}

static void test_linear_bad_shapes(void **state)
{
    (void)state;
    test_rng r = {3};
    int64_t sx[2] = {4, 5}, sw[2] = {3, 6}, sb[1] = {2};
    cvae_tensor *x = test_tensor(&r, 2, sx), *w = test_tensor(&r, 2, sw), *b = test_tensor(&r, 1, sb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_linear(t, x, w, NULL, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    int64_t sw2[2] = {3, 5};
    cvae_tensor *w2 = test_tensor(&r, 2, sw2);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_linear(t, x, w2, b, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_linear(t, NULL, w2, NULL, &y));
    CVAE_OK_OR_FAIL(cvae_op_linear(t, x, w2, NULL, &y));
    assert_int_equal(y->shape[0], 4);
    assert_int_equal(y->shape[1], 3);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(w2), cvae_tensor_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_matches_reference),
        cmocka_unit_test(test_linear_gradcheck),
        cmocka_unit_test(test_linear_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
