/* Data-parallel workers (cvae_trainer_set_dist) without MPI: the workers are threads of this
 * process joined by an in-memory engine whose sum adds them in rank order. Then w workers of
 * one thread give bitwise the steps of one trainer of w threads (noise by row, batch norm
 * statistics, uneven and tiny batches); a NaN or an error on one worker is every worker's
 * outcome; a parameter changed on one worker is caught by the checksum; the state starts as
 * worker 0's; steps allocate nothing; a sharded loader fills the worker's rows as the whole
 * loader does. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "testutil.h"

enum { MAXW = 4, SIDE = 8, STEPS = 6, MAXN = 24 };

/* ---- the engine: a barrier and a slot per worker ---- */

typedef struct world {
    int ranks;
    pthread_barrier_t bar;
    float *slot[MAXW];
    void *bslot[MAXW];
    float *scratch[MAXW];
    int64_t cap;
} world;

typedef struct worker {
    world *w;
    int rank;
    cvae_model *model; /* or net */
    cvae_net *net;
    cvae_trainer *tr;
    int nan_at, fail_at, perturb_at; /* the stream at which to inject, -1: never */
    int64_t check_every;
    int keep_going; /* go on after a failed step */
    int failed;     /* fail_at has fired */
    int joined;     /* set_dist done: a second run only steps */
    int eval_only;  /* one cvae_trainer_eval of batch 4 instead of steps */
    cvae_status set, st[STEPS], sync;
    char msg[STEPS][512];
    float loss[STEPS];
} worker;

static cvae_status fake_sum(float *data, int64_t n, void *user)
{
    worker *me = user;
    world *w = me->w;
    if (n > w->cap) return CVAE_ERR_NOMEM;
    w->slot[me->rank] = data;
    pthread_barrier_wait(&w->bar);
    float *acc = w->scratch[me->rank];
    for (int64_t k = 0; k < n; k++) {
        float v = w->slot[0][k];
        for (int r = 1; r < w->ranks; r++) v += w->slot[r][k];
        acc[k] = v;
    }
    pthread_barrier_wait(&w->bar); /* everyone has read every slot */
    memcpy(data, acc, (size_t)n * sizeof *data);
    return CVAE_OK;
}

static cvae_status fake_broadcast(void *data, int64_t bytes, void *user)
{
    worker *me = user;
    world *w = me->w;
    w->bslot[me->rank] = data;
    pthread_barrier_wait(&w->bar);
    if (me->rank) memcpy(data, w->bslot[0], (size_t)bytes);
    pthread_barrier_wait(&w->bar);
    return CVAE_OK;
}

static void world_init(world *w, int ranks, int64_t cap)
{
    w->ranks = ranks;
    w->cap = cap;
    pthread_barrier_init(&w->bar, NULL, (unsigned)ranks);
    for (int r = 0; r < ranks; r++) w->scratch[r] = malloc((size_t)cap * sizeof(float));
}

static void world_free(world *w)
{
    pthread_barrier_destroy(&w->bar);
    for (int r = 0; r < w->ranks; r++) free(w->scratch[r]);
}

/* ---- networks, batches ---- */

/* A label-indexed conv, batch norm and a linear layer: a classifier of 3 labels. */
static cvae_net *bn_net(uint64_t seed)
{
    const cvae_layer layers[] = {
        {.kind = CVAE_LAYER_CONV2D,
         .name = "conv",
         .out = 3,
         .cond_out = 2,
         .labels = 3,
         .kernel = 3,
         .padding = 1,
         .activation = CVAE_ACT_RELU},
        {.kind = CVAE_LAYER_BATCH_NORM2D, .name = "bn"},
        {.kind = CVAE_LAYER_FLATTEN},
        {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 3},
    };
    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(seed, &net));
    CVAE_OK_OR_FAIL(cvae_net_add(net, "clf", 3, (int64_t[]){1, SIDE, SIDE}, layers, 4, NULL));
    return net;
}

