/* cvae_cond_conv2d layer and the kernel-table generators: parameter names and
 * shapes, forward/backward against the per-sample reference (learned part = a
 * one-label table), freezing, set_kernel, deterministic generators (Gabor
 * orientation by label, callback once per label), bad arguments.
 * Tolerances: 1e-5 relative (plus 1e-5 max|ref|), as in test_conditional_conv.c. */
#include "conv_cases.h"
#include "ops/conv/cond.h"

#include <math.h>
#include <stdlib.h>

static void test_layer_parameters(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_cond_conv2d_config c = cvae_cond_conv2d_config_make(3, 5, 2, 7, 3, 2, 1);
    assert_int_equal(c.table_trainable, 1); /* every weight trains unless told otherwise */
    c.table_trainable = 0;
    cvae_cond_conv2d *l, *l2, *l3;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_new(p, "cc", &c, &l));
    const int64_t w[4] = {5, 3, 3, 3}, b[1] = {5}, t[5] = {7, 2, 3, 3, 3}, tb[2] = {7, 2};
    struct {
        const char *name;
        int ndim;
        const int64_t *shape;
        int trainable;
    } want[4] = {{"cc.weight", 4, w, 1},
                 {"cc.bias", 1, b, 1},
                 {"cc.table", 5, t, 0},
                 {"cc.table_bias", 2, tb, 0}};
    for (int i = 0; i < 4; i++) {
        cvae_tensor *x = cvae_params_find(p, want[i].name);
        assert_non_null(x);
        assert_int_equal(x->ndim, want[i].ndim);
        for (int d = 0; d < want[i].ndim; d++) assert_int_equal(x->shape[d], want[i].shape[d]);
        assert_int_equal(cvae_params_is_trainable(x), want[i].trainable);
    }
    assert_ptr_equal(l->weight, cvae_params_find(p, "cc.weight"));
    assert_ptr_equal(l->table, cvae_params_find(p, "cc.table"));
    /* the initial random table is not all zeros */
    assert_true(conv_max_abs(l->table->data, l->table->size) > 0.0);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_new(p, "cc", &c, &l2));
    /* purely conditional, no bias */
    cvae_cond_conv2d_config c2 = cvae_cond_conv2d_config_make(1, 0, 1, 10, 3, 1, 1);
    c2.bias = 0;
    c2.table_trainable = 1;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_new(p, "pure", &c2, &l2));
    assert_null(l2->weight);
    assert_null(l2->bias);
    assert_null(l2->table_bias);
    assert_null(cvae_params_find(p, "pure.weight"));
    assert_true(cvae_params_is_trainable(l2->table));
    /* bad configurations */
    cvae_cond_conv2d_config bad = c;
    bad.cond_channels = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_new(p, "bad", &bad, &l3));
    bad = c;
    bad.num_labels = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_new(p, "bad", &bad, &l3));
    bad = c;
    bad.conv.stride_h = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_new(p, "bad", &bad, &l3));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_new(p, "", &c, &l3));
    assert_null(cvae_params_find(p, "bad.table"));
    cvae_cond_conv2d_free(l), cvae_cond_conv2d_free(l2);
    cvae_params_free(p);
}

