/* conditional_conv2d (hard labels): both forward algorithms against the
 * per-sample direct reference, gradient checks, frozen tables, absent labels,
 * bad inputs. Soft labels and the transposed op: test_conditional_conv_soft.c,
 * test_conditional_conv_transpose.c.
 *
 * Tolerances: fast path vs reference |a - b| <= 1e-5 max(|a|, |b|) + 1e-5 max|ref|
 * (float GEMM sums against double loops; the second term covers cancellation);
 * gradient checks: 5-point differences, h = 1e-2, rtol = atol = 1e-3 (the op is
 * linear in each input, so only float rounding of the outputs remains). */
#include "conv_cases.h"
#include "ops/conv/cond.h"

#include <math.h>
#include <stdlib.h>

typedef struct hard_case {
    int64_t n, cin, cout, h, w, kh, kw, k;
    cvae_conv_opts o;
    int32_t labels[64];
} hard_case;

/* A random valid case; label_mode 0 random, 1 all equal, 2 all different, 3 from a subset. */
static void random_case(test_rng *r, hard_case *c, int64_t k, int label_mode)
{
    c->n = test_rand_int(r, 1, label_mode == 2 && k < 9 ? k : 9);
    c->cin = test_rand_int(r, 1, 4);
    c->cout = test_rand_int(r, 1, 5);
    c->kh = test_rand_int(r, 1, 4);
    c->kw = test_rand_int(r, 1, 4);
    int stride = (int)test_rand_int(r, 1, 2), pad = (int)test_rand_int(r, 0, 2);
    c->o = cvae_conv_opts_make(stride, pad);
    if (test_rand_int(r, 0, 3) == 0) c->o.dilation_h = c->o.dilation_w = 2;
    int64_t ekh = c->o.dilation_h * (c->kh - 1) + 1, ekw = c->o.dilation_w * (c->kw - 1) + 1;
    c->h = test_rand_int(r, ekh - 2 * pad > 1 ? ekh - 2 * pad : 1, 11);
    c->w = test_rand_int(r, ekw - 2 * pad > 1 ? ekw - 2 * pad : 1, 11);
    c->k = k;
    for (int64_t s = 0; s < c->n; s++) {
        switch (label_mode) {
        case 1:
            c->labels[s] = (int32_t)(k - 1);
            break;
        case 2:
            c->labels[s] = (int32_t)((s * 7919 + 3) % k);
            break; /* distinct while n <= k, k prime-free of 7919 */
        case 3:
            c->labels[s] = (int32_t)(test_rand_int(r, 0, 2) * (k / 3));
            break;
        default:
            c->labels[s] = (int32_t)test_rand_int(r, 0, k - 1);
        }
    }
}

/* Runs the op (forced algo) with every input requiring a gradient, back-propagates dy,
 * and compares output and gradients with the reference. */
static void check_case(test_rng *r, const hard_case *c, cvae__cconv_algo algo, int with_bias)
{
    int64_t sx[4] = {c->n, c->cin, c->h, c->w}, st[5] = {c->k, c->cout, c->cin, c->kh, c->kw},
            sb[2] = {c->k, c->cout};
    cvae_tensor *x0 = test_tensor(r, 4, sx), *t0 = test_tensor(r, 5, st),
                *b0 = test_tensor(r, 2, sb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *x = conv_tape_copy(t, x0, 1), *tab = conv_tape_copy(t, t0, 1);
    cvae_tensor *b = with_bias ? conv_tape_copy(t, b0, 1) : NULL, *y;
    cvae__cconv_algo used;
    CVAE_OK_OR_FAIL(
        cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){x, c->labels, NULL, NULL, tab, b}, &c->o, algo, &y, &used));
    if (algo != CVAE__CCONV_AUTO) assert_int_equal(used, algo);
    cvae__conv_geom g;
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", c->cin, c->h, c->w, c->kh, c->kw, &c->o));
    assert_int_equal(y->shape[2], g.ho);
    assert_int_equal(y->shape[3], g.wo);
    float *yr = malloc(sizeof(float) * (size_t)y->size);
    cvae__cconv2d_forward_ref(&(cvae__conv_args){.n = c->n, .ch = c->cout, .labels = c->labels, .x = x0->data, .w = t0->data, .b = with_bias ? b0->data : NULL, .y = yr}, &g);
    conv_assert_close(y->data, yr, y->size,
                      algo == CVAE__CCONV_ALL_K ? "forward (all-K)" : "forward (grouped)");

    float *dy = malloc(sizeof(float) * (size_t)y->size);
    test_fill(r, dy, y->size, -1, 1, 0.05f);
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    float *dx = calloc((size_t)x0->size, sizeof(float)),
          *dt = calloc((size_t)t0->size, sizeof(float));
    float *db = calloc((size_t)b0->size, sizeof(float));
    cvae__cconv2d_backward_ref(&(cvae__conv_args){.n = c->n, .ch = c->cout, .labels = c->labels, .x = x0->data, .w = t0->data, .dy = dy, .dx = dx, .dw = dt, .db = db}, &g);
    conv_assert_close(x->grad, dx, x0->size, "dx");
    conv_assert_close(tab->grad, dt, t0->size, "dtable");
    if (with_bias) conv_assert_close_sum(b->grad, db, b0->size, "dbias_table");
    free(yr), free(dy), free(dx), free(dt), free(db);
    cvae_tape_free(t);
    cvae_tensor_free(x0), cvae_tensor_free(t0), cvae_tensor_free(b0);
}

