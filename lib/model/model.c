/* The conditional VAE's parameters and graph (see include/cvae/model.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "model/model_internal.h"
#include "ops/conv/cond.h"
#include "ops/conv/conv.h"
#include "ops/linear.h"
#include "ops/loss.h"

/* Adds one parameter to m->params, or with count != NULL only adds its
 * element count to count[0] and raises count[1] to it (saturating at INT64_MAX). */
static cvae_status add(cvae_model *m, int64_t *count, const char *name, int ndim, int64_t a,
                       int64_t b, int64_t c, int64_t d, int64_t e, int trainable, cvae_tensor **out)
{
    int64_t shape[5] = {a, b, c, d, e};
    if (count) {
        int64_t n = 1;
        for (int i = 0; i < ndim; i++)
            if (!cvae__mul_ok(n, shape[i], &n)) n = INT64_MAX;
        if (__builtin_add_overflow(count[0], n, &count[0])) count[0] = INT64_MAX;
        if (n > count[1]) count[1] = n;
        return CVAE_OK;
    }
    return cvae_params_add(m->params, name, ndim, shape, trainable, out);
}

/* Every parameter of the architecture of m->cfg, in file order (see add). */
static cvae_status declare(cvae_model *m, int64_t *count)
{
    const cvae_model_config *c = &m->cfg;
    const int64_t C = c->image_channels, K = c->num_labels, L = c->latent, E1 = c->enc_channels,
                  Cc = c->cond_channels, E2 = c->enc2_channels, D = c->dec_channels;
    const int64_t flat = E2 * (c->image_h / 4) * (c->image_w / 4);
    const int tt = c->table_trainable;
    cvae_status s = CVAE_OK;
    if (!s && E1) s = add(m, count, "enc.conv1.weight", 4, E1, C, 3, 3, 1, 1, &m->conv1_w);
    if (!s && E1) s = add(m, count, "enc.conv1.bias", 1, E1, 1, 1, 1, 1, 1, &m->conv1_b);
    if (!s && Cc) s = add(m, count, "enc.cond.table", 5, K, Cc, C, 3, 3, tt, &m->table);
    if (!s && Cc) s = add(m, count, "enc.cond.table_bias", 2, K, Cc, 1, 1, 1, tt, &m->table_b);
    if (!s) s = add(m, count, "enc.conv2.weight", 4, E2, E1 + Cc, 3, 3, 1, 1, &m->conv2_w);
    if (!s) s = add(m, count, "enc.conv2.bias", 1, E2, 1, 1, 1, 1, 1, &m->conv2_b);
    if (!s) s = add(m, count, "enc.fc.weight", 2, 2 * L, flat + K, 1, 1, 1, 1, &m->enc_fc_w);
    if (!s) s = add(m, count, "enc.fc.bias", 1, 2 * L, 1, 1, 1, 1, 1, &m->enc_fc_b);
    if (!s) s = add(m, count, "dec.fc.weight", 2, flat, L + K, 1, 1, 1, 1, &m->dec_fc_w);
    if (!s) s = add(m, count, "dec.fc.bias", 1, flat, 1, 1, 1, 1, 1, &m->dec_fc_b);
    if (!s) s = add(m, count, "dec.deconv1.weight", 4, E2, D, 4, 4, 1, 1, &m->deconv1_w);
    if (!s) s = add(m, count, "dec.deconv1.bias", 1, D, 1, 1, 1, 1, 1, &m->deconv1_b);
    if (!s && c->cond_decoder) s = add(m, count, "dec.cond.table", 5, K, E2, Cc, 4, 4, tt, &m->dtable);
    if (!s && c->cond_decoder) s = add(m, count, "dec.cond.table_bias", 2, K, Cc, 1, 1, 1, tt, &m->dtable_b);
    if (!s) s = add(m, count, "dec.deconv2.weight", 4, D + (c->cond_decoder ? Cc : 0), C, 4, 4, 1, 1, &m->deconv2_w);
    if (!s) s = add(m, count, "dec.deconv2.bias", 1, C, 1, 1, 1, 1, 1, &m->deconv2_b);
    return s;
}

void cvae__model_size(const cvae_model_config *cfg, int64_t *total, int64_t *largest)
{
    cvae_model dry;
    memset(&dry, 0, sizeof dry);
    dry.cfg = *cfg;
    int64_t count[2] = {0, 0};
    declare(&dry, count);
    *total = count[0];
    *largest = count[1];
}

