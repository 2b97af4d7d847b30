/* CVAE_INIT_TORCH, PyTorch's default initialization: U(+-1/sqrt(fan_in)) for weights and
 * biases with PyTorch's fan_in (a transposed conv's from weight.size(1) = C_out), in layer
 * tables, in the layer constructors and as the model's default; the other schemes keep zero
 * biases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Every value in [-b, b], the largest above 0.9 b (a tensor of >= 64 values: a narrower
 * draw, e.g. from another fan_in, fails), mean and variance those of U(-b, b) within 5 sd. */
static void expect_uniform(const cvae_tensor *t, double b, const char *what)
{
    const int64_t n = t->size;
    double sum = 0, sq = 0, top = 0;
    for (int64_t i = 0; i < n; i++) {
        const double v = t->data[i];
        if (fabs(v) > b * (1 + 1e-6))
            fail_msg("%s[%lld] = %g outside +-%g", what, (long long)i, v, b);
        top = fabs(v) > top ? fabs(v) : top;
        sum += v, sq += v * v;
    }
    if (n >= 64 && top < 0.9 * b) fail_msg("%s: largest |value| %g, want about %g", what, top, b);
    const double var = b * b / 3, mean = sum / (double)n, msq = sq / (double)n;
    /* sd of the mean: sqrt(var / n); of the mean square: b^2 sqrt(4/45 / n) */
    if (fabs(mean) > 5 * sqrt(var / (double)n))
        fail_msg("%s: mean %g over %lld values of U(+-%g)", what, mean, (long long)n, b);
    if (fabs(msq - var) > 5 * b * b * sqrt(4.0 / 45.0 / (double)n))
        fail_msg("%s: mean square %g, want %g", what, msq, var);
}

static const cvae_tensor *param(const cvae_net *net, const char *name)
{
    const cvae_params *p = cvae_net_params((cvae_net *)net);
    const cvae_tensor *t = cvae_params_find(p, name);
    if (!t) fail_msg("no parameter %s", name);
    return t;
}

static void test_init_fill(void **state)
{
    (void)state;
    const int64_t shape[1] = {20000};
    cvae_tensor *t;
    CVAE_OK_OR_FAIL(cvae_tensor_new(1, shape, &t));
    CVAE_OK_OR_FAIL(cvae_init_fill(t, CVAE_INIT_TORCH, 300, 7, 3, 11));
    expect_uniform(t, 1 / sqrt(300.0), "fill fan_in 300");
    cvae_tensor_free(t);
}

/* Layer tables: each weight and bias under the bound of its layer's PyTorch fan_in. */
static void test_layers(void **state)
{
    (void)state;
    // clang-format off
    const cvae_layer layers[] = {
        {.kind = CVAE_LAYER_CONV2D, .name = "c", .out = 20, .cond_out = 6, .labels = 10,
         .kernel = 3, .stride = 2, .padding = 1, .activation = CVAE_ACT_RELU,
         .init = CVAE_INIT_TORCH},                                         /* [26, 7, 7] */
        {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "t", .out = 12, .cond_out = 5, .labels = 10,
         .kernel = 4, .stride = 2, .padding = 1, .activation = CVAE_ACT_RELU,
         .init = CVAE_INIT_TORCH},                                         /* [17, 14, 14] */
        {.kind = CVAE_LAYER_FLATTEN},
        {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 70, .init = CVAE_INIT_TORCH},
        {.kind = CVAE_LAYER_LINEAR, .name = "he", .out = 64, .activation = CVAE_ACT_RELU},
    };
    // clang-format on
    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(9, &net));
    CVAE_OK_OR_FAIL(cvae_net_add(net, "s", 3, (int64_t[]){3, 14, 14}, layers, 5, NULL));
    const double conv = 1 / sqrt(3 * 9.0);
    expect_uniform(param(net, "s.c.weight"), conv, "conv weight");
    expect_uniform(param(net, "s.c.bias"), conv, "conv bias");
    expect_uniform(param(net, "s.c.table"), conv, "conv table");
    expect_uniform(param(net, "s.c.table_bias"), conv, "conv table bias");
    /* ConvTranspose2d: fan_in = weight.size(1) kH kW = C_out 16, for the table cond_out 16
     * (cvae's own fan_in, C_in 16 / stride^2 = 104, would give a bound 0.098, not 0.072) */
    expect_uniform(param(net, "s.t.weight"), 1 / sqrt(12 * 16.0), "transposed weight");
    expect_uniform(param(net, "s.t.bias"), 1 / sqrt(12 * 16.0), "transposed bias");
    expect_uniform(param(net, "s.t.table"), 1 / sqrt(5 * 16.0), "transposed table");
    expect_uniform(param(net, "s.t.table_bias"), 1 / sqrt(5 * 16.0), "transposed table bias");
    const double fc = 1 / sqrt(17 * 14 * 14.0);
    expect_uniform(param(net, "s.fc.weight"), fc, "linear weight");
    expect_uniform(param(net, "s.fc.bias"), fc, "linear bias");
    /* the default scheme: He-normal weights, zero biases */
    const cvae_tensor *b = param(net, "s.he.bias");
    for (int64_t i = 0; i < b->size; i++) assert_true(b->data[i] == 0.0f);
    cvae_net_free(net);
}

