/* batch_norm2d: fast path against references, running statistics (PyTorch's
 * convention), gradient checks in training and inference, bad arguments. */
#include "ops/norm.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const float EPS = 1e-5f, MOMENTUM = 0.1f;

typedef struct bn_args {
    int training, affine;
    cvae_tensor *rm, *rv; /* running statistics (not differentiated) */
} bn_args;

static cvae_status bn_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const bn_args *a = ctx;
    return cvae_op_batch_norm2d(t, in[0], a->affine ? in[1] : NULL, a->affine ? in[2] : NULL, a->rm, a->rv,
                                MOMENTUM, EPS, a->training, out);
}

static void test_batch_norm_matches_reference(void **state)
{
    (void)state;
    test_rng r = {61};
    for (int trial = 0; trial < 40; trial++) {
        int64_t n = test_rand_int(&r, 1, 4), c = test_rand_int(&r, 1, 5), hw = test_rand_int(&r, 2, 30);
        int64_t nx = n * c * hw;
        int training = trial % 2, affine = (trial / 2) % 2;
        float *x = malloc(sizeof(float) * (size_t)nx), *dy = malloc(sizeof(float) * (size_t)nx);
        float *y1 = malloc(sizeof(float) * (size_t)nx), *y2 = malloc(sizeof(float) * (size_t)nx);
        float *dx1 = calloc((size_t)nx, sizeof(float)), *dx2 = calloc((size_t)nx, sizeof(float));
        float *gb = malloc(sizeof(float) * (size_t)(2 * c)), *grads = calloc((size_t)(4 * c), sizeof(float));
        double *mean = malloc(sizeof(double) * (size_t)c), *var = malloc(sizeof(double) * (size_t)c);
        double *invstd = malloc(sizeof(double) * (size_t)c);
        test_fill(&r, x, nx, -2, 3, 0.05f);
        test_fill(&r, dy, nx, -1, 1, 0.05f);
        test_fill(&r, gb, 2 * c, -1.5, 1.5, 0.1f);
        if (training) {
            cvae__batch_norm2d_stats(mean, var, &(cvae__bn_args){.n = n, .c = c, .hw = hw, .x = x});
            for (int64_t ch = 0; ch < c; ch++) { /* the statistics, checked naively */
                double s = 0, q = 0;
                for (int64_t i = 0; i < n; i++)
                    for (int64_t p = 0; p < hw; p++) s += x[(i * c + ch) * hw + p];
                s /= (double)(n * hw);
                for (int64_t i = 0; i < n; i++)
                    for (int64_t p = 0; p < hw; p++) q += pow(x[(i * c + ch) * hw + p] - s, 2);
                q /= (double)(n * hw);
                assert_true(fabs(mean[ch] - s) <= 1e-6 * (1 + fabs(s)));
                assert_true(fabs(var[ch] - q) <= 1e-5 * q);
            }
        } else {
            for (int64_t ch = 0; ch < c; ch++) mean[ch] = test_rand_unit(&r) - 0.5, var[ch] = 0.2 + test_rand_unit(&r);
        }
        for (int64_t ch = 0; ch < c; ch++) invstd[ch] = 1.0 / sqrt(var[ch] + EPS);
        const float *gamma = affine ? gb : NULL, *beta = affine ? gb + c : NULL;
        cvae__bn_args a = {.n = n, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta,
                           .mean = mean, .invstd = invstd, .var = var, .eps = EPS,
                           .batch_stats = training, .y = y1, .dy = dy, .dx = dx1,
                           .dgamma = grads, .dbeta = grads + c};
        cvae__batch_norm2d_forward(&a);
        a.y = y2;
        cvae__batch_norm2d_forward_ref(&a);
        test_assert_close(y1, y2, nx, 1e-5, 1e-5, "batch_norm2d forward");
        cvae__batch_norm2d_backward(&a);
        a.dx = dx2, a.dgamma = grads + 2 * c, a.dbeta = grads + 3 * c;
        cvae__batch_norm2d_backward_ref(&a);
        double scale = 0;
        for (int64_t i = 0; i < nx; i++) scale = fmax(scale, fabs(dx2[i]));
        test_assert_close(dx1, dx2, nx, 1e-5, 1e-5 * scale, "batch_norm2d dx");
        test_assert_close(grads, grads + 2 * c, 2 * c, 1e-5, 1e-5, "batch_norm2d dgamma, dbeta");
        free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2), free(gb), free(grads), free(mean), free(var);
        free(invstd);
    }
}