cvae_status cvae__model_alloc(const cvae_model_config *cfg, cvae_model **out)
{
    cvae_model *m = cvae__calloc(1, sizeof *m);
    if (!m) return cvae__nomem("cvae_model_new", sizeof *m);
    m->cfg = *cfg;
    m->threads = cvae__default_threads();
    cvae_status s = cvae_params_new(&m->params);
    if (!s) s = declare(m, NULL);
    if (s) {
        cvae_model_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

/* He-normal weights for the ReLU layers, Glorot for the linear heads, zero biases. */
static cvae_status init_weights(cvae_model *m)
{
    const cvae_model_config *c = &m->cfg;
    const uint64_t seed = c->seed;
    const int64_t C = c->image_channels, L = c->latent, K = c->num_labels, E1 = c->enc_channels,
                  Cc = c->cond_channels, E2 = c->enc2_channels, D = c->dec_channels;
    const int64_t flat = E2 * (c->image_h / 4) * (c->image_w / 4);
    if (E1) CVAE_TRY(cvae_init_fill(m->conv1_w, CVAE_INIT_HE_NORMAL, C * 9, E1 * 9, seed, 1));
    if (Cc && c->table_init == CVAE_TABLE_GABOR) CVAE_TRY(cvae_table_fill_gabor(m->table, 1.0f, 3.0f));
    else if (Cc) CVAE_TRY(cvae_init_fill(m->table, CVAE_INIT_HE_NORMAL, C * 9, Cc * 9, seed, 2));
    CVAE_TRY(cvae_init_fill(m->conv2_w, CVAE_INIT_HE_NORMAL, (E1 + Cc) * 9, E2 * 9, seed, 3));
    CVAE_TRY(cvae_init_fill(m->enc_fc_w, CVAE_INIT_GLOROT_UNIFORM, flat + K, 2 * L, seed, 4));
    CVAE_TRY(cvae_init_fill(m->dec_fc_w, CVAE_INIT_HE_NORMAL, L + K, flat, seed, 5));
    CVAE_TRY(cvae_init_fill(m->deconv1_w, CVAE_INIT_HE_NORMAL, E2 * 4, D * 16, seed, 6));
    if (c->cond_decoder && c->table_init == CVAE_TABLE_GABOR)
        CVAE_TRY(cvae_table_fill_gabor(m->dtable, 1.3f, 4.0f));
    else if (c->cond_decoder)
        CVAE_TRY(cvae_init_fill(m->dtable, CVAE_INIT_HE_NORMAL, E2 * 4, Cc * 16, seed, 7));
    CVAE_TRY(cvae_init_fill(m->deconv2_w, CVAE_INIT_GLOROT_UNIFORM, (D + (c->cond_decoder ? Cc : 0)) * 4,
                            C * 16, seed, 8));
    return CVAE_OK;
}

cvae_status cvae_model_new(const cvae_model_config *cfg, cvae_model **out)
{
    CVAE_CHECK_NULL(cfg, "cvae_model_new");
    CVAE_CHECK_NULL(out, "cvae_model_new");
    CVAE_TRY(cvae_model_config_validate(cfg));
    cvae_model *m = NULL;
    CVAE_TRY(cvae__model_alloc(cfg, &m));
    cvae_status s = init_weights(m);
    if (s) {
        cvae_model_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

void cvae_model_free(cvae_model *m)
{
    if (!m) return;
    cvae__team_free(m->team);
    cvae_params_free(m->params);
    cvae__free(m);
}

const cvae_model_config *cvae_model_get_config(const cvae_model *m) { return m ? &m->cfg : NULL; }

cvae_params *cvae_model_params(cvae_model *m) { return m ? m->params : NULL; }

cvae_status cvae__model_check_batch(const cvae_model *m, const char *fn, const float *images,
                                    const int32_t *labels, int64_t n)
{
    if (!m) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!labels) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: labels is NULL", fn);
    if (n < 1 || n > (1 << 24))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: batch size %lld outside [1, 2^24]", fn, (long long)n);
    CVAE_TRY(cvae__check_labels(labels, n, m->cfg.num_labels, fn));
    if (images) {
        const int64_t per = (int64_t)m->cfg.image_channels * m->cfg.image_h * m->cfg.image_w;
        for (int64_t i = 0; i < n * per; i++)
            if (!isfinite(images[i]))
                return cvae__error(CVAE_ERR_NUMERIC, "%s: image %lld has a non-finite pixel", fn,
                                   (long long)(i / per));
    }
    return CVAE_OK;
}

static const cvae_conv_opts S2P1 = {2, 2, 1, 1, 1, 1, 1, 1, 0, 0, CVAE_ACT_NONE, 0.0f};
static const cvae_conv_opts S2P1_RELU = {2, 2, 1, 1, 1, 1, 1, 1, 0, 0, CVAE_ACT_RELU, 0.0f};

cvae_status cvae__model_encode(const cvae_model *m, cvae_tape *t, cvae_tensor *x,
                               const int32_t *labels, cvae_tensor **mu, cvae_tensor **logvar)
{
    const cvae_model_config *c = &m->cfg;
    cvae_tensor *h, *h2, *flat, *onehot, *e, *stats, *halves[2];
    /* h = relu(concat(conv(x, w1) + b1, conv(x, table[y]) + table_b[y])) from one lowering of x;
     * every ReLU of the model is fused into the op before it (cvae_activation) */
    if (c->cond_channels)
        CVAE_TRY(cvae_op_conditional_conv2d_concat(t, x, labels, m->conv1_w, m->conv1_b, m->table,
                                                   m->table_b, &S2P1_RELU, &h));
    else
        CVAE_TRY(cvae_op_conv2d(t, x, m->conv1_w, m->conv1_b, &S2P1_RELU, &h));
    CVAE_TRY(cvae_op_conv2d(t, h, m->conv2_w, m->conv2_b, &S2P1_RELU, &h2));
    CVAE_TRY(cvae_op_flatten(t, h2, &flat));
    CVAE_TRY(cvae_op_one_hot(t, labels, x->shape[0], c->num_labels, &onehot));
    cvae_tensor *cat[2] = {flat, onehot};
    CVAE_TRY(cvae_op_concat(t, cat, 2, 1, &e));
    CVAE_TRY(cvae_op_linear(t, e, m->enc_fc_w, m->enc_fc_b, &stats));
    const int64_t sizes[2] = {c->latent, c->latent};
    CVAE_TRY(cvae_op_split(t, stats, 1, sizes, 2, halves));
    *mu = halves[0];
    *logvar = halves[1];
    return CVAE_OK;
}

cvae_status cvae__model_decode(const cvae_model *m, cvae_tape *t, cvae_tensor *z,
                               const int32_t *labels, cvae_tensor **logits)
{
    const cvae_model_config *c = &m->cfg;
    const int64_t n = z->shape[0];
    cvae_tensor *onehot, *dz, *d, *d1, *dc;
    CVAE_TRY(cvae_op_one_hot(t, labels, n, c->num_labels, &onehot));
    cvae_tensor *cat[2] = {z, onehot};
    CVAE_TRY(cvae_op_concat(t, cat, 2, 1, &dz));
    CVAE_TRY(cvae_op_linear_act(t, dz, m->dec_fc_w, m->dec_fc_b, CVAE_ACT_RELU, 0.0f, &d));
    const int64_t shape[4] = {n, c->enc2_channels, c->image_h / 4, c->image_w / 4};
    CVAE_TRY(cvae_op_reshape(t, d, 4, shape, &d));
    CVAE_TRY(cvae_op_conv_transpose2d(t, d, m->deconv1_w, m->deconv1_b, &S2P1_RELU, &d1));
    if (c->cond_decoder) {
        CVAE_TRY(cvae_op_conditional_conv_transpose2d(t, d, labels, m->dtable, m->dtable_b, &S2P1_RELU,
                                                      &dc));
        cvae_tensor *both[2] = {d1, dc};
        CVAE_TRY(cvae_op_concat(t, both, 2, 1, &d1));
    }
    return cvae_op_conv_transpose2d(t, d1, m->deconv2_w, m->deconv2_b, &S2P1, logits);
}

cvae_status cvae__model_pass(const cvae_model *m, cvae_tape *t, cvae_tensor *x,
                             const int32_t *labels, uint64_t seed, uint64_t stream, int64_t first_row,
                             cvae_model_pass *p)
{
    CVAE_TRY(cvae__model_encode(m, t, x, labels, &p->mu, &p->logvar));
    CVAE_TRY(cvae__op_reparameterize_from(t, p->mu, p->logvar, seed, stream, first_row * m->cfg.latent,
                                          &p->z));
    CVAE_TRY(cvae__model_decode(m, t, p->z, labels, &p->logits));
    CVAE_TRY(cvae_op_bce_with_logits(t, p->logits, x, CVAE_REDUCE_ROWS, &p->rec));
    return cvae_op_kl_normal(t, p->mu, p->logvar, CVAE_REDUCE_ROWS, &p->kl);
}

/* ---- summary ---- */

typedef struct text {
    char *buf;
    size_t size, len;
} text;

static void put(text *t, const char *fmt, ...) CVAE_PRINTF(2, 3);

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = t->len < t->size ? t->buf + t->len : NULL;
    int n = vsnprintf(dst, dst ? t->size - t->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
}

static int64_t numel(const cvae_tensor *a, const cvae_tensor *b) { return (a ? a->size : 0) + (b ? b->size : 0); }

static void row(text *t, const char *layer, const char *shape, int64_t params, const char *note)
{
    put(t, "%-34s %-18s %10lld  %s\n", layer, shape, (long long)params, note);
}

cvae_status cvae_model_summary(const cvae_model *m, char *buf, size_t size, size_t *needed)
{
    CVAE_CHECK_NULL(m, "cvae_model_summary");
    if (!buf && size) return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_model_summary: buf is NULL");
    const cvae_model_config *c = &m->cfg;
    text t = {buf, size, 0};
    char s[64];
    const int H = c->image_h, W = c->image_w;
    const char *tstate = c->table_trainable ? "trainable table" : "frozen table";
    put(&t, "%-34s %-18s %10s  %s\n", "Layer (type)", "Output shape", "Param #", "Notes");
    put(&t, "%.*s\n", 80, "================================================================================");
    snprintf(s, sizeof s, "(%d, %d, %d)", c->image_channels, H, W);
    row(&t, "input (image, label)", s, 0, "");
    if (c->enc_channels) {
        snprintf(s, sizeof s, "(%d, %d, %d)", c->enc_channels, H / 2, W / 2);
        row(&t, "enc.conv1 (Conv2D 3x3 s2, relu)", s, numel(m->conv1_w, m->conv1_b), "");
    }
    if (c->cond_channels) {
        snprintf(s, sizeof s, "(%d, %d, %d)", c->cond_channels, H / 2, W / 2);
        char note[64];
        snprintf(note, sizeof note, "K=%d, %s", c->num_labels, tstate);
        row(&t, "enc.cond (ConditionalConv2D, relu)", s, numel(m->table, m->table_b), note);
    }
    snprintf(s, sizeof s, "(%d, %d, %d)", c->enc_channels + c->cond_channels, H / 2, W / 2);
    row(&t, "concat", s, 0, "");
    snprintf(s, sizeof s, "(%d, %d, %d)", c->enc2_channels, H / 4, W / 4);
    row(&t, "enc.conv2 (Conv2D 3x3 s2, relu)", s, numel(m->conv2_w, m->conv2_b), "");
    snprintf(s, sizeof s, "(%lld)", (long long)m->enc_fc_w->shape[1]);
    row(&t, "flatten + onehot(y)", s, 0, "");
    snprintf(s, sizeof s, "(2 x %d)", c->latent);
    row(&t, "enc.fc (Dense -> mu, logvar)", s, numel(m->enc_fc_w, m->enc_fc_b), "");
    snprintf(s, sizeof s, "(%d)", c->latent);
    row(&t, "z = mu + exp(logvar/2) eps", s, 0, "");
    snprintf(s, sizeof s, "(%d, %d, %d)", c->enc2_channels, H / 4, W / 4);
    row(&t, "dec.fc (Dense on [z, onehot], relu)", s, numel(m->dec_fc_w, m->dec_fc_b), "");
    snprintf(s, sizeof s, "(%d, %d, %d)", c->dec_channels, H / 2, W / 2);
    row(&t, "dec.deconv1 (ConvT 4x4 s2, relu)", s, numel(m->deconv1_w, m->deconv1_b), "");
    if (c->cond_decoder) {
        snprintf(s, sizeof s, "(%d, %d, %d)", c->cond_channels, H / 2, W / 2);
        row(&t, "dec.cond (ConditionalConvT, relu)", s, numel(m->dtable, m->dtable_b), tstate);
    }
    snprintf(s, sizeof s, "(%d, %d, %d)", c->image_channels, H, W);
    row(&t, "dec.deconv2 (ConvT 4x4 s2, logits)", s, numel(m->deconv2_w, m->deconv2_b), "");
    put(&t, "%.*s\n", 80, "================================================================================");
    put(&t, "Total params: %lld (trainable %lld, frozen %lld)\n", (long long)cvae_params_numel(m->params),
        (long long)cvae_params_trainable_numel(m->params),
        (long long)(cvae_params_numel(m->params) - cvae_params_trainable_numel(m->params)));
    put(&t, "Loss: BCE(logits, x) summed over pixels + %g * KL(q(z|x,y) || N(0, I)), nats/image\n",
        (double)c->beta);
    if (needed) *needed = t.len + 1;
    if (size) buf[t.len < size ? t.len : size - 1] = '\0';
    return CVAE_OK;
}
