/* Convolution layers: parameter names, shapes, initialization, forward = op, gradients
 * reach the parameters, frozen running statistics, bad arguments. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

static void test_conv2d_layer(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_conv2d *c1, *c2;
    CVAE_OK_OR_FAIL(cvae_conv2d_new(p, "enc.conv1", 3, 8, 3, 3, cvae_conv_opts_make(2, 1), 1,
                                    CVAE_INIT_GLOROT_UNIFORM, 7, &c1));
    CVAE_OK_OR_FAIL(cvae_conv2d_new(p, "enc.conv2", 3, 8, 3, 3, cvae_conv_opts_make(1, 1), 0, CVAE_INIT_HE_NORMAL,
                                    7, &c2));
    assert_int_equal(cvae_params_count(p), 3);
    assert_ptr_equal(cvae_params_find(p, "enc.conv1.weight"), c1->weight);
    assert_ptr_equal(cvae_params_find(p, "enc.conv1.bias"), c1->bias);
    assert_null(c2->bias);
    assert_int_equal(c1->weight->ndim, 4);
    assert_int_equal(c1->weight->shape[0], 8);
    assert_int_equal(c1->weight->shape[1], 3);
    /* Glorot bound sqrt(6 / (27 + 72)); He normal std sqrt(2 / 27); bias zero */
    double a = sqrt(6.0 / (27 + 72)), s1 = 0, s2 = 0, mx = 0;
    for (int64_t i = 0; i < c1->weight->size; i++) mx = fmax(mx, fabs(c1->weight->data[i]));
    assert_true(mx <= a && mx > 0.8 * a);
    for (int64_t i = 0; i < c2->weight->size; i++) s1 += c2->weight->data[i], s2 += pow(c2->weight->data[i], 2);
    double sd = sqrt(s2 / (double)c2->weight->size), want = sqrt(2.0 / 27);
    assert_true(fabs(sd - want) < 0.2 * want);
    assert_true(fabs(s1 / (double)c2->weight->size) < 0.5 * want);
    for (int i = 0; i < 8; i++) assert_float_equal(c1->bias->data[i], 0.0f, 0);

    /* forward through the layer equals the op; gradients reach weight and bias */
    test_rng r = {71};
    int64_t sx[4] = {2, 3, 7, 7};
    cvae_tensor *x = test_tensor(&r, 4, sx);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *y1, *y2;
    for (int i = 0; i < 8; i++) c1->bias->data[i] = 0.1f * (float)i;
    CVAE_OK_OR_FAIL(cvae_conv2d_forward(c1, t, x, &y1));
    CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, c1->weight, c1->bias, &c1->opts, &y2));
    assert_int_equal(y1->shape[2], 4);
    test_assert_close(y1->data, y2->data, y1->size, 0, 0, "layer forward");
    float *ones = malloc(sizeof(float) * (size_t)y1->size);
    for (int64_t i = 0; i < y1->size; i++) ones[i] = 1.0f;
    cvae_params_zero_grad(p);
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y1, ones));
    for (int i = 0; i < 8; i++) assert_float_equal(c1->bias->grad[i], (float)(2 * 16), 1e-4);
    double gs = 0;
    for (int64_t i = 0; i < c1->weight->size; i++) gs += fabs(c1->weight->grad[i]);
    assert_true(gs > 0);
    free(ones);
    cvae_tape_free(t);
    cvae_tensor_free(x);
    cvae_conv2d_free(c1), cvae_conv2d_free(c2);
    cvae_params_free(p);
}

static void test_conv_transpose2d_layer(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_conv_transpose2d *d;
    CVAE_OK_OR_FAIL(cvae_conv_transpose2d_new(p, "dec.up1", 64, 32, 4, 4, cvae_conv_opts_make(2, 1), 1,
                                              CVAE_INIT_GLOROT_UNIFORM, 3, &d));
    assert_int_equal(d->weight->shape[0], 64);
    assert_int_equal(d->weight->shape[1], 32);
    assert_int_equal(d->bias->shape[0], 32);
    double a = sqrt(6.0 / (32 * 16 + 64 * 16)), mx = 0;
    for (int64_t i = 0; i < d->weight->size; i++) mx = fmax(mx, fabs(d->weight->data[i]));
    assert_true(mx <= a && mx > 0.9 * a);
    test_rng r = {72};
    int64_t sx[4] = {2, 64, 7, 7};
    cvae_tensor *x = test_tensor(&r, 4, sx), *y;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    CVAE_OK_OR_FAIL(cvae_conv_transpose2d_forward(d, t, x, &y));
    assert_int_equal(y->shape[1], 32);
    assert_int_equal(y->shape[2], 14);
    assert_int_equal(y->shape[3], 14);
    cvae_tape_free(t);
    cvae_tensor_free(x);
    cvae_conv_transpose2d_free(d);
    cvae_params_free(p);
}

