/* shape ops: concat/split fast paths against element-wise references, gradient checks on
 * random shapes and axes, zero-copy reshape with correct gradients, and bad inputs. */
#include "ops/shape.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct shape_case {
    int axis, n;
    int64_t sizes[4];
    int pick; /* split: which output is returned (-1: concat of all of them, reordered) */
    int ndim; /* reshape */
    int64_t shape[5];
} shape_case;

static cvae_status concat_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    shape_case *c = ctx;
    return cvae_op_concat(t, in, c->n, c->axis, out);
}

/* Splits, then concatenates the parts in reverse order so every output carries gradient. */
static cvae_status split_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    shape_case *c = ctx;
    cvae_tensor *ys[4], *rev[4];
    cvae_status st = cvae_op_split(t, in[0], c->axis, c->sizes, c->n, ys);
    if (st) return st;
    if (c->pick >= 0) {
        *out = ys[c->pick];
        return CVAE_OK;
    }
    for (int i = 0; i < c->n; i++) rev[i] = ys[c->n - 1 - i];
    return cvae_op_concat(t, rev, c->n, c->axis, out);
}

/* y = sigmoid(flatten(reshape(x))): the gradient must flow back through both views. */
static cvae_status reshape_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    shape_case *c = ctx;
    cvae_tensor *v, *s;
    cvae_status st = cvae_op_reshape(t, in[0], c->ndim, c->shape, &v);
    if (!st) st = cvae_op_flatten(t, v, &s);
    if (st) return st;
    return cvae_op_sigmoid(t, s, out);
}

static int rand_shape(test_rng *r, int64_t *shape, int trial)
{
    int nd = (int)test_rand_int(r, 1, 4);
    for (int d = 0; d < nd; d++) shape[d] = test_rand_int(r, 1, 4);
    if (trial == 0) shape[0] = 1;
    return nd;
}

static void test_concat_matches_reference(void **state)
{
    (void)state;
    test_rng r = {31};
    for (int trial = 0; trial < 30; trial++) {
        int n = (int)test_rand_int(&r, 1, 4);
        int64_t outer = test_rand_int(&r, 1, 5), inner = test_rand_int(&r, 1, 6), ext[4], total = 0;
        float *xs[4];
        for (int i = 0; i < n; i++) {
            ext[i] = test_rand_int(&r, 1, 4);
            total += ext[i];
            xs[i] = malloc(sizeof(float) * (size_t)(outer * ext[i] * inner));
            test_fill(&r, xs[i], outer * ext[i] * inner, -1, 1, 0.05f);
        }
        int64_t sz = outer * total * inner;
        float *a = malloc(sizeof(float) * (size_t)sz), *b = malloc(sizeof(float) * (size_t)sz);
        cvae__concat_forward(a, (const float *const *)xs, ext, n, outer, inner);
        cvae__concat_forward_ref(b, (const float *const *)xs, ext, n, outer, inner);
        test_assert_close(a, b, sz, 0, 0, "concat");
        /* slice_add / slice_add_into against their references, on a random slice */
        int64_t off = test_rand_int(&r, 0, total - 1), e = test_rand_int(&r, 1, total - off);
        float *s1 = calloc((size_t)(outer * e * inner), sizeof(float));
        float *s2 = calloc((size_t)(outer * e * inner), sizeof(float));
        cvae__slice_add(s1, a, outer, total, off, e, inner);
        cvae__slice_add_ref(s2, a, outer, total, off, e, inner);
        test_assert_close(s1, s2, outer * e * inner, 0, 0, "slice_add");
        cvae__slice_add_into(a, s1, outer, total, off, e, inner);
        cvae__slice_add_into_ref(b, s1, outer, total, off, e, inner);
        test_assert_close(a, b, sz, 0, 0, "slice_add_into");
        for (int i = 0; i < n; i++) free(xs[i]);
        free(a), free(b), free(s1), free(s2);
    }
}

/* Tolerances: defaults (rtol 1e-3, atol 1e-3); concat and split are linear, so exact up to
 * float rounding. */
static void test_concat_gradcheck(void **state)
{
    (void)state;
    test_rng r = {32};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[4];
        int nd = rand_shape(&r, shape, trial);
        shape_case c = {
            (int)test_rand_int(&r, 0, nd - 1), (int)test_rand_int(&r, 1, 3), {0}, 0, 0, {0}};
        cvae_tensor *in[3];
        int check[3];
        for (int i = 0; i < c.n; i++) {
            shape[c.axis] = test_rand_int(&r, 1, 3);
            in[i] = test_tensor(&r, nd, shape);
            check[i] = i != 1; /* the second input requires no gradient */
        }
        test_gradcheck(concat_fn, &c, in, check, c.n, NULL, "concat");
        for (int i = 0; i < c.n; i++) cvae_tensor_free(in[i]);
    }
}

