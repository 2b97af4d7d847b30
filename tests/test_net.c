/* Networks from layer tables (cvae/net.h): building and its errors, forward against the
 * ops it stands for, initialization, summary, save and load (strict and not), replicas,
 * allocation failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "failalloc.h"
#include "net/net_internal.h"
#include "testutil.h"

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/cvae_test_net_%d_%s", (int)getpid(), name);
    return buf;
}

/* A label-conditioned network using every kind of layer. */
// clang-format off
static const cvae_layer body[] = {
    {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .out = 5, .cond_out = 3, .labels = 4, .kernel = 3,
     .stride = 2, .padding = 1, .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_BATCH_NORM2D, .name = "bn", .activation = CVAE_ACT_TANH},
    {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "up", .in = 8, .out = 2, .cond_out = 2,
     .labels = 4, .table_name = "upcond", .kernel = 4, .stride = 2, .padding = 1,
     .activation = CVAE_ACT_LEAKY_RELU, .alpha = 0.2f},
    {.kind = CVAE_LAYER_MAX_POOL2D, .kernel = 2},
    {.kind = CVAE_LAYER_UPSAMPLE2D, .scale = 2},
    {.kind = CVAE_LAYER_AVG_POOL2D, .kernel = 2, .stride = 2},
    {.kind = CVAE_LAYER_ACTIVATION, .activation = CVAE_ACT_ELU},
    {.kind = CVAE_LAYER_FLATTEN},
    {.kind = CVAE_LAYER_LABEL_CONCAT, .labels = 4},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 12, .activation = CVAE_ACT_SIGMOID},
    {.kind = CVAE_LAYER_RESHAPE, .shape = {3, -1}},
};
// clang-format on
#define N_BODY ((int)(sizeof body / sizeof body[0]))
static const int64_t body_in[3] = {2, 10, 10};

static cvae_net *make_body(uint64_t seed)
{
    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(seed, &net));
    int idx = -1;
    CVAE_OK_OR_FAIL(cvae_net_add(net, "body", 3, body_in, body, N_BODY, &idx));
    assert_int_equal(idx, 0);
    return net;
}

static void test_shapes_and_names(void **state)
{
    (void)state;
    cvae_net *net = make_body(3);
    int64_t shape[4];
    assert_int_equal(cvae_net_shape(net, 0, 1, shape), 3);
    assert_int_equal(shape[0], 2);
    assert_int_equal(cvae_net_shape(net, 0, 0, shape), 2);
    assert_int_equal(shape[0], 3);
    assert_int_equal(shape[1], 4);
    static const char *names[] = {
        "body.conv1.weight", "body.conv1.bias", "body.conv1.table",     "body.conv1.table_bias",
        "body.bn.weight",    "body.bn.bias",    "body.bn.running_mean", "body.bn.running_var",
        "body.up.weight",    "body.up.bias",    "body.upcond.table",    "body.upcond.table_bias",
        "body.fc.weight",    "body.fc.bias"};
    const cvae_params *p = cvae_net_params(net);
    assert_int_equal(cvae_params_count(p), 14);
    for (int i = 0; i < 14; i++) assert_string_equal(cvae_params_name(p, i), names[i]);
    /* table [K, Cout, Cin, kH, kW]; transposed [K, Cin, Cout, kH, kW]; fc [12, 2*... + 4] */
    const cvae_tensor *t = cvae_params_find(p, "body.conv1.table");
    assert_true(t->ndim == 5 && t->shape[0] == 4 && t->shape[1] == 3 && t->shape[2] == 2);
    t = cvae_params_find(p, "body.upcond.table");
    assert_true(t->ndim == 5 && t->shape[1] == 8 && t->shape[2] == 2 && t->shape[3] == 4);
    t = cvae_params_find(p, "body.fc.weight");
    assert_true(t->shape[0] == 12 && t->shape[1] == 4 * 5 * 5 + 4);
    /* every weight trainable, the statistics not */
    for (int i = 0; i < 14; i++)
        assert_int_equal(cvae_params_is_trainable(cvae_params_at(p, i)), i != 6 && i != 7);
    assert_int_equal(cvae_net_find(net, "body"), 0);
    assert_int_equal(cvae_net_find(net, "nope"), -1);
    assert_int_equal(cvae_net_stacks(net), 1);
    cvae_net_free(net);
}

