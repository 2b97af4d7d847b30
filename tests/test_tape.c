/* tape layer: frozen parameters, gradient accumulation, recording off, allocation-free
 * steady state, and backward preconditions. */
#include "failalloc.h"
#include "tape/tape_internal.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small model: h = relu(x w1^T + b1), loss = mean(bce(h w2^T, targets)). */
typedef struct net {
    cvae_params *p;
    cvae_tensor *w1, *b1, *w2;
} net;

static void net_new(net *m, int64_t in, int64_t hid, int64_t out, int train_w1)
{
    CVAE_OK_OR_FAIL(cvae_params_new(&m->p));
    int64_t s1[2] = {hid, in}, sb[1] = {hid}, s2[2] = {out, hid};
    CVAE_OK_OR_FAIL(cvae_params_add(m->p, "w1", 2, s1, train_w1, &m->w1));
    CVAE_OK_OR_FAIL(cvae_params_add(m->p, "b1", 1, sb, 1, &m->b1));
    CVAE_OK_OR_FAIL(cvae_params_add(m->p, "w2", 2, s2, 1, &m->w2));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(m->w1, 1, 1, 0.0f, 0.3f));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(m->b1, 1, 2, 0.0f, 0.3f));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(m->w2, 1, 3, 0.0f, 0.3f));
}

/* One forward pass on batch n from fixed data; returns the loss. */
static cvae_tensor *net_forward(net *m, cvae_tape *t, int64_t n)
{
    int64_t sx[2] = {n, m->w1->shape[1]}, sz[2] = {n, m->w2->shape[0]};
    cvae_tensor *x, *z, *h, *a, *o, *l;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sx, &x));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sz, &z));
    cvae_rng_fill_uniform(7, 1, -1.0f, 1.0f, x->data, x->size);
    cvae_rng_fill_uniform(7, 2, 0.0f, 1.0f, z->data, z->size);
    CVAE_OK_OR_FAIL(cvae_op_linear(t, x, m->w1, m->b1, &h));
    CVAE_OK_OR_FAIL(cvae_op_relu(t, h, &a));
    CVAE_OK_OR_FAIL(cvae_op_linear(t, a, m->w2, NULL, &o));
    CVAE_OK_OR_FAIL(cvae_op_bce_with_logits(t, o, z, CVAE_REDUCE_MEAN, &l));
    return l;
}

/* A frozen w1 keeps grad NULL, its slice of the gradient block is never written (filled with
 * a sentinel beforehand), and the other parameters still get gradients. */
static void test_frozen_parameter(void **state)
{
    (void)state;
    net m;
    net_new(&m, 5, 4, 3, 0);
    assert_false(cvae_params_is_trainable(m.w1));
    assert_null(m.w1->grad);
    assert_int_equal(cvae_params_trainable_numel(m.p), 4 + 12);
    float *g = cvae_params_grad(m.p) + cvae_params_offset(m.p, 0);
    for (int i = 0; i < 20; i++) g[i] = 1234.5f;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *l = net_forward(&m, t, 6);
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, l));
    for (int i = 0; i < 20; i++) assert_true(g[i] == 1234.5f);
    assert_null(m.w1->grad);
    double nb = 0.0;
    for (int i = 0; i < 4; i++) nb += fabs(m.b1->grad[i]);
    assert_true(nb > 0.0);
    /* an op on frozen parameters and a plain input only records nothing */
    int64_t sx[2] = {2, 5};
    cvae_tensor *x, *y, *s;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sx, &x));
    CVAE_OK_OR_FAIL(cvae_op_matmul(t, x, m.w1, 0, 1, &y));
    assert_false(y->flags & CVAE_TENSOR_REQUIRES_GRAD);
    CVAE_OK_OR_FAIL(cvae_op_sum(t, y, &s));
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_tape_backward(t, s));
    /* unfreezing makes it trainable again */
    CVAE_OK_OR_FAIL(cvae_params_set_trainable(m.p, m.w1, 1));
    assert_non_null(m.w1->grad);
    cvae_tape_free(t);
    cvae_params_free(m.p);
}

