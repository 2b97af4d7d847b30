/* The fused ReLU ops (ops/conv.h, "fused ReLU"): cvae__op_conv2d_relu,
 * cvae__op_conv_transpose2d_relu, cvae__op_linear_relu and cvae__op_cond_conv2d_relu each
 * equal their public op followed by cvae_op_relu BIT FOR BIT: the output, and every input
 * gradient for a random upstream gradient, under every combination of inputs needing a
 * gradient (so that each skip branch runs), on random shapes, the model's shapes and shapes
 * cut into several chunks. The composition is itself checked against plain references and
 * finite differences in the tests of each op, so this is the fused ops' reference check. */
#include "conv_cases.h"
#include "ops/conditional_conv.h"
#include "ops/conv.h"
#include "ops/linear.h"

#include <stdlib.h>
#include <string.h>

enum { OP_CONV, OP_CONVT, OP_LINEAR, OP_COND };
static const char *op_names[] = {"conv2d", "conv_transpose2d", "linear", "cond_conv2d"};

#define MAX_IN 5

typedef struct fcase {
    int op;
    int64_t n, cin, cout, h, w, kh, kw; /* linear: x [n, cin] -> [n, cout] */
    cvae_conv_opts o;
    int64_t k, cl;                       /* cond: labels in [0, k), cl learned channels */
    int32_t labels[64];
} fcase;

/* Input shapes: conv, convT, linear: x, w, b; cond: x, table, bias table, w, b. */
static int input_shapes(const fcase *f, int64_t shapes[MAX_IN][5], int ndims[MAX_IN])
{
    int64_t x4[4] = {f->n, f->cin, f->h, f->w};
    memcpy(shapes[0], x4, sizeof x4), ndims[0] = 4;
    switch (f->op) {
    case OP_CONV:
    case OP_CONVT: {
        int64_t w[4] = {f->op == OP_CONV ? f->cout : f->cin, f->op == OP_CONV ? f->cin : f->cout, f->kh, f->kw};
        memcpy(shapes[1], w, sizeof w), ndims[1] = 4;
        shapes[2][0] = f->cout, ndims[2] = 1;
        return 3;
    }
    case OP_LINEAR:
        shapes[0][0] = f->n, shapes[0][1] = f->cin, ndims[0] = 2;
        shapes[1][0] = f->cout, shapes[1][1] = f->cin, ndims[1] = 2;
        shapes[2][0] = f->cout, ndims[2] = 1;
        return 3;
    default: {
        int64_t tab[5] = {f->k, f->cout, f->cin, f->kh, f->kw}, w[4] = {f->cl, f->cin, f->kh, f->kw};
        memcpy(shapes[1], tab, sizeof tab), ndims[1] = 5;
        shapes[2][0] = f->k, shapes[2][1] = f->cout, ndims[2] = 2;
        memcpy(shapes[3], w, sizeof w), ndims[3] = 4;
        shapes[4][0] = f->cl, ndims[4] = 1;
        return 5;
    }
    }
}

static cvae_status build(cvae_tape *t, cvae_tensor **in, const fcase *f, int fused, cvae_tensor **y)
{
    cvae_tensor *pre;
    switch (f->op) {
    case OP_CONV:
        if (fused) return cvae__op_conv2d_relu(t, in[0], in[1], in[2], &f->o, y);
        CVAE_TRY(cvae_op_conv2d(t, in[0], in[1], in[2], &f->o, &pre));
        break;
    case OP_CONVT:
        if (fused) return cvae__op_conv_transpose2d_relu(t, in[0], in[1], in[2], &f->o, y);
        CVAE_TRY(cvae_op_conv_transpose2d(t, in[0], in[1], in[2], &f->o, &pre));
        break;
    case OP_LINEAR:
        if (fused) return cvae__op_linear_relu(t, in[0], in[1], in[2], y);
        CVAE_TRY(cvae_op_linear(t, in[0], in[1], in[2], &pre));
        break;
    default:
        if (fused) return cvae__op_cond_conv2d_relu(t, in[0], f->labels, in[3], in[4], in[1], in[2], &f->o, y);
        CVAE_TRY(cvae__op_cond_conv2d_shared(t, in[0], f->labels, in[3], in[4], in[1], in[2], &f->o,
                                             CVAE__CCONV_AUTO, &pre, NULL));
        break;
    }
    return cvae_op_relu(t, pre, y);
}

/* What one run leaves: the output and the gradient of every input (NULL: none). */
typedef struct run_out {
    float *y, *grad[MAX_IN];
    int64_t ny, size[MAX_IN];
} run_out;