/* cvae_net_add with layers[0..n) on an input of in[0..nd): status and message. */
static void expect_build_error(const cvae_layer *layers, int n, int nd, const int64_t *in,
                               cvae_status want, const char *words)
{
    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(1, &net));
    const cvae_layer ok[] = {{.kind = CVAE_LAYER_LINEAR, .name = "pre", .out = 3}};
    CVAE_OK_OR_FAIL(cvae_net_add(net, "first", 1, (int64_t[]){2}, ok, 1, NULL));
    const int64_t before = cvae_params_numel(cvae_net_params(net));
    CVAE_EXPECT_ERR(want, cvae_net_add(net, "s", nd, in, layers, n, NULL));
    if (!strstr(cvae_last_error(), words))
        fail_msg("message \"%s\" lacks \"%s\"", cvae_last_error(), words);
    /* nothing was added: the block and the stacks are as before */
    assert_int_equal(cvae_params_count(cvae_net_params(net)), 2);
    assert_int_equal(cvae_params_numel(cvae_net_params(net)), before);
    assert_int_equal(cvae_net_stacks(net), 1);
    cvae_net_free(net);
}

static void test_build_errors(void **state)
{
    (void)state;
    const int64_t img[3] = {3, 8, 8}, vec[1] = {10};
    const cvae_layer conv = {
        .kind = CVAE_LAYER_CONV2D, .name = "c", .out = 4, .kernel = 3, .padding = 1};
    expect_build_error((cvae_layer[]){{.name = "x", .out = 3}}, 1, 1, vec, CVAE_ERR_INVALID_ARG,
                       ".kind");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_LINEAR, .out = 3}}, 1, 1, vec,
                       CVAE_ERR_INVALID_ARG, "needs a .name");
    /* channel mismatch between consecutive layers, reported with the layer's name */
    expect_build_error(
        (cvae_layer[]){conv,
                       {.kind = CVAE_LAYER_CONV2D, .name = "c2", .in = 3, .out = 2, .kernel = 1}},
        2, 3, img, CVAE_ERR_SHAPE,
        "layer 1 'c2': takes 3 input channels but the previous layer gives 4");
    expect_build_error((cvae_layer[]){conv, {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 2}}, 2,
                       3, img, CVAE_ERR_SHAPE, "Flatten");
    expect_build_error(
        (cvae_layer[]){{.kind = CVAE_LAYER_CONV2D, .name = "c", .out = 2, .kernel = 9}}, 1, 3, img,
        CVAE_ERR_SHAPE, "gives no output");
    expect_build_error((cvae_layer[]){conv, conv}, 2, 3, img, CVAE_ERR_INVALID_ARG,
                       "'s.c.weight' exists already");
}

