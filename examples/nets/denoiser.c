/* The label-conditioned denoiser (see denoiser.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "denoiser.h"

// clang-format off
static const cvae_layer layers[] = {
    {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .out = 16, .kernel = 3, .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = 16, .cond_out = 16, .kernel = 5,
     .stride = 2, .padding = 2, .activation = CVAE_ACT_RELU},   /* .labels: dn_net_new */
    {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "up", .out = 16, .kernel = 4, .stride = 2,
     .padding = 1, .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_CONV2D, .name = "out", .out = 1, .kernel = 3, .padding = 1},
};
// clang-format on

cvae_status dn_net_new(int64_t k, uint64_t seed, cvae_net **out)
{
    cvae_layer l[4];
    memcpy(l, layers, sizeof l);
    l[1].labels = k;
    cvae_net *net;
    cvae_status s = cvae_net_new(seed, &net);
    if (s) return s;
    if ((s = cvae_net_add(net, "denoiser", 3, (int64_t[]){1, 28, 28}, l, 4, NULL))) {
        cvae_net_free(net);
        return s;
    }
    *out = net;
    return CVAE_OK;
}

/* noisy[i] = x[i] + sigma eps, eps drawn per sample from a stream of (step, row). */
static void add_noise(float *noisy, const float *x, int64_t n, int64_t per, int64_t first,
                      uint64_t seed, uint64_t step, float sigma)
{
    for (int64_t i = 0; i < n; i++) {
        cvae_rng_fill_normal(seed, (step << 24) + (uint64_t)(first + i), 0.0f, sigma,
                             noisy + i * per, per);
        for (int64_t j = 0; j < per; j++) noisy[i * per + j] += x[i * per + j];
    }
}

cvae_status dn_loss(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *sigma,
                    cvae_tensor **loss)
{
    cvae_tensor *noisy, *logits;
    cvae_status s = cvae_tape_tensor(t, 4, b->x->shape, &noisy);
    if (s) return s;
    add_noise(noisy->data, b->x->data, b->n, 28 * 28, b->first, b->seed, b->step, *(float *)sigma);
    if ((s = cvae_net_forward(net, 0, t, noisy, b->labels, &logits))) return s;
    return cvae_op_bce_with_logits(t, logits, b->x, CVAE_REDUCE_ROWS, loss);
}

cvae_status dn_evaluate(const cvae_net *net, const cvae_dataset *test, int64_t n, float sigma,
                        uint64_t seed, double *noisy, double *right, double *wrong)
{
    const int64_t per = 28 * 28, k = test->num_classes;
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    int32_t *labels = malloc((size_t)n * sizeof *labels),
            *shifted = malloc((size_t)n * sizeof *shifted);
    float *clean = malloc((size_t)(n * per) * sizeof *clean);
    cvae_tape *t = NULL;
    cvae_tensor *x, *y;
    cvae_status s = idx && labels && shifted && clean ? cvae_tape_new(&t) : CVAE_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    if (!s) s = cvae_dataset_batch(test, idx, n, CVAE_BINARIZE_NONE, 0, clean, labels);
    double *err[3] = {noisy, right, wrong};
    for (int w = 0; !s && w < 3; w++) {
        cvae_tape_reset(t);
        cvae_tape_set_recording(t, 0);
        if ((s = cvae_tape_tensor(t, 4, (int64_t[]){n, 1, 28, 28}, &x))) break;
        add_noise(x->data, clean, n, per, 0, seed, 0, sigma);
        for (int64_t i = 0; i < n; i++) shifted[i] = (int32_t)((labels[i] + (w == 2)) % k);
        if (w && (s = cvae_net_forward(net, 0, t, x, shifted, &y))) break;
        double e = 0;
        for (int64_t i = 0; i < n * per; i++) {
            const double v = w ? 1.0 / (1.0 + exp(-(double)y->data[i])) : x->data[i];
            e += (v - clean[i]) * (v - clean[i]);
        }
        *err[w] = e / (double)(n * per);
    }
    cvae_tape_free(t);
    free(idx), free(labels), free(shifted), free(clean);
    return s;
}
