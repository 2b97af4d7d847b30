#include "masked_vs_table.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KSIZE = MVT_CH * MVT_CH * 9 }; /* floats in one class kernel [8, 8, 3, 3] */

static float *class_w(const mvt_net *m, int k, int grad)
{
    const cvae_tensor *w = m->masked ? m->cls[k]->weight : m->table;
    float *base = grad ? w->grad : w->data;
    return !base ? NULL : m->masked ? base : base + (int64_t)k * KSIZE;
}

static float *class_b(const mvt_net *m, int k, int grad)
{
    const cvae_tensor *b = m->masked ? m->cls[k]->bias : m->table_bias;
    float *base = grad ? b->grad : b->data;
    return !base ? NULL : m->masked ? base : base + (int64_t)k * MVT_CH;
}

static int is_class_param(const char *name)
{
    return strncmp(name, "cls.", 4) == 0;
}

cvae_status mvt_net_new(int masked, int k, uint64_t seed, mvt_net **out)
{
    if (!out || k < 1 || k > MVT_MAX_K) return CVAE_ERR_INVALID_ARG;
    mvt_net *m = calloc(1, sizeof *m);
    if (!m) return CVAE_ERR_NOMEM;
    m->masked = masked != 0;
    m->k = k;
    const cvae_conv_opts same = cvae_conv_opts_make(1, 1);
    const cvae_init he = CVAE_INIT_HE_UNIFORM;
    cvae_status s = cvae_params_new(&m->params);
    cvae_params *p = m->params;
    if (!s) s = cvae_conv2d_new(p, "conv1", 1, MVT_CH, 3, 3, same, 0, he, seed, &m->conv1);
    if (!s) s = cvae_batch_norm2d_new(p, "bn1", MVT_CH, 0.1f, 1e-5f, &m->bn1);
    if (!s) s = cvae_conv2d_new(p, "conv2", MVT_CH, MVT_CH, 3, 3, same, 0, he, seed, &m->conv2);
    if (!s) s = cvae_batch_norm2d_new(p, "bn2", MVT_CH, 0.1f, 1e-5f, &m->bn2);
    if (m->masked) {
        for (int c = 0; c < k && !s; c++) {
            char name[32];
            snprintf(name, sizeof name, "cls.%d", c);
            s = cvae_conv2d_new(p, name, MVT_CH, MVT_CH, 3, 3, same, 1, he, seed, &m->cls[c]);
        }
    } else {
        const int64_t st[5] = {k, MVT_CH, MVT_CH, 3, 3}, sb[2] = {k, MVT_CH};
        if (!s) s = cvae_params_add(p, "cls.table", 5, st, 1, &m->table);
        if (!s) s = cvae_params_add(p, "cls.table_bias", 2, sb, 1, &m->table_bias);
        if (!s) s = cvae_init_fill(m->table, he, MVT_CH * 9, MVT_CH * 9, seed, 1);
    }
    if (!s) s = cvae_conv2d_new(p, "conv3", MVT_CH, MVT_CH, 3, 3, same, 1, he, seed, &m->conv3);
    if (!s) s = cvae_linear_new(p, "enc1", MVT_CH * 7 * 7, MVT_HIDDEN, 1, he, seed, &m->enc1);
    if (!s)
        s = cvae_linear_new(p, "enc2", MVT_HIDDEN, MVT_CODE, 1, CVAE_INIT_GLOROT_UNIFORM, seed,
                            &m->enc2);
    if (!s) s = cvae_linear_new(p, "dec1", MVT_CODE, MVT_HIDDEN, 1, he, seed, &m->dec1);
    if (!s) s = cvae_linear_new(p, "dec2", MVT_HIDDEN, 256, 1, he, seed, &m->dec2);
    if (!s) s = cvae_linear_new(p, "dec3", 256, 784, 1, CVAE_INIT_GLOROT_UNIFORM, seed, &m->dec3);
    if (s) {
        mvt_net_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

void mvt_net_free(mvt_net *m)
{
    if (!m) return;
    cvae_conv2d_free(m->conv1);
    cvae_conv2d_free(m->conv2);
    cvae_conv2d_free(m->conv3);
    cvae_batch_norm2d_free(m->bn1);
    cvae_batch_norm2d_free(m->bn2);
    for (int c = 0; c < MVT_MAX_K; c++) cvae_conv2d_free(m->cls[c]);
    cvae_linear_free(m->enc1);
    cvae_linear_free(m->enc2);
    cvae_linear_free(m->dec1);
    cvae_linear_free(m->dec2);
    cvae_linear_free(m->dec3);
    cvae_params_free(m->params);
    free(m);
}

cvae_status mvt_copy_weights(const mvt_net *src, mvt_net *dst)
{
    if (!src || !dst || src->k != dst->k) return CVAE_ERR_INVALID_ARG;
    for (int i = 0; i < cvae_params_count(src->params); i++) {
        const char *name = cvae_params_name(src->params, i);
        if (is_class_param(name)) continue;
        cvae_tensor *d = cvae_params_find(dst->params, name);
        if (!d) return CVAE_ERR_INVALID_ARG;
        cvae_status s = cvae_tensor_copy(d, cvae_params_at(src->params, i));
        if (s) return s;
    }
    for (int k = 0; k < src->k; k++) {
        memcpy(class_w(dst, k, 0), class_w(src, k, 0), sizeof(float) * KSIZE);
        memcpy(class_b(dst, k, 0), class_b(src, k, 0), sizeof(float) * MVT_CH);
    }
    return CVAE_OK;
}

cvae_status mvt_class_layer(const mvt_net *m, cvae_tape *t, cvae_tensor *h, const int32_t *labels,
                            cvae_tensor **y)
{
    const cvae_conv_opts same = cvae_conv_opts_make(1, 1);
    if (!m->masked)
        return cvae_op_conditional_conv2d(t, h, labels, m->table, m->table_bias, &same, y);
    const int64_t n = h->shape[0];
    cvae_tensor *onehot; /* [N, K]; also checks the labels */
    cvae_status s = cvae_op_one_hot(t, labels, n, m->k, &onehot);
    if (s) return s;
    cvae_tensor *sum = NULL;
    for (int k = 0; k < m->k; k++) {
        cvae_tensor *yk, *mask, *part;
        s = cvae_conv2d_forward(m->cls[k], t, h, &yk);
        /* mask_k[n, ...] = onehot[n, k], broadcast over [8, H, W] */
        if (!s) s = cvae_tape_tensor(t, yk->ndim, yk->shape, &mask);
        if (s) return s;
        const int64_t per = yk->size / n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < per; j++) mask->data[i * per + j] = onehot->data[i * m->k + k];
        s = cvae_op_mul(t, yk, mask, &part);
        if (!s && sum) s = cvae_op_add(t, sum, part, &part);
        if (s) return s;
        sum = part;
    }
    *y = sum;
    return CVAE_OK;
}

cvae_status mvt_forward(const mvt_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                        int training, cvae_tensor **code, cvae_tensor **logits)
{
    cvae_tensor *h, *z, *d;
    cvae_status s = cvae_conv2d_forward(m->conv1, t, x, &h);
    if (!s) s = cvae_batch_norm2d_forward(m->bn1, t, h, training, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_conv2d_forward(m->conv2, t, h, &h);
    if (!s) s = cvae_batch_norm2d_forward(m->bn2, t, h, training, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = mvt_class_layer(m, t, h, labels, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_avg_pool2d(t, h, 2, 2, &h);
    if (!s) s = cvae_conv2d_forward(m->conv3, t, h, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_avg_pool2d(t, h, 2, 2, &h);
    if (!s) s = cvae_op_flatten(t, h, &h);
    if (!s) s = cvae_linear_forward(m->enc1, t, h, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_linear_forward(m->enc2, t, h, &z);
    if (!s) s = cvae_linear_forward(m->dec1, t, z, &d);
    if (!s) s = cvae_op_relu(t, d, &d);
    if (!s) s = cvae_linear_forward(m->dec2, t, d, &d);
    if (!s) s = cvae_op_relu(t, d, &d);
    if (!s) s = cvae_linear_forward(m->dec3, t, d, &d);
    if (s) return s;
    if (code) *code = z;
    if (logits) *logits = d;
    return CVAE_OK;
}

cvae_status mvt_loss(const mvt_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                     cvae_tensor **loss)
{
    cvae_tensor *logits, *target;
    const int64_t flat[2] = {x->shape[0], 784};
    cvae_status s = mvt_forward(m, t, x, labels, 1, NULL, &logits);
    if (!s) s = cvae_op_reshape(t, x, 2, flat, &target);
    if (!s) s = cvae_op_bce_with_logits(t, logits, target, CVAE_REDUCE_MEAN, loss);
    return s;
}

/* ex_rel_diff where a NULL gradient counts as zeros. */
static double grad_diff(const float *a, const float *b, int64_t n)
{
    if (a && b) return ex_rel_diff(a, b, n);
    const float *v = a ? a : b;
    for (int64_t i = 0; v && i < n; i++)
        if (v[i] != 0.0f) return 1.0;
    return 0.0;
}

cvae_status mvt_grad_diff(const mvt_net *a, const mvt_net *b, double *max_rel, const char **worst)
{
    if (!a || !b || !max_rel || a->k != b->k) return CVAE_ERR_INVALID_ARG;
    double best = 0;
    const char *where = "";
    for (int i = 0; i < cvae_params_count(a->params); i++) {
        const char *name = cvae_params_name(a->params, i);
        const cvae_tensor *ta = cvae_params_at(a->params, i);
        if (is_class_param(name) || !cvae_params_is_trainable(ta)) continue;
        const cvae_tensor *tb = cvae_params_find(b->params, name);
        if (!tb) return CVAE_ERR_INVALID_ARG;
        const double d = grad_diff(ta->grad, tb->grad, ta->size);
        if (d > best || !where[0]) best = d, where = name;
    }
    for (int k = 0; k < a->k; k++) {
        double d = grad_diff(class_w(a, k, 1), class_w(b, k, 1), KSIZE);
        if (d > best) best = d, where = "per-class kernel";
        d = grad_diff(class_b(a, k, 1), class_b(b, k, 1), MVT_CH);
        if (d > best) best = d, where = "per-class bias";
    }
    *max_rel = best;
    if (worst) *worst = where;
    return CVAE_OK;
}
