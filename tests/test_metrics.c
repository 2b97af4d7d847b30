/* cvae/metrics.h: the Jacobi eigensolver, moments in double, and the Fréchet distance on
 * cases with a closed form (identical sets, a shift, diagonal and rotated covariances, the
 * 2x2 formula for covariances that do not commute), against an independent reference
 * (Denman-Beavers iteration for sqrtm(S1 S2), as scipy's sqrtm is used by pytorch-fid), and
 * bad inputs (n < 2, d < 1, NULL, NaN, asymmetric or indefinite covariances, no memory). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "metrics/eigen.h"
#include "testutil.h"

static double *dalloc(int64_t n)
{
    double *p = calloc((size_t)n, sizeof *p);
    assert_non_null(p);
    return p;
}

static double normal(test_rng *r)
{
    const double u = test_rand_unit(r) + 1e-12, v = test_rand_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* q: [d, d] a random orthogonal matrix (Gram-Schmidt of a Gaussian matrix). */
static void random_orthogonal(test_rng *r, int64_t d, double *q)
{
    for (int64_t i = 0; i < d * d; i++) q[i] = normal(r);
    for (int64_t j = 0; j < d; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int64_t k = 0; k < j; k++) {
                double dot = 0;
                for (int64_t i = 0; i < d; i++) dot += q[i * d + j] * q[i * d + k];
                for (int64_t i = 0; i < d; i++) q[i * d + j] -= dot * q[i * d + k];
            }
        double nrm = 0;
        for (int64_t i = 0; i < d; i++) nrm += q[i * d + j] * q[i * d + j];
        for (int64_t i = 0; i < d; i++) q[i * d + j] /= sqrt(nrm);
    }
}

/* s = q diag(w) q^T.  q: [d, d], w: [d] -> s: [d, d]. */
static void compose(int64_t d, const double *q, const double *w, double *s)
{
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double v = 0;
            for (int64_t k = 0; k < d; k++) v += q[i * d + k] * w[k] * q[j * d + k];
            s[i * d + j] = v;
        }
    for (int64_t i = 0; i < d; i++) /* exactly symmetric */
        for (int64_t j = i + 1; j < d; j++) s[j * d + i] = s[i * d + j];
}

/* ---- the eigensolver ---- */

/* Checks a = v diag(w) v^T, v^T v = I and w ascending, to tol times the largest |w|. */
static void check_eigen(int64_t d, const double *a, double tol, const char *what)
{
    double *work = dalloc(d * d), *w = dalloc(d), *v = dalloc(d * d), *wv = dalloc(d);
    memcpy(work, a, (size_t)(d * d) * sizeof *a);
    CVAE_OK_OR_FAIL(cvae__sym_eigen(d, work, w, v));
    memcpy(work, a, (size_t)(d * d) * sizeof *a);
    CVAE_OK_OR_FAIL(cvae__sym_eigen(d, work, wv, NULL)); /* values only: the same values */
    double scale = fmax(fabs(w[0]), fabs(w[d - 1]));
    if (scale == 0) scale = 1;
    for (int64_t i = 0; i < d; i++) {
        if (i && w[i] < w[i - 1])
            fail_msg("%s: eigenvalues not ascending at %lld", what, (long long)i);
        if (fabs(w[i] - wv[i]) > tol * scale)
            fail_msg("%s: values-only run differs at %lld", what, (long long)i);
        for (int64_t j = 0; j < d; j++) {
            double rec = 0, orth = 0;
            for (int64_t k = 0; k < d; k++) {
                rec += v[i * d + k] * w[k] * v[j * d + k];
                orth += v[k * d + i] * v[k * d + j];
            }
            if (fabs(rec - a[i * d + j]) > tol * scale)
                fail_msg("%s: (V W V^T)[%lld, %lld] = %.17g, a = %.17g", what, (long long)i,
                         (long long)j, rec, a[i * d + j]);
            if (fabs(orth - (i == j)) > tol)
                fail_msg("%s: (V^T V)[%lld, %lld] = %.17g", what, (long long)i, (long long)j, orth);
        }
    }
    free(work), free(w), free(v), free(wv);
}