/* Cross-entropy; NaN (nan_at) or an error (fail_at) on the worker that asks for it. */
static cvae_status xent(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                        cvae_tensor **loss)
{
    const worker *me = user;
    if (me && (int)b->step == me->fail_at && !me->failed) {
        ((worker *)user)->failed = 1; /* once: the failed step's stream comes again */
        return CVAE_ERR_INVALID_ARG;
    }
    cvae_tensor *logits;
    cvae_status s = cvae_net_forward(net, 0, t, b->x, b->labels, &logits);
    if (s) return s;
    if (me && (int)b->step == me->nan_at) logits->data[0] = NAN;
    return cvae_op_softmax_cross_entropy(t, logits, b->labels, CVAE_REDUCE_ROWS, loss);
}

static cvae_model_config tiny_config(void)
{
    return test_tiny_model_config(4); /* SIDE x SIDE images */
}

/* Batch sizes: even, uneven, and smaller than the workers. */
static const int64_t sizes[STEPS] = {12, 7, MAXN, 2, 11, 5};
static float xs[STEPS][MAXN * SIDE * SIDE];
static int32_t ys[STEPS][MAXN];

static void make_batches(void)
{
    test_rng r = {11};
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < MAXN * SIDE * SIDE; i++) xs[s][i] = (float)test_rand_unit(&r);
        for (int i = 0; i < MAXN; i++) ys[s][i] = (int32_t)test_rand_int(&r, 0, 2);
    }
}

/* A trainer of the model (kind 0) or of bn_net (kind 1), on `threads` threads. */
static void make_trainer(worker *k, int kind, uint64_t seed, int threads, int skip)
{
    cvae_train_opts o = cvae_train_opts_default();
    o.skip_nonfinite = skip;
    o.clip_norm = 5.0f;
    if (kind == 0) {
        cvae_model_config c = tiny_config();
        c.seed = seed;
        CVAE_OK_OR_FAIL(cvae_model_new(&c, &k->model));
        CVAE_OK_OR_FAIL(cvae_trainer_new(k->model, &o, &k->tr));
        k->net = cvae_model_net(k->model);
    } else {
        k->net = bn_net(seed);
        CVAE_OK_OR_FAIL(cvae_trainer_new_net(k->net, &o, xent, k, &k->tr));
    }
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(k->tr, threads));
}

static void free_trainer(worker *k)
{
    cvae_trainer_free(k->tr);
    if (k->model)
        cvae_model_free(k->model);
    else
        cvae_net_free(k->net);
}

static float *params(const worker *k, int64_t *n)
{
    const cvae_params *p = cvae_net_params(k->net);
    *n = cvae_params_numel(p);
    return cvae_params_data(p);
}

/* A worker's thread: join the job (once), then the steps (or one evaluation). */
static void *work(void *arg)
{
    worker *k = arg;
    const cvae_dist d = {k->rank, k->w->ranks, fake_sum, fake_broadcast, k, k->check_every};
    if (!k->joined) k->set = cvae_trainer_set_dist(k->tr, &d);
    k->joined = 1;
    if (k->set) return NULL;
    if (k->eval_only) {
        k->st[0] = cvae_trainer_eval(k->tr, xs[4], ys[4], sizes[4], 77, &k->loss[0]);
        return NULL;
    }
    for (int s = 0; s < STEPS; s++) {
        if (s == k->perturb_at) {
            int64_t n;
            float *p = params(k, &n);
            p[n / 2] = nextafterf(p[n / 2], INFINITY);
        }
        k->st[s] = cvae_trainer_step(k->tr, xs[s], ys[s], sizes[s], &k->loss[s]);
        if (k->st[s]) snprintf(k->msg[s], sizeof k->msg[s], "%s", cvae_last_error());
        if (k->st[s] && !k->keep_going) break;
    }
    k->sync = cvae_trainer_check_sync(k->tr, NULL);
    return NULL;
}