static void test_cconv_matches_reference(void **state)
{
    (void)state;
    test_rng r = {11};
    const int64_t ks[] = {1, 3, 7, 10, 1000};
    for (int trial = 0; trial < 60; trial++) {
        hard_case c;
        int64_t k = ks[trial % 5];
        random_case(&r, &c, k, (trial / 5) % 4);
        check_case(&r, &c, CVAE__CCONV_GROUPED, trial % 3 != 0);
        check_case(&r, &c, CVAE__CCONV_ALL_K, trial % 3 != 0);
        check_case(&r, &c, CVAE__CCONV_AUTO, 1);
    }
}

/* The named corner cases of the brief, one by one. */
static void test_cconv_corner_cases(void **state)
{
    (void)state;
    test_rng r = {12};
    hard_case c;
    /* batch 1, K = 1, stride 2, pad 0, odd sizes */
    c = (hard_case){1, 3, 4, 9, 7, 3, 3, 1, cvae_conv_opts_make(2, 0), {0}};
    check_case(&r, &c, CVAE__CCONV_GROUPED, 1), check_case(&r, &c, CVAE__CCONV_ALL_K, 1);
    /* K = 1000, labels spread, pad 2 */
    c = (hard_case){
        6, 2, 3, 5, 6, 3, 2, 1000, cvae_conv_opts_make(1, 2), {999, 0, 500, 17, 999, 3}};
    check_case(&r, &c, CVAE__CCONV_GROUPED, 1), check_case(&r, &c, CVAE__CCONV_ALL_K, 1);
    /* all labels equal, pad 1, stride 2 */
    c = (hard_case){5, 2, 3, 8, 8, 3, 3, 4, cvae_conv_opts_make(2, 1), {2, 2, 2, 2, 2}};
    check_case(&r, &c, CVAE__CCONV_GROUPED, 1), check_case(&r, &c, CVAE__CCONV_ALL_K, 0);
    /* every label different, unsorted */
    c = (hard_case){5, 1, 2, 6, 5, 2, 3, 5, cvae_conv_opts_make(1, 1), {4, 0, 3, 1, 2}};
    check_case(&r, &c, CVAE__CCONV_GROUPED, 1), check_case(&r, &c, CVAE__CCONV_ALL_K, 1);
    /* the model's shape: 1 -> 8 channels, 28x28, 3x3 stride 2 pad 1, K = 10 */
    c = (hard_case){8, 1, 8, 28, 28, 3, 3, 10, cvae_conv_opts_make(2, 1), {3, 1, 4, 1, 5, 9, 2, 6}};
    check_case(&r, &c, CVAE__CCONV_GROUPED, 1), check_case(&r, &c, CVAE__CCONV_ALL_K, 1);
}

typedef struct hard_ctx {
    const int32_t *labels;
    cvae_conv_opts o;
    cvae__cconv_algo algo;
} hard_ctx;

static cvae_status hard_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    hard_ctx *c = ctx;
    return cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){in[0], c->labels, NULL, NULL, in[1], in[2]}, &c->o, c->algo, out, NULL);
}

