/* matmul: cblas fast path against the plain loops for all four transpose combinations,
 * gradient checks, and bad shapes. */
#include "ops/linear.h"
#include "testutil.h"

#include <stdlib.h>

typedef struct mm_case {
    int ta, tb;
} mm_case;

static cvae_status matmul_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    mm_case *c = ctx;
    return cvae_op_matmul(t, in[0], in[1], c->ta, c->tb, out);
}

static void test_matmul_matches_reference(void **state)
{
    (void)state;
    test_rng r = {41};
    for (int trial = 0; trial < 24; trial++) {
        int ta = trial & 1, tb = (trial >> 1) & 1;
        int64_t m = test_rand_int(&r, 1, 17), k = test_rand_int(&r, 1, 33),
                n = test_rand_int(&r, 1, 19);
        int64_t sa[2] = {ta ? k : m, ta ? m : k}, sb[2] = {tb ? n : k, tb ? k : n}, sy[2] = {m, n};
        cvae_tensor *a = test_tensor(&r, 2, sa), *b = test_tensor(&r, 2, sb),
                    *dy = test_tensor(&r, 2, sy);
        float *y1 = malloc(sizeof(float) * (size_t)(m * n)),
              *y2 = malloc(sizeof(float) * (size_t)(m * n));
        const cvae__matmul_dims d = {ta, tb, m, k, n};
        cvae__matmul_forward(y1, a->data, b->data, &d);
        cvae__matmul_forward_ref(y2, a->data, b->data, &d);
        test_assert_close(y1, y2, m * n, 1e-5, 1e-5, "matmul forward");
        int64_t ng = m * k + k * n;
        float *g1 = calloc((size_t)ng, sizeof(float)), *g2 = calloc((size_t)ng, sizeof(float));
        for (int64_t i = 0; i < ng; i++) g1[i] = g2[i] = 0.25f; /* backward accumulates */
        cvae__matmul_backward(g1, g1 + m * k, dy->data, a->data, b->data, &d);
        cvae__matmul_backward_ref(g2, g2 + m * k, dy->data, a->data, b->data, &d);
        test_assert_close(g1, g2, ng, 1e-5, 1e-5, "matmul backward");
        free(y1), free(y2), free(g1), free(g2);
        cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(dy);
    }
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3); matmul is bilinear, so the 5-point stencil is
 * exact up to float rounding. */
static void test_matmul_gradcheck(void **state)
{
    (void)state;
    test_rng r = {42};
    for (int trial = 0; trial < 8; trial++) {
        mm_case c = {trial & 1, (trial >> 1) & 1};
        int64_t m = trial < 4 ? 1 : test_rand_int(&r, 2, 6), k = test_rand_int(&r, 1, 7),
                n = test_rand_int(&r, 1, 5);
        int64_t sa[2] = {c.ta ? k : m, c.ta ? m : k}, sb[2] = {c.tb ? n : k, c.tb ? k : n};
        cvae_tensor *in[2] = {test_tensor(&r, 2, sa), test_tensor(&r, 2, sb)};
        int check[2] = {1, trial != 5};
        test_gradcheck(matmul_fn, &c, in, check, 2, NULL, "matmul");
        cvae_tensor_free(in[0]), cvae_tensor_free(in[1]);
    }
}

static void test_matmul_bad_shapes(void **state)
{
    (void)state;
    test_rng r = {43};
    int64_t s23[2] = {2, 3}, s24[2] = {2, 4}, s3[1] = {3};
    cvae_tensor *a = test_tensor(&r, 2, s23), *b = test_tensor(&r, 2, s24),
                *v = test_tensor(&r, 1, s3);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_matmul(t, a, b, 0, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_matmul(t, a, b, 0, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_matmul(t, a, v, 0, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_matmul(t, NULL, b, 0, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_matmul(t, a, b, 1, 0, NULL));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_matmul(t, a, b, 1, 0, &y)); /* [3, 2] [2, 4] */
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 4);
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_reference),
        cmocka_unit_test(test_matmul_gradcheck),
        cmocka_unit_test(test_matmul_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