/* Parameter gradients add up across passes until cvae_params_zero_grad, whether the passes
 * are on fresh recordings (reset between them) or the same recording twice. */
static void test_gradients_accumulate(void **state)
{
    (void)state;
    net m;
    net_new(&m, 5, 4, 3, 1);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t numel = cvae_params_numel(m.p);
    float *once = malloc(sizeof(float) * (size_t)numel),
          *twice = malloc(sizeof(float) * (size_t)numel);
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, net_forward(&m, t, 6)));
    memcpy(once, cvae_params_grad(m.p), sizeof(float) * (size_t)numel);
    double norm = 0.0;
    for (int64_t i = 0; i < numel; i++) norm += fabs(once[i]), twice[i] = 2.0f * once[i];
    assert_true(norm > 0.0);
    cvae_tape_reset(t);
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, net_forward(&m, t, 6)));
    test_assert_close(cvae_params_grad(m.p), twice, numel, 1e-6, 1e-7, "two passes");
    cvae_params_zero_grad(m.p);
    for (int64_t i = 0; i < numel; i++) assert_true(cvae_params_grad(m.p)[i] == 0.0f);
    cvae_tape_reset(t);
    cvae_tensor *l = net_forward(&m, t, 6);
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, l));
    test_assert_close(cvae_params_grad(m.p), once, numel, 1e-6, 1e-7, "after zero_grad");
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, l)); /* the same recording again */
    test_assert_close(cvae_params_grad(m.p), twice, numel, 1e-6, 1e-7, "same recording twice");
    free(once), free(twice);
    cvae_tape_free(t);
    cvae_params_free(m.p);
}

static void test_recording_off(void **state)
{
    (void)state;
    net m;
    net_new(&m, 5, 4, 3, 1);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    assert_true(cvae_tape_recording(t));
    cvae_tape_set_recording(t, 0);
    assert_false(cvae_tape_recording(t));
    cvae_tensor *l = net_forward(&m, t, 3);
    assert_false(l->flags & CVAE_TENSOR_REQUIRES_GRAD);
    assert_true(isfinite(l->data[0]));
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_tape_backward(t, l));
    for (int64_t i = 0; i < cvae_params_numel(m.p); i++)
        assert_true(cvae_params_grad(m.p)[i] == 0.0f);
    /* the same loss value as with recording on */
    cvae_tape_set_recording(t, 1);
    cvae_tensor *l2 = net_forward(&m, t, 3);
    assert_true(l2->flags & CVAE_TENSOR_REQUIRES_GRAD);
    assert_true(l2->data[0] == l->data[0]);
    cvae_tape_free(t);
    cvae_params_free(m.p);
}

/* A tape reused for identical steps allocates nothing after the first two steps, also when a
 * step needs more than one arena chunk (batch 256 x 784 inputs, 256 hidden units: about 2 MB). */
static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    failalloc_install(0); /* counts allocation attempts */
    net m;
    net_new(&m, 784, 256, 10, 1);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    long per_step[6];
    for (int step = 0; step < 6; step++) {
        long before = failalloc_calls();
        cvae_tape_reset(t);
        cvae_params_zero_grad(m.p);
        CVAE_OK_OR_FAIL(cvae_tape_backward(t, net_forward(&m, t, 256)));
        per_step[step] = failalloc_calls() - before;
    }
    assert_true(per_step[0] > 0);
    for (int step = 2; step < 6; step++)
        if (per_step[step] != 0) fail_msg("step %d made %ld allocations", step, per_step[step]);
    assert_true(cvae_tape_capacity(t) > ((size_t)1 << 20));
    cvae_tape_free(t);
    cvae_params_free(m.p);
    failalloc_uninstall();
}

/* Scratch memory an op releases again (here the per-row sums of a cross-entropy larger than
 * the data it reads) still counts toward the arena size kept for the next step. */
