/* The network of examples/fixed_label_kernel.c, shared with its test: a
 * label-conditioned autoencoder whose first layer concatenates `learned`
 * ordinary 3x3 stride-2 filters with one FIXED (frozen) Gabor kernel per digit:
 *   x [N,1,28,28] --cond_conv--> [N, learned+1, 14, 14] --relu, flatten-->
 *   --linear--> [N, hidden] --relu--> --linear--> logits [N, 784]. */
#ifndef CVAE_EXAMPLE_NETS_FIXED_LABEL_KERNEL_H
#define CVAE_EXAMPLE_NETS_FIXED_LABEL_KERNEL_H

#include <cvae/cvae.h>

typedef struct flk_net {
    cvae_params *params; /* every weight; the table and table_bias are frozen */
    cvae_cond_conv2d *conv;
    cvae_linear *fc1, *fc2;
} flk_net;

/* A net over `classes` labels with the given widths, weights from `seed`. */
cvae_status flk_net_new(int64_t learned, int64_t hidden, int64_t classes, uint64_t seed, flk_net **out);
void flk_net_free(flk_net *m);

/* x: [N, 1, 28, 28], labels: int32[N] -> logits: [N, 784]. */
cvae_status flk_forward(const flk_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                        cvae_tensor **logits);

#endif
