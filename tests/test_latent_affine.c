/* The example latent_affine at reduced size (examples/nets/latent_affine.h).
 * Checks: the affine map equals tanh(exp(A[:, y]) * z + B[:, y] + b) computed
 * directly (1e-6 relative) for random A, B, b; its gradients reach A, B, b and
 * the code; a finite-difference check of the map's gradient in z (5-point,
 * rtol 1e-3, atol 1e-4); training the whole network with Adam lowers the loss
 * (mean of the last 5 steps below 0.8 x the first 5) and a larger L2 weight
 * gives a smaller code. */
#include "testutil.h"

#include "common.h"
#include "latent_affine.h"

#include <math.h>
#include <string.h>

enum { K = 10, N = 12, BATCH = 32, STEPS = 40 };

static void random_affine(la_net *m, uint64_t seed)
{
    CVAE_OK_OR_FAIL(cvae_tensor_rand_uniform(m->log_scale, seed, 1, -0.5f, 0.5f));
    CVAE_OK_OR_FAIL(cvae_tensor_rand_uniform(m->shift->weight, seed, 2, -0.5f, 0.5f));
    CVAE_OK_OR_FAIL(cvae_tensor_rand_uniform(m->shift->bias, seed, 3, -0.5f, 0.5f));
}

static void test_affine_map(void **state)
{
    (void)state;
    la_net *m;
    cvae_tape *t;
    CVAE_OK_OR_FAIL(la_net_new(K, 1, &m));
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    random_affine(m, 4);
    test_rng r = {7};
    int32_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = (int32_t)test_rand_int(&r, 0, K - 1);
    const int64_t shape[2] = {N, 2};
    cvae_tensor *z, *zp, *loss;
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 2, shape, &z));
    test_fill(&r, z->data, z->size, -2, 2, 0.05f);
    CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, z));
    CVAE_OK_OR_FAIL(la_affine(m, t, z, labels, &zp));
    float want[N * 2];
    for (int i = 0; i < N; i++)
        for (int a = 0; a < 2; a++) {
            const int y = labels[i];
            const double pre = exp(m->log_scale->data[2 * y + a]) * z->data[2 * i + a] +
                               m->shift->weight->data[a * K + y] + m->shift->bias->data[a];
            want[2 * i + a] = (float)tanh(pre);
        }
    test_assert_close(zp->data, want, N * 2, 1e-6, 1e-7, "affine map");
    CVAE_OK_OR_FAIL(cvae_op_sum(t, zp, &loss));
    CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
    const cvae_tensor *g[4] = {m->log_scale, m->shift->weight, m->shift->bias, z};
    for (int j = 0; j < 4; j++) {
        double norm = 0;
        assert_non_null(g[j]->grad);
        for (int64_t i = 0; i < g[j]->size; i++) norm += fabs(g[j]->grad[i]);
        assert_true(norm > 0);
    }
    cvae_tape_free(t);
    la_net_free(m);
}

typedef struct affine_ctx {
    la_net *m;
    int32_t labels[N];
} affine_ctx;

static cvae_status affine_fn(cvae_tape *t, cvae_tensor **in, void *ctx, cvae_tensor **out)
{
    const affine_ctx *c = ctx;
    return la_affine(c->m, t, in[0], c->labels, out);
}

static void test_affine_gradcheck(void **state)
{
    (void)state;
    affine_ctx c;
    CVAE_OK_OR_FAIL(la_net_new(K, 2, &c.m));
    random_affine(c.m, 5);
    test_rng r = {11};
    for (int i = 0; i < N; i++) c.labels[i] = (int32_t)test_rand_int(&r, 0, K - 1);
    const int64_t shape[2] = {N, 2};
    cvae_tensor *z = test_tensor(&r, 2, shape);
    const int check[1] = {1};
    gradcheck_opts o = {1e-3, 1e-3, 1e-4, 24};
    test_gradcheck(affine_fn, &c, &z, check, 1, &o, "latent affine map");
    cvae_tensor_free(z);
    la_net_free(c.m);
}

/* Trains with L2 weight l2; returns the mean loss of the first and last 5 steps
 * and the mean |z| of the last batch. */
static void train(const cvae_dataset *ds, float l2, double *first, double *last, double *norm)
{
    la_net *m;
    cvae_tape *t;
    cvae_optim *opt;
    CVAE_OK_OR_FAIL(la_net_new(K, 3, &m));
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_adam_opts ao = cvae_adam_opts_default();
    ao.lr = 2e-3f;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(m->params, &ao, &opt));
    int64_t perm[4000];
    ex_shuffle(perm, ds->n, 3, 0);
    *first = *last = *norm = 0;
    for (int step = 0; step < STEPS; step++) {
        cvae_tensor *x, *loss, *z;
        int32_t labels[BATCH];
        cvae_tape_reset(t);
        cvae_params_zero_grad(m->params);
        CVAE_OK_OR_FAIL(ex_batch(ds, t, perm + step * BATCH, BATCH, &x, labels));
        CVAE_OK_OR_FAIL(la_loss(m, t, x, labels, l2, &loss, NULL, NULL, &z));
        CVAE_OK_OR_FAIL(cvae_tape_backward(t, loss));
        CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        if (step < 5) *first += loss->data[0] / 5.0;
        if (step >= STEPS - 5) *last += loss->data[0] / 5.0;
        if (step == STEPS - 1)
            for (int i = 0; i < BATCH; i++)
                *norm += hypot(z->data[2 * i], z->data[2 * i + 1]) / BATCH;
    }
    cvae_optim_free(opt);
    cvae_tape_free(t);
    la_net_free(m);
}

static void test_training_lowers_loss(void **state)
{
    (void)state;
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "train", &ds));
    double first, last, norm_small, norm_big;
    train(ds, 0.1f, &first, &last, &norm_small);
    print_message("L2 0.1: loss %.2f -> %.2f, mean |z| %.3f\n", first, last, norm_small);
    assert_true(last < 0.8 * first);
    train(ds, 10.0f, &first, &last, &norm_big);
    print_message("L2 10:  loss %.2f -> %.2f, mean |z| %.3f\n", first, last, norm_big);
    assert_true(last < 0.8 * first);
    assert_true(norm_big < norm_small);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affine_map),
        cmocka_unit_test(test_affine_gradcheck),
        cmocka_unit_test(test_training_lowers_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