static void test_eigen(void **state)
{
    (void)state;
    test_rng r = {11};
    const int64_t dims[] = {1, 2, 3, 7, 20, 64};
    for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++) {
        const int64_t d = dims[c];
        double *a = dalloc(d * d), *q = dalloc(d * d), *w = dalloc(d);
        for (int64_t i = 0; i < d; i++) /* random symmetric, values in [-1, 1] */
            for (int64_t j = i; j < d; j++)
                a[i * d + j] = a[j * d + i] = 2 * test_rand_unit(&r) - 1;
        check_eigen(d, a, 1e-13, "random symmetric");
        /* known spectrum with repeated values (and zeros): {0, 0, 1, 1, 2, ...} */
        random_orthogonal(&r, d, q);
        for (int64_t i = 0; i < d; i++) w[i] = (double)(i / 2);
        compose(d, q, w, a);
        double *work = dalloc(d * d), *got = dalloc(d);
        memcpy(work, a, (size_t)(d * d) * sizeof *a);
        CVAE_OK_OR_FAIL(cvae__sym_eigen(d, work, got, NULL));
        for (int64_t i = 0; i < d; i++)
            if (fabs(got[i] - w[i]) > 1e-13 * (double)d)
                fail_msg("d %lld: eigenvalue %lld = %.17g, wanted %g", (long long)d, (long long)i,
                         got[i], w[i]);
        check_eigen(d, a, 1e-13, "repeated eigenvalues");
        for (int64_t i = 0; i < d * d; i++) a[i] = 0; /* the zero matrix */
        check_eigen(d, a, 0, "zero");
        for (int64_t i = 0; i < d; i++) a[i * d + i] = (double)(d - i); /* diagonal: reorders */
        check_eigen(d, a, 0, "diagonal");
        free(a), free(q), free(w), free(work), free(got);
    }
    /* a 2x2 by hand: [[2, 1], [1, 2]] has eigenvalues 1 and 3 */
    double a2[4] = {2, 1, 1, 2}, w2[2], v2[4];
    CVAE_OK_OR_FAIL(cvae__sym_eigen(2, a2, w2, v2));
    assert_true(fabs(w2[0] - 1) < 1e-15 && fabs(w2[1] - 3) < 1e-15);
    assert_true(fabs(fabs(v2[0]) - sqrt(0.5)) < 1e-15 && fabs(v2[0] + v2[2]) < 1e-15);
}

/* ---- moments ---- */

static void test_moments_by_hand(void **state)
{
    (void)state;
    /* rows (1, 2), (3, 4), (5, 0): mean (3, 2); deviations (-2, 0), (0, 2), (2, -2) */
    const float x[6] = {1, 2, 3, 4, 5, 0};
    double mean[2], cov[4];
    CVAE_OK_OR_FAIL(cvae_moments(x, 3, 2, mean, cov));
    assert_true(mean[0] == 3 && mean[1] == 2);
    assert_true(cov[0] == 4 && cov[3] == 4 && cov[1] == -2 && cov[2] == -2);
}

/* Two passes in double keep the covariance of data whose mean dwarfs its spread: values
 * 1000 + N(0, 1) in float, against a long double reference of the same floats. */
