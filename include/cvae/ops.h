/** @file
 * cvae/ops.h: differentiable dense ops. Each takes the tape it runs on,
 * allocates its output there (valid until cvae_tape_reset) and records its
 * backward when recording is on and an input requires a gradient. Inputs are
 * checked first; on error nothing is written and *out is untouched.
 * The input tensors of a recorded op must stay alive and unchanged until the tape's
 * backward has run (or the tape is reset): the backward reads them. Label arrays are
 * not tensors: each op that takes one says whether it keeps a copy.
 * Shapes in comments: x: [N, D] means a 2-D tensor of N rows of D. */
#ifndef CVAE_OPS_H
#define CVAE_OPS_H

#include "cvae/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a loss reduces: to one number, to its mean, or to one number per row (dim 0). */
typedef enum cvae_reduction {
    CVAE_REDUCE_SUM = 0,  /**< [1]: sum of all elements */
    CVAE_REDUCE_MEAN = 1, /**< [1]: sum / element count */
    CVAE_REDUCE_ROWS = 2  /**< [N]: sum over all dimensions but the first */
} cvae_reduction;

/** An activation, fused into the op that computes its input (Keras' `activation=`): applied
 *  in the pass that writes the op's output, and differentiated from that output in the pass
 *  that reads the incoming gradient, so no pre-activation tensor is kept. The same functions,
 *  unfused, are cvae_op_activation and the ops below (cvae_op_relu, ...). */
typedef enum cvae_activation {
    CVAE_ACT_NONE = 0,       /**< y = v */
    CVAE_ACT_RELU = 1,       /**< y = max(v, 0) */
    CVAE_ACT_LEAKY_RELU = 2, /**< y = v if v > 0 else alpha v; alpha > 0, 0 means 0.01 (PyTorch's) */
    CVAE_ACT_ELU = 3,        /**< y = v if v > 0 else alpha (e^v - 1); alpha > 0, 0 means 1 */
    CVAE_ACT_SIGMOID = 4,    /**< y = 1 / (1 + e^-v) */
    CVAE_ACT_TANH = 5        /**< y = tanh v */
} cvae_activation;

/** Lower-case name of an activation ("none", "relu", "leaky_relu", "elu", "sigmoid", "tanh");
 *  "?" for a value outside the enum. */
CVAE_API const char *cvae_activation_name(cvae_activation a);

/** y = act(x) elementwise, unfused (alpha as in cvae_activation).  x: any shape -> y: x's shape.
 *  Bitwise equal to the fused form of the same activation. */
CVAE_API cvae_status cvae_op_activation(cvae_tape *t, cvae_tensor *x, cvae_activation act,
                                        float alpha, cvae_tensor **y);

/* ---- linear algebra ---- */

/** y = x w^T + b.  x: [N, I], w: [O, I], b: [O] or NULL -> y: [N, O]. */
CVAE_API cvae_status cvae_op_linear(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                                    cvae_tensor **y);

/** y = act(x w^T + b), the activation fused (see cvae_activation).  Shapes as cvae_op_linear. */
CVAE_API cvae_status cvae_op_linear_act(cvae_tape *t, cvae_tensor *x, cvae_tensor *w,
                                        cvae_tensor *b, cvae_activation act, float alpha,
                                        cvae_tensor **y);

/** y = op(a) op(b), op = transpose when the flag is set.  op(a): [M, K], op(b): [K, N] -> [M, N]. */
CVAE_API cvae_status cvae_op_matmul(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, int trans_a,
                                    int trans_b, cvae_tensor **y);

/* ---- elementwise, same shapes ---- */

/** y = a + b.  a, b: same shape. */
CVAE_API cvae_status cvae_op_add(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y);
/** y = a - b.  a, b: same shape. */
CVAE_API cvae_status cvae_op_sub(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y);
/** y = a * b (elementwise).  a, b: same shape. */
CVAE_API cvae_status cvae_op_mul(cvae_tape *t, cvae_tensor *a, cvae_tensor *b, cvae_tensor **y);
/** y = s * x.  x: any shape -> y: x's shape. */
CVAE_API cvae_status cvae_op_scale(cvae_tape *t, cvae_tensor *x, float s, cvae_tensor **y);
/** y[n, c, ...] = x[n, c, ...] + b[c].  x: [N, C, ...], b: [C]. */
CVAE_API cvae_status cvae_op_bias_add(cvae_tape *t, cvae_tensor *x, cvae_tensor *b, cvae_tensor **y);

/* ---- activations, y = f(x) elementwise ---- */