/* Forward and backward against the reference, frozen then trainable table. */
static void run_layer_case(int64_t cl, int with_bias, int trainable, uint64_t seed)
{
    test_rng r = {seed};
    const int64_t n = 6, cin = 2, cc = 3, k = 5, h = 9, wd = 8;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_cond_conv2d_config c = cvae_cond_conv2d_config_make(cin, cl, cc, k, 3, 2, 1);
    c.bias = with_bias;
    c.seed = seed;
    cvae_cond_conv2d *l;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_new(p, "layer", &c, &l));
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_set_table_trainable(l, trainable));
    for (int i = 0; i < cvae_params_count(p); i++) {
        cvae_tensor *q = cvae_params_at(p, i);
        test_fill(&r, q->data, q->size, -1, 1, 0.05f);
    }
    const int32_t labels[6] = {4, 0, 4, 2, 2, 4};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t sx[4] = {n, cin, h, wd};
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
    test_fill(&r, x->data, x->size, -1, 1, 0.05f);
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_forward(l, t, x, labels, &y));
    cvae__conv_geom g;
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", cin, h, wd, 3, 3, &c.conv));
    const int64_t pp = g.ho * g.wo, ct = cl + cc;
    assert_int_equal(y->shape[1], ct);
    int32_t zeros[6] = {0};
    float *yr = malloc(sizeof(float) * (size_t)y->size),
          *tmp = malloc(sizeof(float) * (size_t)y->size);
    float *dy = malloc(sizeof(float) * (size_t)y->size),
          *dpart = malloc(sizeof(float) * (size_t)y->size);
    test_fill(&r, dy, y->size, -1, 1, 0.05f);
    float *dx = calloc((size_t)x->size, sizeof(float)),
          *dw = calloc((size_t)(cl * cin * 9 + 1), sizeof(float));
    float *db = calloc((size_t)(cl + 1), sizeof(float)),
          *dt = calloc((size_t)l->table->size, sizeof(float));
    float *dtb = calloc((size_t)(k * cc), sizeof(float));
    for (int part = 0; part < 2; part++) {
        const int64_t rows = part ? cc : cl, c0 = part ? cl : 0;
        if (!rows) continue;
        const float *wt = part ? l->table->data : l->weight->data;
        const float *bt =
            part ? (l->table_bias ? l->table_bias->data : NULL) : (l->bias ? l->bias->data : NULL);
        const int32_t *lab = part ? labels : zeros;
        cvae__cconv2d_forward_ref(&(cvae__conv_args){.n = n, .ch = rows, .labels = lab, .x = x->data, .w = wt, .b = bt, .y = tmp}, &g);
        for (int64_t s = 0; s < n; s++) {
            memcpy(yr + (s * ct + c0) * pp, tmp + s * rows * pp,
                   sizeof(float) * (size_t)(rows * pp));
            memcpy(dpart + s * rows * pp, dy + (s * ct + c0) * pp,
                   sizeof(float) * (size_t)(rows * pp));
        }
        cvae__cconv2d_backward_ref(&(cvae__conv_args){.n = n, .ch = rows, .labels = lab, .x = x->data, .w = wt, .dy = dpart, .dx = dx, .dw = part ? dt : dw, .db = part ? dtb : db}, &g);
    }
    conv_assert_close(y->data, yr, y->size, "layer forward");
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    conv_assert_close(x->grad, dx, x->size, "layer dx");
    if (cl) conv_assert_close(l->weight->grad, dw, l->weight->size, "layer dweight");
    if (cl && with_bias) conv_assert_close_sum(l->bias->grad, db, cl, "layer dbias");
    if (trainable) {
        conv_assert_close(l->table->grad, dt, l->table->size, "layer dtable");
        if (with_bias) conv_assert_close_sum(l->table_bias->grad, dtb, k * cc, "layer dtable_bias");
    } else {
        assert_null(l->table->grad);
        if (with_bias) assert_null(l->table_bias->grad);
        const float *block = cvae_params_grad(p);
        for (int i = 0; i < cvae_params_count(p); i++) {
            cvae_tensor *q = cvae_params_at(p, i);
            if (q != l->table && q != l->table_bias) continue;
            for (int64_t j = 0; j < q->size; j++)
                assert_true(block[cvae_params_offset(p, i) + j] == 0.0f);
        }
    }
    free(yr), free(tmp), free(dy), free(dpart), free(dx), free(dw), free(db), free(dt), free(dtb);
    cvae_tape_free(t);
    cvae_cond_conv2d_free(l);
    cvae_params_free(p);
}

static void test_layer_matches_reference(void **state)
{
    (void)state;
    run_layer_case(4, 1, 0, 41);
    run_layer_case(4, 1, 1, 42);
    run_layer_case(0, 1, 0, 43);
    run_layer_case(0, 0, 1, 44);
    run_layer_case(2, 0, 0, 45);
}