static void test_moments_large_mean(void **state)
{
    (void)state;
    enum { N = 4000, D = 5 };
    test_rng r = {5};
    float *x = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) x[i] = (float)(1000.0 + normal(&r) * (1 + i % D));
    double mean[D], cov[D * D];
    CVAE_OK_OR_FAIL(cvae_moments(x, N, D, mean, cov));
    long double m[D] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) m[j] += x[i * D + j];
    for (int j = 0; j < D; j++) m[j] /= N;
    for (int j = 0; j < D; j++) {
        assert_true(fabsl(m[j] - mean[j]) < 1e-12L * 1000);
        for (int k = 0; k < D; k++) {
            long double c = 0;
            for (int i = 0; i < N; i++) c += (x[i * D + j] - m[j]) * (x[i * D + k] - m[k]);
            c /= N - 1;
            if (fabsl(c - cov[j * D + k]) > 1e-12L * (1 + fabsl(c)))
                fail_msg("cov[%d, %d] = %.17g, reference %.17Lg", j, k, cov[j * D + k], c);
            assert_true(cov[j * D + k] == cov[k * D + j]);
        }
        assert_true(fabs(cov[j * D + j] - (1 + j) * (1 + j)) < 0.1 * (1 + j) * (1 + j));
    }
    free(x);
}

/* ---- the Fréchet distance: closed forms ---- */

/* x: [n, d] Gaussian rows with independent coordinates of standard deviation 1 + j / 4. */
static float *gaussian_rows(test_rng *r, int64_t n, int64_t d)
{
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(normal(r) * (1 + (double)(i % d) / 4));
    return x;
}

static double trace_of_moments(const float *x, int64_t n, int64_t d)
{
    double *mean = dalloc(d), *cov = dalloc(d * d), t = 0;
    CVAE_OK_OR_FAIL(cvae_moments(x, n, d, mean, cov));
    for (int64_t i = 0; i < d; i++) t += cov[i * d + i];
    free(mean), free(cov);
    return t;
}

/* Identical sets: 0 to 1e-10 of the trace, with a full-rank covariance (n > d) and a
 * rank-deficient one (n < d: the square root meets eigenvalues that are zeros). */
static void test_identical_sets(void **state)
{
    (void)state;
    test_rng r = {1};
    const int64_t cases[][2] = {{500, 16}, {10, 32}, {2, 3}, {200, 128}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int64_t n = cases[c][0], d = cases[c][1];
        float *x = gaussian_rows(&r, n, d);
        double fd = NAN;
        CVAE_OK_OR_FAIL(cvae_frechet_distance_samples(x, n, x, n, d, &fd));
        const double tol = 1e-10 * trace_of_moments(x, n, d);
        if (!(fabs(fd) <= tol))
            fail_msg("n %lld d %lld: FD(x, x) = %g, tolerance %g", (long long)n, (long long)d, fd,
                     tol);
        free(x);
    }
}

/* y = x + delta, exactly in float (x on a grid of 1/8, delta integers): the covariances are
 * equal, and the distance is ||delta||^2 to 1e-10 relative. */
static void test_shifted_set(void **state)
{
    (void)state;
    enum { N = 300, D = 10 };
    test_rng r = {2};
    float x[N * D], y[N * D];
    double delta2 = 0, delta[D];
    for (int j = 0; j < D; j++)
        delta[j] = (double)test_rand_int(&r, -5, 5), delta2 += delta[j] * delta[j];
    for (int i = 0; i < N * D; i++) {
        x[i] = (float)test_rand_int(&r, -64, 64) / 8.0f;
        y[i] = x[i] + (float)delta[i % D];
    }
    double fd;
    CVAE_OK_OR_FAIL(cvae_frechet_distance_samples(x, N, y, N, D, &fd));
    if (fabs(fd - delta2) > 1e-10 * delta2) fail_msg("FD = %.17g, ||delta||^2 = %g", fd, delta2);
    /* and from the moments: the same covariance with two means */
    double mu[D], cov[D * D], mu2[D];
    CVAE_OK_OR_FAIL(cvae_moments(x, N, D, mu, cov));
    for (int j = 0; j < D; j++) mu2[j] = mu[j] + delta[j];
    CVAE_OK_OR_FAIL(cvae_frechet_distance(D, mu, cov, mu2, cov, &fd));
    if (fabs(fd - delta2) > 1e-10 * delta2) fail_msg("FD = %.17g, ||delta||^2 = %g", fd, delta2);
}