static void test_build_errors_more(void **state)
{
    (void)state;
    const int64_t img[3] = {3, 8, 8}, vec[1] = {10};
    expect_build_error(
        (cvae_layer[]){
            {.kind = CVAE_LAYER_CONV2D, .name = "c", .out = 2, .kernel = 3, .labels = 4}},
        1, 3, img, CVAE_ERR_INVALID_ARG, "without label-indexed filters");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_FLATTEN, .activation = CVAE_ACT_RELU}}, 1,
                       3, img, CVAE_ERR_INVALID_ARG, "has no activation");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_RESHAPE, .shape = {7, -1}}}, 1, 1, vec,
                       CVAE_ERR_SHAPE, "cannot reshape 10");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_CONV_TRANSPOSE2D,
                                       .name = "t",
                                       .out = 2,
                                       .kernel = 4,
                                       .stride = 2,
                                       .output_padding = 2}},
                       1, 3, img, CVAE_ERR_INVALID_ARG, ".output_padding = 2 outside [0, 1]");
    expect_build_error(
        (cvae_layer[]){
            {.kind = CVAE_LAYER_LINEAR, .name = "l", .out = 2, .activation = (cvae_activation)17}},
        1, 1, vec, CVAE_ERR_INVALID_ARG, "unknown activation 17");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_LABEL_CONCAT}}, 1, 1, vec,
                       CVAE_ERR_INVALID_ARG, ".labels = 0");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_MAX_POOL2D, .kernel = 9}}, 1, 3, img,
                       CVAE_ERR_SHAPE, "smaller than the 9x9 window");
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_LINEAR, .name = "l", .out = 1 << 20}}, 1,
                       1, (int64_t[]){1 << 12}, CVAE_ERR_INVALID_ARG, "above 2^31");
    /* a later layer's failure undoes the parameters of the earlier ones */
    expect_build_error((cvae_layer[]){{.kind = CVAE_LAYER_LINEAR, .name = "a", .out = 4},
                                      {.kind = CVAE_LAYER_LINEAR, .name = "b", .in = 5, .out = 2}},
                       2, 1, vec, CVAE_ERR_SHAPE, "takes 5 input features");

    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(1, &net));
    const cvae_layer l1[] = {{.kind = CVAE_LAYER_LINEAR, .name = "a", .out = 4}};
    CVAE_OK_OR_FAIL(cvae_net_add(net, "", 1, vec, l1, 1, NULL));
    assert_non_null(cvae_params_find(cvae_net_params(net), "a.weight"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_net_add(net, "", 1, vec, l1, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_net_add(net, "x", 1, vec, l1, 0, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_net_add(net, "x", 0, vec, l1, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_net_add(net, "x", 1, (int64_t[]){0}, l1, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_net_add(NULL, "x", 1, vec, l1, 1, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_net_add(net, "x", 1, vec, NULL, 1, NULL));
    cvae_net_free(net);
}

static cvae_tensor *param(const cvae_net *net, const char *name)
{
    cvae_tensor *t = cvae_params_find(cvae_net_params(net), name);
    if (!t) fail_msg("no parameter %s", name);
    return t;
}

/* The body network by hand, op by op, with its parameters. */
static cvae_status body_by_hand(const cvae_net *net, cvae_tape *t, cvae_tensor *x,
                                const int32_t *labels, cvae_tensor **y)
{
    cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    cvae_tensor *h, *parts[2];
    o.activation = CVAE_ACT_RELU;
    CVAE_TRY(cvae_op_conditional_conv2d_concat(
        t, x, labels, param(net, "body.conv1.weight"), param(net, "body.conv1.bias"),
        param(net, "body.conv1.table"), param(net, "body.conv1.table_bias"), &o, &h));
    CVAE_TRY(cvae_op_batch_norm2d(t, h, param(net, "body.bn.weight"), param(net, "body.bn.bias"),
                                  param(net, "body.bn.running_mean"),
                                  param(net, "body.bn.running_var"), 0.1f, 1e-5f,
                                  cvae_tape_recording(t), &h));
    CVAE_TRY(cvae_op_tanh(t, h, &h));
    o.activation = CVAE_ACT_LEAKY_RELU;
    o.alpha = 0.2f;
    CVAE_TRY(cvae_op_conv_transpose2d(t, h, param(net, "body.up.weight"),
                                      param(net, "body.up.bias"), &o, &parts[0]));
    CVAE_TRY(cvae_op_conditional_conv_transpose2d(t, h, labels, param(net, "body.upcond.table"),
                                                  param(net, "body.upcond.table_bias"), &o,
                                                  &parts[1]));
    CVAE_TRY(cvae_op_concat(t, parts, 2, 1, &h));
    CVAE_TRY(cvae_op_max_pool2d(t, h, 2, 2, &h));
    CVAE_TRY(cvae_op_upsample_nearest2d(t, h, 2, &h));
    CVAE_TRY(cvae_op_avg_pool2d(t, h, 2, 2, &h));
    CVAE_TRY(cvae_op_elu(t, h, 1.0f, &h));
    CVAE_TRY(cvae_op_flatten(t, h, &h));
    CVAE_TRY(cvae_op_one_hot(t, labels, x->shape[0], 4, &parts[1]));
    parts[0] = h;
    CVAE_TRY(cvae_op_concat(t, parts, 2, 1, &h));
    CVAE_TRY(cvae_op_linear_act(t, h, param(net, "body.fc.weight"), param(net, "body.fc.bias"),
                                CVAE_ACT_SIGMOID, 0.0f, &h));
    return cvae_op_reshape(t, h, 3, (int64_t[]){x->shape[0], 3, 4}, y);
}

/* Forward (and, recording, the gradients of every parameter) equal the ops' bit for bit. */
static void test_forward_is_the_ops(void **state)
{
    (void)state;
    test_rng r = {7};
    cvae_net *net = make_body(11);
    const int64_t n = 6, xs[4] = {n, 2, 10, 10};
    const int32_t labels[6] = {3, 0, 3, 1, 2, 0};
    cvae_params *p = cvae_net_params(net);
    const int64_t numel = cvae_params_numel(p);
    float *grad = malloc((size_t)numel * sizeof(float)), *stats = malloc(8 * sizeof(float));
    for (int rec = 0; rec < 2; rec++) {
        float *out[2] = {NULL, NULL};
        for (int way = 0; way < 2; way++) {
            cvae_tape *t;
            cvae_tensor *x, *y;
            CVAE_OK_OR_FAIL(cvae_tape_new(&t));
            cvae_tape_set_recording(t, rec);
            CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, xs, &x));
            test_rng rr = r;
            test_fill(&rr, x->data, x->size, -1, 1, 0.01f);
            /* the running statistics move in training: start both ways from the same */
            cvae_tensor_fill(param(net, "body.bn.running_mean"), 0.25f);
            cvae_tensor_fill(param(net, "body.bn.running_var"), 1.5f);
            cvae_params_zero_grad(p);
            CVAE_OK_OR_FAIL(way ? body_by_hand(net, t, x, labels, &y)
                                : cvae_net_forward(net, 0, t, x, labels, &y));
            assert_int_equal(y->ndim, 3);
            assert_true(y->shape[0] == n && y->shape[1] == 3 && y->shape[2] == 4);
            out[way] = malloc((size_t)y->size * sizeof(float));
            memcpy(out[way], y->data, (size_t)y->size * sizeof(float));
            if (rec) {
                cvae_tensor *loss;
                CVAE_OK_OR_FAIL(cvae_op_sum(t, y, &loss));
                CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
                if (!way) {
                    memcpy(grad, cvae_params_grad(p), (size_t)numel * sizeof(float));
                    memcpy(stats, param(net, "body.bn.running_mean")->data, 4 * sizeof(float));
                    memcpy(stats + 4, param(net, "body.bn.running_var")->data, 4 * sizeof(float));
                } else {
                    assert_memory_equal(grad, cvae_params_grad(p), (size_t)numel * sizeof(float));
                    assert_memory_equal(stats, param(net, "body.bn.running_mean")->data, 16);
                    assert_memory_equal(stats + 4, param(net, "body.bn.running_var")->data, 16);
                }
            }
            cvae_tape_free(t);
        }
        assert_memory_equal(out[0], out[1], (size_t)(n * 12) * sizeof(float));
        free(out[0]), free(out[1]);
    }
    free(grad), free(stats);
    cvae_net_free(net);
}

static void test_forward_errors(void **state)
{
    (void)state;
    cvae_net *net = make_body(1);
    cvae_tape *t;
    cvae_tensor *x, *y = NULL, *bad;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){2, 2, 10, 10}, &x));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){2, 3, 10, 10}, &bad));
    const int32_t labels[2] = {1, 4};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_net_forward(net, 0, t, x, NULL, &y));
    assert_non_null(strstr(cvae_last_error(), "labels is NULL"));
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_net_forward(net, 0, t, x, labels, &y));
    assert_non_null(strstr(cvae_last_error(), "(stack 'body', layer 0 'conv1')"));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_net_forward(net, 0, t, bad, labels, &y));
    assert_non_null(strstr(cvae_last_error(), "takes [2, 2, 10, 10]"));
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_net_forward(net, 1, t, x, labels, &y));
    assert_null(y);
    cvae_tape_free(t);
    cvae_net_free(net);
}

