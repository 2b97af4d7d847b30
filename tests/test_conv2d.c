/* conv2d: fast path (im2col + GEMM) against direct loops, gradient checks,
 * skipped gradient work, steady-state memory, bad arguments. */
#include "conv_cases.h"
#include "ops/conv/conv.h"

#include <stdlib.h>

static cvae_status conv_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const conv_fn_ctx *f = ctx;
    return cvae_op_conv2d(t, in[0], in[1], f->bias ? in[2] : NULL, &f->c->o, out);
}

static void check_against_ref(test_rng *r, const conv_case *c, int with_bias)
{
    cvae__conv_geom g;
    int64_t sx[4] = {c->n, c->cin, c->h, c->w}, sw[4] = {c->cout, c->cin, c->kh, c->kw}, sb[1] = {c->cout};
    cvae_tensor *x = test_tensor(r, 4, sx), *w = test_tensor(r, 4, sw), *b = test_tensor(r, 1, sb);
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", c->cin, c->h, c->w, c->kh, c->kw, &c->o));
    const int64_t p = c->n * g.ho * g.wo, ckk = c->cin * c->kh * c->kw, ny = c->cout * p;
    float *y1 = conv_zeros(ny), *y2 = conv_zeros(ny), *cols = conv_zeros(ckk * p),
          *ycn = conv_zeros(ny), *dy = conv_zeros(ny);
    const cvae__conv_ws ws = {.cols = cols, .cn = ycn};
    cvae__conv_args a = {.n = c->n, .ch = c->cout, .x = x->data, .w = w->data,
                         .b = with_bias ? b->data : NULL, .y = y1};
    cvae__conv2d_forward(&a, &g, &ws);
    a.y = y2;
    cvae__conv2d_forward_ref(&a, &g);
    conv_assert_rel(y1, y2, ny, 1e-5, "conv2d forward");

    test_fill(r, dy, ny, -1, 1, 0.05f);
    float *dx1 = conv_zeros(x->size), *dx2 = conv_zeros(x->size), *dw1 = conv_zeros(w->size),
          *dw2 = conv_zeros(w->size);
    float *db1 = conv_zeros(c->cout), *db2 = conv_zeros(c->cout);
    test_fill(r, dx1, x->size, -1, 1, 0.05f); /* gradients accumulate into what is there */
    memcpy(dx2, dx1, sizeof(float) * (size_t)x->size);
    test_fill(r, dw1, w->size, -1, 1, 0.05f);
    memcpy(dw2, dw1, sizeof(float) * (size_t)w->size);
    const cvae__conv_args fast = {.n = c->n, .ch = c->cout, .x = x->data, .w = w->data, .dy = dy,
                                  .dx = dx1, .dw = dw1, .db = db1},
                          ref = {.n = c->n, .ch = c->cout, .x = x->data, .w = w->data, .dy = dy,
                                 .dx = dx2, .dw = dw2, .db = db2};
    cvae__conv2d_backward(&fast, &g, &ws);
    cvae__conv2d_backward_ref(&ref, &g);
    conv_assert_rel(dx1, dx2, x->size, 1e-5, "conv2d dx");
    conv_assert_rel(dw1, dw2, w->size, 1e-5, "conv2d dw");
    conv_assert_rel(db1, db2, c->cout, 1e-5, "conv2d db");

    /* each gradient alone (the others NULL) gives the same */
    memset(db1, 0, sizeof(float) * (size_t)c->cout);
    const cvae__conv_args db_only = {.n = c->n, .ch = c->cout, .w = w->data, .dy = dy, .db = db1};
    cvae__conv2d_backward(&db_only, &g, &(cvae__conv_ws){0});
    conv_assert_rel(db1, db2, c->cout, 1e-5, "conv2d db alone");
    memcpy(dx1, dx2, sizeof(float) * (size_t)x->size);
    const cvae__conv_args dx_only = {.n = c->n, .ch = c->cout, .w = w->data, .dy = dy, .dx = dx1},
                          dx_ref = {.n = c->n, .ch = c->cout, .w = w->data, .dy = dy, .dx = dx2};
    cvae__conv2d_backward(&dx_only, &g, &ws);
    cvae__conv2d_backward_ref(&dx_ref, &g);
    conv_assert_rel(dx1, dx2, x->size, 1e-5, "conv2d dx alone");

    free(y1), free(y2), free(cols), free(ycn), free(dy), free(dx1), free(dx2), free(dw1), free(dw2);
    free(db1), free(db2);
    cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(b);
}