static void test_layer_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {46};
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_cond_conv2d_config c = cvae_cond_conv2d_config_make(2, 3, 1, 4, 3, 1, 1);
    cvae_cond_conv2d *l;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_new(p, "l", &c, &l));
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t sx[4] = {3, 2, 5, 5}, sx2[4] = {3, 1, 5, 5};
    cvae_tensor *x = test_tensor(&r, 4, sx), *x2 = test_tensor(&r, 4, sx2), *y = (cvae_tensor *)0x1;
    int32_t bad[3] = {0, 1, 4}, ok[3] = {0, 1, 3};
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_cond_conv2d_forward(l, t, x, bad, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 2"));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_cond_conv2d_forward(l, t, x2, ok, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_cond_conv2d_forward(l, t, x, NULL, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_forward(l, t, x, ok, &y));
    assert_int_equal(y->shape[1], 4);

    /* set_kernel: copies one label's kernels; range and NaN are errors that change nothing */
    float k[18], before[72];
    for (int i = 0; i < 18; i++) k[i] = (float)i - 9.0f;
    memcpy(before, l->table->data, sizeof before);
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_cond_conv2d_set_kernel(l, 4, k));
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_cond_conv2d_set_kernel(l, -1, k));
    k[7] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_cond_conv2d_set_kernel(l, 2, k));
    assert_memory_equal(before, l->table->data, sizeof before);
    k[7] = -2.0f;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_set_kernel(l, 2, k));
    assert_memory_equal(l->table->data + 36, k, sizeof k);
    assert_memory_equal(l->table->data, before, 36 * sizeof(float));
    assert_memory_equal(l->table->data + 54, before + 54, 18 * sizeof(float));
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(x2);
    cvae_cond_conv2d_free(l);
    cvae_params_free(p);
}

static void test_table_fill_random(void **state)
{
    (void)state;
    int64_t st[5] = {6, 2, 3, 3, 3};
    cvae_tensor *a, *b;
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, st, &a));
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, st, &b));
    CVAE_OK_OR_FAIL(cvae_table_fill_random(a, 7));
    CVAE_OK_OR_FAIL(cvae_table_fill_random(b, 7));
    assert_memory_equal(a->data, b->data, (size_t)a->size * sizeof(float));
    CVAE_OK_OR_FAIL(cvae_table_fill_random(b, 8));
    assert_memory_not_equal(a->data, b->data, (size_t)a->size * sizeof(float));
    const double bound = sqrt(6.0 / 27.0);
    for (int64_t i = 0; i < a->size; i++) assert_true(fabs(a->data[i]) <= bound);
    assert_true(conv_max_abs(a->data, a->size) > 0.5 * bound);
    int64_t s4[4] = {6, 2, 3, 3};
    cvae_tensor *c4;
    CVAE_OK_OR_FAIL(cvae_tensor_new(4, s4, &c4));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_table_fill_random(c4, 1));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_table_fill_random(NULL, 1));
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(c4);
}

static float at(const cvae_tensor *t, int64_t l, int64_t o, int64_t ci, int64_t i, int64_t j)
{
    int64_t idx[5] = {l, o, ci, i, j};
    return cvae_tensor_get(t, idx);
}

