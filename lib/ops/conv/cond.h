/* The label-indexed conditional convolutions: the algorithms of the hard-label op, its
 * forced-algorithm entry (tests, benchmarks), the argument check of the labelled ops, and the
 * plain references.
 *
 * Hard labels: y[n] = act(conv(x[n], table[l_n]) + bias_table[l_n]).
 * The batch is sorted by label (cvae__group_labels) so that each label's samples are one
 * contiguous column range of a single im2col of the batch; then one GEMM per label present, or
 * (small K Cout) one GEMM of all K kernels followed by a gather of each sample's rows. */
#ifndef CVAE_OPS_CONV_COND_H
#define CVAE_OPS_CONV_COND_H

#include "ops/conv/core.h"

/* Forward algorithm of the hard-label op (the backward is always grouped). */
typedef enum cvae__cconv_algo {
    CVAE__CCONV_AUTO = 0,    /* cvae__cconv_choose decides */
    CVAE__CCONV_GROUPED = 1, /* table[l] [Cout, CKK] x cols[:, group l], per label present */
    CVAE__CCONV_ALL_K = 2    /* [K Cout, CKK] x cols [CKK, N P], then gather rows of l_n */
} cvae__cconv_algo;

/* The documented choice (see cond_conv2d.c) for K labels, Cout outputs, CKK = Cin kH kW,
 * n_groups labels present among n samples. */
cvae__cconv_algo cvae__cconv_choose(int64_t k, int64_t cout, int64_t ckk, int64_t n_groups,
                                    int64_t n);

/* The tensors of the hard-label op: x, labels, the learned filters w [Cl, Cin, kH, kW] and bias
 * b [Cl] (NULL: Cl = 0), the table and bias table. */
typedef struct cvae__cconv_in {
    cvae_tensor *x;
    const int32_t *labels;
    cvae_tensor *w, *b, *table, *bias_table;
} cvae__cconv_in;

/* cvae_op_conditional_conv2d_concat (in->w NULL: cvae_op_conditional_conv2d) with a forced
 * forward algorithm; *used (may be NULL) receives the algorithm that ran. */
cvae_status cvae__op_conditional_conv2d_algo(cvae_tape *t, const cvae__cconv_in *in,
                                             const cvae_conv_opts *o, cvae__cconv_algo algo,
                                             cvae_tensor **y, cvae__cconv_algo *used);

/* ---- plain references: per-sample direct loops (no GEMM, no lowering, no activation) ----
 * Arguments in cvae__conv_args; backward ones accumulate into each non-NULL gradient. */

/* Hard labels: x [n, Cin, H, W], w = table [k, Cout, Cin, kH, kW], b = bias table [k, Cout] or
 * NULL, labels [n] -> y [n, Cout, Ho, Wo]; g one sample's convolution, a->ch = Cout. */
void cvae__cconv2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);
void cvae__cconv2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);

/* Soft labels, alpha [n, k]: the kernel of sample s is sum_l alpha[s, l] table[l]; also dalpha. */
void cvae__cconv2d_soft_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);
void cvae__cconv2d_soft_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g);

/* Transposed: x [n, Cin, H, W], w = table [k, Cin, Cout, kH, kW] -> y [n, Cout, Ho, Wo];
 * gt the adjoint convolution (cvae__conv_geom_transposed), a->ch = Cin. */
void cvae__cconvt2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *gt);
void cvae__cconvt2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *gt);

#endif