/* max |a - b| / max |b|: the error of a against the reference b, relative to b's scale. */
static double max_rel_err(const float *a, const float *b, int64_t n)
{
    double e = 0, scale = 0;
    for (int64_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - b[i])), scale = fmax(scale, fabs(b[i]));
    return e / scale;
}

/* Channels whose mean is 1000 times their spread (x = +-1000 s + s u, u in [-1, 1], s in
 * [0.5, 2]): the op's forward and backward, in training and in inference (running statistics
 * of the same size), against the float64 reference from statistics computed in double.
 * Tolerance: max |err| <= 1e-6 max |ref| for y, dx, dgamma, dbeta (this code: 1.2e-7 at most;
 * the float32 a x + (beta - a mean) of before gave 1.2e-4 for y, 2.2e-5 dx, 2e-4 dgamma). */
static void test_batch_norm_large_mean(void **state)
{
    (void)state;
    const double TOL = 1e-6;
    test_rng r = {65};
    double worst[4] = {0};
    for (int trial = 0; trial < 8; trial++) {
        const int training = trial % 2;
        int64_t sx[4] = {test_rand_int(&r, 2, 4), test_rand_int(&r, 1, 4), test_rand_int(&r, 3, 9),
                         test_rand_int(&r, 3, 9)};
        int64_t sc[1] = {sx[1]};
        const int64_t n = sx[0], c = sx[1], hw = sx[2] * sx[3], nx = n * c * hw;
        cvae_tensor *x = test_tensor(&r, 4, sx), *g = test_tensor(&r, 1, sc),
                    *b = test_tensor(&r, 1, sc);
        cvae_tensor *rm = test_tensor(&r, 1, sc), *rv = test_tensor(&r, 1, sc);
        float *dy = malloc(sizeof(float) * (size_t)nx), *want = malloc(sizeof(float) * (size_t)nx);
        float *dxw = calloc((size_t)nx, sizeof(float)),
              *gw = calloc((size_t)(2 * c), sizeof(float));
        double *mean = malloc(sizeof(double) * (size_t)c),
               *var = malloc(sizeof(double) * (size_t)c);
        test_fill(&r, dy, nx, -1, 1, 0.05f);
        for (int64_t ch = 0; ch < c; ch++) {
            const double s = 0.5 + 1.5 * test_rand_unit(&r),
                         mu = (test_rand_unit(&r) < 0.5 ? -1000 : 1000) * s;
            for (int64_t i = 0; i < n; i++)
                for (int64_t p = 0; p < hw; p++) {
                    float *v = &x->data[(i * c + ch) * hw + p];
                    *v = (float)(mu + s * *v);
                }
            double sm = 0, q = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t p = 0; p < hw; p++) sm += x->data[(i * c + ch) * hw + p];
            sm /= (double)(n * hw);
            for (int64_t i = 0; i < n; i++)
                for (int64_t p = 0; p < hw; p++) q += pow(x->data[(i * c + ch) * hw + p] - sm, 2);
            q /= (double)(n * hw);
            rm->data[ch] = (float)(sm + 0.3 * s * (test_rand_unit(&r) - 0.5));
            rv->data[ch] = (float)(q * (0.8 + 0.4 * test_rand_unit(&r)));
            mean[ch] = training ? sm : rm->data[ch];
            var[ch] = training ? q : rv->data[ch];
        }
        const cvae__bn_args ref = {.n = n, .c = c, .hw = hw, .x = x->data, .gamma = g->data,
                                   .beta = b->data, .mean = mean, .var = var, .eps = EPS,
                                   .batch_stats = training, .y = want, .dy = dy, .dx = dxw,
                                   .dgamma = gw, .dbeta = gw + c};
        cvae__batch_norm2d_forward_ref(&ref);
        cvae__batch_norm2d_backward_ref(&ref);

        cvae_tape *t;
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        cvae_tensor *in[3], *y;
        for (int i = 0; i < 3; i++) {
            cvae_tensor *src = i == 0 ? x : i == 1 ? g : b;
            CVAE_OK_OR_FAIL(cvae_tape_tensor(t, src->ndim, src->shape, &in[i]));
            CVAE_OK_OR_FAIL(cvae_tensor_copy(in[i], src));
            CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, in[i]));
        }
        CVAE_OK_OR_FAIL(
            cvae_op_batch_norm2d(t, in[0], in[1], in[2], rm, rv, MOMENTUM, EPS, training, &y));
        CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
        const double err[4] = {max_rel_err(y->data, want, nx), max_rel_err(in[0]->grad, dxw, nx),
                               max_rel_err(in[1]->grad, gw, c),
                               max_rel_err(in[2]->grad, gw + c, c)};
        static const char *const what[4] = {"y", "dx", "dgamma", "dbeta"};
        for (int i = 0; i < 4; i++) {
            worst[i] = fmax(worst[i], err[i]);
            if (!(err[i] <= TOL))
                fail_msg("batch_norm2d, mean 1000x the spread, %s: %s error %.3g > %.1g",
                         training ? "training" : "inference", what[i], err[i], TOL);
        }
        cvae_tape_free(t);
        cvae_tensor_free(x), cvae_tensor_free(g), cvae_tensor_free(b), cvae_tensor_free(rm),
            cvae_tensor_free(rv);
        free(dy), free(want), free(dxw), free(gw), free(mean), free(var);
    }
    print_message(
        "mean 1000x the spread: worst relative errors y %.2g, dx %.2g, dgamma %.2g, dbeta %.2g\n",
        worst[0], worst[1], worst[2], worst[3]);
}

