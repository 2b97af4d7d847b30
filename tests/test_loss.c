/* losses and reparameterize: gradient checks for every reduction, stable forms against plain
 * references, reduction consistency, determinism of the noise, and bad inputs. */
#include "ops/loss.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct loss_case {
    cvae_reduction r;
    const int32_t *labels;
    uint64_t seed, stream;
} loss_case;

static cvae_status bce_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    return cvae_op_bce_with_logits(t, in[0], in[1], ((loss_case *)ctx)->r, out);
}

static cvae_status kl_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    return cvae_op_kl_normal(t, in[0], in[1], ((loss_case *)ctx)->r, out);
}

static cvae_status xent_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    loss_case *c = ctx;
    return cvae_op_softmax_cross_entropy(t, in[0], c->labels, c->r, out);
}

static cvae_status reparam_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    loss_case *c = ctx;
    return cvae_op_reparameterize(t, in[0], in[1], c->seed, c->stream, out);
}

/* Random [N, D] (or [N, C, H] every third trial) shapes; trial 0 has batch 1. */
static int random_shape(test_rng *r, int trial, int64_t *shape)
{
    shape[0] = trial == 0 ? 1 : test_rand_int(r, 2, 7);
    shape[1] = test_rand_int(r, 1, 9);
    if (trial % 3 != 2) return 2;
    shape[2] = test_rand_int(r, 1, 3);
    return 3;
}

static const cvae_reduction reductions[3] = {CVAE_REDUCE_SUM, CVAE_REDUCE_MEAN, CVAE_REDUCE_ROWS};

/* Tolerances: defaults (rtol 1e-3, atol 1e-3, h 1e-2): the losses are smooth on [-1, 1]. */
static void test_bce_gradcheck(void **state)
{
    (void)state;
    test_rng r = {11};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[3];
        int nd = random_shape(&r, trial, shape);
        cvae_tensor *in[2] = {test_tensor(&r, nd, shape), test_tensor(&r, nd, shape)};
        for (int64_t i = 0; i < in[1]->size; i++) in[1]->data[i] = (float)test_rand_unit(&r);
        int check[2] = {1, 0};
        for (int k = 0; k < 3; k++) {
            loss_case c = {reductions[k], NULL, 0, 0};
            test_gradcheck(bce_fn, &c, in, check, 2, NULL, "bce_with_logits");
        }
        cvae_tensor_free(in[0]), cvae_tensor_free(in[1]);
    }
}

static void test_kl_gradcheck(void **state)
{
    (void)state;
    test_rng r = {12};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[3];
        int nd = random_shape(&r, trial, shape);
        cvae_tensor *in[2] = {test_tensor(&r, nd, shape), test_tensor(&r, nd, shape)};
        int check[2] = {1, 1};
        for (int k = 0; k < 3; k++) {
            loss_case c = {reductions[k], NULL, 0, 0};
            test_gradcheck(kl_fn, &c, in, check, 2, NULL, "kl_normal");
        }
        cvae_tensor_free(in[0]), cvae_tensor_free(in[1]);
    }
}

static void test_xent_gradcheck(void **state)
{
    (void)state;
    test_rng r = {13};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[2] = {trial == 0 ? 1 : test_rand_int(&r, 2, 7), test_rand_int(&r, 1, 11)};
        cvae_tensor *in[1] = {test_tensor(&r, 2, shape)};
        int32_t labels[8];
        for (int64_t i = 0; i < shape[0]; i++)
            labels[i] = (int32_t)test_rand_int(&r, 0, shape[1] - 1);
        int check[1] = {1};
        for (int k = 0; k < 3; k++) {
            loss_case c = {reductions[k], labels, 0, 0};
            test_gradcheck(xent_fn, &c, in, check, 1, NULL, "softmax_cross_entropy");
        }
        cvae_tensor_free(in[0]);
    }
}

static void test_reparameterize_gradcheck(void **state)
{
    (void)state;
    test_rng r = {14};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[3];
        int nd = random_shape(&r, trial, shape);
        cvae_tensor *in[2] = {test_tensor(&r, nd, shape), test_tensor(&r, nd, shape)};
        int check[2] = {1, 1};
        loss_case c = {CVAE_REDUCE_SUM, NULL, 42 + (uint64_t)trial, 7};
        test_gradcheck(reparam_fn, &c, in, check, 2, NULL, "reparameterize");
        cvae_tensor_free(in[0]), cvae_tensor_free(in[1]);
    }
}

