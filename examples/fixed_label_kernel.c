/* fixed_label_kernel: the original question answered in code.
 *
 *   "A convolution filter that is fixed but depends on the class label,
 *    concatenated with the usual learned Conv2D filters, in a conv net on MNIST."
 *
 * The first layer is a cvae_cond_conv2d: 32 ordinary learned 3x3 stride-2
 * filters concatenated with one FIXED 3x3 kernel per digit class (an oriented
 * Gabor / edge filter, orientation pi * digit / 10), looked up per sample by its
 * label. The table is frozen: it gets no gradient and the optimizer skips it.
 * The network is a small label-conditioned autoencoder:
 *
 *   x [N,1,28,28] --cond_conv(32 learned + 1 fixed per label)--> [N,33,14,14]
 *     --relu, flatten--> [N,6468] --linear--> [N,64] --relu--> --linear--> [N,784] logits
 *   loss = binary cross-entropy(logits, x), Adam, a few hundred steps.
 *
 * It prints the fixed kernels, trains, checks that the fixed kernels are
 * bit-for-bit unchanged while the learned ones moved, and writes the kernels
 * (10 fixed, then the 32 learned ones) enlarged into a PNG picture.
 *
 *     fixed_label_kernel [DATA_DIR [STEPS [OUT.png]]]
 *
 * Defaults: the bundled 5,000 digits, 300 steps, fixed_label_kernel.png. */
#include <cvae/cvae.h>

#include "fixed_label_kernel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif

