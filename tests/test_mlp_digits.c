/* End to end: a 784-128-10 MLP (linear, relu, linear, softmax cross-entropy)
 * trained with Adam on the bundled digits reaches a good test accuracy, and two
 * runs with the same seed give bitwise identical losses and weights. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BATCH = 64, EPOCHS = 15, PIX = 784, HIDDEN = 128, CLASSES = 10 };
static const uint64_t SEED = 1;

typedef struct run_result {
    float last_loss;   /* loss of the final step */
    double epoch_loss; /* mean step loss of the final epoch */
    double accuracy;   /* on the 1,000 test digits */
    float *weights;    /* copy of the final parameter block */
    int64_t numel;
} run_result;

/* Fisher-Yates shuffle of 0..n-1 from the counter RNG (seed, stream). */
static void shuffle(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    cvae_rng r = cvae_rng_make(seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(cvae_rng_u32(&r) % (uint32_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

static cvae_status forward(cvae_tape *t, const cvae_linear *fc1, const cvae_linear *fc2,
                           cvae_tensor *x, cvae_tensor **logits)
{
    cvae_tensor *h, *a;
    cvae_status s = cvae_linear_forward(fc1, t, x, &h);
    if (!s) s = cvae_op_relu(t, h, &a);
    if (!s) s = cvae_linear_forward(fc2, t, a, logits);
    return s;
}

static run_result train(const cvae_dataset *train_ds, const cvae_dataset *test_ds, uint64_t seed,
                        int verbose)
{
    cvae_params *p;
    cvae_linear *fc1, *fc2;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "fc1", PIX, HIDDEN, 1, CVAE_INIT_HE_UNIFORM, seed, &fc1));
    CVAE_OK_OR_FAIL(
        cvae_linear_new(p, "fc2", HIDDEN, CLASSES, 1, CVAE_INIT_GLOROT_UNIFORM, seed, &fc2));
    cvae_adam_opts ao = cvae_adam_opts_default(); /* lr 1e-3 */
    cvae_optim *opt;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &ao, &opt));
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));

    int64_t n = train_ds->n, *perm = malloc(sizeof(int64_t) * (size_t)n);
    int32_t labels[BATCH];
    run_result res = {0};
    for (int e = 0; e < EPOCHS; e++) {
        shuffle(perm, n, seed, (uint64_t)e);
        double sum = 0;
        int steps = 0;
        for (int64_t b0 = 0; b0 < n; b0 += BATCH) {
            int64_t bn = n - b0 < BATCH ? n - b0 : BATCH, shape[2] = {bn, PIX};
            cvae_tape_reset(t);
            cvae_params_zero_grad(p);
            cvae_tensor *x, *logits, *loss;
            CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &x));
            CVAE_OK_OR_FAIL(cvae_dataset_batch(train_ds, perm + b0, bn, CVAE_BINARIZE_NONE, 0,
                                               x->data, labels));
            CVAE_OK_OR_FAIL(forward(t, fc1, fc2, x, &logits));
            CVAE_OK_OR_FAIL(
                cvae_op_softmax_cross_entropy(t, logits, labels, CVAE_REDUCE_MEAN, &loss));
            CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
            CVAE_OK_OR_FAIL(cvae_optim_step(opt));
            res.last_loss = loss->data[0];
            sum += loss->data[0];
            steps++;
        }
        res.epoch_loss = sum / steps;
        if (verbose) printf("epoch %d: mean loss %.4f\n", e + 1, res.epoch_loss);
    }

    /* test accuracy, recording off */
    cvae_tape_set_recording(t, 0);
    int64_t correct = 0, idx[250];
    int32_t tl[250];
    for (int64_t b0 = 0; b0 < test_ds->n; b0 += 250) {
        int64_t bn = test_ds->n - b0 < 250 ? test_ds->n - b0 : 250, shape[2] = {bn, PIX};
        for (int64_t i = 0; i < bn; i++) idx[i] = b0 + i;
        cvae_tape_reset(t);
        cvae_tensor *x, *logits;
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &x));
        CVAE_OK_OR_FAIL(cvae_dataset_batch(test_ds, idx, bn, CVAE_BINARIZE_NONE, 0, x->data, tl));
        CVAE_OK_OR_FAIL(forward(t, fc1, fc2, x, &logits));
        for (int64_t i = 0; i < bn; i++) {
            const float *row = logits->data + i * CLASSES;
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (row[k] > row[best]) best = k;
            correct += best == tl[i];
        }
    }
    res.accuracy = (double)correct / (double)test_ds->n;
    res.numel = cvae_params_numel(p);
    res.weights = malloc(sizeof(float) * (size_t)res.numel);
    memcpy(res.weights, cvae_params_data(p), sizeof(float) * (size_t)res.numel);
    free(perm);
    cvae_tape_free(t);
    cvae_optim_free(opt);
    cvae_linear_free(fc1), cvae_linear_free(fc2);
    cvae_params_free(p);
    return res;
}

static void test_mlp_digits(void **state)
{
    (void)state;
    cvae_dataset *tr, *te;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &tr));
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &te));
    clock_t c0 = clock();
    run_result a = train(tr, te, SEED, 1);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("test accuracy %.1f%% (%d epochs, batch %d, Adam lr 1e-3, %.2f s CPU per run)\n",
           100.0 * a.accuracy, EPOCHS, BATCH, secs);
    run_result b = train(tr, te, SEED, 0);
    assert_true(a.epoch_loss < 0.2 && a.last_loss < 0.5f);
    assert_true(a.accuracy >= 0.92);
    /* determinism: same seed -> same bits */
    assert_memory_equal(&a.last_loss, &b.last_loss, sizeof a.last_loss);
    assert_memory_equal(&a.epoch_loss, &b.epoch_loss, sizeof a.epoch_loss);
    assert_int_equal(a.numel, b.numel);
    assert_memory_equal(a.weights, b.weights, sizeof(float) * (size_t)a.numel);
    assert_true(a.accuracy == b.accuracy);
    free(a.weights), free(b.weights);
    cvae_dataset_free(tr), cvae_dataset_free(te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mlp_digits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
