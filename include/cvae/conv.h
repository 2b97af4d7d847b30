/** @file
 * cvae/conv.h: convolutions (NCHW, float32), the label-indexed conditional
 * convolution, pooling, batch normalization and upsampling. Ops follow the
 * conventions of cvae/ops.h: they run on a tape, check every argument before
 * writing anything, and record their backward when gradients are wanted.
 * Every convolution applies the activation of its options, o->activation (see
 * cvae_activation), in the pass that writes y: y = act(conv(x, w) + b). Ho, Wo below are
 * the output extents of cvae_conv_opts (the transposed ones for the transposed ops). */
#ifndef CVAE_CONV_H
#define CVAE_CONV_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of a 2-D convolution: geometry and a fused activation. Zero padding per side;
 *  dilation >= 1. Fields left zero by a designated initializer mean "none" (stride and
 *  dilation 0 are invalid: start from cvae_conv_opts_make).
 *  Output extent: Ho = (H + pad_top + pad_bottom - dilation_h (kH - 1) - 1) / stride_h + 1.
 *  For transposed convolutions: Ho = (H - 1) stride_h - pad_top - pad_bottom
 *  + dilation_h (kH - 1) + output_pad_h + 1 (output_pad < stride). */
typedef struct cvae_conv_opts {
    int stride_h;     /**< vertical stride, >= 1 */
    int stride_w;     /**< horizontal stride, >= 1 */
    int pad_top;      /**< zero rows added above, >= 0 */
    int pad_bottom;   /**< zero rows added below, >= 0 */
    int pad_left;     /**< zero columns added on the left, >= 0 */
    int pad_right;    /**< zero columns added on the right, >= 0 */
    int dilation_h;   /**< vertical spacing of kernel taps, >= 1 */
    int dilation_w;   /**< horizontal spacing of kernel taps, >= 1 */
    int output_pad_h; /**< extra output rows (transposed convolutions only; < stride_h) */
    int output_pad_w; /**< extra output columns (transposed convolutions only; < stride_w) */
    cvae_activation activation; /**< fused into the op's output (CVAE_ACT_NONE: none) */
    float alpha;      /**< parameter of the activation (see cvae_activation) */
} cvae_conv_opts;

/** Square stride `stride`, the same padding `pad` on every side, dilation 1, no activation. */
CVAE_API cvae_conv_opts cvae_conv_opts_make(int stride, int pad);

/** y = act(conv(x, w) + b), act = o->activation.  x: [N, Cin, H, W], w: [Cout, Cin, kH, kW],
 *  b: [Cout] or NULL -> y: [N, Cout, Ho, Wo]. No input gradient is computed when x needs none. */
CVAE_API cvae_status cvae_op_conv2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                                    const cvae_conv_opts *o, cvae_tensor **y);

/** y = act(conv_transpose(x, w) + b), act = o->activation: the adjoint of conv2d in x, plus a
 *  bias.  x: [N, Cin, H, W], w: [Cin, Cout, kH, kW] (PyTorch's ConvTranspose2d layout),
 *  b: [Cout] or NULL -> y: [N, Cout, Ho, Wo] (transposed extents). */
CVAE_API cvae_status cvae_op_conv_transpose2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w,
                                              cvae_tensor *b, const cvae_conv_opts *o,
                                              cvae_tensor **y);

/** y[n] = act(conv(x[n], table[labels[n]]) + bias_table[labels[n]]), act = o->activation.
 *  x: [N, Cin, H, W], labels: int32[N] in [0, K), table: [K, Cout, Cin, kH, kW],
 *  bias_table: [K, Cout] or NULL -> y: [N, Cout, Ho, Wo]. Costs about one plain
 *  conv: samples are grouped by label, one GEMM per label present. Gradients go
 *  to x and into the table rows of the labels present (none when frozen). The labels are
 *  read during the call only (their grouping is kept on the tape): the array may change after. */
CVAE_API cvae_status cvae_op_conditional_conv2d(cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                                                cvae_tensor *table, cvae_tensor *bias_table,
                                                const cvae_conv_opts *o, cvae_tensor **y);

