/* The judge classifier (see judge.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"

// clang-format off
static const cvae_layer features[] = {
    {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .out = 32, .kernel = 3, .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 3, .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = CVAE_LAYER_FLATTEN},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 128, .activation = CVAE_ACT_RELU},
};
// clang-format on
#define N_FEATURES (int)(sizeof features / sizeof features[0])

struct judge {
    cvae_net *net;
    int64_t rows, cols, dim, k;
};

judge_opts judge_opts_default(void)
{
    return (judge_opts){.epochs = 0, .shift = 2, .lr = 2e-3f, .seed = 1, .threads = 0};
}

int judge_auto_epochs(int64_t n)
{
    const int64_t e = n > 0 ? (240000 + n - 1) / n : 1;
    return e < 1 ? 1 : e > 15 ? 15 : (int)e;
}

void judge_free(judge *j)
{
    if (!j) return;
    cvae_net_free(j->net);
    free(j);
}

int64_t judge_feature_dim(const judge *j)
{
    return j->dim;
}

static cvae_status build(int64_t rows, int64_t cols, int64_t k, uint64_t seed, judge *j)
{
    const cvae_layer head[] = {{.kind = CVAE_LAYER_LINEAR, .name = "out", .out = k}};
    int64_t shape[4];
    cvae_status s = cvae_net_new(seed, &j->net);
    if (!s)
        s = cvae_net_add(j->net, "features", 3, (int64_t[]){1, rows, cols}, features, N_FEATURES,
                         NULL);
    if (!s) {
        const int nd = cvae_net_shape(j->net, 0, 0, shape);
        s = cvae_net_add(j->net, "head", nd, shape, head, 1, NULL);
        j->dim = shape[0];
    }
    j->rows = rows, j->cols = cols, j->k = k;
    return s;
}

/* dst = src moved by (dx, dy) pixels, zeros shifted in.  src, dst: [h, w]. */
static void shift_image(float *dst, const float *src, int64_t h, int64_t w, int dx, int dy)
{
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            const int64_t sr = r - dy, sc = c - dx;
            dst[r * w + c] = sr >= 0 && sr < h && sc >= 0 && sc < w ? src[sr * w + sc] : 0.0f;
        }
}

/* The loss of cvae/train.h: the softmax cross-entropy of the head's logits, per sample, on
 * the slice's images each shifted by (dx, dy) in [-shift, shift]^2, drawn from the stream of
 * (b->seed, b->step) at the sample's row of the batch: the same shifts for any thread count. */
static cvae_status loss(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                        cvae_tensor **out)
{
    const int shift = *(const int *)user;
    const int64_t h = b->x->shape[2], w = b->x->shape[3];
    cvae_tensor *x = b->x, *f, *logits;
    cvae_status s;
    if (shift > 0) {
        if ((s = cvae_tape_tensor(t, 4, b->x->shape, &x))) return s;
        for (int64_t i = 0; i < b->n; i++) {
            cvae_rng r = cvae_rng_make(b->seed, b->step);
            r.counter = 2 * (uint64_t)(b->first + i);
            const uint32_t span = 2 * (uint32_t)shift + 1;
            const int dx = (int)(cvae_rng_u32(&r) % span) - shift;
            const int dy = (int)(cvae_rng_u32(&r) % span) - shift;
            shift_image(x->data + i * h * w, b->x->data + i * h * w, h, w, dx, dy);
        }
    }
    if ((s = cvae_net_forward(net, 0, t, x, NULL, &f))) return s;
    if ((s = cvae_net_forward(net, 1, t, f, NULL, &logits))) return s;
    return cvae_op_softmax_cross_entropy(t, logits, b->labels, CVAE_REDUCE_ROWS, out);
}

cvae_status judge_train(const cvae_dataset *ds, const judge_opts *o, judge **out)
{
    if (!ds || !o || !out || o->epochs < 0 || o->shift < 0 || o->shift > 4 || !(o->lr > 0) ||
        o->threads < 0)
        return CVAE_ERR_INVALID_ARG;
    judge *j = calloc(1, sizeof *j);
    if (!j) return CVAE_ERR_NOMEM;
    cvae_trainer *tr = NULL;
    cvae_loader *ld = NULL;
    cvae_train_opts to = cvae_train_opts_default();
    to.lr = o->lr, to.seed = o->seed;
    const int epochs = o->epochs ? o->epochs : judge_auto_epochs(ds->n);
    int shift = o->shift;
    cvae_status s = build(ds->rows, ds->cols, ds->num_classes, o->seed, j);
    if (!s) s = cvae_trainer_new_net(j->net, &to, loss, &shift, &tr);
    if (!s && o->threads) s = cvae_trainer_set_threads(tr, o->threads);
    if (!s) s = cvae_loader_new(ds, 64, CVAE_BINARIZE_NONE, o->seed, 1, &ld);
    for (int e = 0; e < epochs && !s; e++) {
        /* cosine decay from lr towards 0, one value per epoch */
        const double c = 0.5 * (1.0 + cos(3.14159265358979323846 * e / epochs));
        s = cvae_trainer_set_lr(tr, (float)(o->lr * c));
        if (!s) s = cvae_trainer_epoch(tr, ld, NULL);
    }
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    if (s) {
        judge_free(j);
        return s;
    }
    *out = j;
    return CVAE_OK;
}

cvae_status judge_apply(const judge *j, const float *images, int64_t n, int32_t *pred, float *feat)
{
    const int64_t per = j->rows * j->cols, bs = 256;
    cvae_tape *t;
    cvae_status s = cvae_tape_new(&t);
    if (s) return s;
    cvae_tape_set_recording(t, 0);
    for (int64_t b = 0; b < n && !s; b += bs) {
        const int64_t m = n - b < bs ? n - b : bs;
        cvae_tensor *x, *f, *logits;
        cvae_tape_reset(t);
        s = cvae_tape_tensor(t, 4, (int64_t[]){m, 1, j->rows, j->cols}, &x);
        if (!s) s = cvae_tensor_set_data(x, images + b * per, m * per);
        if (!s) s = cvae_net_forward(j->net, 0, t, x, NULL, &f);
        if (!s && feat) memcpy(feat + b * j->dim, f->data, sizeof(float) * (size_t)(m * j->dim));
        if (!s && pred) s = cvae_net_forward(j->net, 1, t, f, NULL, &logits);
        for (int64_t i = 0; !s && pred && i < m; i++) {
            const float *l = logits->data + i * j->k;
            int32_t best = 0;
            for (int64_t k = 1; k < j->k; k++)
                if (l[k] > l[best]) best = (int32_t)k;
            pred[b + i] = best;
        }
    }
    cvae_tape_free(t);
    return s;
}

cvae_status judge_summary(const judge *j, char *buf, size_t size)
{
    return cvae_net_summary(j->net, buf, size, NULL);
}
