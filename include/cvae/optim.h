/** @file
 * cvae/optim.h: optimizers over a parameter block, and gradient clipping.
 *
 * An optimizer is created for one cvae_params block once all its parameters
 * have been added; its state (moment buffers, one flat block each, as long as
 * the parameter block) is allocated at creation, so a step allocates nothing.
 * A step walks the runs of trainable tensors in flat loops; frozen tensors
 * (grad == NULL) are skipped entirely: no update, no weight decay, their state
 * entries are never written.
 *
 *     cvae_adam_opts o = cvae_adam_opts_default();   // lr 1e-3, betas (0.9, 0.999)
 *     cvae_optim *opt; cvae_optim_new_adam(params, &o, &opt);
 *     ... backward ...; cvae_clip_grad_norm(params, 1.0f, NULL); cvae_optim_step(opt);
 *
 * Checkpoints: cvae_optim_state() exposes the optimizer-owned state buffers and
 * step count; restoring them (and the parameters) continues a run bit for bit. */
#ifndef CVAE_OPTIM_H
#define CVAE_OPTIM_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An optimizer bound to one parameter block (opaque). */
typedef struct cvae_optim cvae_optim;

/** Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD
 *  with dampening 0:  g = grad + weight_decay p;  b = momentum b + g;
 *  p -= lr (nesterov ? g + momentum b : b)   (b = g when momentum is 0). */
typedef struct cvae_sgd_opts {
    float lr;           /**< > 0 */
    float momentum;     /**< in [0, 1) */
    float weight_decay; /**< >= 0, L2 penalty added to the gradient */
    int nesterov;       /**< needs momentum > 0 */
} cvae_sgd_opts;

/** Adam with decoupled weight decay (AdamW, as torch.optim.AdamW; weight_decay 0 is
 *  plain Adam). At step t (counted from 1):
 *    p *= 1 - lr weight_decay;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 *  Decoupled decay was chosen because L2-in-the-gradient is rescaled by Adam's
 *  per-weight step size and so regularizes weights with large gradients less. */
typedef struct cvae_adam_opts {
    float lr;           /**< > 0 */
    float beta1;        /**< first-moment decay, in [0, 1) */
    float beta2;        /**< second-moment decay, in [0, 1) */
    float eps;          /**< > 0 */
    float weight_decay; /**< >= 0, decoupled */
} cvae_adam_opts;

/** lr 0.01, no momentum, no weight decay. */
CVAE_API cvae_sgd_opts cvae_sgd_opts_default(void);
/** lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay (PyTorch's Adam defaults). */
CVAE_API cvae_adam_opts cvae_adam_opts_default(void);

/** An SGD optimizer for every parameter of `params` (which must not grow afterwards). */
CVAE_API cvae_status cvae_optim_new_sgd(cvae_params *params, const cvae_sgd_opts *opts,
                                        cvae_optim **out);
/** An Adam(W) optimizer for every parameter of `params` (which must not grow afterwards). */
CVAE_API cvae_status cvae_optim_new_adam(cvae_params *params, const cvae_adam_opts *opts,
                                         cvae_optim **out);
/** Frees the optimizer and its state (not the parameters). NULL is a no-op. */
CVAE_API void cvae_optim_free(cvae_optim *opt);

/** One update of every trainable parameter from its gradient; increments the step count.
 *  CVAE_ERR_STATE if parameters were added to the block after creation. */
CVAE_API cvae_status cvae_optim_step(cvae_optim *opt);

/** Changes the learning rate for the next steps (> 0, finite), e.g. for a schedule. */
CVAE_API cvae_status cvae_optim_set_lr(cvae_optim *opt, float lr);
/** Current learning rate (0 for NULL). */
CVAE_API float cvae_optim_lr(const cvae_optim *opt);

/** Steps taken so far (restored ones included); 0 for NULL. */
CVAE_API int64_t cvae_optim_step_count(const cvae_optim *opt);
/** Sets the step count (>= 0), e.g. when restoring a checkpoint; Adam's bias
 *  correction uses it. */
CVAE_API cvae_status cvae_optim_set_step(cvae_optim *opt, int64_t step);

/** The optimizer-owned state, for checkpoints: *m and *v point at numel floats
 *  each, laid out like cvae_params_data() (write into them to restore a state).
 *  Adam has m (first moments) and v (second moments); SGD has m (momentum
 *  buffer) only when momentum > 0, and *v = NULL. Any output pointer may be NULL. */
CVAE_API cvae_status cvae_optim_state(cvae_optim *opt, float **m, float **v, int64_t *numel,
                                      int64_t *step);

/** Scales every trainable gradient by max_norm / (norm + 1e-6) when their global
 *  L2 norm (accumulated in double) exceeds max_norm (> 0), as
 *  torch.nn.utils.clip_grad_norm_. *norm_before (may be NULL) receives the norm.
 *  A NaN or Inf norm gives CVAE_ERR_NUMERIC and changes nothing. */
CVAE_API cvae_status cvae_clip_grad_norm(cvae_params *params, float max_norm, float *norm_before);

#ifdef __cplusplus
}
#endif
#endif
