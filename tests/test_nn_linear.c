/* cvae_linear: parameter registration and initialization, forward and backward
 * against the plain reference kernels, bad arguments. */
#include "ops/linear.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_linear_registers_params(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_linear *a, *b;
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "fc1", 30, 20, 1, CVAE_INIT_GLOROT_UNIFORM, 5, &a));
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "fc2", 20, 7, 0, CVAE_INIT_HE_UNIFORM, 5, &b));
    assert_int_equal(cvae_params_count(p), 3);
    assert_string_equal(cvae_params_name(p, 0), "fc1.weight");
    assert_string_equal(cvae_params_name(p, 1), "fc1.bias");
    assert_string_equal(cvae_params_name(p, 2), "fc2.weight");
    assert_ptr_equal(cvae_params_find(p, "fc1.weight"), a->weight);
    assert_ptr_equal(cvae_params_find(p, "fc1.bias"), a->bias);
    assert_null(b->bias);
    assert_int_equal(a->weight->ndim, 2);
    assert_int_equal(a->weight->shape[0], 20);
    assert_int_equal(a->weight->shape[1], 30);
    assert_int_equal(a->bias->ndim, 1);
    assert_int_equal(a->bias->shape[0], 20);
    assert_int_equal(a->in_features, 30);
    assert_int_equal(a->out_features, 20);
    assert_true(cvae_params_is_trainable(a->weight) && cvae_params_is_trainable(a->bias));
    for (int64_t i = 0; i < a->bias->size; i++) assert_true(a->bias->data[i] == 0.0f);
    /* Glorot bound sqrt(6 / 50), He-uniform bound sqrt(6 / 20); values spread over the range */
    float ga = sqrtf(6.0f / 50.0f), ha = sqrtf(6.0f / 20.0f), gmax = 0, hmax = 0;
    for (int64_t i = 0; i < a->weight->size; i++) {
        assert_true(fabsf(a->weight->data[i]) <= ga);
        gmax = fmaxf(gmax, fabsf(a->weight->data[i]));
    }
    for (int64_t i = 0; i < b->weight->size; i++) {
        assert_true(fabsf(b->weight->data[i]) <= ha);
        hmax = fmaxf(hmax, fabsf(b->weight->data[i]));
    }
    assert_true(gmax > 0.9f * ga && hmax > 0.8f * ha);

    /* same seed and name -> same weights; another name -> other weights */
    cvae_params *q;
    CVAE_OK_OR_FAIL(cvae_params_new(&q));
    cvae_linear *a2, *a3;
    CVAE_OK_OR_FAIL(cvae_linear_new(q, "fc1", 30, 20, 1, CVAE_INIT_GLOROT_UNIFORM, 5, &a2));
    CVAE_OK_OR_FAIL(cvae_linear_new(q, "other", 30, 20, 1, CVAE_INIT_GLOROT_UNIFORM, 5, &a3));
    assert_memory_equal(a->weight->data, a2->weight->data, sizeof(float) * 600);
    assert_true(memcmp(a->weight->data, a3->weight->data, sizeof(float) * 600) != 0);
    cvae_linear_free(a), cvae_linear_free(b), cvae_linear_free(a2), cvae_linear_free(a3);
    cvae_linear_free(NULL);
    cvae_params_free(p), cvae_params_free(q);
}

static void test_linear_he_normal_scale(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_linear *l;
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "big", 400, 250, 1, CVAE_INIT_HE_NORMAL, 9, &l));
    double s = 0, s2 = 0;
    int64_t n = l->weight->size;
    for (int64_t i = 0; i < n; i++)
        s += l->weight->data[i], s2 += (double)l->weight->data[i] * l->weight->data[i];
    double mean = s / n, sd = sqrt(s2 / n - mean * mean), want = sqrt(2.0 / 400);
    assert_true(fabs(mean) < 0.02 * want);
    assert_true(fabs(sd / want - 1.0) < 0.02);
    cvae_linear_free(l);
    cvae_params_free(p);
}

