/* Moments of sample sets and the Fréchet distance between Gaussians (cvae/metrics.h). */
#include <float.h>
#include <math.h>

#include "cvae/metrics.h"
#include "metrics/eigen.h"

/* d doubles, or d x d of them when square: bytes into *bytes, false on overflow. */
static bool doubles_of(int64_t d, int square, size_t *bytes)
{
    int64_t n = d;
    if (square && !cvae__mul_ok(d, d, &n)) return false;
    if (!cvae__mul_ok(n, (int64_t)sizeof(double), &n) || (uint64_t)n > SIZE_MAX) return false;
    *bytes = (size_t)n;
    return true;
}

static cvae_status check_samples(const float *x, int64_t n, int64_t d, const char *fn,
                                 const char *what)
{
    if (!x) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: argument '%s' is NULL", fn, what);
    if (n < 2)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %s has %lld samples, at least 2 needed", fn,
                           what, (long long)n);
    if (d < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: dimension %lld < 1", fn, (long long)d);
    int64_t count;
    if (!cvae__mul_ok(n, d, &count))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %s: %lld x %lld values overflow", fn, what,
                           (long long)n, (long long)d);
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: %s[%lld, %lld] is %s", fn, what,
                               (long long)(i / d), (long long)(i % d),
                               isnan(x[i]) ? "NaN" : "infinite");
    return CVAE_OK;
}

/* The moments of checked samples into mean and cov; row: [d] scratch. */
static void moments(const float *x, int64_t n, int64_t d, double *row, double *mean, double *cov)
{
    for (int64_t j = 0; j < d; j++) mean[j] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
    for (int64_t j = 0; j < d * d; j++) cov[j] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
        for (int64_t j = 0; j < d; j++) {
            const double rj = row[j];
            double *c = cov + j * d;
            for (int64_t k = j; k < d; k++) c[k] += rj * row[k];
        }
    }
    for (int64_t j = 0; j < d; j++)
        for (int64_t k = j; k < d; k++) cov[k * d + j] = cov[j * d + k] /= (double)(n - 1);
}

cvae_status cvae_moments(const float *x, int64_t n, int64_t d, double *mean, double *cov)
{
    static const char *fn = "cvae_moments";
    CVAE_CHECK_NULL(mean, fn);
    CVAE_CHECK_NULL(cov, fn);
    CVAE_TRY(check_samples(x, n, d, fn, "x"));
    size_t bytes;
    if (!doubles_of(d, 1, &bytes)) return cvae__nomem(fn, SIZE_MAX);
    double *row = cvae__malloc((size_t)d * sizeof *row);
    if (!row) return cvae__nomem(fn, (size_t)d * sizeof *row);
    moments(x, n, d, row, mean, cov);
    cvae__free(row);
    return CVAE_OK;
}

static cvae_status check_gaussian(int64_t d, const double *mu, const double *cov, const char *fn,
                                  int which)
{
    if (!mu || !cov)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: argument '%s%d' is NULL", fn,
                           mu ? "cov" : "mu", which);
    double scale = 0.0;
    for (int64_t i = 0; i < d; i++)
        if (!isfinite(mu[i]))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: mu%d[%lld] is %s", fn, which, (long long)i,
                               isnan(mu[i]) ? "NaN" : "infinite");
    for (int64_t i = 0; i < d * d; i++) {
        if (!isfinite(cov[i]))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: cov%d[%lld, %lld] is %s", fn, which,
                               (long long)(i / d), (long long)(i % d),
                               isnan(cov[i]) ? "NaN" : "infinite");
        scale = fmax(scale, fabs(cov[i]));
    }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i + 1; j < d; j++)
            if (fabs(cov[i * d + j] - cov[j * d + i]) > 1e-9 * scale)
                return cvae__error(CVAE_ERR_INVALID_ARG,
                                   "%s: cov%d is not symmetric: [%lld, %lld] = %g but [%lld, %lld] "
                                   "= %g",
                                   fn, which, (long long)i, (long long)j, cov[i * d + j],
                                   (long long)j, (long long)i, cov[j * d + i]);
    return CVAE_OK;
}

/* An eigenvalue below -1e-9 of the largest magnitude: not positive semi-definite. w ascending. */
static cvae_status check_psd(int64_t d, const double *w, const char *fn, const char *what)
{
    const double big = fmax(fabs(w[0]), fabs(w[d - 1]));
    if (w[0] < -1e-9 * big)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: %s is not positive semi-definite (eigenvalue %g, largest %g)", fn,
                           what, w[0], w[d - 1]);
    return CVAE_OK;
}

