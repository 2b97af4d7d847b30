/* mlp_digits: trains a 784-128-10 MLP (linear, relu, linear, softmax
 * cross-entropy) with Adam on MNIST-format digits and prints per-epoch loss and
 * test accuracy.
 *
 *     mlp_digits [DATA_DIR [EPOCHS]]
 *
 * DATA_DIR holds train-* and t10k-* IDX files (.gz or plain); default: the
 * bundled 5,000 digits. Fashion-MNIST (/usr/share/datasets/fashion-mnist) works too. */
#include <cvae/cvae.h>

#include <stdio.h>
#include <stdlib.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif

enum { BATCH = 64, HIDDEN = 128, EVAL_BATCH = 500 };

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_ != CVAE_OK) {                                                                       \
            fprintf(stderr, "mlp_digits: %s: %s\n", cvae_status_str(s_), cvae_last_error());       \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

typedef struct mlp {
    cvae_linear *fc1, *fc2;
} mlp;

static cvae_status mlp_forward(const mlp *m, cvae_tape *t, cvae_tensor *x, cvae_tensor **logits)
{
    cvae_tensor *h, *a;
    cvae_status s = cvae_linear_forward(m->fc1, t, x, &h);
    if (!s) s = cvae_op_relu(t, h, &a);
    if (!s) s = cvae_linear_forward(m->fc2, t, a, logits);
    return s;
}

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

static cvae_status accuracy(const mlp *m, cvae_tape *t, const cvae_dataset *ds, double *acc)
{
    int64_t idx[EVAL_BATCH], correct = 0;
    int32_t labels[EVAL_BATCH];
    cvae_status s = CVAE_OK;
    cvae_tape_set_recording(t, 0);
    for (int64_t b0 = 0; b0 < ds->n && !s; b0 += EVAL_BATCH) {
        int64_t bn = ds->n - b0 < EVAL_BATCH ? ds->n - b0 : EVAL_BATCH;
        int64_t shape[2] = {bn, (int64_t)ds->rows * ds->cols};
        cvae_tensor *x, *logits;
        for (int64_t i = 0; i < bn; i++) idx[i] = b0 + i;
        cvae_tape_reset(t);
        s = cvae_tape_tensor(t, 2, shape, &x);
        if (!s) s = cvae_dataset_batch(ds, idx, bn, CVAE_BINARIZE_NONE, 0, x->data, labels);
        if (!s) s = mlp_forward(m, t, x, &logits);
        for (int64_t i = 0; i < bn && !s; i++) {
            const float *row = logits->data + i * logits->shape[1];
            int64_t best = 0;
            for (int64_t k = 1; k < logits->shape[1]; k++)
                if (row[k] > row[best]) best = k;
            correct += best == labels[i];
        }
    }
    cvae_tape_set_recording(t, 1);
    if (!s) *acc = (double)correct / (double)ds->n;
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CVAE_DEFAULT_DATA_DIR;
    int epochs = argc > 2 ? atoi(argv[2]) : 15;
    const uint64_t seed = 1;
    int rc = 1;
    cvae_dataset *train = NULL, *test = NULL;
    cvae_params *params = NULL;
    mlp m = {NULL, NULL};
    cvae_optim *opt = NULL;
    cvae_tape *t = NULL;
    int64_t *perm = NULL;
    int32_t labels[BATCH];
    if (epochs < 1) {
        fprintf(stderr, "usage: %s [DATA_DIR [EPOCHS >= 1]]\n", argv[0]);
        return 2;
    }

    CHECK(cvae_dataset_load_dir(dir, "train", &train));
    CHECK(cvae_dataset_load_dir(dir, "t10k", &test));
    const int64_t pix = (int64_t)train->rows * train->cols;
    printf("%lld training and %lld test images of %dx%d, %d classes\n", (long long)train->n,
           (long long)test->n, train->rows, train->cols, train->num_classes);

    CHECK(cvae_params_new(&params));
    CHECK(cvae_linear_new(params, "fc1", pix, HIDDEN, 1, CVAE_INIT_HE_UNIFORM, seed, &m.fc1));
    CHECK(cvae_linear_new(params, "fc2", HIDDEN, train->num_classes, 1, CVAE_INIT_GLOROT_UNIFORM,
                          seed, &m.fc2));
    cvae_adam_opts ao = cvae_adam_opts_default();
    CHECK(cvae_optim_new_adam(params, &ao, &opt));
    CHECK(cvae_tape_new(&t));
    perm = malloc(sizeof *perm * (size_t)train->n);
    if (!perm) {
        fprintf(stderr, "mlp_digits: out of memory\n");
        goto done;
    }

    for (int e = 0; e < epochs; e++) {
        shuffle(perm, train->n, seed, (uint64_t)e);
        double sum = 0;
        int steps = 0;
        for (int64_t b0 = 0; b0 < train->n; b0 += BATCH) {
            int64_t bn = train->n - b0 < BATCH ? train->n - b0 : BATCH, shape[2] = {bn, pix};
            cvae_tensor *x, *logits, *loss;
            cvae_tape_reset(t);
            cvae_params_zero_grad(params);
            CHECK(cvae_tape_tensor(t, 2, shape, &x));
            CHECK(cvae_dataset_batch(train, perm + b0, bn, CVAE_BINARIZE_NONE, 0, x->data, labels));
            CHECK(mlp_forward(&m, t, x, &logits));
            CHECK(cvae_op_softmax_cross_entropy(t, logits, labels, CVAE_REDUCE_MEAN, &loss));
            CHECK(cvae_tape_backward(t, loss));
            CHECK(cvae_optim_step(opt));
            sum += loss->data[0];
            steps++;
        }
        double acc = 0;
        CHECK(accuracy(&m, t, test, &acc));
        printf("epoch %2d  loss %.4f  test accuracy %.2f%%\n", e + 1, sum / steps, 100.0 * acc);
    }
    rc = 0;
done:
    free(perm);
    cvae_tape_free(t);
    cvae_optim_free(opt);
    cvae_linear_free(m.fc1);
    cvae_linear_free(m.fc2);
    cvae_params_free(params);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
