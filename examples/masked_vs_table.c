/* masked_vs_table: the first answer to the original question, rebuilt and
 * measured.
 *
 * The answer (Keras) wanted a convolution that depends on the digit's label:
 * it built K = 10 per-class 3x3 convolutions, applied EVERY one to the whole
 * batch, multiplied each result by the sample's one-hot label column and summed,
 * so only the sample's own class convolution survives. This program builds that
 * autoencoder twice (examples/nets/masked_vs_table.h):
 *   masked: the answer as written, from cvae_op_conv2d, cvae_op_mul, cvae_op_add;
 *   table:  one cvae_op_conditional_conv2d over a trainable table of the same K kernels.
 * It copies the same weights into both and compares outputs and all gradients,
 * trains both with Adam from the same start on the same batches and compares the
 * losses step by step, times a training step and the per-class layer alone in
 * each, and writes test reconstructions of both as a PNG.
 *
 *     masked_vs_table [DATA_DIR [STEPS [BATCH [OUT_DIR]]]]
 *
 * Defaults: the bundled digits, 150 steps, batch 64, out/. */
#include <cvae/cvae.h>

#include "common.h"
#include "masked_vs_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif

enum { K = 10, LAYER_REPS = 20, SHOW = 20 };
static const uint64_t SEED = 11;

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_ != CVAE_OK) {                                                                       \
            fprintf(stderr, "masked_vs_table: %s: %s (%s)\n", cvae_status_str(s_),                 \
                    cvae_last_error(), #expr);                                                     \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Seconds of one forward + backward of the per-class layer alone on h: [N, 8, 28, 28]
 * (h requires a gradient, as inside the network). */
static cvae_status time_class_layer(const mvt_net *m, cvae_tape *t, const float *h0, int64_t n,
                                    const int32_t *labels, const float *dy, double *sec)
{
    const int64_t shape[4] = {n, MVT_CH, 28, 28};
    cvae_tensor *h, *y;
    cvae_tape_reset(t);
    cvae_status s = cvae_tape_tensor(t, 4, shape, &h);
    if (!s) s = cvae_tensor_set_data(h, h0, h->size);
    if (!s) s = cvae_tape_require_grad(t, h);
    const double t0 = ex_now();
    if (!s) s = mvt_class_layer(m, t, h, labels, &y);
    if (!s) s = cvae_tape_backward_with(t, y, dy);
    *sec = ex_now() - t0;
    cvae_params_zero_grad(m->params);
    return s;
}

/* Reconstructions (sigmoid of the logits, eval mode) of x: [n, 1, 28, 28] into rec. */
static cvae_status reconstruct(const mvt_net *m, cvae_tape *t, const float *x0, int64_t n,
                               const int32_t *labels, float *rec)
{
    const int64_t shape[4] = {n, 1, 28, 28};
    cvae_tensor *x, *logits, *p;
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, 0);
    cvae_status s = cvae_tape_tensor(t, 4, shape, &x);
    if (!s) s = cvae_tensor_set_data(x, x0, x->size);
    if (!s) s = mvt_forward(m, t, x, labels, 0, NULL, &logits);
    if (!s) s = cvae_op_sigmoid(t, logits, &p);
    if (!s) memcpy(rec, p->data, sizeof(float) * (size_t)p->size);
    cvae_tape_set_recording(t, 1);
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CVAE_DEFAULT_DATA_DIR;
    const int steps = argc > 2 ? atoi(argv[2]) : 150;
    const int batch = argc > 3 ? atoi(argv[3]) : 64;
    const char *out_dir = argc > 4 ? argv[4] : "out";
    int rc = 1;
    cvae_dataset *train = NULL, *test = NULL;
    mvt_net *nets[2] = {NULL, NULL}; /* [0] masked, [1] table */
    cvae_optim *opt[2] = {NULL, NULL};
    cvae_tape *t = NULL;
    int64_t *perm = NULL;
    int32_t *labels = NULL;
    float *h0 = NULL, *dy = NULL, *pics = NULL, *ref = NULL;
    double *lt[2] = {NULL, NULL};
    if (steps < 1 || batch < 2) {
        fprintf(stderr, "usage: %s [DATA_DIR [STEPS >= 1 [BATCH >= 2 [OUT_DIR]]]]\n", argv[0]);
        return 2;
    }
    if (ex_make_dir(out_dir)) return 1;

    CHECK(cvae_dataset_load_dir(dir, "train", &train));
    CHECK(cvae_dataset_load_dir(dir, "t10k", &test));
    if (train->rows != 28 || train->cols != 28 || train->num_classes > K || test->n < SHOW) {
        fprintf(stderr, "masked_vs_table: expected 28x28 digits of at most %d classes\n", K);
        goto done;
    }
    printf("%lld training digits from %s; K = %d classes, batch %d\n", (long long)train->n, dir, K,
           batch);
    CHECK(mvt_net_new(1, K, SEED, &nets[0]));
    CHECK(mvt_net_new(0, K, SEED, &nets[1]));
    CHECK(mvt_copy_weights(nets[0], nets[1]));
    CHECK(cvae_tape_new(&t));
    perm = malloc(sizeof *perm * (size_t)train->n);
    labels = malloc(sizeof *labels * (size_t)batch);
    const size_t hsize = (size_t)batch * MVT_CH * 28 * 28;
    h0 = malloc(sizeof(float) * hsize);
    dy = malloc(sizeof(float) * hsize);
    pics = malloc(sizeof(float) * 3 * SHOW * 784);
    ref = malloc(sizeof(float) * (size_t)batch * (MVT_CODE + 784));
    lt[0] = malloc(sizeof(double) * (size_t)(steps > LAYER_REPS ? steps : LAYER_REPS));
    lt[1] = malloc(sizeof(double) * (size_t)(steps > LAYER_REPS ? steps : LAYER_REPS));
    if (!perm || !labels || !h0 || !dy || !pics || !ref || !lt[0] || !lt[1]) {
        fprintf(stderr, "masked_vs_table: out of memory\n");
        goto done;
    }

    /* 1. Same weights, same batch: same outputs, same gradients. */
    ex_shuffle(perm, train->n, SEED, 0);
    {
        cvae_tensor *x, *code[2], *logits[2], *loss[2];
        double dcode, dlogit, dgrad;
        const char *worst;
        for (int v = 0; v < 2; v++) {
            cvae_tape *tv = t;
            cvae_tape_reset(tv);
            CHECK(ex_batch(train, tv, perm, batch, &x, labels));
            CHECK(mvt_forward(nets[v], tv, x, labels, 1, &code[v], &logits[v]));
            const int64_t flat[2] = {batch, 784};
            cvae_tensor *target;
            CHECK(cvae_op_reshape(tv, x, 2, flat, &target));
            CHECK(cvae_op_bce_with_logits(tv, logits[v], target, CVAE_REDUCE_MEAN, &loss[v]));
            CHECK(cvae_tape_backward(tv, loss[v]));
            if (v == 0) { /* keep the masked net's outputs before the tape is reused */
                memcpy(ref, code[0]->data, sizeof(float) * (size_t)code[0]->size);
                memcpy(ref + code[0]->size, logits[0]->data,
                       sizeof(float) * (size_t)logits[0]->size);
            }
        }
        dcode = ex_rel_diff(ref, code[1]->data, code[1]->size);
        dlogit = ex_rel_diff(ref + code[1]->size, logits[1]->data, logits[1]->size);
        CHECK(mvt_grad_diff(nets[0], nets[1], &dgrad, &worst));
        printf("\nsame weights, same batch (relative error = max |a - b| / max |b| per tensor):\n");
        printf("  code   max rel error %.2e\n  logits max rel error %.2e\n", dcode, dlogit);
        int trainable = 0;
        for (int i = 0; i < cvae_params_count(nets[0]->params); i++)
            trainable += cvae_params_is_trainable(cvae_params_at(nets[0]->params, i));
        printf("  gradients of all %d trainable tensors: max rel error %.2e (%s)\n", trainable,
               dgrad, worst);
        printf("  %s\n", dcode <= 1e-5 && dlogit <= 1e-5 && dgrad <= 1e-5
                             ? "equal within 1e-5: the two nets compute the same function"
                             : "NOT EQUAL within 1e-5");
        cvae_params_zero_grad(nets[0]->params);
        cvae_params_zero_grad(nets[1]->params);
    }

    /* 2. The per-class layer alone, forward + backward, alternating the two. */
    {
        cvae_rng_fill_normal(SEED, 1, 0.0f, 1.0f, h0, (int64_t)hsize);
        cvae_rng_fill_normal(SEED, 2, 0.0f, 1.0f, dy, (int64_t)hsize);
        for (int i = 0; i < batch; i++) labels[i] = train->labels[perm[i]];
        double sec;
        for (int v = 0; v < 2; v++)
            CHECK(time_class_layer(nets[v], t, h0, batch, labels, dy, &sec));
        for (int r = 0; r < LAYER_REPS; r++)
            for (int v = 0; v < 2; v++)
                CHECK(time_class_layer(nets[v], t, h0, batch, labels, dy, &lt[v][r]));
        const double a = median(lt[0], LAYER_REPS), b = median(lt[1], LAYER_REPS);
        printf("\nper-class layer alone ([%d, 8, 28, 28], forward + backward, median of %d):\n",
               batch, LAYER_REPS);
        printf("  masked %.2f ms   table %.2f ms   ratio %.1f (K = %d)\n", 1e3 * a, 1e3 * b, a / b,
               K);
    }

    /* 3. Train both from the same start on the same batches. */
    {
        cvae_adam_opts ao = cvae_adam_opts_default();
        CHECK(cvae_optim_new_adam(nets[0]->params, &ao, &opt[0]));
        CHECK(cvae_optim_new_adam(nets[1]->params, &ao, &opt[1]));
        CHECK(mvt_copy_weights(nets[0], nets[1])); /* includes the batch-norm statistics */
        printf("\ntraining both with Adam (lr %g), same seed, same batches:\n", (double)ao.lr);
        printf("  step   loss masked   loss table   rel diff\n");
        double max_rel = 0, epoch_steps = (double)(train->n / batch);
        int64_t b0 = 0, epoch = 0;
        for (int step = 0; step < steps; step++) {
            if (b0 + batch > train->n) ex_shuffle(perm, train->n, SEED, (uint64_t)++epoch), b0 = 0;
            float loss[2];
            for (int v = 0; v < 2; v++) {
                cvae_tensor *x, *l;
                const double t0 = ex_now();
                cvae_tape_reset(t);
                cvae_params_zero_grad(nets[v]->params);
                CHECK(ex_batch(train, t, perm + b0, batch, &x, labels));
                CHECK(mvt_loss(nets[v], t, x, labels, &l));
                CHECK(cvae_tape_backward(t, l));
                CHECK(cvae_optim_step(opt[v]));
                lt[v][step] = ex_now() - t0;
                loss[v] = l->data[0];
            }
            b0 += batch;
            const double rel = fabs((double)loss[0] - loss[1]) / fabs((double)loss[1]);
            max_rel = rel > max_rel ? rel : max_rel;
            if (step == 0 || (step + 1) % 25 == 0 || step + 1 == steps)
                printf("  %4d   %.6f      %.6f     %.1e\n", step + 1, (double)loss[0],
                       (double)loss[1], rel);
        }
        const double a = median(lt[0], steps), b = median(lt[1], steps);
        printf("  %d steps (%.1f epochs): max relative loss difference %.2e\n", steps,
               steps / epoch_steps, max_rel);
        printf("  time per training step (median): masked %.1f ms   table %.1f ms   ratio %.2f\n",
               1e3 * a, 1e3 * b, a / b);
    }

    /* 4. Test reconstructions: originals, masked net, table net. */
    {
        int64_t idx[SHOW];
        int32_t lab[SHOW];
        for (int i = 0; i < SHOW; i++) idx[i] = i;
        CHECK(cvae_dataset_batch(test, idx, SHOW, CVAE_BINARIZE_NONE, 0, pics, lab));
        CHECK(reconstruct(nets[0], t, pics, SHOW, lab, pics + SHOW * 784));
        CHECK(reconstruct(nets[1], t, pics, SHOW, lab, pics + 2 * SHOW * 784));
        char path[4096];
        snprintf(path, sizeof path, "%s/masked_vs_table_recon.png", out_dir);
        CHECK(cvae_png_write_grid(path, pics, 3 * SHOW, 28, 28, SHOW, 2));
        printf("\nwrote %s (rows: %d test digits, masked net, table net; 2-D code)\n", path, SHOW);
    }
    rc = 0;
done:
    free(perm);
    free(labels);
    free(h0);
    free(dy);
    free(pics);
    free(ref);
    free(lt[0]);
    free(lt[1]);
    cvae_optim_free(opt[0]);
    cvae_optim_free(opt[1]);
    cvae_tape_free(t);
    mvt_net_free(nets[0]);
    mvt_net_free(nets[1]);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
