/* examples/nets/judge.c (the judge of `cvae eval`) trained small: it learns, it is the same
 * for a seed (and differs between seeds), shifts of its training images make it robust to
 * shifted digits, and its features are what its head classifies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "testutil.h"

enum { NTRAIN = 1000, NTEST = 500 };

static cvae_dataset *full_train, *test_set;
static float *test_x;       /* [NTEST, 1, 28, 28] */
static float *shifted_x;    /* test_x moved 2 pixels right and 2 down */
static int32_t *test_y;     /* [NTEST] */
static cvae_dataset subset; /* the first NTRAIN training digits (a view of full_train) */

static int setup(void **state)
{
    (void)state;
    if (cvae_dataset_load_dir(test_data_path(""), "train", &full_train) ||
        cvae_dataset_load_dir(test_data_path(""), "t10k", &test_set))
        return -1;
    subset = *full_train;
    subset.n = NTRAIN;
    int64_t idx[NTEST];
    for (int i = 0; i < NTEST; i++) idx[i] = i;
    test_x = malloc(sizeof(float) * NTEST * 28 * 28);
    shifted_x = calloc(NTEST * 28 * 28, sizeof(float));
    test_y = malloc(sizeof(int32_t) * NTEST);
    if (!test_x || !shifted_x || !test_y ||
        cvae_dataset_batch(test_set, idx, NTEST, CVAE_BINARIZE_NONE, 0, test_x, test_y))
        return -1;
    for (int i = 0; i < NTEST; i++)
        for (int r = 2; r < 28; r++)
            for (int c = 2; c < 28; c++)
                shifted_x[(i * 28 + r) * 28 + c] = test_x[(i * 28 + r - 2) * 28 + c - 2];
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cvae_dataset_free(full_train), cvae_dataset_free(test_set);
    free(test_x), free(shifted_x), free(test_y);
    return 0;
}

static judge *train(int epochs, int shift, uint64_t seed, int threads)
{
    judge_opts o = judge_opts_default();
    o.epochs = epochs, o.shift = shift, o.seed = seed, o.threads = threads;
    judge *j = NULL;
    CVAE_OK_OR_FAIL(judge_train(&subset, &o, &j));
    return j;
}

static double accuracy(const judge *j, const float *x)
{
    int32_t pred[NTEST];
    CVAE_OK_OR_FAIL(judge_apply(j, x, NTEST, pred, NULL));
    int right = 0;
    for (int i = 0; i < NTEST; i++) right += pred[i] == test_y[i];
    return (double)right / NTEST;
}

static void test_learns(void **state)
{
    (void)state;
    judge *j = train(3, 2, 1, 2);
    const double acc = accuracy(j, test_x);
    /* 1000 digits, 3 epochs: measured 0.88 (chance: 0.1) */
    if (!(acc > 0.8)) fail_msg("accuracy %.3f on %d test digits", acc, NTEST);
    judge_free(j);
}

/* The same seed and thread count give the same bits; another seed other weights. */
static void test_deterministic(void **state)
{
    (void)state;
    judge *a = train(1, 2, 5, 2), *b = train(1, 2, 5, 2), *c = train(1, 2, 6, 2);
    const int64_t d = judge_feature_dim(a), n = 64;
    float *fa = malloc(sizeof(float) * (size_t)(n * d)),
          *fb = malloc(sizeof(float) * (size_t)(n * d)),
          *fc = malloc(sizeof(float) * (size_t)(n * d));
    CVAE_OK_OR_FAIL(judge_apply(a, test_x, n, NULL, fa));
    CVAE_OK_OR_FAIL(judge_apply(b, test_x, n, NULL, fb));
    CVAE_OK_OR_FAIL(judge_apply(c, test_x, n, NULL, fc));
    assert_memory_equal(fa, fb, sizeof(float) * (size_t)(n * d));
    assert_memory_not_equal(fa, fc, sizeof(float) * (size_t)(n * d));
    free(fa), free(fb), free(fc);
    judge_free(a), judge_free(b), judge_free(c);
}

/* Training on shifted copies is what makes the judge read digits moved off the centre
 * (every digit of the bundled set is centred by its centre of mass). */
static void test_shifts_help(void **state)
{
    (void)state;
    judge *plain = train(3, 0, 1, 2), *shifted = train(3, 2, 1, 2);
    const double p = accuracy(plain, shifted_x), s = accuracy(shifted, shifted_x);
    /* measured: 0.30 without shifts (0.90 on the centred digits), 0.68 with them */
    if (!(s > p + 0.1)) fail_msg("on digits moved by (2, 2): %.3f without shifts, %.3f with", p, s);
    judge_free(plain), judge_free(shifted);
}

/* Features: d = 128 non-negative values (after a ReLU); predictions with or without them
 * agree; batches of any size give the same rows. */
static void test_features(void **state)
{
    (void)state;
    judge *j = train(1, 2, 1, 1);
    const int64_t d = judge_feature_dim(j), n = 300; /* more than one inference batch */
    assert_int_equal(d, 128);
    float *f = malloc(sizeof(float) * (size_t)(n * d)),
          *g = malloc(sizeof(float) * (size_t)(3 * d));
    int32_t p1[300], p2[300];
    CVAE_OK_OR_FAIL(judge_apply(j, test_x, n, p1, f));
    CVAE_OK_OR_FAIL(judge_apply(j, test_x, n, p2, NULL));
    assert_memory_equal(p1, p2, sizeof p1);
    int positive = 0;
    for (int64_t i = 0; i < n * d; i++) {
        assert_true(f[i] >= 0.0f);
        positive += f[i] > 0;
    }
    assert_true(positive > n * d / 10);
    CVAE_OK_OR_FAIL(judge_apply(j, test_x + 290 * 28 * 28, 3, NULL, g));
    test_assert_close(g, f + 290 * d, 3 * d, 1e-6, 1e-6, "rows 290..292 alone");
    char summary[4096];
    CVAE_OK_OR_FAIL(judge_summary(j, summary, sizeof summary));
    assert_non_null(strstr(summary, "features.fc"));
    free(f), free(g);
    judge_free(j);
}

static void test_auto_epochs(void **state)
{
    (void)state;
    assert_int_equal(judge_auto_epochs(4000), 15); /* the bundled digits */
    assert_int_equal(judge_auto_epochs(60000), 4); /* Fashion-MNIST, MNIST */
    assert_int_equal(judge_auto_epochs(16000), 15);
    assert_int_equal(judge_auto_epochs(16001), 15); /* ceil(14.99...) */
    assert_int_equal(judge_auto_epochs(17143), 14);
    assert_int_equal(judge_auto_epochs(1000000), 1);
    assert_int_equal(judge_auto_epochs(1), 15);
}

static void test_bad_options(void **state)
{
    (void)state;
    judge *j = NULL;
    judge_opts o = judge_opts_default();
    o.epochs = -1;
    assert_int_equal(judge_train(&subset, &o, &j), CVAE_ERR_INVALID_ARG);
    o = judge_opts_default(), o.shift = 5;
    assert_int_equal(judge_train(&subset, &o, &j), CVAE_ERR_INVALID_ARG);
    assert_null(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),      cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_shifts_help), cmocka_unit_test(test_features),
        cmocka_unit_test(test_auto_epochs), cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