static void test_cconv_gradcheck(void **state)
{
    (void)state;
    test_rng r = {13};
    for (int trial = 0; trial < 6; trial++) {
        hard_case c;
        random_case(&r, &c, trial % 2 ? 5 : 2, trial % 4);
        if (c.n > 4) c.n = 4;
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, st[5] = {c.k, c.cout, c.cin, c.kh, c.kw},
                sb[2] = {c.k, c.cout};
        cvae_tensor *in[3] = {test_tensor(&r, 4, sx), test_tensor(&r, 5, st),
                              test_tensor(&r, 2, sb)};
        hard_ctx hc = {c.labels, c.o, trial % 2 ? CVAE__CCONV_GROUPED : CVAE__CCONV_ALL_K};
        int check[3] = {1, 1, 1};
        gradcheck_opts go = {1e-2, 1e-3, 1e-3, 40};
        test_gradcheck(hard_fn, &hc, in, check, 3, &go, "conditional_conv2d");
        for (int i = 0; i < 3; i++) cvae_tensor_free(in[i]);
    }
}

/* Learned filters sharing the lowering (the layer's fused op): the learned part
 * equals a one-label conditional conv, so both halves are checked against the
 * reference; the gradient flags vary so that every skip branch runs. */
static void check_shared(test_rng *r, const hard_case *c, int64_t cl, cvae__cconv_algo algo,
                         int variant)
{
    const int with_bias = variant % 2, gx = variant % 3 != 0, gt = variant % 4 != 1,
              gw = variant % 5 != 2;
    int64_t sx[4] = {c->n, c->cin, c->h, c->w}, st[5] = {c->k, c->cout, c->cin, c->kh, c->kw},
            sb[2] = {c->k, c->cout}, sw[4] = {cl, c->cin, c->kh, c->kw}, slb[1] = {cl};
    cvae_tensor *x0 = test_tensor(r, 4, sx), *t0 = test_tensor(r, 5, st),
                *b0 = test_tensor(r, 2, sb);
    cvae_tensor *w0 = test_tensor(r, 4, sw), *lb0 = test_tensor(r, 1, slb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *x = conv_tape_copy(t, x0, gx), *tab = conv_tape_copy(t, t0, gt),
                *w = conv_tape_copy(t, w0, gw);
    cvae_tensor *b = with_bias ? conv_tape_copy(t, b0, 1) : NULL,
                *lb = with_bias ? conv_tape_copy(t, lb0, 1) : NULL, *y;
    CVAE_OK_OR_FAIL(
        cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){x, c->labels, w, lb, tab, b}, &c->o, algo, &y, NULL));
    cvae__conv_geom g;
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", c->cin, c->h, c->w, c->kh, c->kw, &c->o));
    const int64_t p = g.ho * g.wo, ctot = cl + c->cout;
    assert_int_equal(y->shape[1], ctot);
    int32_t zeros[64] = {0};
    float *yl = malloc(sizeof(float) * (size_t)(c->n * cl * p)),
          *yc = malloc(sizeof(float) * (size_t)(c->n * c->cout * p));
    float *yr = malloc(sizeof(float) * (size_t)y->size),
          *dy = malloc(sizeof(float) * (size_t)y->size);
    float *dyl = malloc(sizeof(float) * (size_t)(c->n * cl * p)),
          *dyc = malloc(sizeof(float) * (size_t)(c->n * c->cout * p));
    cvae__cconv2d_forward_ref(&(cvae__conv_args){.n = c->n, .ch = cl, .labels = zeros, .x = x0->data, .w = w0->data, .b = with_bias ? lb0->data : NULL, .y = yl}, &g);
    cvae__cconv2d_forward_ref(&(cvae__conv_args){.n = c->n, .ch = c->cout, .labels = c->labels, .x = x0->data, .w = t0->data, .b = with_bias ? b0->data : NULL, .y = yc}, &g);
    test_fill(r, dy, y->size, -1, 1, 0.05f);
    for (int64_t s = 0; s < c->n; s++) {
        memcpy(yr + s * ctot * p, yl + s * cl * p, sizeof(float) * (size_t)(cl * p));
        memcpy(yr + (s * ctot + cl) * p, yc + s * c->cout * p,
               sizeof(float) * (size_t)(c->cout * p));
        memcpy(dyl + s * cl * p, dy + s * ctot * p, sizeof(float) * (size_t)(cl * p));
        memcpy(dyc + s * c->cout * p, dy + (s * ctot + cl) * p,
               sizeof(float) * (size_t)(c->cout * p));
    }
    conv_assert_close(y->data, yr, y->size, "shared forward");
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    float *dx = calloc((size_t)x0->size, sizeof(float)),
          *dt = calloc((size_t)t0->size, sizeof(float));
    float *db = calloc((size_t)b0->size, sizeof(float)),
          *dw = calloc((size_t)w0->size, sizeof(float));
    float *dlb = calloc((size_t)cl, sizeof(float));
    cvae__cconv2d_backward_ref(&(cvae__conv_args){.n = c->n, .ch = cl, .labels = zeros, .x = x0->data, .w = w0->data, .dy = dyl, .dx = dx, .dw = dw, .db = dlb}, &g);
    cvae__cconv2d_backward_ref(&(cvae__conv_args){.n = c->n, .ch = c->cout, .labels = c->labels, .x = x0->data, .w = t0->data, .dy = dyc, .dx = dx, .dw = dt, .db = db}, &g);
    if (gx)
        conv_assert_close(x->grad, dx, x0->size, "shared dx");
    else
        assert_null(x->grad);
    if (gt)
        conv_assert_close(tab->grad, dt, t0->size, "shared dtable");
    else
        assert_null(tab->grad);
    if (gw)
        conv_assert_close(w->grad, dw, w0->size, "shared dw");
    else
        assert_null(w->grad);
    if (with_bias) {
        conv_assert_close_sum(b->grad, db, b0->size, "shared dbias_table");
        conv_assert_close_sum(lb->grad, dlb, cl, "shared db");
    }
    free(yl), free(yc), free(yr), free(dy), free(dyl), free(dyc), free(dx), free(dt), free(db),
        free(dw), free(dlb);
    cvae_tape_free(t);
    cvae_tensor_free(x0), cvae_tensor_free(t0), cvae_tensor_free(b0), cvae_tensor_free(w0),
        cvae_tensor_free(lb0);
}

