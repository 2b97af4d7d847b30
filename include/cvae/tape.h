/** @file
 * cvae/tape.h: the autodiff tape and parameter blocks.
 *
 * A tape is both the workspace of a computation and its record. Every op
 * (cvae_op_*) takes a tape, allocates its output from the tape's arena and, when
 * recording is on and some input requires a gradient, records how to propagate
 * gradients back. cvae_tape_backward(loss) then walks the record in reverse.
 * cvae_tape_reset() forgets all tape tensors but keeps the memory, so a training
 * loop that does the same work each step allocates nothing after the first one.
 *
 *     cvae_tape *t; cvae_tape_new(&t);
 *     for (step...) {
 *         cvae_tape_reset(t);
 *         cvae_params_zero_grad(params);
 *         cvae_op_linear(t, x, w, b, &h); ... cvae_op_mean(t, l, &loss);
 *         cvae_tape_backward(t, loss);   // fills w->grad, b->grad
 *         cvae_optim_step(opt);
 *     }
 *
 * A tape is not thread-safe; give each thread its own. Parameters are shared
 * read-only when no thread records gradients into them.
 */
#ifndef CVAE_TAPE_H
#define CVAE_TAPE_H

#include "cvae/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An autodiff tape: arena workspace plus the record of ops (opaque). */
typedef struct cvae_tape cvae_tape;

/** Creates an empty tape with recording on. */
CVAE_API cvae_status cvae_tape_new(cvae_tape **out);

/** Frees the tape and every tensor it allocated. NULL is a no-op. */
CVAE_API void cvae_tape_free(cvae_tape *t);

/** Forgets recorded ops and tape tensors (their pointers become invalid) but
 *  keeps the memory for the next pass. */
CVAE_API void cvae_tape_reset(cvae_tape *t);

/** Turns recording on (training) or off (inference: no graph, no gradient buffers). */
CVAE_API void cvae_tape_set_recording(cvae_tape *t, int on);

/** Whether the tape records ops. */
CVAE_API int cvae_tape_recording(const cvae_tape *t);

/** A zero-filled scratch tensor in the tape's arena (valid until reset), e.g. to
 *  hold a batch of inputs. It requires no gradient. */
CVAE_API cvae_status cvae_tape_tensor(cvae_tape *t, int ndim, const int64_t *shape,
                                      cvae_tensor **out);

/** Marks a tape tensor as requiring a gradient (e.g. an input whose gradient you want). */
CVAE_API cvae_status cvae_tape_require_grad(cvae_tape *t, cvae_tensor *x);

/** Back-propagates from `loss` (a 1-element tensor recorded on this tape) with
 *  seed gradient 1. Gradients add into ->grad of every tensor that requires one;
 *  parameter gradients accumulate across calls until cvae_params_zero_grad. */
CVAE_API cvae_status cvae_tape_backward(cvae_tape *t, cvae_tensor *loss);

/** Back-propagates from any tape tensor y with seed gradient dy[0..y->size)
 *  (a vector-Jacobian product); otherwise as cvae_tape_backward. */
CVAE_API cvae_status cvae_tape_backward_with(cvae_tape *t, cvae_tensor *y, const float *dy);

/** Bytes the tape's arena currently holds (for allocation accounting). */
CVAE_API size_t cvae_tape_capacity(const cvae_tape *t);

/* ---- parameters --------------------------------------------------------- */

/** A set of named parameter tensors whose values live in one contiguous block
 *  (and their gradients in a second one), so optimizers run flat loops. */
typedef struct cvae_params cvae_params;

/** Creates an empty parameter set in *out. */
CVAE_API cvae_status cvae_params_new(cvae_params **out);
/** Frees the block and every tensor in it. NULL is a no-op. */
CVAE_API void cvae_params_free(cvae_params *p);

/** Adds a zero-filled parameter of the given shape. The returned tensor stays
 *  owned by p and valid until cvae_params_free (its data pointer may move while
 *  parameters are still being added). `name` must be unique; it is copied. */
CVAE_API cvae_status cvae_params_add(cvae_params *p, const char *name, int ndim,
                                     const int64_t *shape, int trainable, cvae_tensor **out);

/** Freezes (0) or unfreezes (1) a parameter: a frozen one gets no gradient,
 *  costs no gradient work and is skipped by optimizers. */
CVAE_API cvae_status cvae_params_set_trainable(cvae_params *p, cvae_tensor *param, int trainable);
/** Whether param is a parameter that currently receives gradients. */
CVAE_API int cvae_params_is_trainable(const cvae_tensor *param);

/** Sets every gradient to zero. */
CVAE_API void cvae_params_zero_grad(cvae_params *p);

CVAE_API int cvae_params_count(const cvae_params *p);           /**< number of tensors */
CVAE_API int64_t cvae_params_numel(const cvae_params *p);       /**< total elements */
/** Elements of the trainable tensors only. */
CVAE_API int64_t cvae_params_trainable_numel(const cvae_params *p);
CVAE_API cvae_tensor *cvae_params_at(const cvae_params *p, int i); /**< i-th tensor or NULL */
/** Name of the i-th tensor (owned by p) or NULL. */
CVAE_API const char *cvae_params_name(const cvae_params *p, int i);
/** The tensor called `name`, or NULL. */
CVAE_API cvae_tensor *cvae_params_find(const cvae_params *p, const char *name);

/** The contiguous value block (cvae_params_numel floats); tensor i's data
 *  begins at cvae_params_offset(p, i). */
CVAE_API float *cvae_params_data(const cvae_params *p);
/** The gradient block, laid out like cvae_params_data (frozen slices stay 0). */
CVAE_API float *cvae_params_grad(const cvae_params *p);
/** Offset of tensor i in the blocks, or -1 when i is out of range. */
CVAE_API int64_t cvae_params_offset(const cvae_params *p, int i);

#ifdef __cplusplus
}
#endif
#endif