static void test_batch_norm2d_layer(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_batch_norm2d *bn;
    CVAE_OK_OR_FAIL(cvae_batch_norm2d_new(p, "enc.bn1", 4, 0.1f, 1e-5f, &bn));
    assert_int_equal(cvae_params_count(p), 4);
    assert_ptr_equal(cvae_params_find(p, "enc.bn1.weight"), bn->weight);
    assert_ptr_equal(cvae_params_find(p, "enc.bn1.running_var"), bn->running_var);
    assert_true(cvae_params_is_trainable(bn->weight) && cvae_params_is_trainable(bn->bias));
    assert_false(cvae_params_is_trainable(bn->running_mean) || cvae_params_is_trainable(bn->running_var));
    assert_int_equal(cvae_params_trainable_numel(p), 8);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(bn->weight->data[i], 1.0f, 0);
        assert_float_equal(bn->bias->data[i], 0.0f, 0);
        assert_float_equal(bn->running_mean->data[i], 0.0f, 0);
        assert_float_equal(bn->running_var->data[i], 1.0f, 0);
    }
    test_rng r = {73};
    int64_t sx[4] = {3, 4, 5, 5};
    cvae_tensor *x = test_tensor(&r, 4, sx), *y;
    for (int64_t i = 0; i < x->size; i++) x->data[i] += 2.0f;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    CVAE_OK_OR_FAIL(cvae_batch_norm2d_forward(bn, t, x, 1, &y));
    for (int i = 0; i < 4; i++) assert_true(bn->running_mean->data[i] > 0.1f);
    float *ones = malloc(sizeof(float) * (size_t)y->size);
    for (int64_t i = 0; i < y->size; i++) ones[i] = 1.0f;
    cvae_params_zero_grad(p);
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, ones));
    for (int i = 0; i < 4; i++) assert_float_equal(bn->bias->grad[i], 75.0f, 1e-3);
    assert_null(bn->running_mean->grad);
    free(ones);
    cvae_tape_free(t);
    cvae_tensor_free(x);
    cvae_batch_norm2d_free(bn);
    cvae_params_free(p);
}

static void test_layers_bad_arguments(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_conv2d *c = (cvae_conv2d *)0x1, *ok;
    cvae_conv_transpose2d *d = (cvae_conv_transpose2d *)0x1;
    cvae_batch_norm2d *bn = (cvae_batch_norm2d *)0x1;
    cvae_conv_opts o = cvae_conv_opts_make(1, 1), bad = o;
    const cvae_init gi = CVAE_INIT_GLOROT_UNIFORM;
    CVAE_OK_OR_FAIL(cvae_conv2d_new(p, "c", 1, 2, 3, 3, o, 1, gi, 1, &ok));
    const int count = cvae_params_count(p);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(NULL, "x", 1, 2, 3, 3, o, 1, gi, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, NULL, 1, 2, 3, 3, o, 1, gi, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 1, 2, 3, 3, o, 1, gi, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 0, 2, 3, 3, o, 1, gi, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 1, 2, 0, 3, o, 1, gi, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 1, 2, 3, 3, o, 1, (cvae_init)9, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "c", 1, 2, 3, 3, o, 1, gi, 1, &c)); /* duplicate */
    bad.stride_h = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 1, 2, 3, 3, bad, 1, gi, 1, &c));
    bad = o, bad.output_pad_w = 1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_new(p, "x", 1, 2, 3, 3, bad, 1, gi, 1, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv_transpose2d_new(p, "x", 1, 2, 3, 3, bad, 1, gi, 1, &d));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv_transpose2d_new(p, "x", 1, 0, 3, 3, o, 1, gi, 1, &d));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_batch_norm2d_new(p, "b", 0, 0.1f, 1e-5f, &bn));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_batch_norm2d_new(p, "b", 2, -0.1f, 1e-5f, &bn));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_batch_norm2d_new(p, "b", 2, 0.1f, 0.0f, &bn));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_batch_norm2d_new(p, "c", 2, 0.1f, 1e-5f, &bn)); /* c.weight exists */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_conv2d_forward(NULL, NULL, NULL, NULL));
    assert_int_equal(cvae_params_count(p), count);
    assert_ptr_equal(c, (cvae_conv2d *)0x1);
    assert_ptr_equal(d, (cvae_conv_transpose2d *)0x1);
    assert_ptr_equal(bn, (cvae_batch_norm2d *)0x1);
    cvae_conv2d_free(ok);
    cvae_params_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_layer),
        cmocka_unit_test(test_conv_transpose2d_layer),
        cmocka_unit_test(test_batch_norm2d_layer),
        cmocka_unit_test(test_layers_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