/* Training updates running_mean/var with momentum and the unbiased variance; inference
 * uses and keeps them; the output is normalized per channel. */
static void test_batch_norm_running_stats(void **state)
{
    (void)state;
    test_rng r = {62};
    int64_t sx[4] = {3, 2, 4, 5}, sc[1] = {2};
    cvae_tensor *x = test_tensor(&r, 4, sx), *rm = test_tensor(&r, 1, sc), *rv = test_tensor(&r, 1, sc);
    for (int i = 0; i < 2; i++) rv->data[i] = fabsf(rv->data[i]) + 0.5f;
    float rm0[2] = {rm->data[0], rm->data[1]}, rv0[2] = {rv->data[0], rv->data[1]};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y;
    cvae_tape_set_recording(t, 0); /* statistics update without recording too */
    CVAE_OK_OR_FAIL(cvae_op_batch_norm2d(t, x, NULL, NULL, rm, rv, MOMENTUM, EPS, 1, &y));
    const int64_t m = 3 * 20;
    for (int ch = 0; ch < 2; ch++) {
        double s = 0, q = 0, ys = 0, yq = 0;
        for (int i = 0; i < 3; i++)
            for (int p = 0; p < 20; p++) s += x->data[(i * 2 + ch) * 20 + p];
        s /= (double)m;
        for (int i = 0; i < 3; i++)
            for (int p = 0; p < 20; p++) {
                q += pow(x->data[(i * 2 + ch) * 20 + p] - s, 2);
                ys += y->data[(i * 2 + ch) * 20 + p], yq += pow(y->data[(i * 2 + ch) * 20 + p], 2);
            }
        double want_rm = (1 - MOMENTUM) * rm0[ch] + MOMENTUM * s;
        double want_rv = (1 - MOMENTUM) * rv0[ch] + MOMENTUM * q / (double)(m - 1);
        assert_true(fabs(rm->data[ch] - want_rm) <= 1e-6 * (1 + fabs(want_rm)));
        assert_true(fabs(rv->data[ch] - want_rv) <= 1e-5 * want_rv);
        assert_true(fabs(ys / (double)m) < 1e-5);
        assert_true(fabs(yq / (double)m - q / (double)m / (q / (double)m + EPS)) < 1e-4);
    }
    float rm1[2] = {rm->data[0], rm->data[1]}, rv1[2] = {rv->data[0], rv->data[1]};
    CVAE_OK_OR_FAIL(cvae_op_batch_norm2d(t, x, NULL, NULL, rm, rv, MOMENTUM, EPS, 0, &y));
    assert_memory_equal(rm->data, rm1, sizeof rm1);
    assert_memory_equal(rv->data, rv1, sizeof rv1);
    for (int ch = 0; ch < 2; ch++) {
        float want = (x->data[ch * 20 + 3] - rm1[ch]) / sqrtf(rv1[ch] + EPS);
        assert_float_equal(y->data[ch * 20 + 3], want, 1e-5);
    }
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(rm), cvae_tensor_free(rv);
}

/* Tolerances: step 1e-2, |g - g_fd| <= 2e-3 + 2e-3 max(|g|, |g_fd|) (batch statistics make
 * every output depend on every input, so the float rounding noise is larger). */
