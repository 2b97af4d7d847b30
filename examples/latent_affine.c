/* latent_affine: the second answer to the original question, rebuilt.
 *
 * Instead of a label-dependent convolution kernel, that answer conditioned the
 * autoencoder on the label after the encoder: a label-dependent affine map of
 * the latent code, z' = tanh(exp(A onehot(y)) * z + B onehot(y) + b), with an L2
 * penalty on the code z (examples/nets/latent_affine.h). This program trains it
 * on the digits for a few L2 weights and prints how the spread of the codes z
 * (and of z') changes with the weight, and what the learned per-label scales
 * exp(A) do with it. Pictures (per L2 weight, in OUT_DIR):
 *   latent_affine_codes_<i>.png   the test set's codes z (left) and z' (right),
 *                                 coloured by label (legend: labels 0..9 below)
 *   latent_affine_labels_<i>.png  10 test digits (first column) decoded from
 *                                 their own code z under every label 0..9
 *
 *     latent_affine [DATA_DIR [EPOCHS [OUT_DIR]]]
 *
 * Defaults: the bundled digits, 5 epochs per L2 weight, out/. */
#include <cvae/cvae.h>

#include "common.h"
#include "latent_affine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif

enum { K = 10, BATCH = 64, EVAL = 250, PANEL = 256, MARGIN = 8, LEGEND = 16 };
static const uint64_t SEED = 3;
static const float L2[] = {0.0f, 0.1f, 10.0f};
enum { N_L2 = sizeof L2 / sizeof L2[0] };

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_ != CVAE_OK) {                                                                       \
            fprintf(stderr, "latent_affine: %s: %s (%s)\n", cvae_status_str(s_),                   \
                    cvae_last_error(), #expr);                                                     \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Matplotlib's tab10 colours, label 0..9. */
static const uint8_t PALETTE[K][3] = {
    {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

typedef struct spread {
    double mean_norm, std[2]; /* mean ||v||, std of each axis */
} spread;

static spread spread_of(const float *v, int64_t n)
{
    spread s = {0, {0, 0}};
    double mean[2] = {0, 0};
    for (int64_t i = 0; i < n; i++) {
        s.mean_norm += hypot(v[2 * i], v[2 * i + 1]) / (double)n;
        mean[0] += v[2 * i] / (double)n;
        mean[1] += v[2 * i + 1] / (double)n;
    }
    for (int a = 0; a < 2; a++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (v[2 * i + a] - mean[a]) * (v[2 * i + a] - mean[a]);
        s.std[a] = sqrt(ss / (double)n);
    }
    return s;
}

static void put(uint8_t *img, int w, int h, int x, int y, const uint8_t *c)
{
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    memcpy(img + 3 * ((size_t)y * (size_t)w + (size_t)x), c, 3);
}

/* Scatter of points v: [n, 2] in [-range, range]^2 into the panel at (x0, y0). */
static void scatter(uint8_t *img, int w, int h, int x0, int y0, const float *v,
                    const int32_t *labels, int64_t n, double range)
{
    static const uint8_t axis[3] = {200, 200, 200};
    for (int i = 0; i < PANEL; i++) {
        put(img, w, h, x0 + i, y0 + PANEL / 2, axis);
        put(img, w, h, x0 + PANEL / 2, y0 + i, axis);
    }
    for (int64_t i = 0; i < n; i++) {
        const int px = x0 + (int)lround((v[2 * i] / range + 1.0) * 0.5 * (PANEL - 1));
        const int py = y0 + (int)lround((1.0 - v[2 * i + 1] / range) * 0.5 * (PANEL - 1));
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) put(img, w, h, px + dx, py + dy, PALETTE[labels[i]]);
    }
}

static cvae_status write_codes(const char *path, const float *z, const float *zp,
                               const int32_t *labels, int64_t n)
{
    const int w = 2 * PANEL + 3 * MARGIN, h = PANEL + 2 * MARGIN + LEGEND;
    uint8_t *img = malloc((size_t)w * (size_t)h * 3);
    if (!img) return CVAE_ERR_NOMEM;
    memset(img, 255, (size_t)w * (size_t)h * 3);
    double range = 0;
    for (int64_t i = 0; i < 2 * n; i++) range = fmax(range, fabs(z[i]));
    scatter(img, w, h, MARGIN, MARGIN, z, labels, n, 1.05 * range + 1e-12);
    scatter(img, w, h, 2 * MARGIN + PANEL, MARGIN, zp, labels, n, 1.0);
    for (int k = 0; k < K; k++) /* legend: one square per label, 0..9 left to right */
        for (int y = 0; y < LEGEND - 4; y++)
            for (int x = 0; x < LEGEND - 4; x++)
                put(img, w, h, MARGIN + k * 2 * LEGEND + x, PANEL + MARGIN + 2 + y, PALETTE[k]);
    cvae_status s = cvae_png_write_rgb(path, w, h, img);
    free(img);
    return s;
}

/* Eval-mode codes z, z': [n, 2] and the summed BCE of the test set. */
static cvae_status encode_all(const la_net *m, cvae_tape *t, const cvae_dataset *ds, float *z,
                              float *zp, double *rec)
{
    int64_t idx[EVAL];
    int32_t labels[EVAL];
    cvae_status s = CVAE_OK;
    *rec = 0;
    cvae_tape_set_recording(t, 0);
    for (int64_t b0 = 0; b0 < ds->n && !s; b0 += EVAL) {
        const int64_t bn = ds->n - b0 < EVAL ? ds->n - b0 : EVAL, flat[2] = {bn, 784};
        cvae_tensor *x, *code, *mapped, *logits, *target, *bce;
        for (int64_t i = 0; i < bn; i++) idx[i] = b0 + i;
        cvae_tape_reset(t);
        s = ex_batch(ds, t, idx, bn, &x, labels);
        if (!s) s = la_encode(m, t, x, 0, &code);
        if (!s) s = la_affine(m, t, code, labels, &mapped);
        if (!s) s = la_decode(m, t, mapped, &logits);
        if (!s) s = cvae_op_reshape(t, x, 2, flat, &target);
        if (!s) s = cvae_op_bce_with_logits(t, logits, target, CVAE_REDUCE_SUM, &bce);
        if (s) break;
        memcpy(z + 2 * b0, code->data, sizeof(float) * 2 * (size_t)bn);
        memcpy(zp + 2 * b0, mapped->data, sizeof(float) * 2 * (size_t)bn);
        *rec += bce->data[0] / (double)ds->n;
    }
    cvae_tape_set_recording(t, 1);
    return s;
}

/* Grid of 10 test digits (one per label) and their codes decoded under every label. */
static cvae_status write_label_grid(const char *path, const la_net *m, cvae_tape *t,
                                    const cvae_dataset *ds)
{
    int64_t idx[K];
    int32_t labels[K], y[K * K];
    int found = 0;
    for (int k = 0; k < K; k++)
        for (int64_t i = 0; i < ds->n; i++)
            if (ds->labels[i] == k) {
                idx[found++] = i;
                break;
            }
    float *pics = malloc(sizeof(float) * (size_t)found * (K + 1) * 784);
    if (!pics) return CVAE_ERR_NOMEM;
    cvae_tensor *x, *z, *zrep, *zp, *logits, *p;
    const int64_t rep_shape[2] = {(int64_t)found * K, 2};
    cvae_tape_set_recording(t, 0);
    cvae_tape_reset(t);
    cvae_status s = ex_batch(ds, t, idx, found, &x, labels);
    if (!s) s = la_encode(m, t, x, 0, &z);
    if (!s) s = cvae_tape_tensor(t, 2, rep_shape, &zrep);
    for (int i = 0; i < found && !s; i++)
        for (int k = 0; k < K; k++) {
            zrep->data[2 * (i * K + k)] = z->data[2 * i];
            zrep->data[2 * (i * K + k) + 1] = z->data[2 * i + 1];
            y[i * K + k] = k;
        }
    if (!s) s = la_affine(m, t, zrep, y, &zp);
    if (!s) s = la_decode(m, t, zp, &logits);
    if (!s) s = cvae_op_sigmoid(t, logits, &p);
    for (int i = 0; i < found && !s; i++) {
        memcpy(pics + (size_t)i * (K + 1) * 784, x->data + (size_t)i * 784, sizeof(float) * 784);
        memcpy(pics + ((size_t)i * (K + 1) + 1) * 784, p->data + (size_t)i * K * 784,
               sizeof(float) * K * 784);
    }
    if (!s) s = cvae_png_write_grid(path, pics, (int64_t)found * (K + 1), 28, 28, K + 1, 2);
    cvae_tape_set_recording(t, 1);
    free(pics);
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CVAE_DEFAULT_DATA_DIR;
    const int epochs = argc > 2 ? atoi(argv[2]) : 5;
    const char *out_dir = argc > 3 ? argv[3] : "out";
    int rc = 1;
    cvae_dataset *train = NULL, *test = NULL;
    la_net *m = NULL;
    cvae_optim *opt = NULL;
    cvae_tape *t = NULL;
    int64_t *perm = NULL;
    float *z = NULL, *zp = NULL;
    int32_t labels[BATCH];
    struct {
        double rec, scale[2];
        spread z, zp;
    } res[N_L2];
    if (epochs < 1) {
        fprintf(stderr, "usage: %s [DATA_DIR [EPOCHS >= 1 [OUT_DIR]]]\n", argv[0]);
        return 2;
    }
    if (ex_make_dir(out_dir)) return 1;
    CHECK(cvae_dataset_load_dir(dir, "train", &train));
    CHECK(cvae_dataset_load_dir(dir, "t10k", &test));
    if (train->rows != 28 || train->cols != 28 || train->num_classes > K || test->num_classes > K) {
        fprintf(stderr, "latent_affine: expected 28x28 digits of at most %d classes\n", K);
        goto done;
    }
    printf("%lld training, %lld test digits from %s; %d epochs of batch %d per L2 weight\n",
           (long long)train->n, (long long)test->n, dir, epochs, BATCH);
    CHECK(cvae_tape_new(&t));
    perm = malloc(sizeof *perm * (size_t)train->n);
    z = malloc(sizeof(float) * 2 * (size_t)test->n);
    zp = malloc(sizeof(float) * 2 * (size_t)test->n);
    if (!perm || !z || !zp) {
        fprintf(stderr, "latent_affine: out of memory\n");
        goto done;
    }

    for (int r = 0; r < N_L2; r++) {
        const double t0 = ex_now();
        CHECK(la_net_new(K, SEED, &m));
        cvae_adam_opts ao = cvae_adam_opts_default();
        ao.lr = 2e-3f;
        CHECK(cvae_optim_new_adam(m->params, &ao, &opt));
        printf("\nL2 weight %g:\n", (double)L2[r]);
        for (int e = 0; e < epochs; e++) {
            double sum_rec = 0, sum_pen = 0;
            int steps = 0;
            ex_shuffle(perm, train->n, SEED, (uint64_t)e);
            for (int64_t b0 = 0; b0 + BATCH <= train->n; b0 += BATCH, steps++) {
                cvae_tensor *x, *loss;
                float rec, pen;
                cvae_tape_reset(t);
                cvae_params_zero_grad(m->params);
                CHECK(ex_batch(train, t, perm + b0, BATCH, &x, labels));
                CHECK(la_loss(m, t, x, labels, L2[r], &loss, &rec, &pen, NULL));
                CHECK(cvae_tape_backward(t, loss));
                CHECK(cvae_optim_step(opt));
                sum_rec += rec;
                sum_pen += pen;
            }
            printf("  epoch %d  reconstruction %.2f  L2 term %.3f\n", e + 1, sum_rec / steps,
                   sum_pen / steps);
        }
        CHECK(encode_all(m, t, test, z, zp, &res[r].rec));
        res[r].z = spread_of(z, test->n);
        res[r].zp = spread_of(zp, test->n);
        for (int a = 0; a < 2; a++) {
            res[r].scale[a] = 0;
            for (int k = 0; k < K; k++) res[r].scale[a] += exp(m->log_scale->data[2 * k + a]) / K;
        }
        printf("  test reconstruction %.2f nats/digit; exp(A) per label (axis 1, axis 2):\n   ",
               res[r].rec);
        for (int k = 0; k < K; k++)
            printf(" %d:(%.2f,%.2f)", k, exp(m->log_scale->data[2 * k]),
                   exp(m->log_scale->data[2 * k + 1]));
        printf("\n");
        char path[4096];
        snprintf(path, sizeof path, "%s/latent_affine_codes_%d.png", out_dir, r);
        CHECK(write_codes(path, z, zp, test->labels, test->n));
        printf("  wrote %s\n", path);
        snprintf(path, sizeof path, "%s/latent_affine_labels_%d.png", out_dir, r);
        CHECK(write_label_grid(path, m, t, test));
        printf("  wrote %s (%.1f s)\n", path, ex_now() - t0);
        cvae_optim_free(opt);
        opt = NULL;
        la_net_free(m);
        m = NULL;
    }

    printf("\nspread of the test codes against the L2 weight:\n");
    printf("  L2 weight  test rec  mean|z|  std z (axis 1, 2)  mean exp(A)   mean|z'|  std z'\n");
    for (int r = 0; r < N_L2; r++)
        printf("  %9g  %8.2f  %7.3f  %7.3f %7.3f    %5.2f %5.2f   %6.3f  %5.3f %5.3f\n",
               (double)L2[r], res[r].rec, res[r].z.mean_norm, res[r].z.std[0], res[r].z.std[1],
               res[r].scale[0], res[r].scale[1], res[r].zp.mean_norm, res[r].zp.std[0],
               res[r].zp.std[1]);
    rc = 0;
done:
    free(perm);
    free(z);
    free(zp);
    cvae_optim_free(opt);
    la_net_free(m);
    cvae_tape_free(t);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