/* w[k], or 0 when it is at most d DBL_EPSILON times the largest (w ascending): below that
 * an eigenvalue of a singular matrix is rounding, and its square root (about 1e-8 of the
 * scale instead of 1e-16) would dominate the error of the trace. The threshold is the rank
 * tolerance of numpy.linalg.matrix_rank. */
static double above_rounding(int64_t d, const double *w, int64_t k)
{
    return w[k] > (double)d * DBL_EPSILON * fmax(w[d - 1], 0.0) ? w[k] : 0.0;
}

/* tr((S1^½ S2 S1^½)^½) of checked covariances; ws: 4 d^2 + 2 d doubles of scratch. */
static cvae_status trace_sqrt(int64_t d, const double *cov1, const double *cov2, double *ws,
                              const char *fn, double *out)
{
    double *a = ws, *v = a + d * d, *r = v + d * d, *m = r + d * d, *w = m + d * d, *root = w + d;
    for (int64_t i = 0; i < d * d; i++) a[i] = cov2[i];
    CVAE_TRY(cvae__sym_eigen(d, a, w, NULL));
    CVAE_TRY(check_psd(d, w, fn, "cov2"));
    for (int64_t i = 0; i < d * d; i++) a[i] = cov1[i];
    CVAE_TRY(cvae__sym_eigen(d, a, w, v));
    CVAE_TRY(check_psd(d, w, fn, "cov1"));
    /* r = S1^½ = V diag(sqrt w) V^T, eigenvalues under the rounding level taken as 0 */
    for (int64_t k = 0; k < d; k++) root[k] = sqrt(above_rounding(d, w, k));
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < d; k++) s += v[i * d + k] * root[k] * v[j * d + k];
            r[i * d + j] = r[j * d + i] = s;
        }
    /* m = S2 r, then a = r m = S1^½ S2 S1^½ (symmetric: its upper triangle) */
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < d; k++) s += cov2[i * d + k] * r[k * d + j];
            m[i * d + j] = s;
        }
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = i; j < d; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < d; k++) s += r[i * d + k] * m[k * d + j];
            a[i * d + j] = s;
        }
    CVAE_TRY(cvae__sym_eigen(d, a, w, NULL));
    double t = 0.0;
    for (int64_t k = 0; k < d; k++) t += sqrt(above_rounding(d, w, k));
    *out = t;
    return CVAE_OK;
}

cvae_status cvae_frechet_distance(int64_t d, const double *mu1, const double *cov1,
                                  const double *mu2, const double *cov2, double *out)
{
    static const char *fn = "cvae_frechet_distance";
    CVAE_CHECK_NULL(out, fn);
    if (d < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: dimension %lld < 1", fn, (long long)d);
    size_t sq, vec;
    if (!doubles_of(d, 1, &sq) || !doubles_of(d, 0, &vec) || sq > (SIZE_MAX - 2 * vec) / 4)
        return cvae__nomem(fn, SIZE_MAX);
    CVAE_TRY(check_gaussian(d, mu1, cov1, fn, 1));
    CVAE_TRY(check_gaussian(d, mu2, cov2, fn, 2));
    double *ws = cvae__malloc(4 * sq + 2 * vec);
    if (!ws) return cvae__nomem(fn, 4 * sq + 2 * vec);
    double tr = 0.0;
    cvae_status s = trace_sqrt(d, cov1, cov2, ws, fn, &tr);
    cvae__free(ws);
    if (s) return s;
    double dist = 0.0;
    for (int64_t i = 0; i < d; i++)
        dist += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + cov1[i * d + i] + cov2[i * d + i];
    *out = dist - 2.0 * tr;
    return CVAE_OK;
}

cvae_status cvae_frechet_distance_samples(const float *x, int64_t nx, const float *y, int64_t ny,
                                          int64_t d, double *out)
{
    static const char *fn = "cvae_frechet_distance_samples";
    CVAE_CHECK_NULL(out, fn);
    CVAE_TRY(check_samples(x, nx, d, fn, "x"));
    CVAE_TRY(check_samples(y, ny, d, fn, "y"));
    size_t sq, vec;
    if (!doubles_of(d, 1, &sq) || !doubles_of(d, 0, &vec) || sq > (SIZE_MAX - 3 * vec) / 2)
        return cvae__nomem(fn, SIZE_MAX);
    double *m = cvae__malloc(2 * sq + 3 * vec);
    if (!m) return cvae__nomem(fn, 2 * sq + 3 * vec);
    double *cx = m, *cy = cx + d * d, *mx = cy + d * d, *my = mx + d, *row = my + d;
    moments(x, nx, d, row, mx, cx);
    moments(y, ny, d, row, my, cy);
    cvae_status s = cvae_frechet_distance(d, mx, cx, my, cy, out);
    cvae__free(m);
    return s;
}