static void test_table_fill_gabor(void **state)
{
    (void)state;
    const int64_t k = 4, c = 3, cin = 2;
    int64_t st[5] = {k, c, cin, 5, 5};
    cvae_tensor *a, *b;
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, st, &a));
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, st, &b));
    CVAE_OK_OR_FAIL(cvae_table_fill_gabor(a, 1.2f, 3.0f));
    CVAE_OK_OR_FAIL(cvae_table_fill_gabor(b, 1.2f, 3.0f));
    assert_memory_equal(a->data, b->data, (size_t)a->size * sizeof(float)); /* deterministic */
    const int64_t per = c * cin * 25;
    for (int64_t l = 0; l < k; l++) {
        for (int64_t m = l + 1; m < k; m++) /* orientation differs by label */
            assert_memory_not_equal(a->data + l * per, a->data + m * per,
                                    (size_t)per * sizeof(float));
        for (int64_t o = 0; o < c; o++) {
            double sum = 0, sq = 0;
            for (int64_t ci = 0; ci < cin; ci++)
                for (int64_t q = 0; q < 25; q++) {
                    float v = at(a, l, o, ci, q / 5, q % 5);
                    sum += v, sq += (double)v * v;
                    assert_true(v ==
                                at(a, l, o, 0, q / 5, q % 5)); /* same pattern per input channel */
                }
            assert_true(fabs(sum) < 1e-5);      /* zero mean */
            assert_true(fabs(sq - 1.0) < 1e-5); /* unit norm */
        }
    }
    /* label 0 (theta 0): the odd channel 1 is antisymmetric across the width and symmetric
     * across the height; label 2 (theta pi/2): the reverse. Channel 0 is even in both. */
    for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 5; j++) {
            assert_true(fabsf(at(a, 0, 1, 0, i, j) + at(a, 0, 1, 0, i, 4 - j)) < 1e-6f);
            assert_true(fabsf(at(a, 0, 1, 0, i, j) - at(a, 0, 1, 0, 4 - i, j)) < 1e-6f);
            assert_true(fabsf(at(a, 2, 1, 0, i, j) + at(a, 2, 1, 0, 4 - i, j)) < 1e-6f);
            assert_true(fabsf(at(a, 2, 1, 0, i, j) - at(a, 2, 1, 0, i, 4 - j)) < 1e-6f);
            assert_true(fabsf(at(a, 0, 0, 0, i, j) - at(a, 0, 0, 0, i, 4 - j)) < 1e-6f);
        }
    assert_true(fabsf(at(a, 0, 1, 0, 2, 0)) > 0.1f); /* an actual edge detector */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_table_fill_gabor(a, 0.0f, 3.0f));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_table_fill_gabor(a, 1.0f, NAN));
    /* 1x1 kernels: no zero-mean (it would vanish), still unit norm */
    int64_t s1[5] = {3, 2, 1, 1, 1};
    cvae_tensor *one;
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, s1, &one));
    CVAE_OK_OR_FAIL(cvae_table_fill_gabor(one, 1.0f, 3.0f));
    for (int64_t i = 0; i < one->size; i++) assert_true(isfinite(one->data[i]));
    assert_true(fabsf(fabsf(one->data[0]) - 1.0f) < 1e-6f);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(one);
}

typedef struct cb_state {
    int calls[8];
    int order_ok;
    int last;
    int bad_label;
} cb_state;

static void kernel_cb(int label, int cout, int cin, int kh, int kw, float *kernel, void *user)
{
    cb_state *s = user;
    s->calls[label]++;
    if (label != s->last + 1) s->order_ok = 0;
    s->last = label;
    for (int i = 0; i < cout * cin * kh * kw; i++) kernel[i] = (float)(100 * label + i);
    if (label == s->bad_label) kernel[1] = INFINITY;
}

static void test_table_fill_callback(void **state)
{
    (void)state;
    int64_t st[5] = {8, 2, 1, 3, 2};
    cvae_tensor *a;
    CVAE_OK_OR_FAIL(cvae_tensor_new(5, st, &a));
    cb_state s = {{0}, 1, -1, -1};
    CVAE_OK_OR_FAIL(cvae_table_fill_callback(a, kernel_cb, &s));
    for (int l = 0; l < 8; l++) assert_int_equal(s.calls[l], 1);
    assert_true(s.order_ok);
    for (int64_t i = 0; i < a->size; i++)
        assert_true(a->data[i] == (float)(100 * (i / 12) + i % 12));
    float before[96];
    memcpy(before, a->data, sizeof before);
    cb_state s2 = {{0}, 1, -1, 5};
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_table_fill_callback(a, kernel_cb, &s2));
    assert_non_null(strstr(cvae_last_error(), "label 5"));
    assert_memory_equal(before, a->data, sizeof before); /* unchanged on error */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_table_fill_callback(a, NULL, NULL));
    cvae_tensor_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_parameters), cmocka_unit_test(test_layer_matches_reference),
        cmocka_unit_test(test_layer_bad_inputs), cmocka_unit_test(test_table_fill_random),
        cmocka_unit_test(test_table_fill_gabor), cmocka_unit_test(test_table_fill_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