/* sum_i (sqrt(s1_i) - sqrt(s2_i))^2 + ||mu1 - mu2||^2 */
static double closed_form(int64_t d, const double *s1, const double *s2, const double *mu1,
                          const double *mu2)
{
    double v = 0;
    for (int64_t i = 0; i < d; i++)
        v += (sqrt(s1[i]) - sqrt(s2[i])) * (sqrt(s1[i]) - sqrt(s2[i])) +
             (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
    return v;
}

/* Diagonal covariances (some variances 0: singular), then both turned by one random rotation
 * (they commute, the closed form holds in the rotated basis). */
static void test_diagonal_and_rotated(void **state)
{
    (void)state;
    test_rng r = {3};
    const int64_t dims[] = {1, 2, 5, 40};
    for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++) {
        const int64_t d = dims[c];
        double *s1 = dalloc(d), *s2 = dalloc(d), *mu1 = dalloc(d), *mu2 = dalloc(d);
        double *c1 = dalloc(d * d), *c2 = dalloc(d * d), *q = dalloc(d * d), *id = dalloc(d * d);
        for (int64_t i = 0; i < d; i++) {
            s1[i] = i % 7 == 3 ? 0 : 0.1 + 4 * test_rand_unit(&r);
            s2[i] = i % 5 == 4 ? 0 : 0.1 + 4 * test_rand_unit(&r);
            mu1[i] = normal(&r), mu2[i] = normal(&r);
            id[i * d + i] = 1;
        }
        const double want = closed_form(d, s1, s2, mu1, mu2);
        double fd;
        compose(d, id, s1, c1), compose(d, id, s2, c2);
        CVAE_OK_OR_FAIL(cvae_frechet_distance(d, mu1, c1, mu2, c2, &fd));
        if (fabs(fd - want) > 1e-11 * (1 + want))
            fail_msg("d %lld diagonal: FD = %.17g, closed form %.17g", (long long)d, fd, want);
        random_orthogonal(&r, d, q);
        compose(d, q, s1, c1), compose(d, q, s2, c2);
        CVAE_OK_OR_FAIL(cvae_frechet_distance(d, mu1, c1, mu2, c2, &fd));
        if (fabs(fd - want) > 1e-10 * (1 + want))
            fail_msg("d %lld rotated: FD = %.17g, closed form %.17g", (long long)d, fd, want);
        free(s1), free(s2), free(mu1), free(mu2), free(c1), free(c2), free(q), free(id);
    }
}

/* 2x2 covariances turned by different angles (they do not commute): for 2x2 PSD M,
 * tr(M^½) = sqrt(tr M + 2 sqrt(det M)), and with M = S1^½ S2 S1^½:
 * FD = tr S1 + tr S2 - 2 sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) (means equal). */
static void test_rotated_2x2(void **state)
{
    (void)state;
    test_rng r = {4};
    for (int c = 0; c < 50; c++) {
        double s1[2] = {0.05 + test_rand_unit(&r) * 3, 0.05 + test_rand_unit(&r)};
        double s2[2] = {0.05 + test_rand_unit(&r) * 2, c % 10 == 0 ? 0 : test_rand_unit(&r)};
        const double a = test_rand_unit(&r) * 6.283185307179586, b = test_rand_unit(&r) * 3.14;
        double q1[4] = {cos(a), -sin(a), sin(a), cos(a)}, q2[4] = {cos(b), -sin(b), sin(b), cos(b)};
        double c1[4], c2[4], mu[2] = {0.5, -1};
        compose(2, q1, s1, c1), compose(2, q2, s2, c2);
        const double tr12 = c1[0] * c2[0] + c1[1] * c2[2] + c1[2] * c2[1] + c1[3] * c2[3];
        const double det = s1[0] * s1[1] * s2[0] * s2[1];
        const double want = s1[0] + s1[1] + s2[0] + s2[1] - 2 * sqrt(tr12 + 2 * sqrt(det));
        double fd;
        CVAE_OK_OR_FAIL(cvae_frechet_distance(2, mu, c1, mu, c2, &fd));
        if (fabs(fd - want) > 1e-12 * (1 + want))
            fail_msg("case %d: FD = %.17g, closed form %.17g", c, fd, want);
        /* symmetric in its arguments */
        double back;
        CVAE_OK_OR_FAIL(cvae_frechet_distance(2, mu, c2, mu, c1, &back));
        assert_true(fabs(back - fd) < 1e-12 * (1 + want));
    }
}

