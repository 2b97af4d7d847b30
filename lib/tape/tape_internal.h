/* Private interface between the tape and the ops that record on it. */
#ifndef CVAE_TAPE_INTERNAL_H
#define CVAE_TAPE_INTERNAL_H

#include "core/internal.h"
#include "cvae/tape.h"

typedef struct cvae_node cvae_node;

/* Propagates n->out->grad into the grads of n->in[] that require one. */
typedef cvae_status (*cvae__backward_fn)(cvae_tape *t, const cvae_node *n);

struct cvae_node {
    cvae__backward_fn backward;
    cvae_tensor *out;
    cvae_tensor **in; /* n_in inputs, in the order the op documents */
    int n_in;
    void *ctx;        /* op-specific saved state, in the arena */
};

/* Position in the arena, to release temporaries (cvae__tape_release). */
typedef struct cvae_tape_mark {
    int chunk;
    size_t used;
} cvae_tape_mark;

static inline bool cvae__needs_grad(const cvae_tensor *x)
{
    return x && (x->flags & CVAE_TENSOR_REQUIRES_GRAD);
}

/* 64-byte aligned arena memory valid until reset; uninitialized. Sets the
 * error message and returns NULL on failure. */
void *cvae__tape_alloc(cvae_tape *t, size_t bytes, const char *what);
float *cvae__tape_floats(cvae_tape *t, int64_t n, const char *what);

cvae_tape_mark cvae__tape_mark(const cvae_tape *t);
void cvae__tape_release(cvae_tape *t, cvae_tape_mark m);

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

#endif
