/* The example selected_kernel at reduced size (examples/nets/selected_kernel.h):
 * learned conv -> head -> kernel selected from a FROZEN table -> learned layers.
 * Checks: the selection weights are a softmax (rows sum to 1 within 1e-5);
 * gradients reach the layers before (conv1), the head and the layers after
 * (conv2, fc) in soft mode, and before and after but not the head in hard mode;
 * the frozen table gets no gradient buffer; a finite-difference check of the
 * whole soft network on a tiny input (N 3, 8x8) in the input and every trainable
 * parameter (two checks of at most 5 inputs each; 5-point, h 2e-2, rtol 5e-3,
 * atol 5e-4: the forward runs in float, whose noise floor here is about 1e-4;
 * 16 random elements per tensor; it fails if alpha is detached from the head);
 * and training with Adam on digits lowers the loss while the fixed kernels stay
 * bit-for-bit unchanged. */
#include "testutil.h"

#include "common.h"
#include "selected_kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 16, STEPS = 25, TINY_N = 3, TINY = 8 };

static double abs_sum(const cvae_tensor *t)
{
    double s = 0;
    for (int64_t i = 0; t->grad && i < t->size; i++) s += fabs(t->grad[i]);
    return s;
}

static void one_backward(sk_net *m, const cvae_dataset *ds, cvae_tape *t)
{
    int64_t idx[BATCH];
    int32_t labels[BATCH], choice[BATCH];
    for (int i = 0; i < BATCH; i++) idx[i] = 11 * i;
    cvae_tensor *x, *alpha, *logits, *loss;
    cvae_tape_reset(t);
    cvae_params_zero_grad(m->params);
    CVAE_OK_OR_FAIL(ex_batch(ds, t, idx, BATCH, &x, labels));
    CVAE_OK_OR_FAIL(sk_forward(m, t, x, choice, &alpha, &logits));
    for (int i = 0; i < BATCH; i++) {
        double row = 0;
        for (int k = 0; k < m->k; k++) row += alpha->data[i * m->k + k];
        assert_true(fabs(row - 1.0) <= 1e-5);
        assert_true(choice[i] >= 0 && choice[i] < m->k);
    }
    CVAE_OK_OR_FAIL(cvae_op_softmax_cross_entropy(t, logits, labels, CVAE_REDUCE_MEAN, &loss));
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
}

static void test_gradient_flow(void **state)
{
    (void)state;
    cvae_dataset *ds;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &ds));
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    for (int hard = 0; hard < 2; hard++) {
        sk_net *m;
        CVAE_OK_OR_FAIL(sk_net_new(SK_FILTERS, hard, 28, 28, 2, &m));
        one_backward(m, ds, t);
        assert_true(abs_sum(m->conv1->weight) > 0); /* before the selected kernel */
        assert_true(abs_sum(m->conv2->weight) > 0); /* after it */
        assert_true(abs_sum(m->fc->weight) > 0);
        if (hard)
            assert_true(abs_sum(m->head->weight) == 0); /* argmax: no gradient */
        else
            assert_true(abs_sum(m->head->weight) > 0);
        assert_null(m->table->grad);
        assert_false(cvae_params_is_trainable(m->table));
        sk_net_free(m);
    }
    cvae_tape_free(t);
    cvae_dataset_free(ds);
}

/* The whole soft network; in[0] = x and in[1..4] replace the parameters of the
 * layers before the selected kernel (part 0: conv1, head) or after it (part 1:
 * conv2, fc); the others, and the frozen table, are the net's own. */
typedef struct tiny_ctx {
    const sk_net *m;
    int part;
} tiny_ctx;

static cvae_status tiny_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const tiny_ctx *c = ctx;
    cvae_conv2d conv = c->part ? *c->m->conv2 : *c->m->conv1;
    cvae_linear lin = c->part ? *c->m->fc : *c->m->head;
    sk_net n = *c->m;
    conv.weight = in[1], conv.bias = in[2];
    lin.weight = in[3], lin.bias = in[4];
    if (c->part)
        n.conv2 = &conv, n.fc = &lin;
    else
        n.conv1 = &conv, n.head = &lin;
    return sk_forward(&n, t, in[0], NULL, NULL, out);
}