static void test_linear_forward_backward(void **state)
{
    (void)state;
    test_rng r = {21};
    for (int trial = 0; trial < 8; trial++) {
        int64_t n = test_rand_int(&r, 1, 9), in = test_rand_int(&r, 1, 33),
                out = test_rand_int(&r, 1, 17);
        int bias = trial % 2;
        cvae_params *p;
        CVAE_OK_OR_FAIL(cvae_params_new(&p));
        cvae_linear *l;
        CVAE_OK_OR_FAIL(
            cvae_linear_new(p, "fc", in, out, bias, CVAE_INIT_GLOROT_UNIFORM, (uint64_t)trial, &l));
        if (bias) test_fill(&r, l->bias->data, out, -1.0f, 1.0f, 0.05f);
        cvae_tape *t;
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        int64_t sx[2] = {n, in};
        cvae_tensor *x, *y;
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sx, &x));
        test_fill(&r, x->data, x->size, -1.0f, 1.0f, 0.05f);
        CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
        CVAE_OK_OR_FAIL(cvae_linear_forward(l, t, x, &y));
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->shape[0], n);
        assert_int_equal(y->shape[1], out);
        float *yr = malloc(sizeof(float) * (size_t)(n * out));
        const cvae__linear_dims d = {n, in, out};
        cvae__linear_forward_ref(yr, x->data, l->weight->data, bias ? l->bias->data : NULL, &d);
        test_assert_close(y->data, yr, n * out, 1e-5, 1e-6, "linear layer forward");

        float *dy = malloc(sizeof(float) * (size_t)(n * out));
        test_fill(&r, dy, n * out, -1.0f, 1.0f, 0.05f);
        cvae_params_zero_grad(p);
        CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
        float *dx = calloc((size_t)(n * in), sizeof(float)),
              *dw = calloc((size_t)(out * in), sizeof(float));
        float *db = calloc((size_t)out, sizeof(float));
        cvae__linear_backward_ref(dx, dw, db, dy, x->data, l->weight->data, &d);
        test_assert_close(x->grad, dx, n * in, 1e-5, 1e-5, "linear layer dx");
        test_assert_close(l->weight->grad, dw, out * in, 1e-5, 1e-5, "linear layer dW");
        if (bias) test_assert_close(l->bias->grad, db, out, 1e-5, 1e-5, "linear layer db");
        free(yr), free(dy), free(dx), free(dw), free(db);
        cvae_tape_free(t);
        cvae_linear_free(l);
        cvae_params_free(p);
    }
}

static void test_linear_bad_args(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_linear *const sentinel = (cvae_linear *)0x1;
    cvae_linear *l = sentinel;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(NULL, "a", 3, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, NULL, 3, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, "a", 3, 4, 1, CVAE_INIT_ZEROS, 0, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_new(p, "", 3, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_new(p, "a", 0, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, "a", 3, -1, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, "a", INT64_MAX / 2, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_new(p, "a", 3, 4, 1, (cvae_init)42, 0, &l));
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, longname, 3, 4, 1, CVAE_INIT_ZEROS, 0, &l));
    assert_ptr_equal(l, sentinel);
    assert_int_equal(cvae_params_count(p), 0);

    CVAE_OK_OR_FAIL(cvae_linear_new(p, "a", 3, 4, 1, CVAE_INIT_HE_NORMAL, 0, &l));
    cvae_linear *l2 = sentinel;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_linear_new(p, "a", 3, 4, 0, CVAE_INIT_ZEROS, 0, &l2));
    assert_ptr_equal(l2, sentinel);
    assert_int_equal(cvae_params_count(p), 2);

    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t s_bad[2] = {2, 4}, s_3d[3] = {2, 3, 1};
    cvae_tensor *xb, *x3, *y = (cvae_tensor *)0x1;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, s_bad, &xb));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 3, s_3d, &x3));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_linear_forward(l, t, xb, &y));
    assert_non_null(strstr(cvae_last_error(), "a.weight"));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_linear_forward(l, t, x3, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_forward(NULL, t, xb, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_forward(l, NULL, xb, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_forward(l, t, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_forward(l, t, xb, NULL));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_linear_free(l);
    cvae_params_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_registers_params),
        cmocka_unit_test(test_linear_he_normal_scale),
        cmocka_unit_test(test_linear_forward_backward),
        cmocka_unit_test(test_linear_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