static void test_conv2d_matches_reference(void **state)
{
    (void)state;
    test_rng r = {21};
    for (int i = 0; i < CONV_N_FIXED; i++) check_against_ref(&r, &conv_fixed_cases[i], i % 2);
    for (int i = 0; i < 60; i++) {
        conv_case c = conv_random_case(&r);
        check_against_ref(&r, &c, i % 2);
    }
    /* a larger case where the GEMM blocks and the batch lowering matter */
    conv_case big = {5, 16, 24, 13, 11, 3, 3, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)};
    check_against_ref(&r, &big, 1);
    /* several chunks (cvae__conv_chunk), the last one partial, both fast lowerings */
    conv_case chunked = {7, 48, 3, 28, 28, 3, 3, CONV_OPTS(1, 1, 1, 1, 1, 1, 1)};
    assert_true(cvae__conv_chunk(48 * 9, 28 * 28, 7) < 7);
    check_against_ref(&r, &chunked, 1);
    conv_case chunked2 = {9, 64, 5, 14, 14, 3, 3, CONV_OPTS(2, 1, 1, 1, 1, 2, 2)};
    assert_true(cvae__conv_chunk(64 * 9, 7 * 7, 9) < 9);
    check_against_ref(&r, &chunked2, 0);
}

/* Gradient check, tolerances: step 1e-2, |g - g_fd| <= 1e-3 + 1e-3 max(|g|, |g_fd|)
 * (conv2d is linear in each input, so the 5-point difference is exact up to rounding). */
static void gradcheck_case(test_rng *r, const conv_case *c, int with_bias)
{
    int64_t sx[4] = {c->n, c->cin, c->h, c->w}, sw[4] = {c->cout, c->cin, c->kh, c->kw}, sb[1] = {c->cout};
    cvae_tensor *in[3] = {test_tensor(r, 4, sx), test_tensor(r, 4, sw), with_bias ? test_tensor(r, 1, sb) : NULL};
    int check[3] = {1, 1, with_bias};
    gradcheck_opts go = {1e-2, 1e-3, 1e-3, 40};
    conv_fn_ctx f = {c, with_bias};
    test_gradcheck(conv_fn, &f, in, check, with_bias ? 3 : 2, &go, "conv2d");
    for (int i = 0; i < 3; i++) cvae_tensor_free(in[i]);
}

static void test_conv2d_gradcheck(void **state)
{
    (void)state;
    test_rng r = {22};
    for (int i = 0; i < CONV_N_FIXED; i++) gradcheck_case(&r, &conv_fixed_cases[i], i != 2);
    for (int i = 0; i < 6; i++) {
        conv_case c = conv_random_case(&r);
        gradcheck_case(&r, &c, 1);
    }
}

/* Raw images (x needs no gradient) get no dx; a frozen weight gets no dw; the
 * remaining gradients are unchanged; the arena stops growing after one step. */
