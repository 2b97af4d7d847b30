/* Shared by the convolution tests: shapes (fixed corner cases, then random ones),
 * buffers, tape inputs and tolerance checks. */
#ifndef CVAE_TEST_CONV_CASES_H
#define CVAE_TEST_CONV_CASES_H

#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv_case {
    int64_t n, cin, cout, h, w, kh, kw;
    cvae_conv_opts o;
} conv_case;

/* What test_gradcheck passes to the conv2d / conv_transpose2d wrappers. */
typedef struct conv_fn_ctx {
    const conv_case *c;
    int bias;
} conv_fn_ctx;

/* stride, pads (top, bottom, left, right), dilation (h, w) */
#define CONV_OPTS(s, pt, pb, pl, pr, dh, dw) {s, s, pt, pb, pl, pr, dh, dw, 0, 0, CVAE_ACT_NONE, 0.0f}

static const conv_case conv_fixed_cases[] = {
    {2, 3, 4, 7, 6, 3, 3, CONV_OPTS(1, 1, 1, 1, 1, 1, 1)}, /* 3x3, stride 1, pad 1 */
    {2, 2, 3, 9, 7, 3, 3, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)}, /* stride 2, odd sizes */
    {1, 3, 2, 5, 5, 1, 1, CONV_OPTS(1, 0, 0, 0, 0, 1, 1)}, /* 1x1, batch 1 */
    {2, 2, 3, 8, 8, 4, 4, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)}, /* 4x4 stride 2 (the decoder's shape) */
    {2, 2, 2, 7, 9, 5, 3, CONV_OPTS(1, 2, 2, 1, 1, 1, 1)}, /* 5x3, pad 2 */
    {1, 2, 3, 6, 7, 3, 3, CONV_OPTS(1, 0, 2, 1, 0, 1, 1)}, /* asymmetric padding */
    {2, 2, 2, 9, 8, 3, 3, CONV_OPTS(1, 2, 2, 2, 2, 2, 2)}, /* dilation 2 */
    {3, 1, 2, 5, 6, 3, 2, CONV_OPTS(2, 0, 0, 0, 0, 1, 1)}, /* pad 0, stride 2 */
    {1, 1, 1, 1, 1, 1, 1, CONV_OPTS(1, 0, 0, 0, 0, 1, 1)}, /* scalar */
    {2, 3, 2, 2, 3, 3, 3, CONV_OPTS(1, 1, 1, 1, 1, 1, 1)}, /* kernel larger than the input */
};
#define CONV_N_FIXED ((int)(sizeof conv_fixed_cases / sizeof conv_fixed_cases[0]))

/* A random valid case (for conv2d; for the transpose, x has the conv2d output's shape). */
static inline conv_case conv_random_case(test_rng *r)
{
    for (;;) {
        int s = (int)test_rand_int(r, 1, 3);
        conv_case c = {test_rand_int(r, 1, 3), test_rand_int(r, 1, 4), test_rand_int(r, 1, 5),
                       test_rand_int(r, 1, 10), test_rand_int(r, 1, 10), test_rand_int(r, 1, 5),
                       test_rand_int(r, 1, 5),
                       {s, (int)test_rand_int(r, 1, 3), (int)test_rand_int(r, 0, 2), (int)test_rand_int(r, 0, 2),
                        (int)test_rand_int(r, 0, 2), (int)test_rand_int(r, 0, 2), (int)test_rand_int(r, 1, 2),
                        (int)test_rand_int(r, 1, 2), 0, 0, CVAE_ACT_NONE, 0.0f}};
        int64_t eh = c.h + c.o.pad_top + c.o.pad_bottom - c.o.dilation_h * (c.kh - 1) - 1;
        int64_t ew = c.w + c.o.pad_left + c.o.pad_right - c.o.dilation_w * (c.kw - 1) - 1;
        if (eh >= 0 && ew >= 0) return c;
    }
}

/* Fails unless max|a - b| <= tol max|b| (relative to the reference's scale). */
static inline void conv_assert_rel(const float *a, const float *b, int64_t n, double tol, const char *what)
{
    double dmax = 0, bmax = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (!(d <= dmax)) dmax = d, at = i;
        double m = b[i] > 0 ? b[i] : -b[i];
        if (m > bmax) bmax = m;
    }
    if (!(dmax <= tol * bmax))
        fail_msg("%s: element %lld: %.9g vs %.9g, max error %.3g > %.1g x scale %.3g", what, (long long)at,
                 a[at], b[at], dmax, tol, bmax);
}

/* A zeroed float buffer of n elements (calloc: free with free). */
static inline float *conv_zeros(int64_t n)
{
    return calloc((size_t)n, sizeof(float));
}

static inline double conv_max_abs(const float *a, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* Per element |got - want| <= 1e-5 max(|got|, |want|) + 1e-5 max|want| (float GEMM sums
 * against double loops; the second term covers cancellation). */
static inline void conv_assert_close(const float *got, const float *want, int64_t n,
                                     const char *what)
{
    test_assert_close(got, want, n, 1e-5, 1e-5 * conv_max_abs(want, n) + 1e-30, what);
}

/* Bias gradients are sums of N Ho Wo terms of magnitude <= 1 that cancel, so they
 * are compared to 1e-5 of the term scale (1) rather than of their own size. */
static inline void conv_assert_close_sum(const float *got, const float *want, int64_t n,
                                         const char *what)
{
    test_assert_close(got, want, n, 1e-5, 1e-5 * fmax(conv_max_abs(want, n), 1.0), what);
}

/* A copy of src on the tape, needing a gradient when grad. */
static inline cvae_tensor *conv_tape_copy(cvae_tape *t, const cvae_tensor *src, int grad)
{
    cvae_tensor *x;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, src->ndim, src->shape, &x));
    CVAE_OK_OR_FAIL(cvae_tensor_copy(x, src));
    if (grad) CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    return x;
}

#endif