static void test_whole_network_gradcheck(void **state)
{
    (void)state;
    sk_net *m;
    CVAE_OK_OR_FAIL(sk_net_new(SK_FILTERS, 0, TINY, TINY, 4, &m));
    test_rng r = {21};
    /* random non-zero weights and biases so no gradient is trivially zero */
    cvae_tensor *p[8] = {m->conv1->weight, m->conv1->bias, m->head->weight, m->head->bias,
                         m->conv2->weight, m->conv2->bias, m->fc->weight,   m->fc->bias};
    for (int i = 0; i < 8; i++) test_fill(&r, p[i]->data, p[i]->size, -0.3f, 0.3f, 0.05f);
    const int64_t sx[4] = {TINY_N, 1, TINY, TINY};
    cvae_tensor *x = test_tensor(&r, 4, sx);
    const int check[5] = {1, 1, 1, 1, 1};
    const gradcheck_opts o = {2e-2, 5e-3, 5e-4, 16};
    for (int part = 0; part < 2; part++) {
        cvae_tensor *in[5] = {x, p[4 * part], p[4 * part + 1], p[4 * part + 2], p[4 * part + 3]};
        tiny_ctx c = {m, part};
        test_gradcheck(tiny_fn, &c, in, check, 5, &o,
                       part ? "selected-kernel net, x and the layers after"
                            : "selected-kernel net, x and the layers before");
    }
    cvae_tensor_free(x);
    sk_net_free(m);
}

static void test_fixed_kernels_never_change(void **state)
{
    (void)state;
    cvae_dataset *ds;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &ds));
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    for (int hard = 0; hard < 2; hard++) {
        sk_net *m;
        cvae_optim *opt;
        CVAE_OK_OR_FAIL(sk_net_new(SK_FILTERS, hard, 28, 28, 3, &m));
        cvae_adam_opts ao = cvae_adam_opts_default();
        ao.lr = 3e-3f;
        CVAE_OK_OR_FAIL(cvae_optim_new_adam(m->params, &ao, &opt));
        const size_t tb = sizeof(float) * (size_t)m->table->size;
        const size_t wb = sizeof(float) * (size_t)m->conv1->weight->size;
        float *table0 = malloc(tb), *w0 = malloc(wb);
        memcpy(table0, m->table->data, tb);
        memcpy(w0, m->conv1->weight->data, wb);
        int64_t perm[4000];
        ex_shuffle(perm, ds->n, 8, 0);
        double first = 0, last = 0;
        for (int step = 0; step < STEPS; step++) {
            cvae_tensor *x, *logits, *loss;
            int32_t labels[BATCH], choice[BATCH];
            cvae_tape_reset(t);
            cvae_params_zero_grad(m->params);
            CVAE_OK_OR_FAIL(ex_batch(ds, t, perm + step * BATCH, BATCH, &x, labels));
            CVAE_OK_OR_FAIL(sk_forward(m, t, x, choice, NULL, &logits));
            CVAE_OK_OR_FAIL(
                cvae_op_softmax_cross_entropy(t, logits, labels, CVAE_REDUCE_MEAN, &loss));
            CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
            CVAE_OK_OR_FAIL(cvae_optim_step(opt));
            if (step < 5) first += loss->data[0] / 5.0;
            if (step >= STEPS - 5) last += loss->data[0] / 5.0;
            assert_null(m->table->grad);
        }
        print_message("%s: loss %.3f -> %.3f\n", hard ? "hard" : "soft", first, last);
        assert_true(last < first);
        assert_memory_equal(table0, m->table->data, tb);         /* fixed kernels */
        assert_memory_not_equal(w0, m->conv1->weight->data, wb); /* learned ones moved */
        free(table0);
        free(w0);
        cvae_optim_free(opt);
        sk_net_free(m);
    }
    cvae_tape_free(t);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_flow),
        cmocka_unit_test(test_whole_network_gradcheck),
        cmocka_unit_test(test_fixed_kernels_never_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