static void run(const fcase *f, cvae_tensor **src, int n_in, unsigned grads, const float *dy, int fused,
                int recording, run_out *o)
{
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, recording);
    cvae_tensor *in[MAX_IN] = {0}, *y;
    for (int i = 0; i < n_in; i++) in[i] = src[i] ? conv_tape_copy(t, src[i], recording && (grads >> i) & 1) : NULL;
    CVAE_OK_OR_FAIL(build(t, in, f, fused, &y));
    o->ny = y->size;
    o->y = malloc(sizeof(float) * (size_t)y->size);
    memcpy(o->y, y->data, sizeof(float) * (size_t)y->size);
    if (recording) CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    for (int i = 0; i < n_in; i++) {
        o->grad[i] = NULL;
        if (!in[i] || !in[i]->grad) continue;
        o->size[i] = in[i]->size;
        o->grad[i] = malloc(sizeof(float) * (size_t)in[i]->size);
        memcpy(o->grad[i], in[i]->grad, sizeof(float) * (size_t)in[i]->size);
    }
    cvae_tape_free(t);
}

static void free_out(run_out *o, int n_in)
{
    free(o->y);
    for (int i = 0; i < n_in; i++) free(o->grad[i]);
}

/* Fused against composed for every non-empty set of inputs needing a gradient (all of them
 * when there are more than 3 inputs and `all` is 0, to keep big cases quick), with and
 * without the optional inputs (biases; the learned filters of the conditional conv). */
static void check_case(test_rng *r, const fcase *f, int all)
{
    int64_t shapes[MAX_IN][5];
    int nd[MAX_IN];
    const int n_in = input_shapes(f, shapes, nd);
    cvae_tensor *full[MAX_IN];
    for (int i = 0; i < n_in; i++) /* no learned filters (cl = 0): no w, b */
        full[i] = f->op == OP_COND && f->cl == 0 && i >= 3 ? NULL : test_tensor(r, nd[i], shapes[i]);
    for (int optional = 0; optional < 2; optional++) {
        cvae_tensor *src[MAX_IN];
        memcpy(src, full, sizeof src);
        if (!optional) {
            src[2] = NULL; /* no bias (table bias for cond) */
            if (f->op == OP_COND && f->cl == 0) src[3] = src[4] = NULL;
            if (f->op == OP_COND) src[4] = NULL;
        } else if (f->op == OP_COND && f->cl == 0) {
            src[3] = src[4] = NULL;
        }
        run_out a, b;
        run(f, src, n_in, 0, NULL, 1, 0, &a); /* inference: no recording */
        run(f, src, n_in, 0, NULL, 0, 0, &b);
        assert_int_equal(a.ny, b.ny);
        if (memcmp(a.y, b.y, sizeof(float) * (size_t)a.ny))
            fail_msg("%s (relu) forward without recording differs", op_names[f->op]);
        int64_t pos = 0;
        for (int64_t i = 0; i < a.ny; i++) pos += a.y[i] > 0.0f;
        if (a.ny >= 1000) /* the model's shapes: the mask has both kinds of entries */
            if (pos == 0 || pos == a.ny)
                fail_msg("%s: %lld of %lld outputs positive (n %lld cin %lld cout %lld %lldx%lld k %lldx%lld "
                         "stride %d pad %d)", op_names[f->op], (long long)pos, (long long)a.ny, (long long)f->n,
                         (long long)f->cin, (long long)f->cout, (long long)f->h, (long long)f->w,
                         (long long)f->kh, (long long)f->kw, f->o.stride_h, f->o.pad_top);
        float *dy = malloc(sizeof(float) * (size_t)a.ny);
        test_fill(r, dy, a.ny, -1, 1, 0.05f);
        free_out(&a, n_in), free_out(&b, n_in);
        const unsigned sets = 1u << n_in;
        for (unsigned grads = 1; grads < sets; grads++) {
            if (!all && n_in > 3 && grads != sets - 1 && grads % 5) continue;
            int any = 0;
            for (int i = 0; i < n_in; i++) any |= src[i] && (grads >> i) & 1;
            if (!any) continue;
            run(f, src, n_in, grads, dy, 1, 1, &a);
            run(f, src, n_in, grads, dy, 0, 1, &b);
            if (memcmp(a.y, b.y, sizeof(float) * (size_t)a.ny))
                fail_msg("%s (relu) forward differs", op_names[f->op]);
            for (int i = 0; i < n_in; i++) {
                if (!a.grad[i] != !b.grad[i])
                    fail_msg("%s (relu): input %d has a gradient on one side only", op_names[f->op], i);
                if (a.grad[i] && memcmp(a.grad[i], b.grad[i], sizeof(float) * (size_t)a.size[i]))
                    fail_msg("%s (relu): gradient of input %d differs (grads 0x%x, optional %d)",
                             op_names[f->op], i, grads, optional);
            }
            free_out(&a, n_in), free_out(&b, n_in);
        }
        free(dy);
    }
    for (int i = 0; i < n_in; i++) cvae_tensor_free(full[i]);
}

static fcase conv_case_of(int op, const conv_case *c)
{
    fcase f = {op, c->n, c->cin, c->cout, c->h, c->w, c->kh, c->kw, c->o, 0, 0, {0}};
    return f;
}

