#include "latent_affine.h"

#include <stdlib.h>

cvae_status la_net_new(int k, uint64_t seed, la_net **out)
{
    if (!out || k < 1) return CVAE_ERR_INVALID_ARG;
    la_net *m = calloc(1, sizeof *m);
    if (!m) return CVAE_ERR_NOMEM;
    m->k = k;
    const cvae_conv_opts same = cvae_conv_opts_make(1, 1);
    const cvae_init he = CVAE_INIT_HE_UNIFORM, glorot = CVAE_INIT_GLOROT_UNIFORM;
    const int64_t sa[2] = {k, LA_CODE};
    cvae_status s = cvae_params_new(&m->params);
    cvae_params *p = m->params;
    if (!s) s = cvae_conv2d_new(p, "conv1", 1, 8, 3, 3, same, 0, he, seed, &m->conv1);
    if (!s) s = cvae_batch_norm2d_new(p, "bn1", 8, 0.1f, 1e-5f, &m->bn1);
    if (!s) s = cvae_conv2d_new(p, "conv2", 8, 16, 3, 3, same, 0, he, seed, &m->conv2);
    if (!s) s = cvae_batch_norm2d_new(p, "bn2", 16, 0.1f, 1e-5f, &m->bn2);
    if (!s) s = cvae_linear_new(p, "enc1", 16 * 7 * 7, 64, 1, he, seed, &m->enc1);
    if (!s) s = cvae_linear_new(p, "enc2", 64, LA_CODE, 1, glorot, seed, &m->enc2);
    if (!s) s = cvae_params_add(p, "affine.log_scale", 2, sa, 1, &m->log_scale);
    if (!s) s = cvae_linear_new(p, "affine.shift", k, LA_CODE, 1, CVAE_INIT_ZEROS, seed, &m->shift);
    if (!s) s = cvae_linear_new(p, "dec1", LA_CODE, 64, 1, he, seed, &m->dec1);
    if (!s) s = cvae_linear_new(p, "dec2", 64, 256, 1, he, seed, &m->dec2);
    if (!s) s = cvae_linear_new(p, "dec3", 256, 784, 1, glorot, seed, &m->dec3);
    if (s) {
        la_net_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

void la_net_free(la_net *m)
{
    if (!m) return;
    cvae_conv2d_free(m->conv1);
    cvae_conv2d_free(m->conv2);
    cvae_batch_norm2d_free(m->bn1);
    cvae_batch_norm2d_free(m->bn2);
    cvae_linear_free(m->enc1);
    cvae_linear_free(m->enc2);
    cvae_linear_free(m->shift);
    cvae_linear_free(m->dec1);
    cvae_linear_free(m->dec2);
    cvae_linear_free(m->dec3);
    cvae_params_free(m->params);
    free(m);
}

cvae_status la_encode(const la_net *m, cvae_tape *t, cvae_tensor *x, int training, cvae_tensor **z)
{
    cvae_tensor *h;
    cvae_status s = cvae_conv2d_forward(m->conv1, t, x, &h);
    if (!s) s = cvae_batch_norm2d_forward(m->bn1, t, h, training, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_avg_pool2d(t, h, 2, 2, &h);
    if (!s) s = cvae_conv2d_forward(m->conv2, t, h, &h);
    if (!s) s = cvae_batch_norm2d_forward(m->bn2, t, h, training, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_avg_pool2d(t, h, 2, 2, &h);
    if (!s) s = cvae_op_flatten(t, h, &h);
    if (!s) s = cvae_linear_forward(m->enc1, t, h, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_linear_forward(m->enc2, t, h, z);
    return s;
}

cvae_status la_affine(const la_net *m, cvae_tape *t, cvae_tensor *z, const int32_t *labels,
                      cvae_tensor **zp)
{
    const int64_t n = z->shape[0];
    cvae_tensor *onehot, *a, *scale, *scaled, *shift, *pre;
    cvae_status s = cvae_op_one_hot(t, labels, n, m->k, &onehot);  /* [N, K] */
    if (!s) s = cvae_op_embedding(t, m->log_scale, labels, n, &a); /* A onehot(y): [N, 2] */
    if (!s) s = cvae_op_exp(t, a, &scale);
    if (!s) s = cvae_op_mul(t, scale, z, &scaled);
    if (!s) s = cvae_linear_forward(m->shift, t, onehot, &shift); /* B onehot(y) + b */
    if (!s) s = cvae_op_add(t, scaled, shift, &pre);
    if (!s) s = cvae_op_tanh(t, pre, zp);
    return s;
}

cvae_status la_decode(const la_net *m, cvae_tape *t, cvae_tensor *zp, cvae_tensor **logits)
{
    cvae_tensor *d;
    cvae_status s = cvae_linear_forward(m->dec1, t, zp, &d);
    if (!s) s = cvae_op_relu(t, d, &d);
    if (!s) s = cvae_linear_forward(m->dec2, t, d, &d);
    if (!s) s = cvae_op_relu(t, d, &d);
    if (!s) s = cvae_linear_forward(m->dec3, t, d, logits);
    return s;
}

cvae_status la_loss(const la_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels, float l2,
                    cvae_tensor **loss, float *rec, float *pen, cvae_tensor **z)
{
    const int64_t n = x->shape[0], flat[2] = {n, 784};
    const float inv_n = 1.0f / (float)n;
    cvae_tensor *code, *zp, *logits, *target, *bce, *sq, *ssq, *r, *p;
    cvae_status s = la_encode(m, t, x, 1, &code);
    if (!s) s = la_affine(m, t, code, labels, &zp);
    if (!s) s = la_decode(m, t, zp, &logits);
    if (!s) s = cvae_op_reshape(t, x, 2, flat, &target);
    if (!s) s = cvae_op_bce_with_logits(t, logits, target, CVAE_REDUCE_SUM, &bce);
    if (!s) s = cvae_op_scale(t, bce, inv_n, &r);
    if (!s) s = cvae_op_mul(t, code, code, &sq);
    if (!s) s = cvae_op_sum(t, sq, &ssq);
    if (!s) s = cvae_op_scale(t, ssq, l2 * inv_n, &p);
    if (!s) s = cvae_op_add(t, r, p, loss);
    if (s) return s;
    if (rec) *rec = r->data[0];
    if (pen) *pen = p->data[0];
    if (z) *z = code;
    return CVAE_OK;
}