static void test_steady_state_with_released_scratch(void **state)
{
    (void)state;
    failalloc_install(0); /* counts allocation attempts */
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, 0);
    static int32_t labels[200000];
    int64_t shape[2] = {200000, 1};
    long per_step[5];
    for (int step = 0; step < 5; step++) {
        long before = failalloc_calls();
        cvae_tape_reset(t);
        cvae_tensor *x, *l;
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &x));
        CVAE_OK_OR_FAIL(cvae_op_softmax_cross_entropy(t, x, labels, CVAE_REDUCE_SUM, &l));
        assert_true(l->data[0] == 0.0f);
        per_step[step] = failalloc_calls() - before;
    }
    for (int step = 2; step < 5; step++)
        if (per_step[step] != 0) fail_msg("step %d made %ld allocations", step, per_step[step]);
    cvae_tape_free(t);
    failalloc_uninstall();
}

static void test_backward_preconditions(void **state)
{
    (void)state;
    net m;
    net_new(&m, 5, 4, 3, 1);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t sx[2] = {2, 5};
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sx, &x));
    CVAE_OK_OR_FAIL(cvae_op_linear(t, x, m.w1, m.b1, &y));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tape_backward(t, y));
    assert_non_null(strstr(cvae_last_error(), "8 elements"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tape_backward(t, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tape_backward_with(t, y, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tape_require_grad(t, m.w1)); /* not a tape tensor */
    /* a vector-Jacobian product: dy = ones gives the same as backward of the sum */
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, ones));
    float gb[4];
    memcpy(gb, m.b1->grad, sizeof gb);
    for (int i = 0; i < 4; i++) assert_true(gb[i] == 2.0f);
    /* a plain tensor (not on any tape) cannot be back-propagated */
    cvae_tensor *plain = test_tensor(&(test_rng){1}, 1, (int64_t[1]){1});
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_tape_backward(t, plain));
    cvae_tensor_free(plain);
    cvae_tape_free(t);
    cvae_params_free(m.p);
}

/* ---- the allocation idiom of the ops (tape_internal.h, cvae__op_alloc) ---- */

static bool same_mark(cvae__arena_mark a, cvae__arena_mark b)
{
    return a.chunk == b.chunk && a.used == b.used;
}

static cvae_status never_called(cvae_tape *t, const cvae__node *nd)
{
    (void)t, (void)nd;
    return CVAE_ERR_STATE;
}

/* A failure anywhere (an allocation, a request out of order) leaves the arena where the op
 * began; cvae__op_record keeps the kept memory only when it records a node. */
