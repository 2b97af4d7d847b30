/* The second answer's idea (see examples/latent_affine.c): a label-dependent
 * affine map of the latent code.
 *   encoder: x [N,1,28,28] -> conv3x3(8) bn relu -> avgpool2 -> conv3x3(16) bn relu
 *            -> avgpool2 -> [N,16,7,7] -> dense 64 relu -> dense 2 = z
 *   map:     z' = tanh(exp(A onehot(y)) * z + B onehot(y) + b), A, B: [2, K] learned
 *            (A has no bias; A onehot(y) is column y of A, looked up as an embedding)
 *   decoder: z' -> dense 64 relu -> dense 256 relu -> dense 784 = logits
 *   loss:    sum-over-pixels BCE(logits, x) + l2 ||z||^2, both averaged over the batch. */
#ifndef CVAE_EXAMPLES_LATENT_AFFINE_H
#define CVAE_EXAMPLES_LATENT_AFFINE_H

#include <cvae/cvae.h>

enum { LA_CODE = 2 };

typedef struct la_net {
    int k; /* number of labels */
    cvae_params *params;
    cvae_conv2d *conv1, *conv2;
    cvae_batch_norm2d *bn1, *bn2;
    cvae_linear *enc1, *enc2;
    cvae_tensor *log_scale; /* A^T: [K, 2], row y = A onehot(y) */
    cvae_linear *shift;     /* B: weight [2, K], bias b: [2] */
    cvae_linear *dec1, *dec2, *dec3;
} la_net;

/* A new net for k labels (A = B = b = 0 at the start: z' = tanh z). */
cvae_status la_net_new(int k, uint64_t seed, la_net **out);
void la_net_free(la_net *m);

/* z: [N, 2] code of x: [N, 1, 28, 28]; training != 0: batch-norm batch statistics. */
cvae_status la_encode(const la_net *m, cvae_tape *t, cvae_tensor *x, int training, cvae_tensor **z);
/* z': [N, 2] = tanh(exp(A onehot(y)) * z + B onehot(y) + b).  z: [N, 2], labels: [N]. */
cvae_status la_affine(const la_net *m, cvae_tape *t, cvae_tensor *z, const int32_t *labels,
                      cvae_tensor **zp);
/* logits: [N, 784] decoded from zp: [N, 2]. */
cvae_status la_decode(const la_net *m, cvae_tape *t, cvae_tensor *zp, cvae_tensor **logits);

/* The training loss of x: [N, 1, 28, 28] with L2 weight l2 on the code;
 * rec and pen (may be NULL) receive its two terms. z (may be NULL) receives the code. */
cvae_status la_loss(const la_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels, float l2,
                    cvae_tensor **loss, float *rec, float *pen, cvae_tensor **z);

#endif
