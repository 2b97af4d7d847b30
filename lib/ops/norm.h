/* Raw kernels of 2-D batch normalization (no tape). x, y: [N, C, hw]; per channel c,
 * xhat = (x - mean[c]) invstd[c], y = gamma[c] xhat + beta[c] (gamma, beta may be NULL: 1, 0).
 * The statistics are doubles and every kernel works on x - mean, never on x (a x + b loses the
 * digits of xhat when |mean| is far larger than the spread), so a channel of mean 1000 times
 * its spread keeps float32 accuracy. */
#ifndef CVAE_OPS_NORM_H
#define CVAE_OPS_NORM_H

#include <stdint.h>

/* What a kernel reads and writes (NULL: not given / not wanted). The kernels use the statistics
 * as mean and invstd = 1 / sqrt(var + eps); the references as mean, var and eps. */
typedef struct cvae__bn_args {
    int64_t n, c, hw;               /* x: [n, c, hw] */
    const float *x, *gamma, *beta;  /* gamma, beta: [c] or NULL (1, 0) */
    const double *mean, *invstd;    /* [c]: the statistics in use (kernels) */
    const double *var;              /* [c]: their variance (references) */
    double eps;                     /* (references) */
    int batch_stats;                /* 1: mean and var are x's own (training) */
    float *y;                       /* forward: [n, c, hw] */
    const float *dy;                /* backward: [n, c, hw] */
    float *dx, *dgamma, *dbeta;     /* backward, accumulated: [n, c, hw], [c], [c] */
} cvae__bn_args;

/* Batch statistics of a->x over (N, hw): mean[c] and the biased variance var[c] (two passes in
 * double, the first shifted by the channel's first value, the second centred on the mean). */
void cvae__batch_norm2d_stats(double *mean, double *var, const cvae__bn_args *a);

/* y = gamma (x - mean) invstd + beta. */
void cvae__batch_norm2d_forward(const cvae__bn_args *a);

/* dgamma[c] += sum dy xhat, dbeta[c] += sum dy, and dx += the input gradient: through the
 * batch statistics when batch_stats (training),
 *   dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)),
 * else through constant statistics, dx = gamma invstd dy. */
void cvae__batch_norm2d_backward(const cvae__bn_args *a);

/* Plain per-element loops in double computing the same from mean, var and eps. */
void cvae__batch_norm2d_forward_ref(const cvae__bn_args *a);
void cvae__batch_norm2d_backward_ref(const cvae__bn_args *a);

#endif