/* A random transposed case whose output is not empty. */
static fcase random_convt(test_rng *r)
{
    for (;;) {
        fcase f = {OP_CONVT, test_rand_int(r, 1, 3), test_rand_int(r, 1, 4), test_rand_int(r, 1, 4),
                   test_rand_int(r, 1, 7), test_rand_int(r, 1, 7), test_rand_int(r, 1, 5),
                   test_rand_int(r, 1, 5), cvae_conv_opts_make((int)test_rand_int(r, 1, 3), (int)test_rand_int(r, 0, 2)),
                   0, 0, {0}};
        cvae_conv_geom g;
        int64_t sx[4] = {f.n, f.cin, f.h, f.w};
        cvae_tensor *x;
        CVAE_OK_OR_FAIL(cvae_tensor_new(4, sx, &x));
        const int ok = cvae__conv_transpose2d_plan(&g, "test", x, f.cout, f.kh, f.kw, &f.o) == CVAE_OK;
        cvae_tensor_free(x);
        if (ok) return f;
        cvae_clear_error();
    }
}

static fcase random_cond(test_rng *r)
{
    for (;;) {
        fcase f = {OP_COND, test_rand_int(r, 1, 9), test_rand_int(r, 1, 3), test_rand_int(r, 1, 4),
                   test_rand_int(r, 3, 9), test_rand_int(r, 3, 9), test_rand_int(r, 1, 3),
                   test_rand_int(r, 1, 3), cvae_conv_opts_make((int)test_rand_int(r, 1, 2), (int)test_rand_int(r, 0, 1)),
                   test_rand_int(r, 1, 6), test_rand_int(r, 0, 3), {0}};
        for (int64_t s = 0; s < f.n; s++) f.labels[s] = (int32_t)test_rand_int(r, 0, f.k - 1);
        if (f.h + 2 * f.o.pad_top >= f.kh && f.w + 2 * f.o.pad_left >= f.kw) return f;
    }
}

static void test_fused_conv2d(void **state)
{
    (void)state;
    test_rng r = {71};
    for (int i = 0; i < CONV_N_FIXED; i++) {
        fcase f = conv_case_of(OP_CONV, &conv_fixed_cases[i]);
        check_case(&r, &f, 1);
    }
    for (int i = 0; i < 20; i++) {
        conv_case c = conv_random_case(&r);
        fcase f = conv_case_of(OP_CONV, &c);
        check_case(&r, &f, 1);
    }
    /* the model's second encoder layer, in several chunks (the last one partial) */
    conv_case model = {9, 40, 64, 14, 14, 3, 3, CONV_OPTS(2, 1, 1, 1, 1, 1, 1)};
    assert_true(cvae__conv_chunk(40 * 9, 49, 9) < 9);
    fcase f = conv_case_of(OP_CONV, &model);
    check_case(&r, &f, 0);
}

static void test_fused_conv_transpose2d(void **state)
{
    (void)state;
    test_rng r = {72};
    for (int i = 0; i < 24; i++) {
        fcase f = random_convt(&r);
        check_case(&r, &f, 1);
    }
    /* the model's decoder layers, in several chunks (the last one partial) */
    fcase a = {OP_CONVT, 7, 64, 32, 7, 7, 4, 4, cvae_conv_opts_make(2, 1), 0, 0, {0}};
    assert_true(cvae__conv_chunk(32 * 16, 49, 7) < 7);
    check_case(&r, &a, 0);
    fcase b = {OP_CONVT, 45, 32, 1, 14, 14, 4, 4, cvae_conv_opts_make(2, 1), 0, 0, {0}};
    assert_true(cvae__conv_chunk(16, 196, 45) < 45);
    check_case(&r, &b, 0);
}

static void test_fused_linear(void **state)
{
    (void)state;
    test_rng r = {73};
    for (int i = 0; i < 20; i++) {
        fcase f = {OP_LINEAR, test_rand_int(&r, 1, 9), test_rand_int(&r, 1, 40), test_rand_int(&r, 1, 40),
                   1, 1, 1, 1, cvae_conv_opts_make(1, 0), 0, 0, {0}};
        check_case(&r, &f, 1);
    }
    fcase model = {OP_LINEAR, 16, 26, 3136, 1, 1, 1, 1, cvae_conv_opts_make(1, 0), 0, 0, {0}};
    check_case(&r, &model, 1);
}

static void test_fused_cond_conv2d(void **state)
{
    (void)state;
    test_rng r = {74};
    for (int i = 0; i < 16; i++) {
        fcase f = random_cond(&r);
        check_case(&r, &f, i < 4);
    }
    /* the model's first layer: 32 learned + 8 label-indexed channels of a 28x28 image */
    fcase model = {OP_COND, 12, 1, 8, 28, 28, 3, 3, cvae_conv_opts_make(2, 1), 10, 32, {0}};
    for (int s = 0; s < 12; s++) model.labels[s] = (int32_t)(s * 7 % 10);
    check_case(&r, &model, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_conv2d),
        cmocka_unit_test(test_fused_conv_transpose2d),
        cmocka_unit_test(test_fused_linear),
        cmocka_unit_test(test_fused_cond_conv2d),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