static void test_op_alloc_rolls_back(void **state)
{
    (void)state;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[1] = {8};
    cvae_tensor *x, *y;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 1, shape, &x));
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    CVAE_OK_OR_FAIL(cvae_op_scale(t, x, 2.0f, &y));
    const cvae__arena_mark m0 = cvae__tape_mark(t);
    /* an allocation that fails after an output and kept memory */
    cvae__op_alloc a = cvae__op_begin(t, "test op");
    assert_non_null(cvae__op_output(&a, 1, shape, &x, 1));
    assert_non_null(cvae__op_keep_floats(&a, 100));
    cvae_clear_error();
    assert_null(cvae__op_scratch_floats(&a, INT64_MAX));
    assert_null(cvae__op_scratch_floats(&a, 4)); /* nothing after a failure */
    assert_int_equal(cvae__op_ready(&a), CVAE_ERR_NOMEM); /* the message was set by the failure */
    assert_non_null(strstr(cvae_last_error(), "test op"));
    assert_true(same_mark(cvae__tape_mark(t), m0));
    /* kept memory requested after scratch: a bug, reported, rolled back */
    a = cvae__op_begin(t, "test op");
    assert_non_null(cvae__op_scratch_floats(&a, 4));
    assert_null(cvae__op_keep_floats(&a, 4));
    assert_int_equal(cvae__op_ready(&a), CVAE_ERR_STATE);
    assert_non_null(strstr(cvae_last_error(), "test op: tape memory requested out of order"));
    assert_true(same_mark(cvae__tape_mark(t), m0));
    /* recorded: the kept memory stays, the scratch goes */
    a = cvae__op_begin(t, "test op");
    cvae_tensor *out = cvae__op_output(&a, 1, shape, &x, 1);
    float *kept = cvae__op_keep_floats(&a, 100);
    const cvae__arena_mark after_keep = cvae__tape_mark(t);
    assert_non_null(cvae__op_scratch_floats(&a, 1000));
    CVAE_OK_OR_FAIL(cvae__op_ready(&a));
    CVAE_OK_OR_FAIL(cvae__op_record(&a, never_called, out, &x, 1, 0, NULL));
    assert_int_equal(cvae__tape_node_count(t), 2);
    assert_true(kept != NULL && after_keep.used > m0.used);
    /* not recorded (recording off): the kept memory goes too, back to just after the output */
    cvae_tape_set_recording(t, 0);
    const cvae__arena_mark m1 = cvae__tape_mark(t);
    a = cvae__op_begin(t, "test op");
    out = cvae__op_output(&a, 1, shape, &x, 1);
    const cvae__arena_mark after_out = cvae__tape_mark(t);
    assert_non_null(cvae__op_keep_floats(&a, 100));
    CVAE_OK_OR_FAIL(cvae__op_ready(&a));
    CVAE_OK_OR_FAIL(cvae__op_record(&a, never_called, out, &x, 1, 0, NULL));
    assert_true(same_mark(cvae__tape_mark(t), after_out) && after_out.used > m1.used);
    assert_int_equal(cvae__tape_node_count(t), 2);
    cvae_tape_free(t);
}

/* An op that records several nodes records all or none: cvae_op_split whose second node cannot
 * be recorded (the node array cannot grow) leaves no node, no output and *ys untouched; the
 * tape then works as before. */
static void test_op_alloc_all_or_none(void **state)
{
    (void)state;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t shape[2] = {2, 6};
    cvae_tensor *x, *y = NULL, *ys[3] = {(cvae_tensor *)0x1, (cvae_tensor *)0x1, (cvae_tensor *)0x1};
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &x));
    for (int64_t i = 0; i < x->size; i++) x->data[i] = (float)i;
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, x));
    for (int i = 0; i < 63; i++) CVAE_OK_OR_FAIL(cvae_op_scale(t, i ? y : x, 1.0f, &y));
    assert_int_equal(cvae__tape_node_count(t), 63); /* the node array holds 64 */
    const cvae__arena_mark m = cvae__tape_mark(t);
    const int64_t sizes[3] = {1, 2, 3};
    failalloc_install(0);
    failalloc_arm(1); /* the first allocation: growing the node array for the second node */
    CVAE_EXPECT_ERR(CVAE_ERR_NOMEM, cvae_op_split(t, y, 1, sizes, 3, ys));
    assert_true(failalloc_fired());
    failalloc_uninstall();
    assert_int_equal(cvae__tape_node_count(t), 63);
    assert_true(same_mark(cvae__tape_mark(t), m));
    for (int i = 0; i < 3; i++) assert_ptr_equal(ys[i], (cvae_tensor *)0x1);
    CVAE_OK_OR_FAIL(cvae_op_split(t, y, 1, sizes, 3, ys));
    assert_int_equal(cvae__tape_node_count(t), 66);
    cvae_tensor *l;
    CVAE_OK_OR_FAIL(cvae_op_sum(t, ys[2], &l));
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, l));
    for (int64_t i = 0; i < x->size; i++) assert_true(x->grad[i] == (i % 6 >= 3 ? 1.0f : 0.0f));
    cvae_tape_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_parameter),
        cmocka_unit_test(test_gradients_accumulate),
        cmocka_unit_test(test_recording_off),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_steady_state_with_released_scratch),
        cmocka_unit_test(test_backward_preconditions),
        cmocka_unit_test(test_op_alloc_rolls_back),
        cmocka_unit_test(test_op_alloc_all_or_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