/* ---- against an independent reference: tr sqrtm(S1 S2) by Denman-Beavers ---- */

/* b = a^-1 by Gauss-Jordan with partial pivoting.  a: [d, d] (destroyed) -> b: [d, d]. */
static void invert(int64_t d, double *a, double *b)
{
    for (int64_t i = 0; i < d * d; i++) b[i] = i % (d + 1) == 0;
    for (int64_t c = 0; c < d; c++) {
        int64_t p = c;
        for (int64_t i = c + 1; i < d; i++)
            if (fabs(a[i * d + c]) > fabs(a[p * d + c])) p = i;
        for (int64_t j = 0; j < d; j++) {
            double t = a[c * d + j];
            a[c * d + j] = a[p * d + j], a[p * d + j] = t;
            t = b[c * d + j], b[c * d + j] = b[p * d + j], b[p * d + j] = t;
        }
        const double piv = a[c * d + c];
        assert_true(piv != 0);
        for (int64_t j = 0; j < d; j++) a[c * d + j] /= piv, b[c * d + j] /= piv;
        for (int64_t i = 0; i < d; i++) {
            if (i == c) continue;
            const double f = a[i * d + c];
            for (int64_t j = 0; j < d; j++)
                a[i * d + j] -= f * a[c * d + j], b[i * d + j] -= f * b[c * d + j];
        }
    }
}

/* tr sqrt(a) for a (not symmetric) with positive real eigenvalues: Denman-Beavers,
 * Y <- (Y + Z^-1) / 2, Z <- (Z + Y^-1) / 2 from Y = a, Z = I, until Y settles. */
static double trace_sqrtm_db(int64_t d, const double *a)
{
    double *y = dalloc(d * d), *z = dalloc(d * d), *yi = dalloc(d * d), *zi = dalloc(d * d),
           *tmp = dalloc(d * d);
    memcpy(y, a, (size_t)(d * d) * sizeof *a);
    for (int64_t i = 0; i < d; i++) z[i * d + i] = 1;
    for (int it = 0; it < 100; it++) {
        memcpy(tmp, y, (size_t)(d * d) * sizeof *y), invert(d, tmp, yi);
        memcpy(tmp, z, (size_t)(d * d) * sizeof *z), invert(d, tmp, zi);
        double change = 0, size = 0;
        for (int64_t i = 0; i < d * d; i++) {
            const double ny = 0.5 * (y[i] + zi[i]);
            change += fabs(ny - y[i]), size += fabs(ny);
            y[i] = ny, z[i] = 0.5 * (z[i] + yi[i]);
        }
        if (change <= 1e-15 * size) break;
    }
    double t = 0;
    for (int64_t i = 0; i < d; i++) t += y[i * d + i];
    free(y), free(z), free(yi), free(zi), free(tmp);
    return t;
}