enum { BATCH = 64, LEARNED = 32, HIDDEN = 64, CLASSES = 10, K = 3, SCALE = 8 };

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_ != CVAE_OK) {                                                                       \
            fprintf(stderr, "fixed_label_kernel: %s: %s\n", cvae_status_str(s_),                   \
                    cvae_last_error());                                                            \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

static void print_fixed_kernels(const cvae_tensor *table)
{
    printf("fixed kernels (table [%lld, 1, 1, 3, 3], one per digit, frozen):\n",
           (long long)table->shape[0]);
    for (int64_t l0 = 0; l0 < table->shape[0]; l0 += 5)
        for (int r = 0; r < K; r++) {
            for (int64_t l = l0; l < l0 + 5 && l < table->shape[0]; l++) {
                if (r == 0)
                    printf("  %lld:", (long long)l);
                else
                    printf("    ");
                for (int c = 0; c < K; c++) printf("%6.2f", table->data[l * K * K + r * K + c]);
            }
            printf("\n");
        }
}

/* One row of enlarged 3x3 kernels per block (fixed table, then learned), grey =
 * 0, each kernel scaled by its own max |value|, as a PNG. */
static int write_png(const char *path, const float *fixed, int n_fixed, const float *learned,
                     int n_learned)
{
    const int cell = K * SCALE + 4, cols = n_learned > n_fixed ? n_learned / 2 : n_fixed;
    const int w = cols * cell, h = 3 * cell;
    unsigned char *img = malloc((size_t)w * (size_t)h);
    if (!img) return -1;
    memset(img, 255, (size_t)w * (size_t)h);
    for (int kidx = 0; kidx < n_fixed + n_learned; kidx++) {
        const float *k = kidx < n_fixed ? fixed + kidx * K * K : learned + (kidx - n_fixed) * K * K;
        int row = kidx < n_fixed ? 0 : 1 + (kidx - n_fixed) / cols;
        int col = kidx < n_fixed ? kidx : (kidx - n_fixed) % cols;
        float mx = 1e-12f;
        for (int i = 0; i < K * K; i++) mx = fabsf(k[i]) > mx ? fabsf(k[i]) : mx;
        for (int y = 0; y < K * SCALE; y++)
            for (int x = 0; x < K * SCALE; x++) {
                float v = k[(y / SCALE) * K + x / SCALE] / mx;
                img[(row * cell + 2 + y) * w + col * cell + 2 + x] =
                    (unsigned char)lrintf(127.5f + 127.5f * v);
            }
    }
    cvae_status s = cvae_png_write_gray(path, w, h, img);
    free(img);
    return s == CVAE_OK ? 0 : -1;
}

static float max_abs_diff(const float *a, const float *b, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fabsf(a[i] - b[i]) > m ? fabsf(a[i] - b[i]) : m;
    return m;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CVAE_DEFAULT_DATA_DIR;
    const int steps = argc > 2 ? atoi(argv[2]) : 300;
    const char *out = argc > 3 ? argv[3] : "fixed_label_kernel.png";
    const uint64_t seed = 7;
    int rc = 1;
    cvae_dataset *train = NULL;
    flk_net *m = NULL;
    cvae_optim *opt = NULL;
    cvae_tape *t = NULL;
    float *table0 = NULL, *weight0 = NULL;
    int32_t labels[BATCH];
    int64_t idx[BATCH];
    if (steps < 1) {
        fprintf(stderr, "usage: %s [DATA_DIR [STEPS >= 1 [OUT.png]]]\n", argv[0]);
        return 2;
    }

    CHECK(cvae_dataset_load_dir(dir, "train", &train));
    if (train->rows != 28 || train->cols != 28 || train->num_classes > CLASSES) {
        fprintf(stderr, "fixed_label_kernel: expected 28x28 images of at most 10 classes\n");
        goto done;
    }
    printf("%lld training digits from %s\n", (long long)train->n, dir);

    CHECK(flk_net_new(LEARNED, HIDDEN, CLASSES, seed, &m));
    cvae_params *params = m->params;
    cvae_adam_opts ao = cvae_adam_opts_default();
    CHECK(cvae_optim_new_adam(params, &ao, &opt));
    CHECK(cvae_tape_new(&t));
    printf("parameters: %lld, trainable: %lld (the %lld table entries are frozen)\n",
           (long long)cvae_params_numel(params), (long long)cvae_params_trainable_numel(params),
           (long long)(m->conv->table->size + m->conv->table_bias->size));
    print_fixed_kernels(m->conv->table);

    table0 = malloc(sizeof(float) * (size_t)m->conv->table->size);
    weight0 = malloc(sizeof(float) * (size_t)m->conv->weight->size);
    if (!table0 || !weight0) {
        fprintf(stderr, "fixed_label_kernel: out of memory\n");
        goto done;
    }
    memcpy(table0, m->conv->table->data, sizeof(float) * (size_t)m->conv->table->size);
    memcpy(weight0, m->conv->weight->data, sizeof(float) * (size_t)m->conv->weight->size);

    cvae_rng r = cvae_rng_make(seed, 99);
    double first = 0, last = 0;
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < BATCH; i++) idx[i] = (int64_t)(cvae_rng_u32(&r) % (uint32_t)train->n);
        const int64_t sx[4] = {BATCH, 1, 28, 28}, sf[2] = {BATCH, 28 * 28};
        cvae_tensor *x, *target, *logits, *loss;
        cvae_tape_reset(t);
        cvae_params_zero_grad(params);
        CHECK(cvae_tape_tensor(t, 4, sx, &x));
        CHECK(cvae_tape_tensor(t, 2, sf, &target));
        CHECK(cvae_dataset_batch(train, idx, BATCH, CVAE_BINARIZE_NONE, 0, x->data, labels));
        memcpy(target->data, x->data, sizeof(float) * BATCH * 28 * 28);
        CHECK(flk_forward(m, t, x, labels, &logits));
        CHECK(cvae_op_bce_with_logits(t, logits, target, CVAE_REDUCE_MEAN, &loss));
        CHECK(cvae_tape_backward(t, loss));
        CHECK(cvae_optim_step(opt));
        if (step < 20) first += loss->data[0] / 20.0;
        if (step >= steps - 20) last += loss->data[0] / (steps < 20 ? steps : 20);
        if ((step + 1) % 50 == 0 || step + 1 == steps)
            printf("step %4d  reconstruction loss %.4f\n", step + 1, loss->data[0]);
    }
    printf("mean loss: first 20 steps %.4f, last 20 steps %.4f\n", first, last);

    const float dt = max_abs_diff(table0, m->conv->table->data, m->conv->table->size);
    const float dw = max_abs_diff(weight0, m->conv->weight->data, m->conv->weight->size);
    printf("fixed kernels:   max |change| = %g (%s), gradient buffer %s\n", (double)dt,
           dt == 0.0f ? "unchanged, as required" : "CHANGED",
           m->conv->table->grad ? "present" : "never allocated");
    printf("learned kernels: max |change| = %g (%s)\n", (double)dw,
           dw > 0.0f ? "trained" : "NOT trained");
    if (dt != 0.0f || !(dw > 0.0f)) goto done;

    if (write_png(out, m->conv->table->data, CLASSES, m->conv->weight->data, LEARNED) == 0)
        printf("wrote %s (top: the 10 fixed kernels; below: the 32 learned ones)\n", out);
    else
        fprintf(stderr, "fixed_label_kernel: cannot write %s\n", out);
    rc = 0;
done:
    free(table0);
    free(weight0);
    cvae_tape_free(t);
    cvae_optim_free(opt);
    flk_net_free(m);
    cvae_dataset_free(train);
    return rc;
}
