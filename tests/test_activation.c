/* activations: gradient checks on random shapes, softplus against its plain formula,
 * overflow-free softplus/sigmoid, and bad inputs (log of non-positive values, parameters).
 * cvae_op_activation's fused twins: tests/test_fused_activation.c. */
#include "ops/activation.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { RELU, ELU, LEAKY, SIGMOID, TANH, SOFTPLUS, EXP, LOG, ACT_ELU, ACT_LEAKY, N_ACT } act;
static const char *act_names[N_ACT] = {
    "relu", "elu", "leaky_relu", "sigmoid", "tanh", "softplus", "exp", "log",
    "activation elu (default alpha 1)", "activation leaky_relu 0.3"};

static cvae_status act_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    switch (*(act *)ctx) {
    case RELU:
        return cvae_op_relu(t, in[0], out);
    case ELU:
        return cvae_op_elu(t, in[0], 0.7f, out);
    case LEAKY:
        return cvae_op_leaky_relu(t, in[0], 0.1f, out);
    case SIGMOID:
        return cvae_op_sigmoid(t, in[0], out);
    case TANH:
        return cvae_op_tanh(t, in[0], out);
    case SOFTPLUS:
        return cvae_op_softplus(t, in[0], out);
    case EXP:
        return cvae_op_exp(t, in[0], out);
    case ACT_ELU:
        return cvae_op_activation(t, in[0], CVAE_ACT_ELU, 0.0f, out);
    case ACT_LEAKY:
        return cvae_op_activation(t, in[0], CVAE_ACT_LEAKY_RELU, 0.3f, out);
    default:
        return cvae_op_log(t, in[0], out);
    }
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3). h = 1e-2 with |x| >= 0.05 keeps the stencil
 * (reach 2h = 0.02) off the kink at 0 of relu, elu and leaky_relu; log gets inputs in
 * [0.2, 2] so the stencil stays positive. */
static void test_activation_gradcheck(void **state)
{
    (void)state;
    test_rng r = {21};
    for (int a = 0; a < N_ACT; a++)
        for (int trial = 0; trial < 5; trial++) {
            int64_t shape[4] = {trial == 0 ? 1 : test_rand_int(&r, 2, 5), test_rand_int(&r, 1, 7),
                                test_rand_int(&r, 1, 3), test_rand_int(&r, 1, 3)};
            int nd = 2 + trial % 3;
            cvae_tensor *x = test_tensor(&r, nd, shape);
            if (a == LOG) test_fill(&r, x->data, x->size, 0.2f, 2.0f, 0.2f);
            int check[1] = {1};
            test_gradcheck(act_fn, &a, &x, check, 1, NULL, act_names[a]);
            cvae_tensor_free(x);
        }
}

