/* conditional_conv_transpose2d: against the per-sample reference, adjointness
 * with conditional_conv2d (same table memory), gradient checks, bad inputs.
 * Tolerances: 1e-5 relative (plus 1e-5 max|ref|); gradient checks h = 1e-2,
 * rtol = atol = 1e-3; the adjoint identity to 1e-5 of sum |terms|. */
#include "conv_cases.h"
#include "ops/conv/cond.h"

#include <math.h>
#include <stdlib.h>

typedef struct tcase {
    int64_t n, cin, cout, h, w, kh, kw, k;
    cvae_conv_opts o;
    int32_t labels[16];
    cvae__conv_geom gt;
} tcase;

static void random_tcase(test_rng *r, tcase *c, int64_t k)
{
    do {
        c->n = test_rand_int(r, 1, 7);
        c->cin = test_rand_int(r, 1, 4);
        c->cout = test_rand_int(r, 1, 4);
        c->kh = test_rand_int(r, 1, 4);
        c->kw = test_rand_int(r, 1, 4);
        c->h = test_rand_int(r, 1, 8);
        c->w = test_rand_int(r, 1, 8);
        int stride = (int)test_rand_int(r, 1, 3), pad = (int)test_rand_int(r, 0, 2);
        c->o = cvae_conv_opts_make(stride, pad);
        c->o.output_pad_h = (int)test_rand_int(r, 0, stride - 1);
        c->o.output_pad_w = (int)test_rand_int(r, 0, stride - 1);
        if (test_rand_int(r, 0, 3) == 0) c->o.dilation_h = c->o.dilation_w = 2;
    } while (cvae__conv_geom_transposed(&c->gt, "test", c->cout, c->h, c->w, c->kh, c->kw, &c->o) !=
             CVAE_OK);
    c->k = k;
    for (int64_t s = 0; s < c->n; s++) c->labels[s] = (int32_t)test_rand_int(r, 0, k - 1);
}

static void test_cconvt_matches_reference(void **state)
{
    (void)state;
    test_rng r = {31};
    const int64_t ks[] = {1, 3, 10, 1000};
    for (int trial = 0; trial < 40; trial++) {
        tcase c;
        random_tcase(&r, &c, ks[trial % 4]);
        if (trial % 7 == 3)
            for (int64_t s = 0; s < c.n; s++) c.labels[s] = c.labels[0];
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, st[5] = {c.k, c.cin, c.cout, c.kh, c.kw},
                sb[2] = {c.k, c.cout};
        cvae_tensor *x0 = test_tensor(&r, 4, sx), *t0 = test_tensor(&r, 5, st),
                    *b0 = test_tensor(&r, 2, sb);
        const int with_bias = trial % 3 != 0, gx = trial % 2 == 0, gt = trial % 5 != 1;
        cvae_tape *t;
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        cvae_tensor *x = conv_tape_copy(t, x0, gx), *tab = conv_tape_copy(t, t0, gt);
        cvae_tensor *b = with_bias ? conv_tape_copy(t, b0, 1) : NULL, *y;
        CVAE_OK_OR_FAIL(cvae_op_conditional_conv_transpose2d(t, x, c.labels, tab, b, &c.o, &y));
        assert_int_equal(y->shape[2], c.gt.h);
        assert_int_equal(y->shape[3], c.gt.w);
        float *yr = malloc(sizeof(float) * (size_t)y->size);
        cvae__cconvt2d_forward_ref(&(cvae__conv_args){.n = c.n, .ch = c.cin, .labels = c.labels, .x = x0->data, .w = t0->data, .b = with_bias ? b0->data : NULL, .y = yr}, &c.gt);
        conv_assert_close(y->data, yr, y->size, "transposed forward");
        if (gx || gt || with_bias) {
            float *dy = malloc(sizeof(float) * (size_t)y->size);
            test_fill(&r, dy, y->size, -1, 1, 0.05f);
            CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
            float *dx = calloc((size_t)x0->size, sizeof(float)),
                  *dt = calloc((size_t)t0->size, sizeof(float));
            float *db = calloc((size_t)b0->size, sizeof(float));
            cvae__cconvt2d_backward_ref(&(cvae__conv_args){.n = c.n, .ch = c.cin, .labels = c.labels, .x = x0->data, .w = t0->data, .dy = dy, .dx = dx, .dw = dt, .db = db}, &c.gt);
            if (gx)
                conv_assert_close(x->grad, dx, x0->size, "transposed dx");
            else
                assert_null(x->grad);
            if (gt)
                conv_assert_close(tab->grad, dt, t0->size, "transposed dtable");
            else
                assert_null(tab->grad);
            if (with_bias) conv_assert_close(b->grad, db, b0->size, "transposed dbias");
            free(dy), free(dx), free(dt), free(db);
        }
        free(yr);
        cvae_tape_free(t);
        cvae_tensor_free(x0), cvae_tensor_free(t0), cvae_tensor_free(b0);
    }
}

/* <conv_transpose(x; T), v> = <x, conv(v; T)>: the same table memory read as
 * [K, Cin, Cout, kH, kW] by the transposed op is [K, Cout', Cin', kH, kW] for the conv. */