/* Sample mean and standard deviation of t. */
static void moments(const cvae_tensor *t, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->size; i++) s += t->data[i], s2 += (double)t->data[i] * t->data[i];
    *mean = s / (double)t->size;
    *sd = sqrt(s2 / (double)t->size - *mean * *mean);
}

static void test_initialization(void **state)
{
    (void)state;
    const cvae_layer layers[] = {
        {.kind = CVAE_LAYER_CONV2D,
         .name = "he",
         .out = 64,
         .cond_out = 32,
         .labels = 10,
         .kernel = 3,
         .activation = CVAE_ACT_RELU},
        {.kind = CVAE_LAYER_CONV_TRANSPOSE2D,
         .name = "t",
         .out = 40,
         .kernel = 4,
         .stride = 2,
         .padding = 1,
         .activation = CVAE_ACT_ELU},
        {.kind = CVAE_LAYER_CONV2D,
         .name = "g",
         .out = 16,
         .cond_out = 4,
         .labels = 6,
         .kernel = 3,
         .table_init = CVAE_TABLE_GABOR,
         .frozen_table = 1},
        {.kind = CVAE_LAYER_FLATTEN},
        {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 300, .init = CVAE_INIT_HE_UNIFORM},
        {.kind = CVAE_LAYER_LINEAR, .name = "frozen", .out = 2, .frozen = 1}};
    cvae_net *net, *again;
    CVAE_OK_OR_FAIL(cvae_net_new(42, &net));
    CVAE_OK_OR_FAIL(cvae_net_add(net, "s", 3, (int64_t[]){16, 6, 6}, layers, 6, NULL));
    double mean, sd;
    /* He-normal before a ReLU: sd sqrt(2 / (16 * 9)); the table like the weights */
    moments(param(net, "s.he.weight"), &mean, &sd);
    assert_true(fabs(sd / sqrt(2.0 / 144) - 1) < 0.05 && fabs(mean) < 0.01);
    moments(param(net, "s.he.table"), &mean, &sd);
    assert_true(fabs(sd / sqrt(2.0 / 144) - 1) < 0.05 && fabs(mean) < 0.01);
    /* a stride-2 transposed conv's fan-in: Cin kH kW / 4 */
    moments(param(net, "s.t.weight"), &mean, &sd);
    assert_true(fabs(sd / sqrt(2.0 / (96 * 16 / 4)) - 1) < 0.05);
    /* Glorot-uniform without a ReLU-family activation: bound sqrt(6 / (fan_in + fan_out)) */
    const cvae_tensor *g = param(net, "s.g.weight");
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < g->size; i++) lo = fminf(lo, g->data[i]), hi = fmaxf(hi, g->data[i]);
    const double a = sqrt(6.0 / (40 * 9 + 16 * 9));
    assert_true(hi <= a && lo >= -a && hi > 0.9 * a && lo < -0.9 * a);
    /* the named generator, frozen */
    cvae_tensor *gab;
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, (int64_t[]){6, 4, 40, 3, 3}, &gab));
    CVAE_OK_OR_FAIL(cvae_table_fill_gabor(gab, 1.0f, 3.0f));
    assert_memory_equal(gab->data, param(net, "s.g.table")->data,
                        (size_t)gab->size * sizeof(float));
    cvae_tensor_free(gab);
    assert_false(cvae_params_is_trainable(param(net, "s.g.table")));
    assert_true(cvae_params_is_trainable(param(net, "s.g.weight")));
    assert_false(cvae_params_is_trainable(param(net, "s.frozen.weight")));
    /* the scheme asked for; biases start at zero */
    const cvae_tensor *fc = param(net, "s.fc.weight");
    const float bound = sqrtf(6.0f / (float)fc->shape[1]);
    for (int64_t i = 0; i < fc->size; i++) assert_true(fabsf(fc->data[i]) <= bound);
    const cvae_tensor *b = param(net, "s.fc.bias");
    for (int64_t i = 0; i < b->size; i++) assert_true(b->data[i] == 0.0f);
    /* deterministic per seed, and independent of the other parameters of the network */
    CVAE_OK_OR_FAIL(cvae_net_new(42, &again));
    CVAE_OK_OR_FAIL(cvae_net_add(again, "before", 1, (int64_t[]){7}, layers + 4, 1, NULL));
    CVAE_OK_OR_FAIL(cvae_net_add(again, "s", 3, (int64_t[]){16, 6, 6}, layers, 6, NULL));
    assert_memory_equal(param(again, "s.g.weight")->data, g->data, (size_t)g->size * sizeof(float));
    cvae_net_free(again);
    CVAE_OK_OR_FAIL(cvae_net_new(43, &again));
    CVAE_OK_OR_FAIL(cvae_net_add(again, "s", 3, (int64_t[]){16, 6, 6}, layers, 6, NULL));
    assert_memory_not_equal(param(again, "s.g.weight")->data, g->data,
                            (size_t)g->size * sizeof(float));
    cvae_net_free(again);
    cvae_net_free(net);
}

