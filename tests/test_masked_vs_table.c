/* The example masked_vs_table at reduced size (examples/nets/masked_vs_table.h):
 * the first answer's autoencoder built with K masked per-class convolutions and
 * with one conditional convolution over a table of the same kernels.
 * Checks: with the same weights both give the same code, logits and gradients of
 * every parameter (relative error max|a - b| / max|b| <= 1e-5 per tensor); the
 * comparison is sensitive (changing one class kernel breaks it); trained with
 * Adam on the same batches the losses agree step by step (relative 1e-5); a
 * label outside [0, K) is an error in both. */
#include "testutil.h"

#include "common.h"
#include "masked_vs_table.h"

#include <math.h>
#include <string.h>

enum { K = 10, BATCH = 16, STEPS = 6 };
static const double TOL = 1e-5;

typedef struct fixture {
    cvae_dataset *ds;
    mvt_net *net[2]; /* masked, table */
    cvae_tape *t;
    int64_t idx[BATCH];
} fixture;

static void setup(fixture *f)
{
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &f->ds));
    CVAE_OK_OR_FAIL(mvt_net_new(1, K, 5, &f->net[0]));
    CVAE_OK_OR_FAIL(mvt_net_new(0, K, 6, &f->net[1])); /* other seed: the copy must matter */
    CVAE_OK_OR_FAIL(mvt_copy_weights(f->net[0], f->net[1]));
    CVAE_OK_OR_FAIL(cvae_tape_new(&f->t));
    for (int i = 0; i < BATCH; i++) f->idx[i] = 37 * i + 3;
}

static void teardown(fixture *f)
{
    cvae_tape_free(f->t);
    mvt_net_free(f->net[0]);
    mvt_net_free(f->net[1]);
    cvae_dataset_free(f->ds);
}

/* Forward (training mode) and backward of the reconstruction loss of the fixed
 * batch; copies code and logits into out[BATCH * (2 + 784)]. */
static void run(fixture *f, int v, float *out)
{
    cvae_tensor *x, *code, *logits, *target, *loss;
    int32_t labels[BATCH];
    const int64_t flat[2] = {BATCH, 784};
    cvae_tape_reset(f->t);
    cvae_params_zero_grad(f->net[v]->params);
    CVAE_OK_OR_FAIL(ex_batch(f->ds, f->t, f->idx, BATCH, &x, labels));
    CVAE_OK_OR_FAIL(mvt_forward(f->net[v], f->t, x, labels, 1, &code, &logits));
    CVAE_OK_OR_FAIL(cvae_op_reshape(f->t, x, 2, flat, &target));
    CVAE_OK_OR_FAIL(cvae_op_bce_with_logits(f->t, logits, target, CVAE_REDUCE_MEAN, &loss));
    CVAE_OK_OR_FAIL(cvae_tape_backward(f->t, loss));
    memcpy(out, code->data, sizeof(float) * BATCH * 2);
    memcpy(out + BATCH * 2, logits->data, sizeof(float) * BATCH * 784);
}

static void test_same_function(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    static float a[BATCH * 786], b[BATCH * 786];
    run(&f, 0, a);
    run(&f, 1, b);
    const double dcode = ex_rel_diff(a, b, BATCH * 2);
    const double dlogit = ex_rel_diff(a + BATCH * 2, b + BATCH * 2, BATCH * 784);
    double dgrad;
    const char *worst;
    CVAE_OK_OR_FAIL(mvt_grad_diff(f.net[0], f.net[1], &dgrad, &worst));
    print_message("code %.2e  logits %.2e  gradients %.2e (%s)\n", dcode, dlogit, dgrad, worst);
    assert_true(dcode <= TOL);
    assert_true(dlogit <= TOL);
    assert_true(dgrad <= TOL);
    /* every gradient of the per-class layer was compared: the table net has some */
    assert_non_null(f.net[1]->table->grad);
    double norm = 0;
    for (int64_t i = 0; i < f.net[1]->table->size; i++) norm += fabs(f.net[1]->table->grad[i]);
    assert_true(norm > 0);

    /* sensitivity: one kernel of the first sample's class changed in the table only */
    const int32_t c = f.ds->labels[f.idx[0]];
    f.net[1]->table->data[(int64_t)c * MVT_CH * MVT_CH * 9 + 4] += 0.05f;
    run(&f, 1, b);
    assert_true(ex_rel_diff(a + BATCH * 2, b + BATCH * 2, BATCH * 784) > 10 * TOL);
    teardown(&f);
}

static void test_losses_match_in_training(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    cvae_adam_opts ao = cvae_adam_opts_default();
    ao.lr = 3e-3f;
    cvae_optim *opt[2];
    for (int v = 0; v < 2; v++)
        CVAE_OK_OR_FAIL(cvae_optim_new_adam(f.net[v]->params, &ao, &opt[v]));
    int64_t perm[4000];
    ex_shuffle(perm, f.ds->n, 9, 0);
    double max_rel = 0;
    float first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        float loss[2];
        for (int v = 0; v < 2; v++) {
            cvae_tensor *x, *l;
            int32_t labels[BATCH];
            cvae_tape_reset(f.t);
            cvae_params_zero_grad(f.net[v]->params);
            CVAE_OK_OR_FAIL(ex_batch(f.ds, f.t, perm + step * BATCH, BATCH, &x, labels));
            CVAE_OK_OR_FAIL(mvt_loss(f.net[v], f.t, x, labels, &l));
            CVAE_OK_OR_FAIL(cvae_tape_backward(f.t, l));
            CVAE_OK_OR_FAIL(cvae_optim_step(opt[v]));
            loss[v] = l->data[0];
        }
        const double rel = fabs((double)loss[0] - loss[1]) / fabs((double)loss[1]);
        max_rel = rel > max_rel ? rel : max_rel;
        if (step == 0) first = loss[1];
        last = loss[1];
    }
    print_message("losses over %d steps: max rel difference %.2e (%.4f -> %.4f)\n", STEPS, max_rel,
                  (double)first, (double)last);
    assert_true(max_rel <= TOL);
    assert_true(last < first); /* and they did train */
    /* the trained per-class kernels still agree */
    double dw = 0;
    for (int k = 0; k < K; k++) {
        const float *w = f.net[1]->table->data + (int64_t)k * MVT_CH * MVT_CH * 9;
        const double d = ex_rel_diff(f.net[0]->cls[k]->weight->data, w, MVT_CH * MVT_CH * 9);
        dw = d > dw ? d : dw;
    }
    assert_true(dw <= 1e-4);
    cvae_optim_free(opt[0]);
    cvae_optim_free(opt[1]);
    teardown(&f);
}

static void test_bad_label(void **state)
{
    (void)state;
    fixture f;
    setup(&f);
    const int64_t shape[4] = {2, MVT_CH, 28, 28};
    const int32_t labels[2] = {1, K};
    for (int v = 0; v < 2; v++) {
        cvae_tensor *h, *y = NULL;
        cvae_tape_reset(f.t);
        CVAE_OK_OR_FAIL(cvae_tape_tensor(f.t, 4, shape, &h));
        CVAE_EXPECT_ERR(CVAE_ERR_RANGE, mvt_class_layer(f.net[v], f.t, h, labels, &y));
        assert_null(y);
    }
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_function),
        cmocka_unit_test(test_losses_match_in_training),
        cmocka_unit_test(test_bad_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