static void test_batch_norm_gradcheck(void **state)
{
    (void)state;
    test_rng r = {63};
    for (int trial = 0; trial < 8; trial++) {
        int64_t sx[4] = {test_rand_int(&r, 1, 3), test_rand_int(&r, 1, 3), test_rand_int(&r, 1, 4), test_rand_int(&r, 2, 4)};
        int64_t sc[1] = {sx[1]};
        bn_args a = {trial % 2, trial % 4 < 2, test_tensor(&r, 1, sc), test_tensor(&r, 1, sc)};
        for (int64_t i = 0; i < sc[0]; i++) a.rv->data[i] = fabsf(a.rv->data[i]) + 0.3f;
        cvae_tensor *in[3] = {test_tensor(&r, 4, sx), test_tensor(&r, 1, sc), test_tensor(&r, 1, sc)};
        int check[3] = {1, a.affine, a.affine};
        gradcheck_opts go = {1e-2, 2e-3, 2e-3, 40};
        test_gradcheck(bn_fn, &a, in, check, a.affine ? 3 : 1, &go, a.training ? "batch_norm2d training" : "batch_norm2d inference");
        for (int i = 0; i < 3; i++) cvae_tensor_free(in[i]);
        cvae_tensor_free(a.rm), cvae_tensor_free(a.rv);
    }
}

static void test_batch_norm_bad_arguments(void **state)
{
    (void)state;
    test_rng r = {64};
    int64_t sx[4] = {2, 3, 2, 2}, sc[1] = {3}, sc2[1] = {2}, s1[4] = {1, 3, 1, 1}, s3[3] = {2, 3, 4};
    cvae_tensor *x = test_tensor(&r, 4, sx), *g = test_tensor(&r, 1, sc), *b = test_tensor(&r, 1, sc);
    cvae_tensor *rm = test_tensor(&r, 1, sc), *rv = test_tensor(&r, 1, sc), *bad = test_tensor(&r, 1, sc2);
    cvae_tensor *x1 = test_tensor(&r, 4, s1), *x3 = test_tensor(&r, 3, s3);
    for (int i = 0; i < 3; i++) rv->data[i] = fabsf(rv->data[i]);
    float keep_rm[3], keep_rv[3];
    memcpy(keep_rm, rm->data, sizeof keep_rm), memcpy(keep_rv, rv->data, sizeof keep_rv);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(NULL, x, g, b, rm, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, NULL, g, b, rm, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 0.1f, 1e-5f, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_batch_norm2d(t, x3, g, b, rm, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_batch_norm2d(t, x, bad, b, rm, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_batch_norm2d(t, x, g, bad, rm, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_batch_norm2d(t, x, g, b, bad, rv, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, NULL, 0.1f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, NULL, NULL, 0.1f, 1e-5f, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 0.1f, 0.0f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 0.1f, NAN, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 1.5f, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_batch_norm2d(t, x, g, b, rm, rv, NAN, 1e-5f, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_batch_norm2d(t, x1, g, b, rm, rv, 0.1f, 1e-5f, 1, &y));
    rv->data[1] = -1.0f;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 0.1f, 1e-5f, 0, &y));
    rv->data[1] = keep_rv[1];
    rm->data[2] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_batch_norm2d(t, x, g, b, rm, rv, 0.1f, 1e-5f, 0, &y));
    rm->data[2] = keep_rm[2];
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    assert_memory_equal(rm->data, keep_rm, sizeof keep_rm);
    assert_memory_equal(rv->data, keep_rv, sizeof keep_rv);
    /* a single value per channel is fine for inference, and training may skip running stats */
    CVAE_OK_OR_FAIL(cvae_op_batch_norm2d(t, x1, g, b, rm, rv, 0.1f, 1e-5f, 0, &y));
    CVAE_OK_OR_FAIL(cvae_op_batch_norm2d(t, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1, &y));
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(g), cvae_tensor_free(b), cvae_tensor_free(rm);
    cvae_tensor_free(rv), cvae_tensor_free(bad), cvae_tensor_free(x1), cvae_tensor_free(x3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_matches_reference),
        cmocka_unit_test(test_batch_norm_large_mean),
        cmocka_unit_test(test_batch_norm_running_stats),
        cmocka_unit_test(test_batch_norm_gradcheck),
        cmocka_unit_test(test_batch_norm_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
