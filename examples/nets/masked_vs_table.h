/* The first answer's network, built two ways (see examples/masked_vs_table.c).
 *
 * An autoencoder of 28x28 digits with a 2-D code:
 *   x [N,1,28,28] -> conv3x3(8) bn relu -> conv3x3(8) bn relu
 *     -> per-class layer: the sample's own 3x3 conv of 8 channels among K -> relu
 *     -> avgpool2 -> conv3x3(8) relu -> avgpool2 -> [N,8,7,7] -> dense 64 relu -> dense 2 = code
 *     -> dense 64 relu -> dense 256 relu -> dense 784 = logits (sigmoid = reconstruction)
 * The per-class layer is either
 *   masked (the answer as written): y = sum_k conv(h, W_k, b_k) * mask_k with
 *     mask_k[n, ...] = onehot(label[n])[k]: K convolutions of the whole batch;
 *   table: y = cvae_op_conditional_conv2d(h, labels, table, bias_table) with
 *     table[k] = W_k: one convolution's work.
 * Both nets register the same parameter names except the per-class layer
 * ("cls.<k>.weight/bias" versus "cls.table", "cls.table_bias"). */
#ifndef CVAE_EXAMPLES_MASKED_VS_TABLE_H
#define CVAE_EXAMPLES_MASKED_VS_TABLE_H

#include <cvae/cvae.h>

enum { MVT_MAX_K = 64, MVT_CH = 8, MVT_HIDDEN = 64, MVT_CODE = 2 };

typedef struct mvt_net {
    int masked; /* 1: K convs and masks; 0: one conditional conv over a table */
    int k;      /* number of classes, 1..MVT_MAX_K */
    cvae_params *params;
    cvae_conv2d *conv1, *conv2, *conv3;
    cvae_batch_norm2d *bn1, *bn2;
    cvae_conv2d *cls[MVT_MAX_K];     /* masked: W_k [8, 8, 3, 3], b_k [8] */
    cvae_tensor *table, *table_bias; /* table: [K, 8, 8, 3, 3], [K, 8] */
    cvae_linear *enc1, *enc2, *dec1, *dec2, *dec3;
} mvt_net;

/* A new net of k classes with weights drawn from `seed`. Free with mvt_net_free. */
cvae_status mvt_net_new(int masked, int k, uint64_t seed, mvt_net **out);
void mvt_net_free(mvt_net *m);

/* Copies every parameter (batch-norm statistics included) of src into dst,
 * mapping W_k <-> table[k] when one is masked and the other is not. */
cvae_status mvt_copy_weights(const mvt_net *src, mvt_net *dst);

/* The per-class layer alone.  h: [N, 8, H, W] -> y: [N, 8, H, W] (before relu). */
cvae_status mvt_class_layer(const mvt_net *m, cvae_tape *t, cvae_tensor *h, const int32_t *labels,
                            cvae_tensor **y);

/* x: [N, 1, 28, 28] -> code: [N, 2], logits: [N, 784] (either output may be
 * NULL). training != 0: batch-norm batch statistics. */
cvae_status mvt_forward(const mvt_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                        int training, cvae_tensor **code, cvae_tensor **logits);

/* Mean binary cross-entropy of the reconstruction of x: [N, 1, 28, 28]. */
cvae_status mvt_loss(const mvt_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                     cvae_tensor **loss);

/* The largest ex_rel_diff between the gradients of a and b over all trainable
 * parameters (W_k compared with table[k]); *worst names it (may be NULL). */
cvae_status mvt_grad_diff(const mvt_net *a, const mvt_net *b, double *max_rel, const char **worst);

#endif
