/* Cyclic Jacobi: sweeps of plane rotations, each zeroing one off-diagonal entry a[p][q]
 * (Golub & Van Loan, Matrix Computations, 8.5), until the off-diagonal part is negligible. */
#include <float.h>
#include <math.h>

#include "metrics/eigen.h"

/* A <- J^T A J and V <- V J for the rotation J in the plane (p, q) that zeroes a[p][q].
 * A is symmetric: rows p and q are rotated (contiguous) and mirrored into columns p and q.
 * vt = V^T, so that V's columns p and q are contiguous rows too. */
static void rotate(int64_t d, double *a, double *vt, int64_t p, int64_t q)
{
    const double apq = a[p * d + q], app = a[p * d + p], aqq = a[q * d + q];
    const double theta = (aqq - app) / (2.0 * apq);
    /* t = tan of the angle: the smaller root of t^2 + 2 theta t - 1 = 0 */
    const double t = fabs(theta) > 1e150 ? 0.5 / theta
                                         : copysign(1.0, theta) /
                                               (fabs(theta) + sqrt(theta * theta + 1.0));
    const double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
    double *restrict rp = a + p * d, *restrict rq = a + q * d;
    for (int64_t k = 0; k < d; k++) {
        const double pk = rp[k], qk = rq[k];
        rp[k] = c * pk - s * qk;
        rq[k] = s * pk + c * qk;
    }
    rp[p] = app - t * apq;
    rq[q] = aqq + t * apq;
    rp[q] = rq[p] = 0.0;
    for (int64_t k = 0; k < d; k++) a[k * d + p] = rp[k], a[k * d + q] = rq[k];
    if (vt) {
        double *restrict vp = vt + p * d, *restrict vq = vt + q * d;
        for (int64_t k = 0; k < d; k++) {
            const double pk = vp[k], qk = vq[k];
            vp[k] = c * pk - s * qk;
            vq[k] = s * pk + c * qk;
        }
    }
}

/* Sorts w ascending, moving v's columns along (selection sort: d is small). */
static void sort_ascending(int64_t d, double *w, double *v)
{
    for (int64_t i = 0; i < d; i++) {
        int64_t m = i;
        for (int64_t j = i + 1; j < d; j++)
            if (w[j] < w[m]) m = j;
        if (m == i) continue;
        const double tw = w[i];
        w[i] = w[m], w[m] = tw;
        if (v)
            for (int64_t k = 0; k < d; k++) {
                const double tv = v[k * d + i];
                v[k * d + i] = v[k * d + m], v[k * d + m] = tv;
            }
    }
}

cvae_status cvae__sym_eigen(int64_t d, double *a, double *w, double *v)
{
    double norm = 0.0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            a[j * d + i] = a[i * d + j];
            norm += (i == j ? 1.0 : 2.0) * a[i * d + j] * a[i * d + j];
        }
    double *vt = v; /* V^T while rotating, transposed in place at the end */
    if (vt)
        for (int64_t i = 0; i < d * d; i++) vt[i] = i % (d + 1) == 0 ? 1.0 : 0.0;
    int converged = 0;
    for (int sweep = 0; sweep < 100 && !converged; sweep++) {
        double off = 0.0;
        for (int64_t p = 0; p < d; p++)
            for (int64_t q = p + 1; q < d; q++) off += a[p * d + q] * a[p * d + q];
        /* rotations keep the Frobenius norm: an off-diagonal part below 1e-17 of it is under
         * the rounding the rotations themselves leave */
        if (off <= 1e-34 * norm || off < DBL_MIN) {
            converged = 1;
            break;
        }
        for (int64_t p = 0; p < d; p++)
            for (int64_t q = p + 1; q < d; q++)
                if (a[p * d + q] != 0.0) rotate(d, a, vt, p, q);
    }
    if (!converged)
        return cvae__error(CVAE_ERR_NUMERIC,
                           "symmetric eigendecomposition of a %lldx%lld matrix: no convergence "
                           "in 100 Jacobi sweeps",
                           (long long)d, (long long)d);
    for (int64_t i = 0; i < d; i++) w[i] = a[i * d + i];
    if (v)
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = i + 1; j < d; j++) {
                const double x = v[i * d + j];
                v[i * d + j] = v[j * d + i], v[j * d + i] = x;
            }
    sort_ascending(d, w, v);
    return CVAE_OK;
}