/* Overflow-free forms against plain double formulas where those do not overflow (rtol 1e-6). */
static void test_activation_matches_reference(void **state)
{
    (void)state;
    test_rng r = {22};
    enum { n = 1000 };
    float x[n], a[n], b[n];
    test_fill(&r, x, n, -30.0f, 30.0f, 0.0f);
    cvae__softplus_forward(a, x, n);
    cvae__softplus_forward_ref(b, x, n);
    test_assert_close(a, b, n, 1e-6, 1e-30, "softplus");
    cvae__sigmoid_forward(a, x, n);
    for (int i = 0; i < n; i++) b[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    test_assert_close(a, b, n, 1e-6, 1e-30, "sigmoid");
    const float big[4] = {1000.0f, -1000.0f, 89.0f, -89.0f};
    cvae__softplus_forward(a, big, 4);
    assert_true(a[0] == 1000.0f && a[1] >= 0.0f && a[1] < 1e-30f && a[2] == 89.0f);
    cvae__sigmoid_forward(a, big, 4);
    assert_true(a[0] == 1.0f && a[1] == 0.0f && isfinite(a[3]));
}

/* Forward values against the formulas of ops.h. */
static void test_activation_values(void **state)
{
    (void)state;
    test_rng r = {23};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {3, 11};
    cvae_tensor *x = test_tensor(&r, 2, shape);
    for (int a = 0; a < N_ACT; a++) {
        if (a == LOG) test_fill(&r, x->data, x->size, 0.1f, 3.0f, 0.1f);
        cvae_tensor *y;
        CVAE_OK_OR_FAIL(act_fn(t, &x, &a, &y));
        assert_true(cvae_tensor_same_shape(x, y));
        for (int64_t i = 0; i < x->size; i++) {
            double v = x->data[i], w;
            switch (a) {
            case RELU:
                w = v > 0 ? v : 0;
                break;
            case ELU:
                w = v > 0 ? v : 0.7 * (exp(v) - 1);
                break;
            case LEAKY:
                w = v > 0 ? v : 0.1 * v;
                break;
            case SIGMOID:
                w = 1 / (1 + exp(-v));
                break;
            case TANH:
                w = tanh(v);
                break;
            case SOFTPLUS:
                w = log1p(exp(v));
                break;
            case EXP:
                w = exp(v);
                break;
            case ACT_ELU:
                w = v > 0 ? v : exp(v) - 1;
                break;
            case ACT_LEAKY:
                w = v > 0 ? v : 0.3 * v;
                break;
            default:
                w = log(v);
                break;
            }
            float fw = (float)w;
            test_assert_close(&y->data[i], &fw, 1, 1e-6, 1e-7, act_names[a]);
        }
    }
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

/* The vectorizable exp and log1p (BCE, sigmoid) against double precision: a dense sweep of
 * their domains and the edges; relative error < 3e-7 (about 2.5 ulp) where e^x is a normal
 * float, within one subnormal step below, exactly 0 below e^-104 like expf. */
static void test_fast_exp_log1p(void **state)
{
    (void)state;
    double worst_exp = 0, worst_log = 0;
    for (int i = 0; i <= 2000000; i++) {
        const float x = -87.0f * (float)i / 2000000.0f; /* [-87, 0]: normal results */
        const double want = exp((double)x), got = cvae__exp_nonpos(x);
        worst_exp = fmax(worst_exp, fabs(got - want) / want);
        const float e = (float)i / 2000000.0f; /* [0, 1] */
        const double lw = log1p((double)e), lg = cvae__log1p_unit(e);
        if (e > 0) worst_log = fmax(worst_log, fabs(lg - lw) / lw);
        else assert_true(lg == 0.0f);
    }
    const float edges[] = {-0.0f, -1e-30f, -1e-7f, -0.34657359f, -0.34657360f, -1.0f, -86.9999f, -87.0f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        const double want = exp((double)edges[i]), got = cvae__exp_nonpos(edges[i]);
        worst_exp = fmax(worst_exp, fabs(got - want) / want);
    }
    if (!(worst_exp < 3e-7)) fail_msg("exp_nonpos: max relative error %.3g", worst_exp);
    if (!(worst_log < 3e-7)) fail_msg("log1p_unit: max relative error %.3g", worst_log);
    for (int i = 0; i <= 20000; i++) { /* [-104, -87]: subnormal results, one step (2^-149) */
        const float x = -87.0f - 17.0f * (float)i / 20000.0f;
        const double want = exp((double)x), got = cvae__exp_nonpos(x);
        if (!(fabs(got - want) <= 3e-7 * want + 1.5e-45))
            fail_msg("exp_nonpos(%.9g) = %.9g, want %.9g", x, got, want);
    }
    const float below[] = {-104.5f, -1000.0f, -3.4e38f, -INFINITY};
    for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) assert_true(cvae__exp_nonpos(below[i]) == 0.0f);
    assert_true(isnan(cvae__exp_nonpos(NAN)));
    assert_true(isnan(cvae__log1p_unit(NAN)));
    print_message("exp_nonpos max rel error %.3g, log1p_unit %.3g\n", worst_exp, worst_log);
}

static void test_activation_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {24};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {2, 3};
    cvae_tensor *x = test_tensor(&r, 2, shape), *y = (cvae_tensor *)0x1;
    for (int64_t i = 0; i < x->size; i++) x->data[i] = 1.0f + (float)i;
    x->data[4] = 0.0f;
    size_t cap = cvae_tape_capacity(t);
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_log(t, x, &y));
    assert_non_null(strstr(cvae_last_error(), "element 4"));
    x->data[4] = -2.0f;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_log(t, x, &y));
    x->data[4] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_log(t, x, &y));
    assert_int_equal(cvae_tape_capacity(t), cap); /* nothing was allocated, let alone written */
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_elu(t, x, NAN, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_leaky_relu(t, x, INFINITY, &y));
    /* the derivative is read from y, which a negative parameter would make ambiguous */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_leaky_relu(t, x, -0.1f, &y));
    assert_non_null(strstr(cvae_last_error(), "cvae_op_leaky_relu: slope -0.1 is negative"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_elu(t, x, -1.0f, &y));
    assert_int_equal(cvae_tape_capacity(t), cap);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_relu(t, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_sigmoid(NULL, x, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_tanh(t, x, NULL));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_gradcheck),
        cmocka_unit_test(test_activation_matches_reference),
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_fast_exp_log1p),
        cmocka_unit_test(test_activation_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