static void run_workers(world *w, worker *k)
{
    pthread_t th[MAXW];
    for (int r = 0; r < w->ranks; r++) pthread_create(&th[r], NULL, work, &k[r]);
    for (int r = 0; r < w->ranks; r++) pthread_join(th[r], NULL);
}

/* A world of `ranks` workers, each with a trainer (make_trainer: kind, seed + r * seed_step,
 * 1 thread) and no injection; tests set what they inject before run_workers. */
static void join_world(world *w, worker *k, int ranks, int kind, uint64_t seed, int seed_step,
                       int skip)
{
    world_init(w, ranks, 1 << 16);
    for (int r = 0; r < ranks; r++) {
        k[r] = (worker){.w = w, .rank = r, .nan_at = -1, .fail_at = -1, .perturb_at = -1};
        make_trainer(&k[r], kind, seed + (uint64_t)(r * seed_step), 1, skip);
    }
}

static void leave_world(world *w, worker *k)
{
    for (int r = 0; r < w->ranks; r++) free_trainer(&k[r]);
    world_free(w);
}

/* ---- tests ---- */

/* w workers x 1 thread == 1 trainer x w threads, bit for bit; the workers start from worker
 * 0's parameters although they were built from other seeds. */
static void test_workers_equal_thread_team(void **state)
{
    (void)state;
    make_batches();
    for (int kind = 0; kind < 2; kind++)
        for (int ranks = 2; ranks <= 3; ranks++) {
            worker one = {.nan_at = -1, .fail_at = -1, .perturb_at = -1};
            make_trainer(&one, kind, 5, ranks, 0);
            float want[STEPS];
            for (int s = 0; s < STEPS; s++)
                CVAE_OK_OR_FAIL(cvae_trainer_step(one.tr, xs[s], ys[s], sizes[s], &want[s]));
            world w;
            worker k[MAXW];
            join_world(&w, k, ranks, kind, 5, 1, 0);
            for (int r = 0; r < ranks; r++) k[r].check_every = 2;
            run_workers(&w, k);
            int64_t n, nr;
            const float *p = params(&one, &n);
            for (int r = 0; r < ranks; r++) {
                assert_int_equal(k[r].set, CVAE_OK);
                for (int s = 0; s < STEPS; s++) {
                    if (k[r].st[s]) fail_msg("worker %d step %d: %s", r, s, k[r].msg[s]);
                    if (memcmp(&k[r].loss[s], &want[s], sizeof want[s]))
                        fail_msg("kind %d, %d workers: worker %d's loss at step %d is %.9g, one "
                                 "trainer's %.9g",
                                 kind, ranks, r, s, (double)k[r].loss[s], (double)want[s]);
                }
                const float *q = params(&k[r], &nr);
                assert_int_equal(n, nr);
                if (memcmp(p, q, (size_t)n * sizeof *p))
                    fail_msg("kind %d: %d workers' parameters differ from one trainer's", kind,
                             ranks);
                assert_int_equal(k[r].sync, CVAE_OK);
                assert_int_equal(cvae_trainer_steps(k[r].tr), STEPS);
            }
            free_trainer(&one);
            leave_world(&w, k);
        }
}

/* One worker's NaN loss: all skip it (or all fail); parameters stay equal. */
static void test_nan_on_one_worker(void **state)
{
    (void)state;
    make_batches();
    for (int skip = 0; skip <= 1; skip++) {
        world w;
        worker k[3];
        join_world(&w, k, 3, 1, 3, 0, skip);
        k[1].nan_at = 2;
        for (int r = 0; r < 3; r++) k[r].check_every = 1;
        run_workers(&w, k);
        int64_t n;
        const float *p0 = params(&k[0], &n);
        for (int r = 0; r < 3; r++) {
            if (skip) {
                for (int s = 0; s < STEPS; s++) assert_int_equal(k[r].st[s], CVAE_OK);
                assert_int_equal(cvae_trainer_skipped(k[r].tr), 1);
                assert_int_equal(cvae_trainer_steps(k[r].tr), STEPS - 1);
            } else {
                assert_int_equal(k[r].st[2], CVAE_ERR_NUMERIC);
                assert_non_null(strstr(k[r].msg[2], "not finite"));
                assert_int_equal(cvae_trainer_steps(k[r].tr), 2);
            }
            assert_int_equal(k[r].sync, CVAE_OK);
            int64_t nr;
            assert_memory_equal(params(&k[r], &nr), p0, (size_t)n * sizeof *p0);
        }
        leave_world(&w, k);
    }
}

