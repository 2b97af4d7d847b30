/* elementwise ops: gradient checks on random shapes (including batch 1), values against the
 * formulas, bias_add's double-accumulated bias gradient, and bad inputs. */
#include "ops/elementwise.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

typedef enum { ADD, SUB, MUL, SCALE, BIAS, N_OP } op_kind;
static const char *op_names[N_OP] = {"add", "sub", "mul", "scale", "bias_add"};

static cvae_status ew_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    switch (*(op_kind *)ctx) {
    case ADD:
        return cvae_op_add(t, in[0], in[1], out);
    case SUB:
        return cvae_op_sub(t, in[0], in[1], out);
    case MUL:
        return cvae_op_mul(t, in[0], in[1], out);
    case SCALE:
        return cvae_op_scale(t, in[0], -1.7f, out);
    default:
        return cvae_op_bias_add(t, in[0], in[1], out);
    }
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3); all five are at most bilinear. */
static void test_elementwise_gradcheck(void **state)
{
    (void)state;
    test_rng r = {51};
    for (int op = 0; op < N_OP; op++)
        for (int trial = 0; trial < 5; trial++) {
            int64_t shape[4] = {trial == 0 ? 1 : test_rand_int(&r, 2, 5), test_rand_int(&r, 1, 5),
                                test_rand_int(&r, 1, 3), test_rand_int(&r, 1, 4)};
            int nd = 2 + trial % 3;
            int64_t bshape[1] = {shape[1]};
            cvae_tensor *in[2] = {test_tensor(&r, nd, shape), op == BIAS
                                                                  ? test_tensor(&r, 1, bshape)
                                                                  : test_tensor(&r, nd, shape)};
            int check[2] = {trial != 3, op != SCALE && trial != 4};
            if (!check[0] && !check[1]) check[0] = 1;
            test_gradcheck(ew_fn, &op, in, check, 2, NULL, op_names[op]);
            cvae_tensor_free(in[0]), cvae_tensor_free(in[1]);
        }
}

static void test_elementwise_values(void **state)
{
    (void)state;
    test_rng r = {52};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[3] = {3, 4, 5}, bshape[1] = {4};
    cvae_tensor *a = test_tensor(&r, 3, shape), *b = test_tensor(&r, 3, shape),
                *c = test_tensor(&r, 1, bshape);
    cvae_tensor *y[N_OP];
    CVAE_OK_OR_FAIL(cvae_op_add(t, a, b, &y[ADD]));
    CVAE_OK_OR_FAIL(cvae_op_sub(t, a, b, &y[SUB]));
    CVAE_OK_OR_FAIL(cvae_op_mul(t, a, b, &y[MUL]));
    CVAE_OK_OR_FAIL(cvae_op_scale(t, a, 3.0f, &y[SCALE]));
    CVAE_OK_OR_FAIL(cvae_op_bias_add(t, a, c, &y[BIAS]));
    for (int64_t i = 0; i < a->size; i++) {
        float av = a->data[i], bv = b->data[i], cv = c->data[i / 5 % 4];
        assert_true(y[ADD]->data[i] == av + bv);
        assert_true(y[SUB]->data[i] == av - bv);
        assert_true(y[MUL]->data[i] == av * bv);
        assert_true(y[SCALE]->data[i] == 3.0f * av);
        assert_true(y[BIAS]->data[i] == av + cv);
    }
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(c);
}

/* The bias gradient sums N * S values in double: after one 1e8, a float running sum would
 * drop every later 1 (float spacing at 1e8 is 8); the double sum keeps all 999 of them. */
static void test_bias_add_backward_accuracy(void **state)
{
    (void)state;
    enum { n = 2, c = 3, s = 500 };
    float *dy = malloc(sizeof(float) * n * c * s);
    for (int i = 0; i < n * c * s; i++) dy[i] = 1.0f;
    for (int k = 0; k < c; k++) dy[k * s] = 1e8f;
    float db[c] = {0.5f, 0.5f, 0.5f}, want[c];
    cvae__bias_add_backward(db, dy, n, c, s);
    for (int k = 0; k < c; k++) want[k] = (float)(0.5 + 1e8 + (n * s - 1));
    test_assert_close(db, want, c, 0, 0, "bias gradient");
    assert_true(want[0] != 1e8f);
    free(dy);
}

static void test_elementwise_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {53};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6}, s2[1] = {2}, s3[1] = {3};
    cvae_tensor *a = test_tensor(&r, 2, s23), *b = test_tensor(&r, 2, s32),
                *v = test_tensor(&r, 1, s6);
    cvae_tensor *b2 = test_tensor(&r, 1, s2), *b3 = test_tensor(&r, 1, s3);
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_add(t, a, b, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_sub(t, a, v, &y)); /* same size, other shape */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_mul(t, b, a, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_add(t, NULL, a, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_mul(t, a, a, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_scale(t, a, INFINITY, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_bias_add(t, a, b2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_bias_add(t, v, b3, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_bias_add(t, a, a, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_bias_add(t, a, NULL, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(v), cvae_tensor_free(b2),
        cvae_tensor_free(b3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise_gradcheck),
        cmocka_unit_test(test_elementwise_values),
        cmocka_unit_test(test_bias_add_backward_accuracy),
        cmocka_unit_test(test_elementwise_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
