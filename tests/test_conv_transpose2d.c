/* conv_transpose2d: fast path against direct loops, adjointness with conv2d,
 * gradient checks, skipped gradient work, bad arguments. */
#include "conv_cases.h"
#include "ops/conv/conv.h"

#include <math.h>
#include <stdlib.h>

/* A transposed case: x [n, cin, h, w] -> [n, cout, Ho, Wo]; kernel [cin, cout, kh, kw]. */
static cvae_status convt_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const conv_fn_ctx *f = ctx;
    return cvae_op_conv_transpose2d(t, in[0], in[1], f->bias ? in[2] : NULL, &f->c->o, out);
}

/* The transposed case reading a conv2d case backwards (its output becomes the
 * input), with output_pad chosen in [0, stride). Returns 0 if the output would be empty. */
static int transposed_case(const conv_case *c, int op, conv_case *out)
{
    cvae__conv_geom g;
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", c->cin, c->h, c->w, c->kh, c->kw, &c->o));
    *out = *c;
    out->cin = c->cout, out->cout = c->cin, out->h = g.ho, out->w = g.wo;
    out->o.output_pad_h = op % c->o.stride_h, out->o.output_pad_w = op % c->o.stride_w;
    const int ok = cvae__conv_geom_transposed(&g, "test", out->cout, out->h, out->w, out->kh, out->kw,
                                              &out->o) == CVAE_OK;
    cvae_clear_error();
    return ok;
}

static void check_against_ref(test_rng *r, const conv_case *c, int with_bias)
{
    cvae__conv_geom g;
    int64_t sx[4] = {c->n, c->cin, c->h, c->w}, sw[4] = {c->cin, c->cout, c->kh, c->kw}, sb[1] = {c->cout};
    cvae_tensor *x = test_tensor(r, 4, sx), *w = test_tensor(r, 4, sw), *b = test_tensor(r, 1, sb);
    CVAE_OK_OR_FAIL(cvae__conv_geom_transposed(&g, "test", c->cout, c->h, c->w, c->kh, c->kw, &c->o));
    const int64_t p = c->n * c->h * c->w, rows = c->cout * c->kh * c->kw, ny = c->n * c->cout * g.h * g.w;
    float *y1 = conv_zeros(ny), *y2 = conv_zeros(ny), *xcn = conv_zeros(c->cin * p),
          *cols = conv_zeros(rows * p), *dy = conv_zeros(ny);
    const cvae__conv_ws ws = {.cols = cols, .cn = xcn};
    cvae__conv_args a = {.n = c->n, .ch = c->cin, .x = x->data, .w = w->data,
                         .b = with_bias ? b->data : NULL, .y = y1};
    cvae__conv_transpose2d_forward(&a, &g, &ws);
    a.y = y2;
    cvae__conv_transpose2d_forward_ref(&a, &g);
    conv_assert_rel(y1, y2, ny, 1e-5, "conv_transpose2d forward");

    test_fill(r, dy, ny, -1, 1, 0.05f);
    float *dx1 = conv_zeros(x->size), *dx2 = conv_zeros(x->size), *dw1 = conv_zeros(w->size),
          *dw2 = conv_zeros(w->size);
    float *db1 = conv_zeros(c->cout), *db2 = conv_zeros(c->cout);
    test_fill(r, dx1, x->size, -1, 1, 0.05f);
    memcpy(dx2, dx1, sizeof(float) * (size_t)x->size);
    test_fill(r, dw1, w->size, -1, 1, 0.05f);
    memcpy(dw2, dw1, sizeof(float) * (size_t)w->size);
    const cvae__conv_args fast = {.n = c->n, .ch = c->cin, .x = x->data, .w = w->data, .dy = dy,
                                  .dx = dx1, .dw = dw1, .db = db1},
                          ref = {.n = c->n, .ch = c->cin, .x = x->data, .w = w->data, .dy = dy,
                                 .dx = dx2, .dw = dw2, .db = db2};
    cvae__conv_transpose2d_backward(&fast, &g, &ws);
    cvae__conv_transpose2d_backward_ref(&ref, &g);
    conv_assert_rel(dx1, dx2, x->size, 1e-5, "conv_transpose2d dx");
    conv_assert_rel(dw1, dw2, w->size, 1e-5, "conv_transpose2d dw");
    conv_assert_rel(db1, db2, c->cout, 1e-5, "conv_transpose2d db");
    free(y1), free(y2), free(xcn), free(cols), free(dy), free(dx1), free(dx2), free(dw1), free(dw2);
    free(db1), free(db2);
    cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(b);
}