/* One worker's error fails every worker's step, each saying why; parameters unchanged. */
static void test_error_on_one_worker(void **state)
{
    (void)state;
    make_batches();
    world w;
    worker k[3];
    join_world(&w, k, 3, 1, 3, 0, 0);
    k[2].fail_at = 1;
    for (int r = 0; r < 3; r++) k[r].keep_going = 1;
    run_workers(&w, k);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(k[r].st[0], CVAE_OK);
        assert_int_equal(k[r].st[1], r == 2 ? CVAE_ERR_INVALID_ARG : CVAE_ERR_STATE);
        if (r != 2) assert_non_null(strstr(k[r].msg[1], "1 of 3 workers failed at step 1"));
        for (int s = 2; s < STEPS; s++) assert_int_equal(k[r].st[s], CVAE_OK);
        assert_int_equal(cvae_trainer_steps(k[r].tr), STEPS - 1);
        assert_int_equal(k[r].sync, CVAE_OK);
    }
    leave_world(&w, k);
}

/* A parameter one ulp off on one worker: the next checksum due fails every worker. */
static void test_checksum_catches_divergence(void **state)
{
    (void)state;
    make_batches();
    for (int every = 1; every <= 2; every++) {
        world w;
        worker k[2];
        join_world(&w, k, 2, 0, 9, 0, 0);
        k[1].perturb_at = 3;
        for (int r = 0; r < 2; r++) k[r].check_every = every;
        run_workers(&w, k);
        const int caught = every == 1 ? 3 : 4; /* the first step whose stream is a multiple */
        for (int r = 0; r < 2; r++) {
            for (int s = 0; s < caught; s++) assert_int_equal(k[r].st[s], CVAE_OK);
            assert_int_equal(k[r].st[caught], CVAE_ERR_STATE);
            char want[64];
            snprintf(want, sizeof want, "parameters differ across workers before step %d", caught);
            if (!strstr(k[r].msg[caught], want))
                fail_msg("worker %d: '%s' lacks '%s'", r, k[r].msg[caught], want);
            assert_int_equal(k[r].sync, CVAE_ERR_STATE);
        }
        leave_world(&w, k);
    }
}

/* Steps of a worker allocate nothing once warm (its checksum, the sums, batch norm
 * statistics included). */
static void test_zero_allocations(void **state)
{
    (void)state;
    make_batches();
    world w;
    worker k[2];
    join_world(&w, k, 2, 1, 3, 0, 0);
    for (int r = 0; r < 2; r++) {
        k[r].check_every = 1;
        CVAE_OK_OR_FAIL(cvae_trainer_set_threads(k[r].tr, 2));
    }
    run_workers(&w, k); /* join, and STEPS warm-up steps */
    failalloc_arm(0);
    run_workers(&w, k); /* STEPS more */
    if (failalloc_calls() != 0)
        fail_msg("%ld allocations in %d warm steps of 2 workers", failalloc_calls(), STEPS);
    for (int r = 0; r < 2; r++) {
        for (int s = 0; s < STEPS; s++) assert_int_equal(k[r].st[s], CVAE_OK);
        assert_int_equal(cvae_trainer_steps(k[r].tr), 2 * STEPS);
    }
    leave_world(&w, k);
}