static void test_cconv_shared_matches_reference(void **state)
{
    (void)state;
    test_rng r = {17};
    const int64_t ks[] = {1, 4, 10, 1000};
    for (int trial = 0; trial < 40; trial++) {
        hard_case c;
        random_case(&r, &c, ks[trial % 4], (trial / 4) % 4);
        int64_t cl = test_rand_int(&r, 1, 5);
        check_shared(&r, &c, cl, CVAE__CCONV_GROUPED, trial);
        check_shared(&r, &c, cl, CVAE__CCONV_ALL_K, trial + 1);
    }
}

typedef struct shared_ctx {
    const int32_t *labels;
    cvae_conv_opts o;
    cvae__cconv_algo algo;
} shared_ctx;

static cvae_status shared_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    shared_ctx *c = ctx;
    return cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){in[0], c->labels, in[3], in[4], in[1], in[2]}, &c->o, c->algo, out, NULL);
}

static void test_cconv_shared_gradcheck(void **state)
{
    (void)state;
    test_rng r = {18};
    for (int trial = 0; trial < 4; trial++) {
        hard_case c;
        random_case(&r, &c, 3, trial % 4);
        if (c.n > 3) c.n = 3;
        int64_t cl = test_rand_int(&r, 1, 3);
        int64_t sx[4] = {c.n, c.cin, c.h, c.w}, st[5] = {c.k, c.cout, c.cin, c.kh, c.kw},
                sb[2] = {c.k, c.cout}, sw[4] = {cl, c.cin, c.kh, c.kw}, slb[1] = {cl};
        cvae_tensor *in[5] = {test_tensor(&r, 4, sx), test_tensor(&r, 5, st),
                              test_tensor(&r, 2, sb), test_tensor(&r, 4, sw),
                              test_tensor(&r, 1, slb)};
        shared_ctx sc = {c.labels, c.o, trial % 2 ? CVAE__CCONV_GROUPED : CVAE__CCONV_ALL_K};
        int check[5] = {1, 1, 1, 1, 1};
        gradcheck_opts go = {1e-2, 1e-3, 1e-3, 32};
        test_gradcheck(shared_fn, &sc, in, check, 5, &go,
                       "conditional_conv2d with learned filters");
        for (int i = 0; i < 5; i++) cvae_tensor_free(in[i]);
    }
}

/* Table as a parameter: rows of absent labels get exactly zero gradient; a
 * frozen table gets no gradient buffer at all and its block stays zero. */
