/* The example fixed_label_kernel at reduced size: a cvae_cond_conv2d with
 * learned filters plus one frozen Gabor kernel per digit, in a small
 * label-conditioned autoencoder trained with Adam on the bundled digits.
 * Checks: the fixed kernels stay bit-for-bit unchanged and get no gradient
 * buffer, the learned ones change, the loss falls, and the label changes only
 * the conditional channel of the layer's output. */
#include "fixed_label_kernel.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 32, LEARNED = 4, HIDDEN = 16, STEPS = 40 };

static void test_fixed_kernels_survive_training(void **state)
{
    (void)state;
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &ds));
    flk_net *m;
    CVAE_OK_OR_FAIL(flk_net_new(LEARNED, HIDDEN, 10, 3, &m));
    cvae_params *p = m->params;
    cvae_adam_opts ao = cvae_adam_opts_default();
    ao.lr = 3e-3f;
    cvae_optim *opt;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &ao, &opt));
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    const size_t tbytes = sizeof(float) * (size_t)m->conv->table->size;
    const size_t wbytes = sizeof(float) * (size_t)m->conv->weight->size;
    float *table0 = malloc(tbytes), *weight0 = malloc(wbytes), *tbias0 = malloc(40);
    memcpy(table0, m->conv->table->data, tbytes);
    memcpy(weight0, m->conv->weight->data, wbytes);
    memcpy(tbias0, m->conv->table_bias->data, 40);

    test_rng r = {5};
    double first = 0, last = 0;
    int32_t labels[BATCH];
    int64_t idx[BATCH];
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < BATCH; i++) idx[i] = test_rand_int(&r, 0, ds->n - 1);
        const int64_t sx[4] = {BATCH, 1, 28, 28}, sf[2] = {BATCH, 784};
        cvae_tensor *x, *target, *logits, *loss;
        cvae_tape_reset(t);
        cvae_params_zero_grad(p);
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, sx, &x));
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, sf, &target));
        CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, BATCH, CVAE_BINARIZE_NONE, 0, x->data, labels));
        memcpy(target->data, x->data, sizeof(float) * BATCH * 784);
        CVAE_OK_OR_FAIL(flk_forward(m, t, x, labels, &logits));
        CVAE_OK_OR_FAIL(cvae_op_bce_with_logits(t, logits, target, CVAE_REDUCE_MEAN, &loss));
        CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
        assert_null(m->conv->table->grad);
        assert_null(m->conv->table_bias->grad);
        assert_non_null(m->conv->weight->grad);
        CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        if (step < 5) first += loss->data[0];
        if (step >= STEPS - 5) last += loss->data[0];
    }
    assert_memory_equal(table0, m->conv->table->data, tbytes);
    assert_memory_equal(tbias0, m->conv->table_bias->data, 40);
    assert_memory_not_equal(weight0, m->conv->weight->data, wbytes);
    if (!(last < 0.8 * first)) fail_msg("loss did not fall: %.4f -> %.4f", first / 5, last / 5);

    /* the same image under two labels: learned channels equal, the fixed channel differs */
    const int64_t s1[4] = {2, 1, 28, 28};
    cvae_tensor *x2, *y;
    cvae_tape_reset(t);
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, s1, &x2));
    int64_t pair[2] = {0, 0};
    int32_t two[2];
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, pair, 2, CVAE_BINARIZE_NONE, 0, x2->data, two));
    two[0] = 1, two[1] = 6;
    CVAE_OK_OR_FAIL(cvae_cond_conv2d_forward(m->conv, t, x2, two, &y));
    const int64_t per = (LEARNED + 1) * 196;
    assert_memory_equal(y->data, y->data + per, sizeof(float) * LEARNED * 196);
    assert_memory_not_equal(y->data + LEARNED * 196, y->data + per + LEARNED * 196,
                            sizeof(float) * 196);

    free(table0), free(weight0), free(tbias0);
    cvae_tape_free(t);
    cvae_optim_free(opt);
    flk_net_free(m);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_kernels_survive_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
