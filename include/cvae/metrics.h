/** @file
 * cvae/metrics.h: the Fréchet distance between two sets of samples (as FID measures image
 * generators, in the features of a classifier), on the C library only: the moments of each
 * set in double, then the distance between the two Gaussians they define.
 *
 *     // fa: [na, d] features of one set, fb: [nb, d] of the other (float32 rows)
 *     double fd;
 *     cvae_frechet_distance_samples(fa, na, fb, nb, d, &fd);
 *
 *     // or keep the moments of a reference set and compare several sets against them
 *     double *mu = malloc(d * sizeof *mu), *cov = malloc(d * d * sizeof *cov);
 *     cvae_moments(fa, na, d, mu, cov);
 *     cvae_frechet_distance(d, mu, cov, mu2, cov2, &fd);
 *
 * The matrix square root comes from symmetric eigendecompositions (cyclic Jacobi, written
 * here; no LAPACK): O(d^3) per decomposition, a few milliseconds at d = 128. Meant for d up
 * to a few hundred. See docs/metrics.md for what the numbers mean.
 */
#ifndef CVAE_METRICS_H
#define CVAE_METRICS_H

#include "cvae/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Mean and covariance of the rows of x, accumulated in double in two passes (the mean,
 *  then the products of the centred rows), the covariance normalized by n - 1 (as
 *  numpy.cov).  x: [n, d] float32, row-major, finite -> mean: [d], cov: [d, d] (row-major,
 *  exactly symmetric).  n >= 2, d >= 1. Errors: CVAE_ERR_INVALID_ARG (a NULL pointer,
 *  n < 2, d < 1), CVAE_ERR_NUMERIC (a NaN or infinity, named by row and column),
 *  CVAE_ERR_NOMEM; mean and cov are untouched on error. */
CVAE_API cvae_status cvae_moments(const float *x, int64_t n, int64_t d, double *mean, double *cov);

/** Fréchet distance (the squared 2-Wasserstein distance) between N(mu1, cov1) and
 *  N(mu2, cov2):  ||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^½ cov2 cov1^½)^½).
 *  mu1, mu2: [d]; cov1, cov2: [d, d] row-major, symmetric (to 1e-9 of their largest entry)
 *  and positive semi-definite (no eigenvalue below -1e-9 times the largest magnitude; the
 *  small negative ones rounding leaves are taken as 0). The result is >= 0 up to rounding
 *  (about 1e-12 of tr(cov1) + tr(cov2): identical inputs may give -1e-13).
 *  Errors: CVAE_ERR_INVALID_ARG (a NULL pointer, d < 1, a covariance not symmetric or not
 *  positive semi-definite), CVAE_ERR_NUMERIC (a NaN or infinity, or an eigendecomposition
 *  that does not converge), CVAE_ERR_NOMEM; *out is untouched on error. */
CVAE_API cvae_status cvae_frechet_distance(int64_t d, const double *mu1, const double *cov1,
                                           const double *mu2, const double *cov2, double *out);

/** cvae_frechet_distance between the Gaussians that cvae_moments fits to x and y.
 *  x: [nx, d], y: [ny, d] float32 rows (nx, ny >= 2, finite). Errors as cvae_moments and
 *  cvae_frechet_distance (the message says which set). */
CVAE_API cvae_status cvae_frechet_distance_samples(const float *x, int64_t nx, const float *y,
                                                   int64_t ny, int64_t d, double *out);

#ifdef __cplusplus
}
#endif
#endif