static void test_conv_transpose2d_matches_reference(void **state)
{
    (void)state;
    test_rng r = {31};
    conv_case tc;
    for (int i = 0; i < CONV_N_FIXED; i++)
        if (transposed_case(&conv_fixed_cases[i], i, &tc)) check_against_ref(&r, &tc, i % 2);
    for (int i = 0; i < 60; i++) {
        conv_case c = conv_random_case(&r);
        if (transposed_case(&c, (int)test_rand_int(&r, 0, 2), &tc)) check_against_ref(&r, &tc, i % 2);
    }
    conv_case dec = {3, 16, 8, 7, 7, 4, 4, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)}; /* 7x7 -> 14x14 */
    check_against_ref(&r, &dec, 1);
    /* several chunks (cvae__conv_chunk), the last one partial */
    conv_case chunked = {5, 8, 48, 14, 14, 4, 4, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)};
    assert_true(cvae__conv_chunk(48 * 16, 14 * 14, 5) < 5);
    check_against_ref(&r, &chunked, 0);
}

/* <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same w: [Cout, Cin, kH, kW]
 * (conv_transpose2d reads it as [Cin', Cout', kH, kW] with Cin' = Cout). Sums in double,
 * |difference| <= 1e-5 sum |terms|. */
static void test_conv_transpose2d_is_adjoint(void **state)
{
    (void)state;
    test_rng r = {32};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    for (int i = 0; i < CONV_N_FIXED + 40; i++) {
        conv_case c = i < CONV_N_FIXED ? conv_fixed_cases[i] : conv_random_case(&r);
        cvae_tape_reset(t);
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, sw[4] = {c.cout, c.cin, c.kh, c.kw};
        cvae_tensor *x = test_tensor(&r, 4, sx), *w = test_tensor(&r, 4, sw), *cx, *cy;
        CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, NULL, &c.o, &cx));
        cvae_tensor *y = test_tensor(&r, 4, cx->shape);
        cvae_conv_opts ot = c.o;
        ot.output_pad_h = (int)((c.h + c.o.pad_top + c.o.pad_bottom - c.o.dilation_h * (c.kh - 1) - 1) % c.o.stride_h);
        ot.output_pad_w = (int)((c.w + c.o.pad_left + c.o.pad_right - c.o.dilation_w * (c.kw - 1) - 1) % c.o.stride_w);
        CVAE_OK_OR_FAIL(cvae_op_conv_transpose2d(t, y, w, NULL, &ot, &cy));
        assert_true(cvae_tensor_same_shape(cy, x));
        double a = 0, b = 0, m = 0;
        for (int64_t k = 0; k < y->size; k++) a += (double)cx->data[k] * y->data[k], m += fabs((double)cx->data[k] * y->data[k]);
        for (int64_t k = 0; k < x->size; k++) b += (double)x->data[k] * cy->data[k];
        if (!(fabs(a - b) <= 1e-5 * m)) fail_msg("case %d: <conv2d(x, w), y> = %.9g, <x, convT(y, w)> = %.9g", i, a, b);
        cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(y);
    }
    cvae_tape_free(t);
}

/* Tolerances as for conv2d: step 1e-2, |g - g_fd| <= 1e-3 + 1e-3 max(|g|, |g_fd|). */
static void test_conv_transpose2d_gradcheck(void **state)
{
    (void)state;
    test_rng r = {33};
    conv_case tc;
    for (int i = 0; i < CONV_N_FIXED + 6; i++) {
        conv_case c = i < CONV_N_FIXED ? conv_fixed_cases[i] : conv_random_case(&r);
        if (!transposed_case(&c, i, &tc)) continue;
        int bias = i != 2;
        int64_t sx[4] = {tc.n, tc.cin, tc.h, tc.w}, sw[4] = {tc.cin, tc.cout, tc.kh, tc.kw}, sb[1] = {tc.cout};
        cvae_tensor *in[3] = {test_tensor(&r, 4, sx), test_tensor(&r, 4, sw), bias ? test_tensor(&r, 1, sb) : NULL};
        int check[3] = {1, 1, bias};
        gradcheck_opts go = {1e-2, 1e-3, 1e-3, 40};
        conv_fn_ctx f = {&tc, bias};
        test_gradcheck(convt_fn, &f, in, check, bias ? 3 : 2, &go, "conv_transpose2d");
        for (int k = 0; k < 3; k++) cvae_tensor_free(in[k]);
    }
}

