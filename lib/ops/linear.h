/* Raw kernels of the linear op (no tape): fast paths through CBLAS and plain references. */
#ifndef CVAE_OPS_LINEAR_H
#define CVAE_OPS_LINEAR_H

#include <stdint.h>

#include "cvae/tape.h"

/* Extents of a linear op: x [N, I], w [O, I], y [N, O]. */
typedef struct cvae__linear_dims {
    int64_t n, in, out;
} cvae__linear_dims;

/* y[N,O] = x[N,I] w[O,I]^T + b[O] (b may be NULL). */
void cvae__linear_forward(float *y, const float *x, const float *w, const float *b,
                          const cvae__linear_dims *d);
/* Accumulates dx[N,I] += dy w, dw[O,I] += dy^T x, db[O] += sum_n dy; each output may be NULL. */
void cvae__linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const cvae__linear_dims *d);
/* Plain triple loops computing the same as the two above. */
void cvae__linear_forward_ref(float *y, const float *x, const float *w, const float *b,
                              const cvae__linear_dims *d);
void cvae__linear_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, const cvae__linear_dims *d);

/* A product y[M,N] = op(a) op(b), op(a): [M,K], op(b): [K,N]; a is stored [M,K] or, when ta,
 * [K,M] (likewise b: [K,N] or, when tb, [N,K]). */
typedef struct cvae__matmul_dims {
    int ta, tb;
    int64_t m, k, n;
} cvae__matmul_dims;

void cvae__matmul_forward(float *y, const float *a, const float *b, const cvae__matmul_dims *d);
/* Accumulates da += dy op(b)^T (transposed back when ta), db += op(a)^T dy (likewise when tb);
 * da, db may be NULL. */
void cvae__matmul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                           const cvae__matmul_dims *d);
/* Plain loops computing the same as the two above. */
void cvae__matmul_forward_ref(float *y, const float *a, const float *b, const cvae__matmul_dims *d);
void cvae__matmul_backward_ref(float *da, float *db, const float *dy, const float *a,
                               const float *b, const cvae__matmul_dims *d);

#endif