/* Bad arguments are refused; an evaluation over workers equals one trainer's. */
static void test_arguments_and_eval(void **state)
{
    (void)state;
    make_batches();
    worker one = {.nan_at = -1, .fail_at = -1, .perturb_at = -1};
    make_trainer(&one, 0, 5, 3, 0);
    cvae_dist d = {1, 1, fake_sum, fake_broadcast, NULL, 0};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_dist(one.tr, &d));
    d.rank = 0;
    d.ranks = 0;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_dist(one.tr, &d));
    d.ranks = 2;
    d.sum = NULL;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_dist(one.tr, &d));
    d.sum = fake_sum;
    d.check_every = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_dist(one.tr, &d));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_dist(NULL, &d));
    CVAE_OK_OR_FAIL(cvae_trainer_set_dist(one.tr, NULL));
    CVAE_OK_OR_FAIL(cvae_trainer_check_sync(one.tr, NULL)); /* no workers: nothing to compare */
    float want;
    CVAE_OK_OR_FAIL(cvae_trainer_eval(one.tr, xs[4], ys[4], sizes[4], 77, &want));

    world w;
    worker k[3];
    join_world(&w, k, 3, 0, 5, 0, 0);
    for (int r = 0; r < 3; r++) k[r].eval_only = 1;
    run_workers(&w, k);
    for (int r = 0; r < 3; r++) {
        assert_int_equal(k[r].st[0], CVAE_OK);
        if (memcmp(&k[r].loss[0], &want, sizeof want))
            fail_msg("worker %d evaluates %.9g, one trainer %.9g", r, (double)k[r].loss[0],
                     (double)want);
    }
    free_trainer(&one);
    leave_world(&w, k);
}

/* A sharded loader fills the worker's rows as the whole loader does, for every batch. */
static void test_loader_shard(void **state)
{
    (void)state;
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), "t10k", &ds));
    const int64_t per = (int64_t)ds->rows * ds->cols;
    for (int ranks = 1; ranks <= 3; ranks++)
        for (int rank = 0; rank < ranks; rank++) {
            cvae_loader *all, *mine;
            CVAE_OK_OR_FAIL(cvae_loader_new(ds, 96, CVAE_BINARIZE_STOCHASTIC, 4, 1, &all));
            CVAE_OK_OR_FAIL(cvae_loader_new(ds, 96, CVAE_BINARIZE_STOCHASTIC, 4, 1, &mine));
            CVAE_OK_OR_FAIL(cvae_loader_shard(mine, rank, ranks));
            for (int b = 0; b < 2 * (int)cvae_loader_batches(all) + 2; b++) {
                const float *xa, *xm;
                const int32_t *ya, *ym;
                int64_t na, nm;
                CVAE_OK_OR_FAIL(cvae_loader_next(all, &xa, &ya, &na));
                CVAE_OK_OR_FAIL(cvae_loader_next(mine, &xm, &ym, &nm));
                assert_int_equal(na, nm);
                if (!na) continue;
                const int active = na < ranks ? (int)na : ranks;
                const int64_t r0 = rank < active ? na * rank / active : 0;
                const int64_t r1 = rank < active ? na * (rank + 1) / active : 0;
                assert_memory_equal(xa + r0 * per, xm + r0 * per,
                                    (size_t)((r1 - r0) * per) * sizeof *xa);
                assert_memory_equal(ya + r0, ym + r0, (size_t)(r1 - r0) * sizeof *ya);
            }
            cvae_loader_free(all);
            cvae_loader_free(mine);
        }
    cvae_loader *l;
    CVAE_OK_OR_FAIL(cvae_loader_new(ds, 96, CVAE_BINARIZE_NONE, 4, 1, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_loader_shard(l, 2, 2));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_loader_shard(l, 0, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_loader_shard(NULL, 0, 1));
    cvae_loader_free(l);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_equal_thread_team),
        cmocka_unit_test(test_nan_on_one_worker),
        cmocka_unit_test(test_error_on_one_worker),
        cmocka_unit_test(test_checksum_catches_divergence),
        cmocka_unit_test_setup_teardown(test_zero_allocations, failalloc_setup, failalloc_teardown),
        cmocka_unit_test(test_arguments_and_eval),
        cmocka_unit_test(test_loader_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
