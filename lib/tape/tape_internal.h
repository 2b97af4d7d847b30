/* Private interface between the tape and the ops that record on it. */
#ifndef CVAE_TAPE_INTERNAL_H
#define CVAE_TAPE_INTERNAL_H

#include "core/internal.h"
#include "cvae/tape.h"

typedef struct cvae__node cvae__node;

/* Propagates n->out->grad into the grads of n->in[] that require one. */
typedef cvae_status (*cvae__backward_fn)(cvae_tape *t, const cvae__node *n);

struct cvae__node {
    cvae__backward_fn backward;
    cvae_tensor *out;
    cvae_tensor **in; /* n_in inputs, in the order the op documents */
    int n_in;
    void *ctx;        /* op-specific saved state, in the arena */
};

/* Position in the arena, to release temporaries (cvae__tape_release). */
typedef struct cvae__arena_mark {
    int chunk;
    size_t used;
} cvae__arena_mark;

static inline bool cvae__needs_grad(const cvae_tensor *x)
{
    return x && (x->flags & CVAE_TENSOR_REQUIRES_GRAD);
}

/* 64-byte aligned arena memory valid until reset; uninitialized. Sets the
 * error message and returns NULL on failure. */
void *cvae__tape_alloc(cvae_tape *t, size_t bytes, const char *what);
float *cvae__tape_floats(cvae_tape *t, int64_t n, const char *what);

cvae__arena_mark cvae__tape_mark(const cvae_tape *t);
void cvae__tape_release(cvae_tape *t, cvae__arena_mark m);

/* An output tensor (uninitialized data) on the tape. It requires a gradient when
 * the tape records and any of in[0..n_in) requires one. */
cvae_status cvae__tape_output(cvae_tape *t, int ndim, const int64_t *shape,
                              cvae_tensor *const *in, int n_in, cvae_tensor **out);

/* Records a node for `out` if it requires a gradient; *ctx (may be NULL) receives
 * ctx_bytes of zeroed arena memory, or NULL when nothing is recorded. */
cvae_status cvae__tape_record(cvae_tape *t, cvae__backward_fn fn, cvae_tensor *out,
                              cvae_tensor *const *in, int n_in, size_t ctx_bytes, void **ctx);

/* Removes the parameters added after the first n (undoing a partly built network); the
 * block keeps its allocation. */
void cvae__params_truncate(cvae_params *p, int n);

/* x's gradient buffer, zero-filled on first use (arena for tape tensors,
 * the parameter block for parameters). NULL with an error set on failure. */
float *cvae__tape_grad(cvae_tape *t, cvae_tensor *x);

/* d[i] = the gradient buffer of the node's input i if it needs one (cvae__tape_grad), else NULL,
 * for i < n->n_in. CVAE_ERR_NOMEM on failure. */
cvae_status cvae__node_grads(cvae_tape *t, const cvae__node *n, float **d);

/* ---- the allocation idiom of every op ----
 *
 *     cvae__op_alloc a = cvae__op_begin(t, fn);
 *     cvae_tensor *out = cvae__op_output(&a, ndim, shape, in, n_in);  (outputs, cvae__op_bytes)
 *     float *saved = cvae__op_keep_floats(&a, n);   memory the backward reads (kept iff recorded)
 *     float *tmp = cvae__op_scratch_floats(&a, m);  memory of the forward only
 *     CVAE_TRY(cvae__op_ready(&a));           a failure above: everything released, its status
 *     ... compute ...
 *     CVAE_TRY(cvae__op_record(&a, backward, out, in, n_in, sizeof *ctx, (void **)&ctx));
 *     if (ctx) *ctx = ...;
 *     *y = out;
 *
 * The calls come in that order (outputs, then kept memory, then scratch: the arena is a
 * stack). A call after a failure does nothing and returns NULL, so none needs a check of its
 * own; a count of 0 gives NULL without failing. cvae__op_ready and cvae__op_record return the
 * first failure after rolling the tape back to cvae__op_begin (arena and recorded nodes), so
 * that a failed op leaves nothing behind. cvae__op_record releases the scratch and, when the
 * op records nothing (recording off, no input needing a gradient), the kept memory; an op
 * with several outputs calls it once per output.
 *
 * A backward function takes its gradient buffers (cvae__tape_grad) first, then
 *     cvae__op_alloc a = cvae__op_begin(t, what);  scratch ...;  CVAE_TRY(cvae__op_ready(&a));
 *     ... compute ...;  cvae__op_end(&a);          (releases the scratch) */
typedef struct cvae__op_alloc {
    cvae_tape *t;
    const char *what; /* the op, for allocation messages */
    cvae__arena_mark start, kept, scratch;
    int n_nodes;        /* recorded nodes at cvae__op_begin */
    int phase;          /* 0 outputs, 1 kept memory, 2 scratch, 3 recording */
    cvae_status status; /* the first failure */
} cvae__op_alloc;

cvae__op_alloc cvae__op_begin(cvae_tape *t, const char *what);
/* An output tensor as cvae__tape_output (NULL on failure). */
cvae_tensor *cvae__op_output(cvae__op_alloc *a, int ndim, const int64_t *shape,
                             cvae_tensor *const *in, int n_in);
/* Memory that lives as long as the outputs (a tensor header, an array of outputs). */
void *cvae__op_bytes(cvae__op_alloc *a, size_t bytes);
/* Memory the backward reads: kept when the op records a node, released otherwise. */
void *cvae__op_keep(cvae__op_alloc *a, size_t bytes);
float *cvae__op_keep_floats(cvae__op_alloc *a, int64_t n);
/* Memory released by cvae__op_record (forward) or cvae__op_end (backward). */
void *cvae__op_scratch(cvae__op_alloc *a, size_t bytes);
float *cvae__op_scratch_floats(cvae__op_alloc *a, int64_t n);
cvae_status cvae__op_ready(cvae__op_alloc *a);
cvae_status cvae__op_record(cvae__op_alloc *a, cvae__backward_fn fn, cvae_tensor *out,
                            cvae_tensor *const *in, int n_in, size_t ctx_bytes, void **ctx);
void cvae__op_end(cvae__op_alloc *a);

/* Nodes recorded on t (for tests). */
int cvae__tape_node_count(const cvae_tape *t);

#endif
