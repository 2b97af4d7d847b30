/* The label-indexed conditional convolutions: grouping of a batch by label,
 * forced-algorithm entry points (tests, benchmarks) and plain references.
 *
 * Hard labels: y[n] = conv(x[n], table[l_n]) + bias_table[l_n].
 * The batch is sorted by label (stable counting sort) so that each label's
 * samples are one contiguous column range of a single im2col of the batch;
 * then one GEMM per label present, or (small K Cout) one GEMM of all K kernels
 * followed by a gather of each sample's rows. */
#ifndef CVAE_OPS_CONDITIONAL_CONV_H
#define CVAE_OPS_CONDITIONAL_CONV_H

#include "ops/im2col.h"
#include "tape/tape_internal.h"

/* Samples grouped by label: order[start[g] .. start[g+1]) are the samples (in
 * their original relative order) whose label is label[g]; groups by increasing label. */
typedef struct cvae__label_groups {
    int64_t *order; /* [N] */
    int64_t *start; /* [n_groups + 1] */
    int32_t *label; /* [n_groups] */
    int64_t n_groups;
} cvae__label_groups;

/* Counting sort of labels[0..n) (already checked to lie in [0, k)) into arena memory. */
cvae_status cvae__group_labels(cvae_tape *t, const int32_t *labels, int64_t n, int64_t k,
                               cvae__label_groups *gr);

/* The checks both label-indexed ops begin with: t, x, labels, table, o, y not NULL;
 * x [N, Cin, H, W]; table [K, Cout, Cin, kH, kW] (cin_dim 2, the conv) or [K, Cin, Cout, kH, kW]
 * (cin_dim 1, the transpose); labels in [0, K); tbias NULL or [K, Cout]. */
cvae_status cvae__cconv_check_labelled(const char *fn, const cvae_tape *t, const cvae_tensor *x,
                                       const int32_t *labels, const cvae_tensor *table,
                                       const cvae_tensor *tbias, const cvae_conv_opts *o,
                                       cvae_tensor *const *y, int cin_dim);

/* Forward algorithm of the hard-label op (the backward is always grouped). */
typedef enum cvae__cconv_algo {
    CVAE__CCONV_AUTO = 0,    /* cvae__cconv_choose decides */
    CVAE__CCONV_GROUPED = 1, /* table[l] [Cout, CKK] x cols[:, group l], per label present */
    CVAE__CCONV_ALL_K = 2    /* [K Cout, CKK] x cols [CKK, N P], then gather rows of l_n */
} cvae__cconv_algo;

/* The documented choice (see conditional_conv.c) for K labels, Cout outputs,
 * CKK = Cin kH kW, n_groups labels present among n samples. */
cvae__cconv_algo cvae__cconv_choose(int64_t k, int64_t cout, int64_t ckk, int64_t n_groups,
                                    int64_t n);

/* cvae_op_conditional_conv2d_concat (w, b NULL: cvae_op_conditional_conv2d) with a forced
 * forward algorithm; *used (may be NULL) receives the algorithm that ran. */
cvae_status cvae__op_conditional_conv2d_algo(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                             cvae_tensor *w, cvae_tensor *b, cvae_tensor *table,
                                             cvae_tensor *bias_table, const cvae_conv_opts *o,
                                             cvae__cconv_algo algo, cvae_tensor **y,
                                             cvae__cconv_algo *used);

/* ---- plain references: per-sample direct loops (no GEMM, no lowering) ----
 * g describes one sample's convolution (g->c = Cin, H, W -> Ho, Wo). Backward
 * functions accumulate (+=) into every non-NULL output. */

/* y: [N, Cout, Ho, Wo] from x: [N, Cin, H, W], table: [K, Cout, Cin, kH, kW], bias: [K, Cout] or
 * NULL. */
void cvae__cconv2d_forward_ref(float *y, const float *x, const int32_t *labels, const float *table,
                               const float *bias, int64_t n, int64_t cout, const cvae_conv_geom *g);
void cvae__cconv2d_backward_ref(float *dx, float *dtable, float *dbias, const float *dy,
                                const float *x, const int32_t *labels, const float *table,
                                int64_t n, int64_t cout, const cvae_conv_geom *g);

/* Soft labels, alpha: [N, K]; the kernel of sample n is sum_k alpha[n, k] table[k]. */
void cvae__cconv2d_soft_forward_ref(float *y, const float *x, const float *alpha,
                                    const float *table, const float *bias, int64_t n, int64_t k,
                                    int64_t cout, const cvae_conv_geom *g);
void cvae__cconv2d_soft_backward_ref(float *dx, float *dtable, float *dbias, float *dalpha,
                                     const float *dy, const float *x, const float *alpha,
                                     const float *table, const float *bias, int64_t n, int64_t k,
                                     int64_t cout, const cvae_conv_geom *g);

/* Transposed: x: [N, Cin, H, W], table: [K, Cin, Cout, kH, kW] -> y: [N, Cout, Ho, Wo];
 * gt describes the adjoint convolution y -> x (gt->c = Cout, gt->h = Ho, gt->w = Wo,
 * gt->ho = H, gt->wo = W). */
void cvae__cconvt2d_forward_ref(float *y, const float *x, const int32_t *labels, const float *table,
                                const float *bias, int64_t n, int64_t cin,
                                const cvae_conv_geom *gt);
void cvae__cconvt2d_backward_ref(float *dx, float *dtable, float *dbias, const float *dy,
                                 const float *x, const int32_t *labels, const float *table,
                                 int64_t n, int64_t cin, const cvae_conv_geom *gt);

/* Geometry of a transposed convolution of x: [., Cin, H, W] by a kernel kH x kW:
 * fills *gt (the adjoint convolution, as above); CVAE_ERR_SHAPE / INVALID_ARG naming fn. */
cvae_status cvae__cconvt_geom(cvae_conv_geom *gt, const char *fn, int64_t cout, int64_t h,
                              int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o);

#endif
