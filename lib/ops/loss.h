/* Raw kernels of the losses and the reparameterization (no tape). A loss kernel writes
 * per-row sums in double into rows[N]; its backward accumulates dx += g_r dl/dx, where g_r is
 * the gradient reaching row r's sum (cvae__loss_grad). */
#ifndef CVAE_OPS_LOSS_H
#define CVAE_OPS_LOSS_H

#include <stdint.h>

#include "cvae/tape.h"

/* The gradient reaching row r's sum: g_r = scale * (per_row ? dy[r] : dy[0]). */
typedef struct cvae__loss_grad {
    const float *dy; /* [N] (per_row) or [1] */
    int per_row;
    float scale;
} cvae__loss_grad;

/* l = max(x, 0) - x z + log1p(e^-|x|);  dl/dx = sigmoid(x) - z.  x, z: [N, D]. */
void cvae__bce_with_logits_rows(double *rows, const float *x, const float *z, int64_t n, int64_t d);
void cvae__bce_with_logits_backward(float *dx, const cvae__loss_grad *g, const float *x,
                                    const float *z, int64_t n, int64_t d);
/* Plain log1p(e^x) - x z in double (overflows for x > ~709; for tests). */
void cvae__bce_with_logits_rows_ref(double *rows, const float *x, const float *z, int64_t n,
                                    int64_t d);

/* l = 0.5 (e^lv + mu^2 - 1 - lv);  dl/dmu = mu, dl/dlv = 0.5 (e^lv - 1).  mu, lv: [N, D].
 * dmu, dlv may be NULL. */
void cvae__kl_normal_rows(double *rows, const float *mu, const float *lv, int64_t n, int64_t d);
void cvae__kl_normal_backward(float *dmu, float *dlv, const cvae__loss_grad *g, const float *mu,
                              const float *lv, int64_t n, int64_t d);

/* l[i] = lse(x[i]) - x[i, labels[i]] with lse = m + log sum_j e^(x[i,j] - m), m = max_j x[i,j];
 * dl/dx[i,j] = e^(x[i,j] - lse[i]) - [j == labels[i]].  x: [N, K]; lse[N] is saved for backward.
 * Labels must already be in [0, K). */
void cvae__softmax_xent_rows(double *rows, float *lse, const float *x, const int32_t *labels,
                             int64_t n, int64_t k);
void cvae__softmax_xent_backward(float *dx, const cvae__loss_grad *g, const float *x,
                                 const float *lse, const int32_t *labels, int64_t n, int64_t k);
/* Plain log(sum e^x) - x[label] in double without the max shift (for tests). */
void cvae__softmax_xent_rows_ref(double *rows, const float *x, const int32_t *labels, int64_t n,
                                 int64_t k);

/* z = mu + e^(lv/2) eps;  dmu += dz, dlv += 0.5 dz eps e^(lv/2).  All n floats; dmu, dlv may be
 * NULL. */
void cvae__reparameterize_forward(float *z, const float *mu, const float *lv, const float *eps,
                                  int64_t n);
void cvae__reparameterize_backward(float *dmu, float *dlv, const float *dz, const float *lv,
                                   const float *eps, int64_t n);


#endif