static void run_param_case(int trainable, int x_grad)
{
    test_rng r = {14};
    const int64_t k = 6, n = 5, cin = 2, cout = 3;
    int64_t sx[4] = {n, cin, 7, 7}, st[5] = {k, cout, cin, 3, 3}, sb[2] = {k, cout};
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    cvae_tensor *tab, *b;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "table", 5, st, trainable, &tab));
    CVAE_OK_OR_FAIL(cvae_params_add(p, "table_bias", 2, sb, 1, &b));
    test_fill(&r, tab->data, tab->size, -1, 1, 0.05f);
    test_fill(&r, b->data, b->size, -1, 1, 0.05f);
    const int32_t labels[5] = {4, 1, 4, 1, 0}; /* 2, 3, 5 absent */
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
    test_fill(&r, x->data, x->size, -1, 1, 0.05f);
    if (x_grad) CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d(t, x, labels, tab, b, &o, &y));
    float *dy = malloc(sizeof(float) * (size_t)y->size);
    test_fill(&r, dy, y->size, -1, 1, 0.05f);
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    cvae__conv_geom g;
    CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", cin, 7, 7, 3, 3, &o));
    float *dx = calloc((size_t)x->size, sizeof(float)),
          *dt = calloc((size_t)tab->size, sizeof(float));
    float *db = calloc((size_t)b->size, sizeof(float));
    cvae__cconv2d_backward_ref(&(cvae__conv_args){.n = n, .ch = cout, .labels = labels, .x = x->data, .w = tab->data, .dy = dy, .dx = dx, .dw = dt, .db = db}, &g);
    const int64_t row = cout * cin * 9;
    if (trainable) {
        assert_non_null(tab->grad);
        conv_assert_close(tab->grad, dt, tab->size, "dtable (param)");
        for (int64_t l = 0; l < k; l++) {
            if (l == 0 || l == 1 || l == 4) continue;
            for (int64_t i = 0; i < row; i++) assert_true(tab->grad[l * row + i] == 0.0f);
            for (int64_t i = 0; i < cout; i++) assert_true(b->grad[l * cout + i] == 0.0f);
        }
    } else {
        assert_null(tab->grad);
        const float *block = cvae_params_grad(p) + cvae_params_offset(p, 0);
        for (int64_t i = 0; i < tab->size; i++) assert_true(block[i] == 0.0f);
    }
    conv_assert_close_sum(b->grad, db, b->size, "dbias_table (param)");
    if (x_grad)
        conv_assert_close(x->grad, dx, x->size, "dx (param table)");
    else
        assert_null(x->grad);
    free(dy), free(dx), free(dt), free(db);
    cvae_tape_free(t);
    cvae_params_free(p);
}

static void test_cconv_absent_labels_zero_rows(void **state)
{
    (void)state;
    run_param_case(1, 1);
    run_param_case(1, 0);
}

static void test_cconv_frozen_table(void **state)
{
    (void)state;
    run_param_case(0, 1);
    run_param_case(0, 0);
}

/* With recording off (or no input needing a gradient) nothing is recorded and
 * the output is the same; repeated passes reuse the arena. */
static void test_cconv_inference_no_growth(void **state)
{
    (void)state;
    test_rng r = {15};
    int64_t sx[4] = {16, 3, 12, 12}, st[5] = {10, 4, 3, 3, 3};
    cvae_tensor *x0 = test_tensor(&r, 4, sx), *t0 = test_tensor(&r, 5, st);
    int32_t labels[16];
    for (int i = 0; i < 16; i++) labels[i] = (int32_t)test_rand_int(&r, 0, 9);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, 0);
    cvae_conv_opts o = cvae_conv_opts_make(1, 1);
    size_t cap = 0;
    for (int pass = 0; pass < 4; pass++) {
        cvae_tape_reset(t);
        cvae_tensor *y;
        CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d(t, x0, labels, t0, NULL, &o, &y));
        if (pass == 2) cap = cvae_tape_capacity(t);
        if (pass == 3) assert_int_equal(cap, cvae_tape_capacity(t));
        float *yr = malloc(sizeof(float) * (size_t)y->size);
        cvae__conv_geom g;
        CVAE_OK_OR_FAIL(cvae__conv_geom_init(&g, "test", 3, 12, 12, 3, 3, &o));
        cvae__cconv2d_forward_ref(&(cvae__conv_args){.n = 16, .ch = 4, .labels = labels, .x = x0->data, .w = t0->data, .b = NULL, .y = yr}, &g);
        conv_assert_close(y->data, yr, y->size, "forward (not recording)");
        free(yr);
    }
    cvae_tape_free(t);
    cvae_tensor_free(x0), cvae_tensor_free(t0);
}