static void test_against_denman_beavers(void **state)
{
    (void)state;
    test_rng r = {6};
    for (int c = 0; c < 30; c++) {
        const int64_t d = 2 + c % 11;
        double *q = dalloc(d * d), *w = dalloc(d), *c1 = dalloc(d * d), *c2 = dalloc(d * d),
               *prod = dalloc(d * d), *mu1 = dalloc(d), *mu2 = dalloc(d);
        for (int k = 0; k < 2; k++) { /* positive definite, condition number up to ~100 */
            random_orthogonal(&r, d, q);
            for (int64_t i = 0; i < d; i++) w[i] = 0.02 + 2 * test_rand_unit(&r);
            compose(d, q, w, k ? c2 : c1);
        }
        double want = 0;
        for (int64_t i = 0; i < d; i++) {
            mu1[i] = normal(&r), mu2[i] = normal(&r);
            want += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + c1[i * d + i] + c2[i * d + i];
            for (int64_t j = 0; j < d; j++)
                for (int64_t k = 0; k < d; k++) prod[i * d + j] += c1[i * d + k] * c2[k * d + j];
        }
        want -= 2 * trace_sqrtm_db(d, prod);
        double fd;
        CVAE_OK_OR_FAIL(cvae_frechet_distance(d, mu1, c1, mu2, c2, &fd));
        if (fabs(fd - want) > 1e-9 * (1 + fabs(want)))
            fail_msg("d %lld: FD = %.17g, Denman-Beavers %.17g", (long long)d, fd, want);
        free(q), free(w), free(c1), free(c2), free(prod), free(mu1), free(mu2);
    }
}

/* FD(s x, s y) = s^2 FD(x, y), and the samples entry equals moments + distance. */
static void test_scaling_and_samples(void **state)
{
    (void)state;
    test_rng r = {8};
    enum { N = 60, M = 90, D = 12 };
    float *x = gaussian_rows(&r, N, D), *y = gaussian_rows(&r, M, D);
    float x2[N * D], y2[M * D];
    for (int i = 0; i < N * D; i++) x2[i] = 2 * x[i];
    for (int i = 0; i < M * D; i++) y2[i] = 2 * y[i];
    double a, b, c, mx[D], my[D], cx[D * D], cy[D * D];
    CVAE_OK_OR_FAIL(cvae_frechet_distance_samples(x, N, y, M, D, &a));
    CVAE_OK_OR_FAIL(cvae_frechet_distance_samples(x2, N, y2, M, D, &b));
    if (fabs(b - 4 * a) > 1e-10 * b) fail_msg("FD(2x, 2y) = %.17g, 4 FD(x, y) = %.17g", b, 4 * a);
    assert_true(a > 0.1); /* two finite samples of one law are not at distance 0 */
    CVAE_OK_OR_FAIL(cvae_moments(x, N, D, mx, cx));
    CVAE_OK_OR_FAIL(cvae_moments(y, M, D, my, cy));
    CVAE_OK_OR_FAIL(cvae_frechet_distance(D, mx, cx, my, cy, &c));
    assert_true(c == a);
    free(x), free(y);
}

/* ---- bad inputs ---- */

