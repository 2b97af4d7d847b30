/* selected_kernel: the third answer to the original question, rebuilt.
 *
 * That answer let a function of the intermediate features pick the kernel. Here
 * a small learned head looks at the first layer's features and produces softmax
 * weights over a table of K = 4 FIXED kernels (blur, Sobel x, Sobel y,
 * Laplacian, each applied to every channel on its own); the weighted kernel is
 * applied as a constant (cvae_op_conditional_conv2d_soft over a frozen table),
 * and learned layers classify the digit (examples/nets/selected_kernel.h). With
 * "hard" selection the head's argmax picks one kernel (cvae_op_conditional_conv2d);
 * the head then gets no gradient and keeps its random choice.
 * It trains both modes, prints test accuracy, which kernel each digit class
 * selects, and checks that the fixed kernels never changed. Pictures (OUT_DIR):
 *   selected_kernel_<mode>.png  one row per fixed kernel: the kernel (enlarged),
 *                               then up to 10 test digits that selected it
 *
 *     selected_kernel [DATA_DIR [EPOCHS [OUT_DIR]]]
 *
 * Defaults: the bundled digits, 3 epochs per mode, out/. */
#include <cvae/cvae.h>

#include "common.h"
#include "selected_kernel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif

enum { BATCH = 64, EVAL = 250, SHOW = 10 };
static const uint64_t SEED = 5;

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_ != CVAE_OK) {                                                                       \
            fprintf(stderr, "selected_kernel: %s: %s (%s)\n", cvae_status_str(s_),                 \
                    cvae_last_error(), #expr);                                                     \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Test accuracy; choice[0..n) and conf (mean of max alpha) of the test set. */
static cvae_status evaluate(const sk_net *m, cvae_tape *t, const cvae_dataset *ds, int32_t *choice,
                            double *acc, double *conf)
{
    int64_t idx[EVAL], correct = 0;
    int32_t labels[EVAL];
    double csum = 0;
    cvae_status s = CVAE_OK;
    cvae_tape_set_recording(t, 0);
    for (int64_t b0 = 0; b0 < ds->n && !s; b0 += EVAL) {
        const int64_t bn = ds->n - b0 < EVAL ? ds->n - b0 : EVAL;
        cvae_tensor *x, *alpha, *logits;
        for (int64_t i = 0; i < bn; i++) idx[i] = b0 + i;
        cvae_tape_reset(t);
        s = ex_batch(ds, t, idx, bn, &x, labels);
        if (!s) s = sk_forward(m, t, x, choice + b0, &alpha, &logits);
        for (int64_t i = 0; i < bn && !s; i++) {
            int best = 0;
            for (int c = 1; c < SK_CLASSES; c++)
                if (logits->data[i * SK_CLASSES + c] > logits->data[i * SK_CLASSES + best])
                    best = c;
            correct += best == labels[i];
            csum += alpha->data[i * m->k + choice[b0 + i]];
        }
    }
    cvae_tape_set_recording(t, 1);
    *acc = (double)correct / (double)ds->n;
    *conf = csum / (double)ds->n;
    return s;
}

/* One row per kernel: the 3x3 filter enlarged to 27x27 (mapped to [0, 1]),
 * then up to SHOW test digits that selected it. */
static cvae_status write_picture(const char *path, const sk_net *m, const cvae_dataset *ds,
                                 const int32_t *choice)
{
    const int64_t cols = SHOW + 1, n = (int64_t)m->k * cols;
    float *pics = calloc((size_t)n * 784, sizeof(float));
    if (!pics) return CVAE_ERR_NOMEM;
    for (int k = 0; k < m->k; k++) {
        const float *f = m->table->data + (int64_t)k * SK_CH * SK_CH * 9; /* channel 0 -> 0 */
        float lo = f[0], hi = f[0];
        for (int j = 1; j < 9; j++) lo = f[j] < lo ? f[j] : lo, hi = f[j] > hi ? f[j] : hi;
        float *cell = pics + (size_t)k * cols * 784;
        for (int y = 0; y < 27; y++)
            for (int x = 0; x < 27; x++)
                cell[y * 28 + x] = (f[(y / 9) * 3 + x / 9] - lo) / (hi - lo + 1e-12f);
        int found = 0;
        for (int64_t i = 0; i < ds->n && found < SHOW; i++) {
            if (choice[i] != k) continue;
            const int64_t idx = i;
            found++;
            cvae_status s = cvae_dataset_batch(ds, &idx, 1, CVAE_BINARIZE_NONE, 0,
                                               cell + (size_t)found * 784, NULL);
            if (s) {
                free(pics);
                return s;
            }
        }
    }
    cvae_status s = cvae_png_write_grid(path, pics, n, 28, 28, (int)cols, 2);
    free(pics);
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CVAE_DEFAULT_DATA_DIR;
    const int epochs = argc > 2 ? atoi(argv[2]) : 3;
    const char *out_dir = argc > 3 ? argv[3] : "out";
    int rc = 1;
    cvae_dataset *train = NULL, *test = NULL;
    sk_net *m = NULL;
    cvae_optim *opt = NULL;
    cvae_tape *t = NULL;
    int64_t *perm = NULL;
    int32_t *choice = NULL, labels[BATCH], picked[BATCH];
    float *table0 = NULL;
    if (epochs < 1) {
        fprintf(stderr, "usage: %s [DATA_DIR [EPOCHS >= 1 [OUT_DIR]]]\n", argv[0]);
        return 2;
    }
    if (ex_make_dir(out_dir)) return 1;
    CHECK(cvae_dataset_load_dir(dir, "train", &train));
    CHECK(cvae_dataset_load_dir(dir, "t10k", &test));
    if (train->rows != 28 || train->cols != 28 || train->num_classes > SK_CLASSES ||
        test->num_classes > SK_CLASSES) {
        fprintf(stderr, "selected_kernel: expected 28x28 digits of at most 10 classes\n");
        goto done;
    }
    printf("%lld training, %lld test digits from %s; %d epochs of batch %d per mode\n",
           (long long)train->n, (long long)test->n, dir, epochs, BATCH);
    CHECK(cvae_tape_new(&t));
    perm = malloc(sizeof *perm * (size_t)train->n);
    choice = malloc(sizeof *choice * (size_t)test->n);
    if (!perm || !choice) {
        fprintf(stderr, "selected_kernel: out of memory\n");
        goto done;
    }

    for (int hard = 0; hard < 2; hard++) {
        const char *mode = hard ? "hard" : "soft";
        const double t0 = ex_now();
        CHECK(sk_net_new(SK_FILTERS, hard, 28, 28, SEED, &m));
        cvae_adam_opts ao = cvae_adam_opts_default();
        ao.lr = 2e-3f;
        CHECK(cvae_optim_new_adam(m->params, &ao, &opt));
        const size_t tbytes = sizeof(float) * (size_t)m->table->size;
        table0 = malloc(tbytes);
        if (!table0) {
            fprintf(stderr, "selected_kernel: out of memory\n");
            goto done;
        }
        memcpy(table0, m->table->data, tbytes);
        printf("\n%s selection (%s): %lld parameters, %lld trainable; the %lld of the "
               "kernel table are frozen\n",
               mode,
               hard ? "argmax of the head -> cvae_op_conditional_conv2d"
                    : "softmax of the head -> cvae_op_conditional_conv2d_soft",
               (long long)cvae_params_numel(m->params),
               (long long)cvae_params_trainable_numel(m->params), (long long)m->table->size);
        for (int e = 0; e < epochs; e++) {
            double sum = 0, acc, conf;
            int steps = 0;
            ex_shuffle(perm, train->n, SEED, (uint64_t)e);
            for (int64_t b0 = 0; b0 + BATCH <= train->n; b0 += BATCH, steps++) {
                cvae_tensor *x, *logits, *loss;
                cvae_tape_reset(t);
                cvae_params_zero_grad(m->params);
                CHECK(ex_batch(train, t, perm + b0, BATCH, &x, labels));
                CHECK(sk_forward(m, t, x, picked, NULL, &logits));
                CHECK(cvae_op_softmax_cross_entropy(t, logits, labels, CVAE_REDUCE_MEAN, &loss));
                CHECK(cvae_tape_backward(t, loss));
                CHECK(cvae_optim_step(opt));
                sum += loss->data[0];
            }
            CHECK(evaluate(m, t, test, choice, &acc, &conf));
            printf("  epoch %d  loss %.4f  test accuracy %.2f%%  mean selection weight %.3f\n",
                   e + 1, sum / steps, 100 * acc, conf);
        }
        printf("  test digits per class selecting each kernel:\n  digit");
        for (int k = 0; k < m->k; k++) printf(" %10s", sk_filter_name(k));
        printf("\n");
        for (int c = 0; c < SK_CLASSES; c++) {
            printf("  %5d", c);
            for (int k = 0; k < m->k; k++) {
                int count = 0;
                for (int64_t i = 0; i < test->n; i++)
                    count += test->labels[i] == c && choice[i] == k;
                printf(" %10d", count);
            }
            printf("\n");
        }
        const int same = memcmp(table0, m->table->data, tbytes) == 0;
        printf("  fixed kernels after training: %s; gradient buffer: %s\n",
               same ? "bit-for-bit unchanged" : "CHANGED", m->table->grad ? "present" : "none");
        if (!same) goto done;
        char path[4096];
        snprintf(path, sizeof path, "%s/selected_kernel_%s.png", out_dir, mode);
        CHECK(write_picture(path, m, test, choice));
        printf("  wrote %s (%.1f s)\n", path, ex_now() - t0);
        free(table0);
        table0 = NULL;
        cvae_optim_free(opt);
        opt = NULL;
        sk_net_free(m);
        m = NULL;
    }
    rc = 0;
done:
    free(perm);
    free(choice);
    free(table0);
    cvae_optim_free(opt);
    sk_net_free(m);
    cvae_tape_free(t);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