/** y = max(x, 0). */
CVAE_API cvae_status cvae_op_relu(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y = x if x > 0 else alpha (e^x - 1); alpha finite (else CVAE_ERR_NUMERIC) and >= 0
 *  (else CVAE_ERR_INVALID_ARG), 0 meaning 0 (unlike cvae_op_activation). */
CVAE_API cvae_status cvae_op_elu(cvae_tape *t, cvae_tensor *x, float alpha, cvae_tensor **y);
/** y = x if x > 0 else slope x; slope finite and >= 0 as cvae_op_elu's alpha. */
CVAE_API cvae_status cvae_op_leaky_relu(cvae_tape *t, cvae_tensor *x, float slope, cvae_tensor **y);
/** y = 1 / (1 + e^-x). */
CVAE_API cvae_status cvae_op_sigmoid(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y = tanh x. */
CVAE_API cvae_status cvae_op_tanh(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y = log(1 + e^x), computed without overflow. */
CVAE_API cvae_status cvae_op_softplus(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y = e^x. */
CVAE_API cvae_status cvae_op_exp(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y = log x (x must be positive; non-positive values give CVAE_ERR_NUMERIC). */
CVAE_API cvae_status cvae_op_log(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);

/* ---- shape ---- */

/** y = the n tensors xs[] joined along `axis`; all other extents must agree. */
CVAE_API cvae_status cvae_op_concat(cvae_tape *t, cvae_tensor *const *xs, int n, int axis,
                                    cvae_tensor **y);
/** Splits x along `axis` into n parts of extents sizes[0..n) (summing to x's extent). */
CVAE_API cvae_status cvae_op_split(cvae_tape *t, cvae_tensor *x, int axis, const int64_t *sizes,
                                   int n, cvae_tensor **ys);
/** y = x with another shape of the same size (one extent may be -1). */
CVAE_API cvae_status cvae_op_reshape(cvae_tape *t, cvae_tensor *x, int ndim, const int64_t *shape,
                                     cvae_tensor **y);
/** y: [N, D] = x: [N, ...] flattened per row. */
CVAE_API cvae_status cvae_op_flatten(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);

/* ---- reductions ---- */

/** y: [1] = sum of all elements. */
CVAE_API cvae_status cvae_op_sum(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y: [1] = mean of all elements. */
CVAE_API cvae_status cvae_op_mean(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);
/** y: [N] = per-row sums of x: [N, ...]. */
CVAE_API cvae_status cvae_op_sum_rows(cvae_tape *t, cvae_tensor *x, cvae_tensor **y);

/* ---- labels ---- */

/** y: [N, K] = one-hot rows of labels[0..N), each in [0, K). No gradient; the labels are
 *  read during the call only. */
CVAE_API cvae_status cvae_op_one_hot(cvae_tape *t, const int32_t *labels, int64_t n, int64_t k,
                                     cvae_tensor **y);
/** y[i] = table[labels[i]].  table: [K, D], labels: int32[N] in [0, K) -> y: [N, D]; backward
 *  scatter-adds into table rows. The labels are copied onto the tape: the array may change
 *  after the call. */
CVAE_API cvae_status cvae_op_embedding(cvae_tape *t, cvae_tensor *table, const int32_t *labels,
                                       int64_t n, cvae_tensor **y);

/* ---- losses ---- */

/** Binary cross-entropy with logits: l = softplus(x) - z x, per element, reduced.
 *  logits, targets: same shape (targets in [0, 1], no gradient). */
CVAE_API cvae_status cvae_op_bce_with_logits(cvae_tape *t, cvae_tensor *logits, cvae_tensor *targets,
                                             cvae_reduction r, cvae_tensor **y);
/** KL(N(mu, e^logvar) || N(0, I)) = 0.5 sum(e^lv + mu^2 - 1 - lv), reduced.  mu, logvar: [N, D]. */
CVAE_API cvae_status cvae_op_kl_normal(cvae_tape *t, cvae_tensor *mu, cvae_tensor *logvar,
                                       cvae_reduction r, cvae_tensor **y);
/** Softmax cross-entropy: l[i] = logsumexp(x[i]) - x[i, labels[i]].  logits: [N, K],
 *  labels: int32[N] in [0, K) -> y: [1] or [N] (see cvae_reduction). The labels are copied
 *  onto the tape: the array may change after the call. */
CVAE_API cvae_status cvae_op_softmax_cross_entropy(cvae_tape *t, cvae_tensor *logits,
                                                   const int32_t *labels, cvae_reduction r,
                                                   cvae_tensor **y);
/** z = mu + e^(logvar/2) eps with eps[i] ~ N(0, 1) the i-th normal of (seed, stream).
 *  mu, logvar: [N, D] -> z: [N, D]. */
CVAE_API cvae_status cvae_op_reparameterize(cvae_tape *t, cvae_tensor *mu, cvae_tensor *logvar,
                                            uint64_t seed, uint64_t stream, cvae_tensor **z);
/** cvae_op_reparameterize with eps[i] the normal number first + i of (seed, stream) (first >= 0):
 *  rows [r0, r1) of a batch of D-wide rows draw with first = r0 D what the whole batch would
 *  draw for them, so a batch split over threads draws the same noise.  -> z: [N, D]. */
CVAE_API cvae_status cvae_op_reparameterize_from(cvae_tape *t, cvae_tensor *mu,
                                                 cvae_tensor *logvar, uint64_t seed,
                                                 uint64_t stream, int64_t first, cvae_tensor **z);

#ifdef __cplusplus
}
#endif
#endif
