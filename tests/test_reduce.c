/* reductions: gradient checks on random shapes, double accumulation, and bad inputs. */
#include "ops/reduce.h"
#include "testutil.h"

#include <stdlib.h>

typedef enum { SUM, MEAN, ROWS } red;
static const char *red_names[3] = {"sum", "mean", "sum_rows"};

static cvae_status red_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    switch (*(red *)ctx) {
    case SUM:
        return cvae_op_sum(t, in[0], out);
    case MEAN:
        return cvae_op_mean(t, in[0], out);
    default:
        return cvae_op_sum_rows(t, in[0], out);
    }
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3); the reductions are linear. */
static void test_reduce_gradcheck(void **state)
{
    (void)state;
    test_rng r = {61};
    for (int k = 0; k < 3; k++)
        for (int trial = 0; trial < 5; trial++) {
            int64_t shape[4] = {trial == 0 ? 1 : test_rand_int(&r, 2, 7), test_rand_int(&r, 1, 5),
                                test_rand_int(&r, 1, 3), test_rand_int(&r, 1, 3)};
            cvae_tensor *x = test_tensor(&r, 1 + trial % 4, shape);
            int check[1] = {1};
            test_gradcheck(red_fn, &k, &x, check, 1, NULL, red_names[k]);
            cvae_tensor_free(x);
        }
}

/* Values against double sums (exact to float rounding: rtol 1e-7), shapes [1] and [N]. */
static void test_reduce_values(void **state)
{
    (void)state;
    test_rng r = {62};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[3] = {6, 7, 9};
    cvae_tensor *x = test_tensor(&r, 3, shape), *y[3];
    for (int k = 0; k < 3; k++) CVAE_OK_OR_FAIL(red_fn(t, &x, &k, &y[k]));
    assert_int_equal(y[SUM]->ndim, 1);
    assert_int_equal(y[SUM]->size, 1);
    assert_int_equal(y[ROWS]->size, 6);
    double all = 0.0;
    for (int i = 0; i < 6; i++) {
        double s = 0.0;
        for (int j = 0; j < 63; j++) s += x->data[i * 63 + j];
        all += s;
        float fs = (float)s;
        test_assert_close(&y[ROWS]->data[i], &fs, 1, 1e-7, 0, "sum_rows");
    }
    float fa = (float)all, fm = (float)(all / 378.0);
    test_assert_close(&y[SUM]->data[0], &fa, 1, 1e-7, 0, "sum");
    test_assert_close(&y[MEAN]->data[0], &fm, 1, 1e-7, 0, "mean");
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

/* 1e8 followed by 4096 ones: a float running sum would return 1e8. */
static void test_reduce_accumulates_in_double(void **state)
{
    (void)state;
    enum { n = 4097 };
    float *x = malloc(sizeof(float) * n), y;
    for (int i = 0; i < n; i++) x[i] = 1.0f;
    x[0] = 1e8f;
    assert_true(cvae__sum(x, n) == 1e8 + 4096);
    cvae__sum_rows_forward(&y, x, 1, n);
    assert_true(y == (float)(1e8 + 4096));
    free(x);
}

static void test_reduce_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {63};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[1] = {4};
    cvae_tensor *x = test_tensor(&r, 1, shape), *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_sum(t, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_mean(NULL, x, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_sum_rows(t, x, NULL));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_sum_rows(t, x, &y)); /* a 1-D tensor: one element per row */
    assert_memory_equal(y->data, x->data, 4 * sizeof(float));
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_gradcheck),
        cmocka_unit_test(test_reduce_values),
        cmocka_unit_test(test_reduce_accumulates_in_double),
        cmocka_unit_test(test_reduce_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