static void test_split_gradcheck(void **state)
{
    (void)state;
    test_rng r = {33};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[4];
        int nd = rand_shape(&r, shape, trial);
        shape_case c = {
            (int)test_rand_int(&r, 0, nd - 1), (int)test_rand_int(&r, 1, 3), {0}, -1, 0, {0}};
        shape[c.axis] = 0;
        for (int i = 0; i < c.n; i++) shape[c.axis] += c.sizes[i] = test_rand_int(&r, 1, 3);
        cvae_tensor *x = test_tensor(&r, nd, shape);
        int check[1] = {1};
        test_gradcheck(split_fn, &c, &x, check, 1, NULL, "split+concat");
        c.pick = (int)test_rand_int(&r, 0, c.n - 1); /* only one output used */
        test_gradcheck(split_fn, &c, &x, check, 1, NULL, "split (one output)");
        cvae_tensor_free(x);
    }
}

static void test_split_values(void **state)
{
    (void)state;
    test_rng r = {34};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[3] = {2, 5, 3}, sizes[3] = {1, 3, 1};
    cvae_tensor *x = test_tensor(&r, 3, shape), *ys[3];
    CVAE_OK_OR_FAIL(cvae_op_split(t, x, 1, sizes, 3, ys));
    for (int i = 0, off = 0; i < 3; off += (int)sizes[i], i++) {
        assert_int_equal(ys[i]->shape[1], sizes[i]);
        for (int64_t n = 0; n < 2; n++)
            for (int64_t a = 0; a < sizes[i]; a++)
                for (int64_t j = 0; j < 3; j++) {
                    int64_t iy[3] = {n, a, j}, ix[3] = {n, off + a, j};
                    assert_true(cvae_tensor_get(ys[i], iy) == cvae_tensor_get(x, ix));
                }
    }
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

static void test_reshape_gradcheck(void **state)
{
    (void)state;
    test_rng r = {35};
    for (int trial = 0; trial < 5; trial++) {
        int64_t shape[4];
        int nd = rand_shape(&r, shape, trial);
        cvae_tensor *x = test_tensor(&r, nd, shape);
        shape_case c = {0, 0, {0}, 0, 2, {-1, 1}};
        if (trial % 2) c = (shape_case){0, 0, {0}, 0, 3, {1, x->size, -1}};
        int check[1] = {1};
        test_gradcheck(reshape_fn, &c, &x, check, 1, NULL, "reshape+flatten");
        cvae_tensor_free(x);
    }
}

static void test_reshape_shares_data(void **state)
{
    (void)state;
    test_rng r = {36};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[4] = {2, 3, 2, 2}, want[2] = {4, -1};
    cvae_tensor *x = test_tensor(&r, 4, shape), *y, *f;
    CVAE_OK_OR_FAIL(cvae_op_reshape(t, x, 2, want, &y));
    assert_ptr_equal(y->data, x->data);
    assert_int_equal(y->shape[1], 6);
    CVAE_OK_OR_FAIL(cvae_op_flatten(t, x, &f));
    assert_int_equal(f->ndim, 2);
    assert_int_equal(f->shape[0], 2);
    assert_int_equal(f->shape[1], 12);
    assert_false(y->flags & CVAE_TENSOR_REQUIRES_GRAD);
    cvae_tape_free(t);
    cvae_tensor_free(x);
}

static void test_shape_bad_inputs(void **state)
{
    (void)state;
    test_rng r = {37};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t s23[2] = {2, 3}, s33[2] = {3, 3}, s3[1] = {3};
    cvae_tensor *a = test_tensor(&r, 2, s23), *b = test_tensor(&r, 2, s33),
                *c = test_tensor(&r, 1, s3);
    cvae_tensor *y = (cvae_tensor *)0x1, *ys[2] = {(cvae_tensor *)0x1, (cvae_tensor *)0x1};
    cvae_tensor *ab[2] = {a, b}, *ac[2] = {a, c}, *an[2] = {a, NULL};
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_concat(t, ab, 2, 1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_concat(t, ac, 2, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_concat(t, ab, 2, 2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_concat(t, ab, 2, -1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_concat(t, ab, 0, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_concat(t, an, 2, 0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_concat(t, NULL, 2, 0, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_concat(t, ab, 2, 0, &y));
    assert_int_equal(y->shape[0], 5);
    y = (cvae_tensor *)0x1;
    int64_t bad_sum[2] = {1, 1}, neg[2] = {4, -1}, ok[2] = {1, 2};
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_split(t, a, 1, bad_sum, 2, ys));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_split(t, a, 1, neg, 2, ys));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_split(t, a, 2, ok, 2, ys));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_split(t, a, 1, ok, 0, ys));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_split(t, a, 1, NULL, 2, ys));
    assert_ptr_equal(ys[0], (cvae_tensor *)0x1);
    assert_ptr_equal(ys[1], (cvae_tensor *)0x1);
    int64_t r5[2] = {5, -1}, r0[2] = {6, 0}, r2[2] = {-1, -1};
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_reshape(t, a, 2, r5, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_reshape(t, a, 2, r0, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_reshape(t, a, 2, r2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_op_reshape(t, a, 6, r2, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_reshape(t, a, 2, NULL, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_op_flatten(t, NULL, &y));
    assert_ptr_equal(y, (cvae_tensor *)0x1);
    cvae_tape_free(t);
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_matches_reference), cmocka_unit_test(test_concat_gradcheck),
        cmocka_unit_test(test_split_gradcheck),          cmocka_unit_test(test_split_values),
        cmocka_unit_test(test_reshape_gradcheck),        cmocka_unit_test(test_reshape_shares_data),
        cmocka_unit_test(test_shape_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