static void test_summary(void **state)
{
    (void)state;
    cvae_net *net = make_body(1);
    size_t need;
    CVAE_OK_OR_FAIL(cvae_net_summary(net, NULL, 0, &need));
    char *buf = malloc(need);
    CVAE_OK_OR_FAIL(cvae_net_summary(net, buf, need, NULL));
    static const char *lines[] = {
        "body.input",
        "(2, 10, 10)",
        "body.conv1 (Conv2D 3x3 s2)",
        "(8, 5, 5)",
        "relu; 5 learned + 3 label-indexed (K=4, trainable table)",
        "body.bn (BatchNorm2D)",
        "body.up (ConvTranspose2D 4x4 s2)",
        "leaky_relu(0.2); 2 learned + 2 label-indexed (K=4, trainable table)",
        "body.MaxPool2D (MaxPool2D 2x2 s2)",
        "body.Upsample2D (Upsample2D x2)",
        "body.LabelConcat (LabelConcat)",
        "one-hot of K=4",
        "body.fc (Linear)",
        "(3, 4)",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(buf, lines[i])) fail_msg("summary lacks \"%s\":\n%s", lines[i], buf);
    char total[96];
    const cvae_params *p = cvae_net_params(net);
    snprintf(total, sizeof total, "Total params: %lld (trainable %lld, frozen 16)",
             (long long)cvae_params_numel(p), (long long)cvae_params_trainable_numel(p));
    if (!strstr(buf, total)) {
        printf("%s", buf);
        fail_msg("summary lacks \"%s\"", total);
    }
    /* truncated output stays terminated; the needed size does not change */
    char small[16];
    size_t need2;
    CVAE_OK_OR_FAIL(cvae_net_summary(net, small, sizeof small, &need2));
    assert_int_equal(need2, need);
    assert_int_equal(strlen(small), sizeof small - 1);
    free(buf);
    cvae_net_free(net);
}

