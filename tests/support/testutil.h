/* Shared test helpers: random data, closeness assertions, finite-difference gradient checks. */
#ifndef CVAE_TESTUTIL_H
#define CVAE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cvae/cvae.h"

/* Asserts that a cvae call succeeded, printing cvae_last_error() otherwise. */
#define CVAE_OK_OR_FAIL(expr)                                                                  \
    do {                                                                                       \
        cvae_status s_ = (expr);                                                               \
        if (s_ != CVAE_OK) fail_msg("%s -> %s: %s", #expr, cvae_status_str(s_), cvae_last_error()); \
    } while (0)

/* Asserts that a call failed with `want` and left a non-empty message. */
#define CVAE_EXPECT_ERR(want, expr)                                                            \
    do {                                                                                       \
        cvae_clear_error();                                                                    \
        cvae_status s_ = (expr);                                                               \
        if (s_ != (want))                                                                      \
            fail_msg("%s -> %s, wanted %s", #expr, cvae_status_str(s_), cvae_status_str(want)); \
        assert_true(cvae_last_error()[0] != '\0');                                             \
    } while (0)

/* Deterministic test randomness (independent of the library's RNG). */
typedef struct test_rng {
    uint64_t s;
} test_rng;
uint32_t test_rand_u32(test_rng *r);
int64_t test_rand_int(test_rng *r, int64_t lo, int64_t hi); /* uniform in [lo, hi] */
double test_rand_unit(test_rng *r);                          /* uniform in [0, 1) */
/* Uniform values in [lo, hi] with |v| >= min_abs (so no zeros, away from kinks). */
void test_fill(test_rng *r, float *x, int64_t n, float lo, float hi, float min_abs);

/* A new owned tensor filled by test_fill(r, ..., -1, 1, 0.05). */
cvae_tensor *test_tensor(test_rng *r, int ndim, const int64_t *shape);

/* Fails unless |a[i] - b[i]| <= atol + rtol * max(|a[i]|, |b[i]|) for all i. */
void test_assert_close(const float *a, const float *b, int64_t n, double rtol, double atol,
                       const char *what);

/* ---- finite-difference gradient check ----
 * fn builds a tensor from in[0..n_in) on tape t. The check copies `inputs`
 * onto the tape (those with check[i] set require a gradient), computes
 * L = sum_j r_j y_j in double for a fixed random r, and compares the tape's
 * gradient of L with a 5-point central difference of step h, element by element:
 *     |g - g_fd| <= atol + rtol * max(|g|, |g_fd|).
 * At most max_points elements per input are probed (chosen at random). */
typedef cvae_status (*test_fn)(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out);

typedef struct gradcheck_opts {
    double h;       /* default 1e-2 */
    double rtol;    /* default 1e-3 */
    double atol;    /* default 1e-3 */
    int max_points; /* default 48 */
} gradcheck_opts;

void test_gradcheck(test_fn fn, void *ctx, cvae_tensor **inputs, const int *check, int n_in,
                    const gradcheck_opts *opts, const char *what);

/* Rewrites the safetensors file `from` as `to` with metadata `key` given `value` (the
 * tensors and the other metadata as they were; a fresh checksum). */
void test_resave_with_meta(const char *from, const char *to, const char *key, const char *value);

/* Path of a file in the bundled MNIST digits directory. */
const char *test_data_path(const char *file);

/* A model small enough for sanitizers and forks: 8x8 images, 3 labels, latent 2, every
 * convolution `channels` wide (the reference architecture otherwise). */
cvae_model_config test_tiny_model_config(int channels);

#endif
