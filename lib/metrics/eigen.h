/* Symmetric eigendecomposition by cyclic Jacobi rotations (private to the metrics). */
#ifndef CVAE_METRICS_EIGEN_H
#define CVAE_METRICS_EIGEN_H

#include "core/internal.h"

/* a = v diag(w) v^T for symmetric a.  a: [d, d] row-major (read from the upper triangle and
 * destroyed) -> w: [d] ascending, v: [d, d] whose column j is the unit eigenvector of w[j]
 * (NULL: eigenvalues only, about half the work). Jacobi keeps every eigenvalue to within a
 * few units of rounding of the largest. CVAE_ERR_NUMERIC when 100 sweeps do not converge. */
cvae_status cvae__sym_eigen(int64_t d, double *a, double *w, double *v);

#endif