static void test_save_load(void **state)
{
    (void)state;
    const char *path = tmp_path("net.safetensors");
    cvae_net *a = make_body(1), *b = make_body(2);
    cvae_params *pa = cvae_net_params(a), *pb = cvae_net_params(b);
    const size_t bytes = (size_t)cvae_params_numel(pa) * sizeof(float);
    CVAE_OK_OR_FAIL(cvae_net_save(a, path));
    assert_memory_not_equal(cvae_params_data(pa), cvae_params_data(pb), bytes);
    cvae_load_report rep;
    CVAE_OK_OR_FAIL(cvae_net_load(b, path, CVAE_LOAD_STRICT, &rep));
    assert_memory_equal(cvae_params_data(pa), cvae_params_data(pb), bytes);
    assert_int_equal(rep.loaded, 14);

    /* a network with one layer more and one less: strict refuses (nothing changes), non-strict
     * loads the common part and reports what it skipped */
    cvae_layer other[N_BODY];
    memcpy(other, body, sizeof other);
    other[N_BODY - 2].name = "head"; /* fc -> head: "body.fc.*" unexpected, "body.head.*" missing */
    cvae_net *c;
    CVAE_OK_OR_FAIL(cvae_net_new(3, &c));
    CVAE_OK_OR_FAIL(cvae_net_add(c, "body", 3, body_in, other, N_BODY, NULL));
    cvae_params *pc = cvae_net_params(c);
    float *before = malloc(bytes);
    memcpy(before, cvae_params_data(pc), bytes);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_net_load(c, path, CVAE_LOAD_STRICT, &rep));
    assert_non_null(strstr(cvae_last_error(), "body.head.weight"));
    assert_memory_equal(before, cvae_params_data(pc), bytes);
    CVAE_OK_OR_FAIL(cvae_net_load(c, path, CVAE_LOAD_NONSTRICT, &rep));
    assert_int_equal(rep.loaded, 12);
    assert_int_equal(rep.missing, 2);
    assert_int_equal(rep.unexpected, 2);
    assert_string_equal(rep.first_missing, "body.head.weight");
    assert_string_equal(rep.first_unexpected, "body.fc.weight");
    const cvae_tensor *head = cvae_params_find(pc, "body.head.weight");
    assert_memory_equal(head->data, before + cvae_params_offset(pc, 12), (size_t)head->size * 4);
    const cvae_tensor *conv = cvae_params_find(pc, "body.conv1.table");
    assert_memory_equal(conv->data, cvae_params_find(pa, "body.conv1.table")->data,
                        (size_t)conv->size * 4);

    /* a shape mismatch is an error in both modes */
    cvae_layer wider[N_BODY];
    memcpy(wider, body, sizeof wider);
    wider[N_BODY - 2].out = 24;
    wider[N_BODY - 1].shape[1] = 8;
    cvae_net *d;
    CVAE_OK_OR_FAIL(cvae_net_new(3, &d));
    CVAE_OK_OR_FAIL(cvae_net_add(d, "body", 3, body_in, wider, N_BODY, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_net_load(d, path, CVAE_LOAD_NONSTRICT, NULL));
    assert_non_null(strstr(cvae_last_error(), "body.fc.weight"));
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_net_load(d, tmp_path("missing"), CVAE_LOAD_STRICT, NULL));
    remove(path);
    free(before);
    cvae_net_free(a), cvae_net_free(b), cvae_net_free(c), cvae_net_free(d);
}