/** Learned filters next to label-indexed ones, sharing one lowering of x (the layer of the
 *  original question): y[n] = act(concat over channels (conv(x[n], w) + b,
 *  conv(x[n], table[labels[n]]) + bias_table[labels[n]])), act = o->activation.
 *  x: [N, Cin, H, W], labels: int32[N] in [0, K), w: [Cl, Cin, kH, kW] or NULL (Cl = 0),
 *  b: [Cl] or NULL (needs w), table: [K, Cc, Cin, kH, kW], bias_table: [K, Cc] or NULL
 *  -> y: [N, Cl + Cc, Ho, Wo]. Costs one plain conv with Cl + Cc filters. The labels are
 *  read during the call only, as in cvae_op_conditional_conv2d. */
CVAE_API cvae_status cvae_op_conditional_conv2d_concat(cvae_tape *t, cvae_tensor *x,
                                                       const int32_t *labels, cvae_tensor *w,
                                                       cvae_tensor *b, cvae_tensor *table,
                                                       cvae_tensor *bias_table,
                                                       const cvae_conv_opts *o, cvae_tensor **y);

/** Soft labels (CondConv): y[n] = act(conv(x[n], sum_k alpha[n, k] table[k])
 *  + sum_k alpha[n, k] bias_table[k]), act = o->activation.  x: [N, Cin, H, W], alpha: [N, K],
 *  finite, table: [K, Cout, Cin, kH, kW], bias_table: [K, Cout] or NULL -> y: [N, Cout, Ho, Wo].
 *  Gradients also flow to alpha. One-hot alpha equals the hard-label op. */
CVAE_API cvae_status cvae_op_conditional_conv2d_soft(cvae_tape *t, cvae_tensor *x, cvae_tensor *alpha,
                                                     cvae_tensor *table, cvae_tensor *bias_table,
                                                     const cvae_conv_opts *o, cvae_tensor **y);

/** y[n] = act(conv_transpose(x[n], table[labels[n]]) + bias_table[labels[n]]),
 *  act = o->activation.  x: [N, Cin, H, W], labels: int32[N] in [0, K),
 *  table: [K, Cin, Cout, kH, kW], bias_table: [K, Cout] or NULL -> y: [N, Cout, Ho, Wo]
 *  (transposed extents). The labels are read during the call only, as in
 *  cvae_op_conditional_conv2d. */
CVAE_API cvae_status cvae_op_conditional_conv_transpose2d(cvae_tape *t, cvae_tensor *x,
                                                          const int32_t *labels, cvae_tensor *table,
                                                          cvae_tensor *bias_table,
                                                          const cvae_conv_opts *o, cvae_tensor **y);

/** Average pooling over k x k windows with the given stride, no padding.
 *  x: [N, C, H, W] -> y: [N, C, (H - k) / stride + 1, (W - k) / stride + 1]. */
CVAE_API cvae_status cvae_op_avg_pool2d(cvae_tape *t, cvae_tensor *x, int k, int stride,
                                        cvae_tensor **y);
/** Max pooling, same geometry as cvae_op_avg_pool2d; ties go to the first maximum. */
CVAE_API cvae_status cvae_op_max_pool2d(cvae_tape *t, cvae_tensor *x, int k, int stride,
                                        cvae_tensor **y);

/** Batch normalization over (N, H, W) per channel:
 *  y = gamma (x - mean) / sqrt(var + eps) + beta.  x: [N, C, H, W]; gamma, beta,
 *  running_mean, running_var: [C]. training != 0 uses batch statistics (biased
 *  variance) and updates the running ones with `momentum` (PyTorch's convention,
 *  unbiased variance); training == 0 uses the running statistics. gamma/beta may
 *  be NULL (no affine). */
CVAE_API cvae_status cvae_op_batch_norm2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *gamma,
                                          cvae_tensor *beta, cvae_tensor *running_mean,
                                          cvae_tensor *running_var, float momentum, float eps,
                                          int training, cvae_tensor **y);

/** Nearest-neighbour upsampling by an integer factor.  x: [N, C, H, W] -> [N, C, sH, sW]. */
CVAE_API cvae_status cvae_op_upsample_nearest2d(cvae_tape *t, cvae_tensor *x, int scale,
                                                cvae_tensor **y);

#ifdef __cplusplus
}
#endif
#endif
