/* Raw kernels of 2-D batch normalization (no tape). x, y: [N, C, hw]; per channel c,
 * xhat = (x - mean[c]) invstd[c], y = gamma[c] xhat + beta[c] (gamma, beta may be NULL: 1, 0).
 * The statistics are doubles and every kernel works on x - mean, never on x (a x + b loses the
 * digits of xhat when |mean| is far larger than the spread), so a channel of mean 1000 times
 * its spread keeps float32 accuracy. */
#ifndef CVAE_OPS_NORM_H
#define CVAE_OPS_NORM_H

#include <stdint.h>

/* Batch statistics over (N, hw): mean[c] and the biased variance var[c] (two passes in double,
 * the first shifted by the channel's first value, the second centred on the mean). */
void cvae__batch_norm2d_stats(double *mean, double *var, const float *x, int64_t n, int64_t c, int64_t hw);

void cvae__batch_norm2d_forward(float *y, const float *x, const double *mean, const double *invstd,
                                const float *gamma, const float *beta, int64_t n, int64_t c,
                                int64_t hw);

/* dgamma[c] += sum dy xhat, dbeta[c] += sum dy, and dx += the input gradient: through the
 * batch statistics when batch_stats != 0 (training),
 *   dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)),
 * else through constant statistics, dx = gamma invstd dy. Each output may be NULL. */
void cvae__batch_norm2d_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                 const float *x, const double *mean, const double *invstd,
                                 const float *gamma, int64_t n, int64_t c, int64_t hw,
                                 int batch_stats);

/* Plain per-element loops in double computing the same from x, the statistics in use
 * (mean, var) and eps. */
void cvae__batch_norm2d_forward_ref(float *y, const float *x, const double *mean, const double *var,
                                    double eps, const float *gamma, const float *beta, int64_t n, int64_t c,
                                    int64_t hw);
void cvae__batch_norm2d_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                     const double *mean, const double *var, double eps, const float *gamma,
                                     int64_t n, int64_t c, int64_t hw, int batch_stats);

#endif