/* The constructors of cvae/nn.h take the scheme too, with the same values as the layer
 * tables for the same seed and names. */
static void test_constructors_match_the_tables(void **state)
{
    (void)state;
    const cvae_layer lin[] = {
        {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 30, .init = CVAE_INIT_TORCH}};
    const cvae_layer tr[] = {{.kind = CVAE_LAYER_CONV_TRANSPOSE2D,
                              .name = "up",
                              .out = 8,
                              .kernel = 4,
                              .stride = 2,
                              .padding = 1,
                              .init = CVAE_INIT_TORCH}};
    cvae_net *a, *b;
    CVAE_OK_OR_FAIL(cvae_net_new(4, &a));
    CVAE_OK_OR_FAIL(cvae_net_new(4, &b));
    CVAE_OK_OR_FAIL(cvae_net_add(a, "", 1, (int64_t[]){50}, lin, 1, NULL));
    CVAE_OK_OR_FAIL(cvae_net_add(b, "", 3, (int64_t[]){6, 5, 5}, tr, 1, NULL));
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_linear *l;
    cvae_conv_transpose2d *c;
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "fc", 50, 30, 1, CVAE_INIT_TORCH, 4, &l));
    CVAE_OK_OR_FAIL(cvae_conv_transpose2d_new(p, "up", 6, 8, 4, 4, cvae_conv_opts_make(2, 1), 1,
                                              CVAE_INIT_TORCH, 4, &c));
    const cvae_tensor *pairs[4][2] = {{l->weight, param(a, "fc.weight")},
                                      {l->bias, param(a, "fc.bias")},
                                      {c->weight, param(b, "up.weight")},
                                      {c->bias, param(b, "up.bias")}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pairs[i][0]->size, pairs[i][1]->size);
        assert_memory_equal(pairs[i][0]->data, pairs[i][1]->data,
                            (size_t)pairs[i][0]->size * sizeof(float));
    }
    expect_uniform(c->weight, 1 / sqrt(8 * 16.0), "constructor's transposed weight");
    /* other schemes: zero biases, as before */
    cvae_linear *z;
    CVAE_OK_OR_FAIL(cvae_linear_new(p, "z", 50, 30, 1, CVAE_INIT_HE_UNIFORM, 4, &z));
    for (int64_t i = 0; i < z->bias->size; i++) assert_true(z->bias->data[i] == 0.0f);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_linear_new(p, "x", 5, 5, 1, (cvae_init)6, 4, &z));
    cvae_linear_free(l), cvae_linear_free(z), cvae_conv_transpose2d_free(c);
    cvae_params_free(p);
    cvae_net_free(a), cvae_net_free(b);
}

/* The model starts from PyTorch's scheme by default (biases drawn), from the former scheme on
 * request (zero biases), and a configuration without "init" means the former scheme. */
static void test_model_default(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    assert_int_equal(c.init, CVAE_INIT_TORCH);
    cvae_model *m, *old;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    const cvae_net *net = cvae_model_net(m);
    expect_uniform(param(net, "dec.deconv1.weight"), 1 / sqrt(32 * 16.0), "model deconv1");
    expect_uniform(param(net, "dec.deconv2.bias"), 1 / sqrt(1 * 16.0), "model deconv2 bias");
    expect_uniform(param(net, "enc.fc.bias"), 1 / sqrt(64 * 49 + 10.0), "model enc.fc bias");
    expect_uniform(param(net, "enc.cond.table"), 1 / sqrt(9.0), "model table");
    c.init = CVAE_INIT_DEFAULT;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &old));
    const cvae_tensor *b = param(cvae_model_net(old), "enc.fc.bias");
    for (int64_t i = 0; i < b->size; i++) assert_true(b->data[i] == 0.0f);
    cvae_model_config d;
    const char *json = "{\"latent\":16}";
    CVAE_OK_OR_FAIL(cvae_model_config_from_json(json, strlen(json), &d));
    assert_int_equal(d.init, CVAE_INIT_DEFAULT);
    cvae_model_free(m);
    cvae_model_free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_fill),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_constructors_match_the_tables),
        cmocka_unit_test(test_model_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