/* The stable forms against plain double formulas on moderate values (rtol 1e-5, atol 1e-5). */
/* BCE of large logits (where e^-|x| underflows) against the stable form in double. */
static void test_bce_extreme_logits(void **state)
{
    (void)state;
    const float x[8] = {20.0f, -20.0f, 60.0f, -60.0f, 87.5f, -90.0f, 1000.0f, -3e38f};
    const float z[8] = {1.0f, 0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.0f, 1.0f};
    for (int i = 0; i < 8; i++) {
        double got, dx = 0.0;
        cvae__bce_with_logits_rows(&got, x + i, z + i, 1, 1);
        const double v = x[i], want = fmax(v, 0.0) - v * z[i] + log1p(exp(-fabs(v)));
        if (!(fabs(got - want) <= 1e-6 * fmax(fabs(want), 1.0)))
            fail_msg("bce(%g, %g) = %.9g, want %.9g", x[i], z[i], got, want);
        float g = 0.0f, one = 1.0f;
        cvae__bce_with_logits_backward(&g, &(cvae__loss_grad){&one, 0, 1.0f}, x + i, z + i, 1, 1);
        dx = (v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v))) - z[i];
        if (!(fabs(g - dx) <= 1e-6)) fail_msg("bce gradient at %g: %.9g, want %.9g", x[i], g, dx);
    }
}

static void test_losses_match_reference(void **state)
{
    (void)state;
    test_rng r = {15};
    for (int trial = 0; trial < 20; trial++) {
        /* rows longer than the kernel's block of 256 terms in every other trial */
        int64_t n = test_rand_int(&r, 1, 9), d = test_rand_int(&r, 1, trial % 2 ? 600 : 30);
        float *x = malloc(sizeof(float) * (size_t)(n * d)),
              *z = malloc(sizeof(float) * (size_t)(n * d));
        test_fill(&r, x, n * d, -8.0f, 8.0f, 0.0f);
        test_fill(&r, z, n * d, 0.0f, 1.0f, 0.0f);
        int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)test_rand_int(&r, 0, d - 1);
        double a[9], b[9];
        float lse[9], fa[9], fb[9];
        cvae__bce_with_logits_rows(a, x, z, n, d);
        cvae__bce_with_logits_rows_ref(b, x, z, n, d);
        for (int64_t i = 0; i < n; i++) fa[i] = (float)a[i], fb[i] = (float)b[i];
        test_assert_close(fa, fb, n, 1e-5, 1e-5, "bce rows");
        cvae__softmax_xent_rows(a, lse, x, labels, n, d);
        cvae__softmax_xent_rows_ref(b, x, labels, n, d);
        for (int64_t i = 0; i < n; i++) fa[i] = (float)a[i], fb[i] = (float)b[i];
        test_assert_close(fa, fb, n, 1e-5, 1e-5, "softmax cross-entropy rows");
        free(x), free(z), free(labels);
    }
}

/* Logits far outside exp's range still give finite losses and gradients. */
static void test_losses_stable_for_large_logits(void **state)
{
    (void)state;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {2, 2};
    cvae_tensor *x, *z, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &x));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &z));
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    const float xv[4] = {200.0f, -200.0f, 100.0f, -150.0f}, zv[4] = {0.0f, 1.0f, 0.25f, 0.5f};
    memcpy(x->data, xv, sizeof xv);
    memcpy(z->data, zv, sizeof zv);
    CVAE_OK_OR_FAIL(cvae_op_bce_with_logits(t, x, z, CVAE_REDUCE_SUM, &y));
    /* exact: 200 + 200 + 100 * 0.75 + 150 * 0.5 */
    assert_true(fabsf(y->data[0] - 550.0f) < 1e-3f);
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, y));
    for (int i = 0; i < 4; i++) assert_true(isfinite(x->grad[i]));
    int32_t labels[2] = {1, 0};
    CVAE_OK_OR_FAIL(cvae_op_softmax_cross_entropy(t, x, labels, CVAE_REDUCE_ROWS, &y));
    assert_true(fabsf(y->data[0] - 400.0f) < 1e-3f && fabsf(y->data[1] - 0.0f) < 1e-3f);
    cvae_tape_free(t);
}

/* ROWS sums to SUM, MEAN is SUM over the element count (samples for cross-entropy). */
static void test_reductions_agree(void **state)
{
    (void)state;
    test_rng r = {16};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[3] = {5, 3, 2};
    cvae_tensor *a = test_tensor(&r, 3, shape), *b = test_tensor(&r, 3, shape);
    for (int64_t i = 0; i < b->size; i++) b->data[i] = (float)test_rand_unit(&r);
    int32_t labels[5] = {0, 2, 1, 2, 0};
    int64_t shape2[2] = {5, 3};
    cvae_tensor *logits = test_tensor(&r, 2, shape2);
    for (int op = 0; op < 3; op++) {
        cvae_tensor *y[3];
        for (int k = 0; k < 3; k++) {
            if (op == 0) CVAE_OK_OR_FAIL(cvae_op_bce_with_logits(t, a, b, reductions[k], &y[k]));
            if (op == 1) CVAE_OK_OR_FAIL(cvae_op_kl_normal(t, a, b, reductions[k], &y[k]));
            if (op == 2)
                CVAE_OK_OR_FAIL(
                    cvae_op_softmax_cross_entropy(t, logits, labels, reductions[k], &y[k]));
        }
        assert_int_equal(y[0]->size, 1);
        assert_int_equal(y[2]->size, 5);
        double rows = 0.0;
        for (int i = 0; i < 5; i++) rows += y[2]->data[i];
        float fr = (float)rows, mean = y[0]->data[0] / (op == 2 ? 5.0f : 30.0f);
        test_assert_close(&fr, &y[0]->data[0], 1, 1e-6, 1e-6, "rows vs sum");
        test_assert_close(&mean, &y[1]->data[0], 1, 1e-6, 1e-7, "mean vs sum");
    }
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(logits);
}