static void test_bad_inputs(void **state)
{
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    double mean[2] = {-7, -7}, cov[4] = {-7, -7, -7, -7}, fd = -7;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(x, 1, 2, mean, cov));
    assert_non_null(strstr(cvae_last_error(), "at least 2"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(x, 3, 0, mean, cov));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(NULL, 3, 2, mean, cov));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(x, 3, 2, NULL, cov));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(x, 3, 2, mean, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_moments(x, INT64_MAX, 2, mean, cov));
    x[3] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_moments(x, 3, 2, mean, cov));
    assert_non_null(strstr(cvae_last_error(), "x[1, 1] is NaN"));
    const float ok[6] = {1, 2, 3, 4, 5, 6};
    x[3] = INFINITY;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_frechet_distance_samples(ok, 3, x, 3, 2, &fd));
    assert_non_null(strstr(cvae_last_error(), "y[1, 1] is infinite"));
    x[3] = 4;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance_samples(x, 3, x, 1, 2, &fd));
    assert_non_null(strstr(cvae_last_error(), "y has 1 samples"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance_samples(x, 3, x, 3, 2, NULL));
    for (int i = 0; i < 4; i++) assert_true(cov[i] == -7);
    assert_true(mean[0] == -7 && mean[1] == -7 && fd == -7);

    double mu[2] = {0, 0}, good[4] = {1, 0, 0, 1};
    double asym[4] = {1, 0.5, 0.2, 1}, indef[4] = {1, 0, 0, -1}, nan_cov[4] = {1, 0, 0, NAN};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(0, mu, good, mu, good, &fd));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(2, NULL, good, mu, good, &fd));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(2, mu, good, mu, NULL, &fd));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(2, mu, asym, mu, good, &fd));
    assert_non_null(strstr(cvae_last_error(), "cov1 is not symmetric"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(2, mu, good, mu, indef, &fd));
    assert_non_null(strstr(cvae_last_error(), "cov2 is not positive semi-definite"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_frechet_distance(2, mu, indef, mu, good, &fd));
    assert_non_null(strstr(cvae_last_error(), "cov1 is not positive semi-definite"));
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_frechet_distance(2, mu, good, mu, nan_cov, &fd));
    assert_non_null(strstr(cvae_last_error(), "cov2[1, 1] is NaN"));
    mu[1] = INFINITY;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_frechet_distance(2, mu, good, mu, good, &fd));
    assert_true(fd == -7);
    /* d x d doubles that overflow a size */
    CVAE_EXPECT_ERR(CVAE_ERR_NOMEM, cvae_frechet_distance(INT64_MAX / 2, mu, good, mu, good, &fd));
    /* rounding's tiny negative eigenvalues of a singular covariance are accepted */
    double almost[4] = {1, 1, 1, 1 - 1e-14};
    mu[1] = 0;
    CVAE_OK_OR_FAIL(cvae_frechet_distance(2, mu, almost, mu, almost, &fd));
    assert_true(fabs(fd) < 1e-12);
}

/* Every allocation failing in turn: CVAE_ERR_NOMEM, outputs untouched, nothing leaked. */
static void test_allocation_failures(void **state)
{
    (void)state;
    test_rng r = {9};
    float *x = gaussian_rows(&r, 20, 4), *y = gaussian_rows(&r, 30, 4);
    double mu[4], cov[16], good;
    CVAE_OK_OR_FAIL(cvae_frechet_distance_samples(x, 20, y, 30, 4, &good));
    CVAE_OK_OR_FAIL(cvae_moments(x, 20, 4, mu, cov));
    for (int which = 0; which < 3; which++) {
        failalloc_arm(0);
        double fd = -1, m2[4] = {0}, c2[16] = {0};
        cvae_status s = which == 0   ? cvae_frechet_distance_samples(x, 20, y, 30, 4, &fd)
                        : which == 1 ? cvae_moments(x, 20, 4, m2, c2)
                                     : cvae_frechet_distance(4, mu, cov, mu, cov, &fd);
        CVAE_OK_OR_FAIL(s);
        const long calls = failalloc_calls();
        assert_true(calls >= 1);
        for (long k = 1; k <= calls; k++) {
            failalloc_arm(k);
            fd = -1;
            memset(m2, 0, sizeof m2);
            s = which == 0   ? cvae_frechet_distance_samples(x, 20, y, 30, 4, &fd)
                : which == 1 ? cvae_moments(x, 20, 4, m2, c2)
                             : cvae_frechet_distance(4, mu, cov, mu, cov, &fd);
            assert_int_equal(s, CVAE_ERR_NOMEM);
            assert_true(fd == -1 && m2[0] == 0);
            assert_int_equal(failalloc_live(), 0);
        }
    }
    failalloc_arm(0);
    free(x), free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eigen),
        cmocka_unit_test(test_moments_by_hand),
        cmocka_unit_test(test_moments_large_mean),
        cmocka_unit_test(test_identical_sets),
        cmocka_unit_test(test_shifted_set),
        cmocka_unit_test(test_diagonal_and_rotated),
        cmocka_unit_test(test_rotated_2x2),
        cmocka_unit_test(test_against_denman_beavers),
        cmocka_unit_test(test_scaling_and_samples),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test_setup_teardown(test_allocation_failures, failalloc_setup,
                                        failalloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