/* A replica computes what its source computes, into its own gradients. */
static void test_replica(void **state)
{
    (void)state;
    cvae_net *net = make_body(5), *rep;
    CVAE_OK_OR_FAIL(cvae__net_replica_new(net, &rep));
    const int64_t numel = cvae_params_numel(cvae_net_params(net));
    float *g[2], *y[2], rm[2][4];
    const int32_t labels[3] = {2, 2, 1};
    for (int w = 0; w < 2; w++) {
        cvae_net *use = w ? rep : net;
        cvae_tape *t;
        cvae_tensor *x, *out, *loss;
        test_rng r = {9};
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){3, 2, 10, 10}, &x));
        test_fill(&r, x->data, x->size, -1, 1, 0.01f);
        cvae_params_zero_grad(cvae_net_params(net));
        if (w) cvae__net_replica_refresh(rep);
        CVAE_OK_OR_FAIL(cvae_net_forward(use, 0, t, x, labels, &out));
        CVAE_OK_OR_FAIL(cvae_op_sum(t, out, &loss));
        CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
        g[w] = malloc((size_t)numel * 4);
        memcpy(g[w], cvae__net_grad(use), (size_t)numel * 4);
        y[w] = malloc((size_t)out->size * 4);
        memcpy(y[w], out->data, (size_t)out->size * 4);
        memcpy(rm[w], param(net, "body.bn.running_mean")->data, 16);
        cvae_tape_free(t);
    }
    assert_memory_equal(y[0], y[1], 36 * 4);
    assert_memory_equal(g[0], g[1], (size_t)numel * 4);
    /* the replica's pass left the source's gradients and running statistics alone */
    for (int64_t i = 0; i < numel; i++)
        assert_true(cvae_params_grad(cvae_net_params(net))[i] == 0.0f);
    assert_memory_equal(rm[0], rm[1], 16);
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_net_add(rep, "x", 1, (int64_t[]){1}, body, 1, NULL));
    free(g[0]), free(g[1]), free(y[0]), free(y[1]);
    cvae_net_free(rep);
    cvae_net_free(net);
}

/* Every allocation of building a network may fail: NOMEM, nothing leaks, and the network
 * keeps what it had. */
static void test_alloc_failure(void **state)
{
    (void)state;
    failalloc_arm(0);
    cvae_net *net = make_body(1);
    cvae_net_free(net);
    const long calls = failalloc_calls();
    assert_true(calls > 10);
    for (long k = 1; k <= calls; k++) {
        failalloc_arm(k);
        net = NULL;
        cvae_status s = cvae_net_new(1, &net);
        if (s == CVAE_OK) {
            s = cvae_net_add(net, "body", 3, body_in, body, N_BODY, NULL);
            if (s) assert_int_equal(cvae_params_count(cvae_net_params(net)), 0);
        }
        assert_true(s == CVAE_OK || s == CVAE_ERR_NOMEM);
        assert_int_equal(s != CVAE_OK, failalloc_fired());
        cvae_net_free(net);
        failalloc_arm(0);
        assert_int_equal(failalloc_live(), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_names),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_build_errors_more),
        cmocka_unit_test(test_forward_is_the_ops),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_initialization),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_replica),
        cmocka_unit_test_setup_teardown(test_alloc_failure, failalloc_setup, failalloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