static void test_conv2d_skips_unneeded_gradients(void **state)
{
    (void)state;
    test_rng r = {23};
    const conv_case c = conv_fixed_cases[1];
    int64_t sx[4] = {c.n, c.cin, c.h, c.w}, sw[4] = {c.cout, c.cin, c.kh, c.kw}, sb[1] = {c.cout};
    cvae_tensor *x0 = test_tensor(&r, 4, sx);
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_tensor *w, *b;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "w", 4, sw, 1, &w));
    CVAE_OK_OR_FAIL(cvae_params_add(p, "b", 1, sb, 1, &b));
    test_fill(&r, w->data, w->size, -1, 1, 0.05f);
    test_fill(&r, b->data, b->size, -1, 1, 0.05f);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    size_t cap = 0;
    for (int step = 0; step < 4; step++) {
        cvae_tape_reset(t);
        cvae_params_zero_grad(p);
        cvae_tensor *x, *y;
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
        CVAE_OK_OR_FAIL(cvae_tensor_copy(x, x0));
        CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, b, &c.o, &y));
        float *dy = malloc(sizeof(float) * (size_t)y->size);
        test_rng rd = {99};
        test_fill(&rd, dy, y->size, -1, 1, 0.05f);
        CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
        assert_null(x->grad);
        cvae__conv_geom g;
        CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", c.cin, c.h, c.w, c.kh, c.kw, &c.o));
        float *dw = calloc((size_t)w->size, sizeof(float));
        const cvae__conv_args ref = {.n = c.n, .ch = c.cout, .x = x0->data, .dy = dy, .dw = dw};
        cvae__conv2d_backward_ref(&ref, &g);
        conv_assert_rel(w->grad, dw, w->size, 1e-5, "dw without dx");
        free(dw), free(dy);
        if (step == 1) cap = cvae_tape_capacity(t);
        if (step > 1) assert_int_equal(cvae_tape_capacity(t), cap);
    }
    /* frozen weight, x requiring a gradient: dx only */
    CVAE_OK_OR_FAIL(cvae_params_set_trainable(p, w, 0));
    cvae_tape_reset(t);
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
    CVAE_OK_OR_FAIL(cvae_tensor_copy(x, x0));
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, NULL, &c.o, &y));
    float *ones = malloc(sizeof(float) * (size_t)y->size);
    for (int64_t i = 0; i < y->size; i++) ones[i] = 1.0f;
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, ones));
    assert_null(w->grad);
    assert_non_null(x->grad);
    free(ones);
    /* inference: no recording, the same output */
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, 0);
    cvae_tensor *y2;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
    CVAE_OK_OR_FAIL(cvae_tensor_copy(x, x0));
    CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, b, &c.o, &y2));
    assert_false(y2->flags & CVAE_TENSOR_REQUIRES_GRAD);
    cvae_tape_free(t);
    cvae_params_free(p);
    cvae_tensor_free(x0);
}

static void test_conv2d_bad_arguments(void **state)
{
    (void)state;
    test_rng r = {24};
    int64_t sx[4] = {2, 3, 5, 5}, sw[4] = {4, 3, 3, 3}, sw2[4] = {4, 2, 3, 3}, sb[1] = {4}, sb2[1] = {3};
    int64_t sbig[4] = {4, 3, 6, 6}, s3[3] = {3, 5, 5};
    cvae_tensor *x = test_tensor(&r, 4, sx), *w = test_tensor(&r, 4, sw), *w2 = test_tensor(&r, 4, sw2);
    cvae_tensor *b = test_tensor(&r, 1, sb), *b2 = test_tensor(&r, 1, sb2), *wbig = test_tensor(&r, 4, sbig);
    cvae_tensor *x3 = test_tensor(&r, 3, s3);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_conv_opts o = cvae_conv_opts_make(1, 0), bad;
    cvae_tensor *y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(NULL, x, w, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, NULL, w, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, NULL, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, &o, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, x3, w, b, &o, &y));      /* rank */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, x, x3, b, &o, &y));      /* weight rank */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, x, w2, NULL, &o, &y));   /* Cin mismatch */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, x, w, b2, &o, &y));      /* bias size */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, x, wbig, NULL, &o, &y)); /* kernel > input */
    bad = o, bad.stride_w = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, &bad, &y));
    bad = o, bad.dilation_h = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, &bad, &y));
    bad = o, bad.pad_left = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, &bad, &y));
    bad = o, bad.output_pad_h = 1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conv2d(t, x, w, b, &bad, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    /* a padded input fits the big kernel */
    o = cvae_conv_opts_make(1, 1);
    CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, wbig, NULL, &o, &y));
    assert_int_equal(y->shape[2], 2);
    /* lowering beyond the BLAS int range: [1, 1, 2^16, 2^16] with a 1x1 kernel -> 2^32 columns.
     * Only headers are checked; no data is touched. */
    cvae_tensor huge = *x;
    huge.shape[0] = 1, huge.shape[1] = 1, huge.shape[2] = 65536, huge.shape[3] = 65536;
    huge.size = (int64_t)1 << 32;
    int64_t s11[4] = {1, 1, 1, 1};
    cvae_tensor *w11 = test_tensor(&r, 4, s11);
    o = cvae_conv_opts_make(1, 0);
    y = (cvae_tensor *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conv2d(t, &huge, w11, NULL, &o, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(w), cvae_tensor_free(w2), cvae_tensor_free(b);
    cvae_tensor_free(b2), cvae_tensor_free(wbig), cvae_tensor_free(x3), cvae_tensor_free(w11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_matches_reference),
        cmocka_unit_test(test_conv2d_gradcheck),
        cmocka_unit_test(test_conv2d_skips_unneeded_gradients),
        cmocka_unit_test(test_conv2d_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