static void test_cconv_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {16};
    int64_t sx[4] = {4, 2, 6, 6}, st[5] = {5, 3, 2, 3, 3}, sb[2] = {5, 3};
    cvae_tensor *x = test_tensor(&r, 4, sx), *tab = test_tensor(&r, 5, st),
                *b = test_tensor(&r, 2, sb);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_conv_opts o = cvae_conv_opts_make(1, 1);
    cvae_tensor *y = (cvae_tensor *)0x1;
    int32_t bad[4] = {0, 1, 2, 5};
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_conditional_conv2d(t, x, bad, tab, b, &o, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 3"));
    bad[3] = 0, bad[1] = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_conditional_conv2d(t, x, bad, tab, b, &o, &y));
    assert_non_null(strstr(cvae_last_error(), "sample 1"));
    /* the label check comes before the shape checks */
    int64_t sb2[2] = {4, 3};
    cvae_tensor *b2 = test_tensor(&r, 2, sb2);
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_op_conditional_conv2d(t, x, bad, tab, b2, &o, &y));
    int32_t ok[4] = {0, 4, 2, 2};
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d(t, x, ok, tab, b2, &o, &y));
    int64_t st2[5] = {5, 3, 3, 3, 3};
    cvae_tensor *tab2 = test_tensor(&r, 5, st2);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d(t, x, ok, tab2, b, &o, &y));
    int64_t st3[4] = {5, 3, 2, 9};
    cvae_tensor *tab3 = test_tensor(&r, 4, st3);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d(t, x, ok, tab3, b, &o, &y));
    cvae_tensor *x3 = test_tensor(&r, 3, sx + 1);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d(t, x3, ok, tab, b, &o, &y));
    int64_t st4[5] = {5, 3, 2, 9, 9};
    cvae_tensor *tab4 = test_tensor(&r, 5, st4);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d(t, x, ok, tab4, NULL, &o, &y));
    cvae_conv_opts bo = cvae_conv_opts_make(0, 1);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d(t, x, ok, tab, b, &bo, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d(t, x, NULL, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d(t, x, ok, NULL, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d(NULL, x, ok, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d(t, x, ok, tab, b, NULL, &y));
    int64_t sw[4] = {2, 2, 3, 2}, slb[1] = {3};
    cvae_tensor *w = test_tensor(&r, 4, sw), *lb = test_tensor(&r, 1, slb);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d_concat(t, x, ok, w, NULL, tab, b, &o, &y));
    sw[3] = 3;
    cvae_tensor *w2 = test_tensor(&r, 4, sw);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_conditional_conv2d_concat(t, x, ok, w2, lb, tab, b, &o, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_conditional_conv2d_concat(t, x, ok, NULL, lb, tab, b, &o, &y));
    cvae_tensor_free(w), cvae_tensor_free(w2), cvae_tensor_free(lb);
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    assert_int_equal(cvae_tape_capacity(t), 0); /* nothing was allocated */
    CVAE_OK_OR_FAIL(cvae_op_conditional_conv2d(t, x, ok, tab, b, &o, &y));
    assert_int_equal(y->shape[1], 3);
    cvae_tape_free(t);
    cvae_tensor_free(x), cvae_tensor_free(tab), cvae_tensor_free(b), cvae_tensor_free(b2);
    cvae_tensor_free(tab2), cvae_tensor_free(tab3), cvae_tensor_free(x3), cvae_tensor_free(tab4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cconv_matches_reference),
        cmocka_unit_test(test_cconv_corner_cases),
        cmocka_unit_test(test_cconv_gradcheck),
        cmocka_unit_test(test_cconv_shared_matches_reference),
        cmocka_unit_test(test_cconv_shared_gradcheck),
        cmocka_unit_test(test_cconv_absent_labels_zero_rows),
        cmocka_unit_test(test_cconv_frozen_table),
        cmocka_unit_test(test_cconv_inference_no_growth),
        cmocka_unit_test(test_cconv_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
