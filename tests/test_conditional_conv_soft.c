/* conditional_conv2d_soft: against the per-sample reference (output and the
 * gradients to x, alpha, table, bias_table), gradient checks, one-hot alpha
 * equals hard labels, non-finite alpha and bad shapes.
 * Tolerances as in test_conditional_conv.c: 1e-5 relative (plus 1e-5 max|ref|);
 * gradient checks h = 1e-2, rtol = atol = 1e-3. */
#include "conv_cases.h"
#include "ops/conv/cond.h"

#include <math.h>
#include <stdlib.h>

typedef struct soft_shape {
    int64_t n, cin, cout, h, w, kh, kw, k;
    cvae_conv_opts o;
} soft_shape;

static void random_shape(test_rng *r, soft_shape *s)
{
    s->n = test_rand_int(r, 1, 6);
    s->cin = test_rand_int(r, 1, 3);
    s->cout = test_rand_int(r, 1, 4);
    s->kh = test_rand_int(r, 1, 3);
    s->kw = test_rand_int(r, 1, 3);
    s->k = test_rand_int(r, 1, 6);
    int stride = (int)test_rand_int(r, 1, 2), pad = (int)test_rand_int(r, 0, 2);
    s->o = cvae_conv_opts_make(stride, pad);
    s->h = test_rand_int(r, s->kh, 9);
    s->w = test_rand_int(r, s->kw, 9);
}

static void test_soft_matches_reference(void **state)
{
    (void)state;
    test_rng r = {21};
    for (int trial = 0; trial < 30; trial++) {
        soft_shape s;
        random_shape(&r, &s);
        int64_t sx[4] = {s.n, s.cin, s.h, s.w}, sa[2] = {s.n, s.k},
                st[5] = {s.k, s.cout, s.cin, s.kh, s.kw}, sb[2] = {s.k, s.cout};
        cvae_tensor *x0 = test_tensor(&r, 4, sx), *a0 = test_tensor(&r, 2, sa);
        cvae_tensor *t0 = test_tensor(&r, 5, st), *b0 = test_tensor(&r, 2, sb);
        const int with_bias = trial % 3 != 0;
        cvae_tape *t;
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        /* vary which inputs need a gradient, so every keep/skip branch runs */
        const int gx = trial % 2 == 0, ga = trial % 4 != 1, gt = trial % 5 != 2;
        cvae_tensor *x = conv_tape_copy(t, x0, gx), *a = conv_tape_copy(t, a0, ga),
                    *tab = conv_tape_copy(t, t0, gt);
        cvae_tensor *b = with_bias ? conv_tape_copy(t, b0, 1) : NULL, *y;
        CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &s.o, &y));
        cvae__conv_geom g;
        CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", s.cin, s.h, s.w, s.kh, s.kw, &s.o));
        float *yr = malloc(sizeof(float) * (size_t)y->size);
        cvae__cconv2d_soft_forward_ref(&(cvae__conv_args){.n = s.n, .ch = s.cout, .k = s.k, .x = x0->data, .w = t0->data, .b = with_bias ? b0->data : NULL, .alpha = a0->data, .y = yr}, &g);
        conv_assert_close(y->data, yr, y->size, "soft forward");
        float *dy = malloc(sizeof(float) * (size_t)y->size);
        test_fill(&r, dy, y->size, -1, 1, 0.05f);
        CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
        float *dx = calloc((size_t)x0->size, sizeof(float)),
              *da = calloc((size_t)a0->size, sizeof(float));
        float *dt = calloc((size_t)t0->size, sizeof(float)),
              *db = calloc((size_t)b0->size, sizeof(float));
        cvae__cconv2d_soft_backward_ref(&(cvae__conv_args){.n = s.n, .ch = s.cout, .k = s.k, .x = x0->data, .w = t0->data, .b = with_bias ? b0->data : NULL, .alpha = a0->data, .dy = dy, .dx = dx, .dw = dt, .db = db, .dalpha = da}, &g);
        if (gx)
            conv_assert_close(x->grad, dx, x0->size, "soft dx");
        else
            assert_null(x->grad);
        if (ga)
            conv_assert_close(a->grad, da, a0->size, "soft dalpha");
        else
            assert_null(a->grad);
        if (gt)
            conv_assert_close(tab->grad, dt, t0->size, "soft dtable");
        else
            assert_null(tab->grad);
        if (with_bias) conv_assert_close(b->grad, db, b0->size, "soft dbias_table");
        free(yr), free(dy), free(dx), free(da), free(dt), free(db);
        cvae_tape_free(t);
        cvae_tensor_free(x0), cvae_tensor_free(a0), cvae_tensor_free(t0), cvae_tensor_free(b0);
    }
}

typedef struct soft_ctx {
    cvae_conv_opts o;
} soft_ctx;

static cvae_status soft_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    soft_ctx *c = ctx;
    return cvae_op_conditional_conv2d_soft(t, in[0], in[1], in[2], in[3], &c->o, out);
}