static void test_reparameterize_noise(void **state)
{
    (void)state;
    test_rng r = {17};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {4, 25};
    cvae_tensor *mu = test_tensor(&r, 2, shape), *lv = test_tensor(&r, 2, shape);
    cvae_tensor *z1, *z2, *z3, *z4;
    CVAE_OK_OR_FAIL(cvae_op_reparameterize(t, mu, lv, 9, 3, &z1));
    CVAE_OK_OR_FAIL(cvae_op_reparameterize(t, mu, lv, 9, 3, &z2));
    CVAE_OK_OR_FAIL(cvae_op_reparameterize(t, mu, lv, 10, 3, &z3));
    CVAE_OK_OR_FAIL(cvae_op_reparameterize(t, mu, lv, 9, 4, &z4));
    assert_memory_equal(z1->data, z2->data, sizeof(float) * 100);
    int diff_seed = 0, diff_stream = 0;
    for (int i = 0; i < 100; i++)
        diff_seed += z1->data[i] != z3->data[i], diff_stream += z1->data[i] != z4->data[i];
    assert_true(diff_seed > 90 && diff_stream > 90);
    /* eps[i] is the i-th normal of (seed, stream) over the flat index */
    float eps[100], want[100];
    cvae_rng_fill_normal(9, 3, 0.0f, 1.0f, eps, 100);
    for (int i = 0; i < 100; i++) want[i] = mu->data[i] + expf(0.5f * lv->data[i]) * eps[i];
    test_assert_close(z1->data, want, 100, 1e-6, 1e-6, "reparameterize eps");
    cvae_tape_free(t);
    cvae_tensor_free(mu), cvae_tensor_free(lv);
}

static void test_loss_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {18};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
    cvae_tensor *a = test_tensor(&r, 2, s23), *b = test_tensor(&r, 2, s23),
                *c = test_tensor(&r, 2, s32);
    for (int64_t i = 0; i < b->size; i++) b->data[i] = 0.5f;
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_bce_with_logits(t, NULL, b, CVAE_REDUCE_SUM, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_bce_with_logits(t, a, b, (cvae_reduction)7, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_bce_with_logits(t, a, c, CVAE_REDUCE_SUM, &y));
    b->data[4] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_bce_with_logits(t, a, b, CVAE_REDUCE_SUM, &y));
    assert_non_null(strstr(cvae_last_error(), "target 4"));
    b->data[4] = 1.5f;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_bce_with_logits(t, a, b, CVAE_REDUCE_SUM, &y));
    b->data[4] = 0.5f;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_kl_normal(t, a, c, CVAE_REDUCE_MEAN, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_kl_normal(t, a, NULL, CVAE_REDUCE_MEAN, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_reparameterize(t, a, c, 1, 2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_reparameterize(t, a, b, 1, 2, NULL));
    int32_t labels[2] = {2, 3};
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE,
                    cvae_op_softmax_cross_entropy(t, a, labels, CVAE_REDUCE_SUM, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 1"));
    labels[1] = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE,
                    cvae_op_softmax_cross_entropy(t, a, labels, CVAE_REDUCE_SUM, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_op_softmax_cross_entropy(t, a, NULL, CVAE_REDUCE_SUM, &y));
    int64_t s3[3] = {2, 3, 1};
    cvae_tensor *d = test_tensor(&r, 3, s3);
    labels[1] = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE,
                    cvae_op_softmax_cross_entropy(t, d, labels, CVAE_REDUCE_SUM, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_softmax_cross_entropy(t, a, labels, CVAE_REDUCE_SUM, &y));
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(c), cvae_tensor_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bce_gradcheck),
        cmocka_unit_test(test_bce_extreme_logits),
        cmocka_unit_test(test_kl_gradcheck),
        cmocka_unit_test(test_xent_gradcheck),
        cmocka_unit_test(test_reparameterize_gradcheck),
        cmocka_unit_test(test_losses_match_reference),
        cmocka_unit_test(test_losses_stable_for_large_logits),
        cmocka_unit_test(test_reductions_agree),
        cmocka_unit_test(test_reparameterize_noise),
        cmocka_unit_test(test_loss_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