static void test_conv_transpose2d_skips_unneeded_gradients(void **state)
{
    (void)state;
    test_rng r = {34};
    int64_t sx[4] = {2, 3, 4, 5}, sw[4] = {3, 2, 4, 4};
    cvae_tensor *x0 = test_tensor(&r, 4, sx), *w0 = test_tensor(&r, 4, sw);
    cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    for (int mode = 0; mode < 2; mode++) { /* 0: only w needs a gradient; 1: only x */
        cvae_tape_reset(t);
        cvae_tensor *x, *w, *y;
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sw, &w));
        CVAE_OK_OR_FAIL(cvae_tensor_copy(x, x0));
        CVAE_OK_OR_FAIL(cvae_tensor_copy(w, w0));
        CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, mode ? x : w));
        CVAE_OK_OR_FAIL(cvae_op_conv_transpose2d(t, x, w, NULL, &o, &y));
        assert_int_equal(y->shape[2], 8);
        assert_int_equal(y->shape[3], 10);
        float *dy = malloc(sizeof(float) * (size_t)y->size);
        test_fill(&r, dy, y->size, -1, 1, 0.05f);
        CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
        assert_null(mode ? w->grad : x->grad);
        assert_non_null(mode ? x->grad : w->grad);
        free(dy);
    }
    cvae_tape_free(t);
    cvae_tensor_free(x0), cvae_tensor_free(w0);
}

static void test_conv_transpose2d_bad_arguments(void **state)
{
    (void)state;
    test_rng r = {35};
    int64_t sx[4] = {2, 3, 5, 5}, sw[4] = {3, 4, 3, 3}, sw2[4] = {2, 4, 3, 3}, sb[1] = {4}, sb2[1] = {3};
    int64_t s3[3] = {3, 5, 5}, s1[4] = {1, 1, 1, 1}, swk[4] = {1, 1, 1, 1};
    cvae_tensor *x = test_tensor(&r, 4, sx), *w = test_tensor(&r, 4, sw), *w2 = test_tensor(&r, 4, sw2);
    cvae_tensor *b = test_tensor(&r, 1, sb), *b2 = test_tensor(&r, 1, sb2), *x3 = test_tensor(&r, 3, s3);
    cvae_tensor *x1 = test_tensor(&r, 4, s1), *wk = test_tensor(&r, 4, swk);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_conv_opts o = cvae_conv_opts_make(2, 1), bad;
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(NULL, x, w, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, NULL, w, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, NULL, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, &o, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv_transpose2d(t, x3, w, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv_transpose2d(t, x, x3, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv_transpose2d(t, x, w2, NULL, &o, &y)); /* Cin */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv_transpose2d(t, x, w, b2, &o, &y));    /* bias */
    bad = o, bad.output_pad_h = 2; /* == stride */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, &bad, &y));
    bad = o, bad.output_pad_w = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, &bad, &y));
    bad = o, bad.stride_h = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, &bad, &y));
    bad = o, bad.pad_right = -2;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv_transpose2d(t, x, w, b, &bad, &y));
    bad = cvae_conv_opts_make(1, 1); /* 1x1 input, 1x1 kernel, pad 1: empty output */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv_transpose2d(t, x1, wk, NULL, &bad, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    o.output_pad_h = 1;
    CVAE_OK_OR_FAIL(cvae_op_conv_transpose2d(t, x, w, b, &o, &y));
    assert_int_equal(y->shape[1], 4);
    assert_int_equal(y->shape[2], 10);
    assert_int_equal(y->shape[3], 9);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(w2), cvae_tensor_free(b);
    cvae_tensor_free(b2), cvae_tensor_free(x3), cvae_tensor_free(x1), cvae_tensor_free(wk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_transpose2d_matches_reference),
        cmocka_unit_test(test_conv_transpose2d_is_adjoint),
        cmocka_unit_test(test_conv_transpose2d_gradcheck),
        cmocka_unit_test(test_conv_transpose2d_skips_unneeded_gradients),
        cmocka_unit_test(test_conv_transpose2d_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
