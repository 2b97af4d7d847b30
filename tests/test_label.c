/* label ops: one_hot values, embedding gather/scatter (gradient check, only rows of labels
 * present touched, no table gradient when frozen), and label range checks before writing. */
#include "ops/label.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct emb_case {
    const int32_t *labels;
    int64_t n;
} emb_case;

static cvae_status emb_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    emb_case *c = ctx;
    return cvae_op_embedding(t, in[0], c->labels, c->n, out);
}

static void test_one_hot_values(void **state)
{
    (void)state;
    test_rng r = {71};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    for (int trial = 0; trial < 5; trial++) {
        int64_t n = trial == 0 ? 1 : test_rand_int(&r, 2, 9), k = test_rand_int(&r, 1, 12);
        int32_t labels[9];
        for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)test_rand_int(&r, 0, k - 1);
        cvae_tensor *y;
        CVAE_OK_OR_FAIL(cvae_op_one_hot(t, labels, n, k, &y));
        assert_int_equal(y->shape[0], n);
        assert_int_equal(y->shape[1], k);
        assert_false(y->flags & CVAE_TENSOR_REQUIRES_GRAD);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++)
                assert_true(y->data[i * k + j] == (j == labels[i] ? 1.0f : 0.0f));
    }
    cvae_tape_free(t);
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3); the gather is linear. Repeated labels check
 * that the scatter adds. */
static void test_embedding_gradcheck(void **state)
{
    (void)state;
    test_rng r = {72};
    for (int trial = 0; trial < 5; trial++) {
        int64_t k = test_rand_int(&r, 1, 6),
                shape[3] = {k, test_rand_int(&r, 1, 5), test_rand_int(&r, 1, 3)};
        int64_t n = trial == 0 ? 1 : test_rand_int(&r, 2, 9);
        int32_t labels[9];
        for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)test_rand_int(&r, 0, k - 1);
        cvae_tensor *table = test_tensor(&r, 2 + trial % 2, shape);
        emb_case c = {labels, n};
        int check[1] = {1};
        test_gradcheck(emb_fn, &c, &table, check, 1, NULL, "embedding");
        cvae_tensor_free(table);
    }
}

/* Backward writes only into rows of labels present; the others stay exactly as they were. */
static void test_embedding_touches_only_present_rows(void **state)
{
    (void)state;
    test_rng r = {73};
    int64_t k = 10, d = 6, n = 5;
    const int32_t labels[5] = {3, 7, 3, 0, 9};
    float *dt = malloc(sizeof(float) * (size_t)(k * d)),
          *before = malloc(sizeof(float) * (size_t)(k * d));
    float dy[30];
    test_fill(&r, dt, k * d, -1, 1, 0.05f);
    test_fill(&r, dy, n * d, -1, 1, 0.05f);
    memcpy(before, dt, sizeof(float) * (size_t)(k * d));
    cvae__embedding_backward(dt, dy, labels, n, d);
    for (int64_t row = 0; row < k; row++) {
        int present = row == 0 || row == 3 || row == 7 || row == 9;
        for (int64_t j = 0; j < d; j++) {
            float want = before[row * d + j];
            for (int64_t i = 0; i < n; i++)
                if (labels[i] == row) want += dy[i * d + j];
            if (!present)
                assert_memory_equal(&dt[row * d + j], &before[row * d + j], sizeof(float));
            else
                test_assert_close(&dt[row * d + j], &want, 1, 1e-6, 1e-7, "embedding scatter");
        }
    }
    free(dt), free(before);
}

/* Through the tape with parameters: a trainable table gets gradient only in present rows; a
 * frozen one records nothing and gets no gradient at all. */
static void test_embedding_params(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    int64_t shape[2] = {4, 3};
    cvae_tensor *tab, *frozen;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "table", 2, shape, 1, &tab));
    CVAE_OK_OR_FAIL(cvae_params_add(p, "frozen", 2, shape, 0, &frozen));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(tab, 1, 1, 0, 1));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(frozen, 1, 2, 0, 1));
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    const int32_t labels[3] = {2, 0, 2};
    cvae_tensor *y, *s;
    CVAE_OK_OR_FAIL(cvae_op_embedding(t, tab, labels, 3, &y));
    CVAE_OK_OR_FAIL(cvae_op_sum(t, y, &s));
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, s));
    const float want[12] = {1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0};
    test_assert_close(tab->grad, want, 12, 0, 0, "table gradient");
    CVAE_OK_OR_FAIL(cvae_op_embedding(t, frozen, labels, 3, &y));
    assert_false(y->flags & CVAE_TENSOR_REQUIRES_GRAD);
    assert_null(frozen->grad);
    CVAE_OK_OR_FAIL(cvae_op_sum(t, y, &s));
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_tape_backward(t, s));
    const float *g = cvae_params_grad(p) + cvae_params_offset(p, 1);
    for (int i = 0; i < 12; i++) assert_true(g[i] == 0.0f);
    cvae_tape_free(t);
    cvae_params_free(p);
}

static void test_label_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {74};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {4, 3};
    cvae_tensor *tab = test_tensor(&r, 2, shape), *y = (cvae_tensor *)0x1;
    int32_t labels[4] = {0, 3, 4, 1};
    size_t cap = cvae_tape_capacity(t);
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_embedding(t, tab, labels, 4, &y));
    assert_non_null(strstr(cvae_last_error(), "label 4"));
    assert_non_null(strstr(cvae_last_error(), "sample 2"));
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_one_hot(t, labels, 4, 4, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 2"));
    assert_int_equal(cvae_tape_capacity(t), cap); /* rejected before any output existed */
    labels[2] = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_embedding(t, tab, labels, 4, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_embedding(t, tab, NULL, 4, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_embedding(t, tab, labels, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_embedding(t, NULL, labels, 4, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_one_hot(t, labels, 0, 4, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_one_hot(t, labels, 4, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_one_hot(t, NULL, 4, 4, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_tensor_free(tab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_hot_values),
        cmocka_unit_test(test_embedding_gradcheck),
        cmocka_unit_test(test_embedding_touches_only_present_rows),
        cmocka_unit_test(test_embedding_params),
        cmocka_unit_test(test_label_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
