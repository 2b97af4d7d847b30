/* The third answer's idea (see examples/selected_kernel.c): a kernel selected by
 * a function of intermediate features, applied as a constant between learned layers.
 *   x [N,1,H,W] -> conv3x3(8) elu = h                                 (learned)
 *   head: avgpool4(h) -> dense K = l; alpha = softmax(8 tanh(l / 8)) (learned)
 *   selected: soft: y[n] = conv(h[n], sum_k alpha[n,k] table[k])  (cvae_op_conditional_conv2d_soft)
 *             hard: y[n] = conv(h[n], table[argmax_k alpha[n,k]]) (cvae_op_conditional_conv2d)
 *     table: [K, 8, 8, 3, 3] FIXED (a frozen parameter): kernel k applies filter
 *     k of {blur, Sobel x, Sobel y, Laplacian, ...} to each channel on its own
 *   y -> elu -> avgpool2 -> conv3x3(16) elu -> avgpool2 -> dense 10 = logits (learned)
 * The bounded logits 8 tanh(l / 8) keep exp() finite without a max-subtraction
 * (no such op); softmax(u) = exp(u - log(sum_k exp(u_k))), the row sums as a
 * product with a [K, K] matrix of ones. In hard mode the head gets no gradient
 * (argmax is piecewise constant); the layers before and after still do. */
#ifndef CVAE_EXAMPLES_SELECTED_KERNEL_H
#define CVAE_EXAMPLES_SELECTED_KERNEL_H

#include <cvae/cvae.h>

enum { SK_CH = 8, SK_CH2 = 16, SK_CLASSES = 10, SK_FILTERS = 4 };

typedef struct sk_net {
    int k;        /* kernels in the table, 1..SK_FILTERS */
    int hard;     /* 0: softmax-weighted kernel, 1: argmax-selected kernel */
    int64_t h, w; /* input size, multiples of 4 */
    cvae_params *params;
    cvae_conv2d *conv1;
    cvae_linear *head;
    cvae_tensor *table; /* [K, 8, 8, 3, 3], frozen */
    cvae_conv2d *conv2;
    cvae_linear *fc;
} sk_net;

/* Name of fixed filter k (k < SK_FILTERS). */
const char *sk_filter_name(int k);

/* A new net for [N, 1, h, w] inputs with k fixed kernels. */
cvae_status sk_net_new(int k, int hard, int64_t h, int64_t w, uint64_t seed, sk_net **out);
void sk_net_free(sk_net *m);

/* x: [N, 1, h, w] -> logits: [N, 10]; alpha (may be NULL): [N, K] selection
 * weights; choice (may be NULL): int32[N] argmax of alpha (must hold N values;
 * used as the labels of the hard op, so it must stay valid until backward). */
cvae_status sk_forward(const sk_net *m, cvae_tape *t, cvae_tensor *x, int32_t *choice,
                       cvae_tensor **alpha, cvae_tensor **logits);

#endif