static void test_cconvt_adjoint_of_cconv(void **state)
{
    (void)state;
    test_rng r = {32};
    for (int trial = 0; trial < 20; trial++) {
        tcase c;
        random_tcase(&r, &c, 5);
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, st[5] = {c.k, c.cin, c.cout, c.kh, c.kw},
                sv[4] = {c.n, c.cout, c.gt.h, c.gt.w};
        cvae_tensor *x = test_tensor(&r, 4, sx), *tab = test_tensor(&r, 5, st),
                    *v = test_tensor(&r, 4, sv);
        cvae_tape *t;
        CVAE_OK_OR_FAIL(cvae_tape_new(&t));
        cvae_tensor *y, *z;
        CVAE_OK_OR_FAIL(cvae_op_conditional_conv_transpose2d(t, x, c.labels, tab, NULL, &c.o, &y));
        cvae_conv_opts of = c.o; /* output_pad belongs to the transposed op only */
        of.output_pad_h = of.output_pad_w = 0;
        CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d(t, v, c.labels, tab, NULL, &of, &z));
        assert_int_equal(z->size, x->size);
        double lhs = 0, rhs = 0, mag = 0;
        for (int64_t i = 0; i < y->size; i++)
            lhs += (double)y->data[i] * v->data[i], mag += fabs(y->data[i] * v->data[i]);
        for (int64_t i = 0; i < x->size; i++)
            rhs += (double)x->data[i] * z->data[i], mag += fabs(x->data[i] * z->data[i]);
        if (fabs(lhs - rhs) > 1e-5 * mag + 1e-6) fail_msg("adjoint: %.9g vs %.9g", lhs, rhs);
        cvae_tape_free(t);
        cvae_tensor_free(x), cvae_tensor_free(tab), cvae_tensor_free(v);
    }
}

typedef struct t_ctx {
    const int32_t *labels;
    cvae_conv_opts o;
} t_ctx;

static cvae_status t_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    t_ctx *c = ctx;
    return cvae_op_conditional_conv_transpose2d(t, in[0], c->labels, in[1], in[2], &c->o, out);
}

static void test_cconvt_gradcheck(void **state)
{
    (void)state;
    test_rng r = {33};
    for (int trial = 0; trial < 5; trial++) {
        tcase c;
        random_tcase(&r, &c, 4);
        if (c.n > 4) c.n = 4;
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, st[5] = {c.k, c.cin, c.cout, c.kh, c.kw},
                sb[2] = {c.k, c.cout};
        cvae_tensor *in[3] = {test_tensor(&r, 4, sx), test_tensor(&r, 5, st),
                              test_tensor(&r, 2, sb)};
        t_ctx tc = {c.labels, c.o};
        int check[3] = {1, 1, 1};
        gradcheck_opts go = {1e-2, 1e-3, 1e-3, 40};
        test_gradcheck(t_fn, &tc, in, check, 3, &go, "conditional_conv_transpose2d");
        for (int i = 0; i < 3; i++) cvae_tensor_free(in[i]);
    }
}

static void test_cconvt_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {34};
    int64_t sx[4] = {3, 2, 4, 4}, st[5] = {4, 2, 3, 3, 3}, sb[2] = {4, 3};
    cvae_tensor *x = test_tensor(&r, 4, sx), *tab = test_tensor(&r, 5, st),
                *b = test_tensor(&r, 2, sb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    o.output_pad_h = o.output_pad_w = 1;
    cvae_tensor *y = (cvae_tensor *)0x1;
    int32_t bad[3] = {0, 4, 1}, ok[3] = {3, 0, 3};
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE,
                    cvae_op_conditional_conv_transpose2d(t, x, bad, tab, b, &o, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 1"));
    int64_t sb2[2] = {4, 2}, st2[5] = {4, 3, 3, 3, 3};
    cvae_tensor *b2 = test_tensor(&r, 2, sb2), *tab2 = test_tensor(&r, 5, st2);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE,
                    cvae_op_conditional_conv_transpose2d(t, x, ok, tab, b2, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE,
                    cvae_op_conditional_conv_transpose2d(t, x, ok, tab2, b, &o, &y));
    cvae_conv_opts o2 = o;
    o2.output_pad_h = 2;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_op_conditional_conv_transpose2d(t, x, ok, tab, b, &o2, &y));
    cvae_conv_opts o3 = cvae_conv_opts_make(1, 3); /* (4-1) - 6 + 2 + 1 = 0 */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE,
                    cvae_op_conditional_conv_transpose2d(t, x, ok, tab, b, &o3, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_op_conditional_conv_transpose2d(t, x, NULL, tab, b, &o, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    assert_int_equal(cvae_tape_capacity(t), 0);
    CVAE_OK_OR_FAIL(cvae_op_conditional_conv_transpose2d(t, x, ok, tab, b, &o, &y));
    assert_int_equal(y->shape[2], 8); /* (4-1)*2 - 2 + 2 + 1 + 1 */
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(tab), cvae_tensor_free(b), cvae_tensor_free(b2);
    cvae_tensor_free(tab2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cconvt_matches_reference),
        cmocka_unit_test(test_cconvt_adjoint_of_cconv),
        cmocka_unit_test(test_cconvt_gradcheck),
        cmocka_unit_test(test_cconvt_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