static void test_soft_gradcheck(void **state)
{
    (void)state;
    test_rng r = {22};
    for (int trial = 0; trial < 5; trial++) {
        soft_shape s;
        random_shape(&r, &s);
        if (s.n > 3) s.n = 3;
        int64_t sx[4] = {s.n, s.cin, s.h, s.w}, sa[2] = {s.n, s.k},
                st[5] = {s.k, s.cout, s.cin, s.kh, s.kw}, sb[2] = {s.k, s.cout};
        cvae_tensor *in[4] = {test_tensor(&r, 4, sx), test_tensor(&r, 2, sa),
                              test_tensor(&r, 5, st), test_tensor(&r, 2, sb)};
        soft_ctx c = {s.o};
        int check[4] = {1, 1, 1, 1};
        gradcheck_opts go = {1e-2, 1e-3, 1e-3, 32};
        test_gradcheck(soft_fn, &c, in, check, 4, &go, "conditional_conv2d_soft");
        for (int i = 0; i < 4; i++) cvae_tensor_free(in[i]);
    }
}

/* alpha = one_hot(labels) gives the hard op's output and gradients. */
static void test_soft_one_hot_equals_hard(void **state)
{
    (void)state;
    test_rng r = {23};
    for (int trial = 0; trial < 8; trial++) {
        soft_shape s;
        random_shape(&r, &s);
        int64_t sx[4] = {s.n, s.cin, s.h, s.w}, sa[2] = {s.n, s.k},
                st[5] = {s.k, s.cout, s.cin, s.kh, s.kw}, sb[2] = {s.k, s.cout};
        cvae_tensor *x0 = test_tensor(&r, 4, sx), *t0 = test_tensor(&r, 5, st),
                    *b0 = test_tensor(&r, 2, sb);
        cvae_tensor *a0;
        CVAE_OK_OR_FAIL(cvae_tensor_new(2, sa, &a0));
        int32_t labels[8];
        for (int64_t i = 0; i < s.n; i++) {
            labels[i] = (int32_t)test_rand_int(&r, 0, s.k - 1);
            a0->data[i * s.k + labels[i]] = 1.0f;
        }
        float *dy = NULL;
        cvae_tensor *ys[2], *xs[2], *ts[2], *bs[2];
        cvae_tape *tp[2];
        for (int v = 0; v < 2; v++) {
            CVAE_OK_OR_FAIL(cvae_tape_new(&tp[v]));
            xs[v] = conv_tape_copy(tp[v], x0, 1), ts[v] = conv_tape_copy(tp[v], t0, 1),
            bs[v] = conv_tape_copy(tp[v], b0, 1);
            if (v == 0)
                CVAE_OK_OR_FAIL(
                    cvae_op_conditional_conv2d(tp[v], xs[v], labels, ts[v], bs[v], &s.o, &ys[v]));
            else
                CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d_soft(
                    tp[v], xs[v], conv_tape_copy(tp[v], a0, 0), ts[v], bs[v], &s.o, &ys[v]));
            if (!dy) {
                dy = malloc(sizeof(float) * (size_t)ys[v]->size);
                test_fill(&r, dy, ys[v]->size, -1, 1, 0.05f);
            }
            CVAE_OK_OR_FAIL(cvae_tape_backward_with(tp[v], ys[v], dy));
        }
        conv_assert_close(ys[1]->data, ys[0]->data, ys[0]->size, "one-hot soft vs hard: y");
        conv_assert_close(xs[1]->grad, xs[0]->grad, x0->size, "one-hot soft vs hard: dx");
        conv_assert_close(ts[1]->grad, ts[0]->grad, t0->size, "one-hot soft vs hard: dtable");
        conv_assert_close(bs[1]->grad, bs[0]->grad, b0->size, "one-hot soft vs hard: dbias");
        free(dy);
        cvae_tape_free(tp[0]), cvae_tape_free(tp[1]);
        cvae_tensor_free(x0), cvae_tensor_free(t0), cvae_tensor_free(b0), cvae_tensor_free(a0);
    }
}

static void test_soft_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {24};
    int64_t sx[4] = {3, 2, 5, 5}, sa[2] = {3, 4}, st[5] = {4, 2, 2, 3, 3}, sb[2] = {4, 2};
    cvae_tensor *x = test_tensor(&r, 4, sx), *a = test_tensor(&r, 2, sa),
                *tab = test_tensor(&r, 5, st);
    cvae_tensor *b = test_tensor(&r, 2, sb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_conv_opts o = cvae_conv_opts_make(1, 0);
    cvae_tensor *y = (cvae_tensor *)0x1;
    a->data[5] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &o, &y));
    a->data[5] = INFINITY;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &o, &y));
    a->data[5] = -INFINITY;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &o, &y));
    a->data[5] = 0.5f;
    int64_t sa2[2] = {3, 5}, sb2[2] = {2, 4}, sx2[4] = {3, 3, 5, 5};
    cvae_tensor *a2 = test_tensor(&r, 2, sa2), *b2 = test_tensor(&r, 2, sb2),
                *x2 = test_tensor(&r, 4, sx2);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d_soft(t, x, a2, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d_soft(t, x, a, tab, b2, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d_soft(t, x2, a, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_op_conditional_conv2d_soft(t, x, NULL, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &o, NULL));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    assert_int_equal(cvae_tape_capacity(t), 0);
    CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d_soft(t, x, a, tab, b, &o, &y));
    assert_int_equal(y->shape[2], 3);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(a), cvae_tensor_free(tab), cvae_tensor_free(b);
    cvae_tensor_free(a2), cvae_tensor_free(b2), cvae_tensor_free(x2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soft_matches_reference),
        cmocka_unit_test(test_soft_gradcheck),
        cmocka_unit_test(test_soft_one_hot_equals_hard),
        cmocka_unit_test(test_soft_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
