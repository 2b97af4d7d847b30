/* conv 1->16 3x3 s2 p1, relu, conv 16->32 3x3 s2 p1, relu, linear -> K. */
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "cli.h"

#define CVAE_TRY_CLI(expr)                                                                 \
    do {                                                                                   \
        cvae_status s_ = (expr);                                                           \
        if (s_) return s_;                                                                 \
    } while (0)

struct classifier {
    cvae_params *p;
    cvae_tensor *w1, *b1, *w2, *b2, *w3, *b3;
    int64_t h, w, k;
    cvae_tape *tape;
};

void classifier_free(classifier *c)
{
    if (!c) return;
    cvae_params_free(c->p);
    cvae_tape_free(c->tape);
    free(c);
}

static cvae_status logits_of(const classifier *c, cvae_tape *t, cvae_tensor *x, cvae_tensor **out)
{
    cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    cvae_tensor *h;
    cvae_status s = cvae_op_conv2d(t, x, c->w1, c->b1, &o, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_conv2d(t, h, c->w2, c->b2, &o, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_flatten(t, h, &h);
    if (!s) s = cvae_op_linear(t, h, c->w3, c->b3, out);
    return s;
}

static cvae_status build(const cvae_dataset *ds, uint64_t seed, classifier *c)
{
    c->h = ds->rows, c->w = ds->cols, c->k = ds->num_classes;
    const int64_t flat = 32 * ((c->h + 3) / 4) * ((c->w + 3) / 4);
    const int64_t s1[4] = {16, 1, 3, 3}, s2[4] = {32, 16, 3, 3}, s3[2] = {c->k, flat};
    const int64_t b1[1] = {16}, b2[1] = {32}, b3[1] = {c->k};
    cvae_status s = cvae_params_new(&c->p);
    if (!s) s = cvae_params_add(c->p, "conv1.weight", 4, s1, 1, &c->w1);
    if (!s) s = cvae_params_add(c->p, "conv1.bias", 1, b1, 1, &c->b1);
    if (!s) s = cvae_params_add(c->p, "conv2.weight", 4, s2, 1, &c->w2);
    if (!s) s = cvae_params_add(c->p, "conv2.bias", 1, b2, 1, &c->b2);
    if (!s) s = cvae_params_add(c->p, "fc.weight", 2, s3, 1, &c->w3);
    if (!s) s = cvae_params_add(c->p, "fc.bias", 1, b3, 1, &c->b3);
    if (!s) s = cvae_init_fill(c->w1, CVAE_INIT_HE_NORMAL, 9, 16 * 9, seed, 1);
    if (!s) s = cvae_init_fill(c->w2, CVAE_INIT_HE_NORMAL, 16 * 9, 32 * 9, seed, 2);
    if (!s) s = cvae_init_fill(c->w3, CVAE_INIT_GLOROT_UNIFORM, flat, c->k, seed, 3);
    if (!s) s = cvae_tape_new(&c->tape);
    return s;
}

cvae_status classifier_train(const cvae_dataset *ds, int epochs, uint64_t seed, classifier **out)
{
    classifier *c = calloc(1, sizeof *c);
    if (!c) return CVAE_ERR_NOMEM;
    cvae_optim *opt = NULL;
    const int64_t bs = 64, per = (int64_t)ds->rows * ds->cols;
    float *x = malloc(sizeof(float) * (size_t)(bs * per));
    int32_t *y = malloc(sizeof(int32_t) * bs);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)ds->n);
    cvae_adam_opts ao = cvae_adam_opts_default();
    cvae_status s = (!x || !y || !order) ? CVAE_ERR_NOMEM : build(ds, seed, c);
    if (!s) s = cvae_optim_new_adam(c->p, &ao, &opt);
    for (int e = 0; e < epochs && !s; e++) {
        cli_shuffle(order, ds->n, seed, 100 + (uint64_t)e);
        for (int64_t b = 0; b < ds->n && !s; b += bs) {
            int64_t n = ds->n - b < bs ? ds->n - b : bs;
            const int64_t shape[4] = {n, 1, c->h, c->w};
            cvae_tensor *xt, *logits, *loss;
            cvae_tape_reset(c->tape);
            cvae_params_zero_grad(c->p);
            s = cvae_dataset_batch(ds, order + b, n, CVAE_BINARIZE_NONE, 0, x, y);
            if (!s) s = cvae_tape_tensor(c->tape, 4, shape, &xt);
            if (!s) memcpy(xt->data, x, sizeof(float) * (size_t)(n * per));
            if (!s) s = logits_of(c, c->tape, xt, &logits);
            if (!s) s = cvae_op_softmax_cross_entropy(c->tape, logits, y, CVAE_REDUCE_MEAN, &loss);
            if (!s) s = cvae_tape_backward(c->tape, loss);
            if (!s) s = cvae_optim_step(opt);
        }
    }
    cvae_optim_free(opt);
    free(x), free(y), free(order);
    if (s) {
        classifier_free(c);
        return s;
    }
    *out = c;
    return CVAE_OK;
}

cvae_status classifier_predict(const classifier *c, const float *images, int64_t n, int32_t *pred)
{
    cvae_tape *t = c->tape;
    const int64_t per = c->h * c->w, bs = 256;
    for (int64_t b = 0; b < n; b += bs) {
        int64_t m = n - b < bs ? n - b : bs;
        const int64_t shape[4] = {m, 1, c->h, c->w};
        cvae_tensor *xt, *logits;
        cvae_tape_reset(t);
        cvae_tape_set_recording(t, 0);
        CVAE_TRY_CLI(cvae_tape_tensor(t, 4, shape, &xt));
        memcpy(xt->data, images + b * per, sizeof(float) * (size_t)(m * per));
        CVAE_TRY_CLI(logits_of(c, t, xt, &logits));
        for (int64_t i = 0; i < m; i++) {
            const float *l = logits->data + i * c->k;
            int32_t best = 0;
            for (int64_t k = 1; k < c->k; k++)
                if (l[k] > l[best]) best = (int32_t)k;
            pred[b + i] = best;
        }
    }
    cvae_tape_set_recording(t, 1);
    return CVAE_OK;
}
