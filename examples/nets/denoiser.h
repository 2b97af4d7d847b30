/* The network of examples/denoise_digits.c, shared with its test: a label-conditioned
 * denoiser of 28x28 digits. Its second layer puts label-indexed 5x5 filters (one table row
 * per digit, trained like the rest) next to ordinary ones:
 *   noisy x [N,1,28,28] --conv 16, relu--> [16,28,28] --conv 16 + cond 16 (K), s2, relu-->
 *       [32,14,14] --conv^T 16 s2, relu--> [16,28,28] --conv 1--> logits [1,28,28] of the
 *       clean digit. */
#ifndef CVAE_EXAMPLE_NETS_DENOISER_H
#define CVAE_EXAMPLE_NETS_DENOISER_H

#include <cvae/cvae.h>

/* The denoiser's layers over k labels, in a new network with weights from seed. */
cvae_status dn_net_new(int64_t k, uint64_t seed, cvae_net **out);

/* The loss of cvae/train.h: each sample's inputs x get Gaussian noise of standard deviation
 * *(float *)sigma drawn from (b->seed, b->step) and the sample's row of the batch; the loss
 * is the BCE of the denoised logits against the clean x, summed per sample. */
cvae_status dn_loss(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *sigma,
                    cvae_tensor **loss);

/* Mean squared error per pixel, over n test digits with noise sigma from seed, of the noisy
 * input (*noisy) and of the denoised output with the right labels (*right) and with each
 * label replaced by (label + 1) mod k (*wrong). */
cvae_status dn_evaluate(const cvae_net *net, const cvae_dataset *test, int64_t n, float sigma,
                        uint64_t seed, double *noisy, double *right, double *wrong);

#endif
