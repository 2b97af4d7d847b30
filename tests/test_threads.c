/* Data parallelism. The training step: t threads give the gradient of one thread (up to
 * rounding), are bitwise reproducible, and handle small batches, bad counts and NaN.
 * The batch entry points: sliced results match one thread's and never depend on which
 * thread ran a slice (concurrent callers sharing one model's team). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/team.h"
#include "failalloc.h"
#include "testutil.h"

#define N 13 /* odd, so the slices differ in size */
#define PER (28 * 28)

static cvae_dataset *digits;
static float images[N * PER];
static int32_t labels[N];

static int setup(void **state)
{
    (void)state;
    if (cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &digits)) return -1;
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i * 53;
    return cvae_dataset_batch(digits, idx, N, CVAE_BINARIZE_NONE, 0, images, labels) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    cvae_dataset_free(digits);
    return 0;
}

/* A model with every kind of parameter: learned, frozen table, conditional decoder
 * (narrower than the default, so valgrind runs this test in reasonable time). */
static cvae_model *new_model(void)
{
    cvae_model_config c = cvae_model_config_default();
    c.cond_decoder = 1;
    c.enc_channels = 8;
    c.cond_channels = 4;
    c.enc2_channels = 16;
    c.dec_channels = 8;
    cvae_model *m = NULL;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    return m;
}

static cvae_trainer *new_trainer(cvae_model *m, int threads)
{
    cvae_train_opts o = cvae_train_opts_default();
    cvae_trainer *tr = NULL;
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, threads));
    assert_int_equal(cvae_trainer_threads(tr), threads);
    return tr;
}

/* One step on the first n images; the gradient stays in the parameter block. */
static float step(cvae_trainer *tr, int64_t n)
{
    float loss = NAN;
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, n, &loss));
    return loss;
}

/* Per parameter: max |a - b| <= 1e-5 max |a| (a sum of t slices against one pass). */
static void grads_close(cvae_model *a, cvae_model *b)
{
    cvae_params *pa = cvae_model_params(a), *pb = cvae_model_params(b);
    for (int i = 0; i < cvae_params_count(pa); i++) {
        const cvae_tensor *ta = cvae_params_at(pa, i);
        const float *ga = cvae_params_grad(pa) + cvae_params_offset(pa, i);
        const float *gb = cvae_params_grad(pb) + cvae_params_offset(pb, i);
        double amax = 0.0, dmax = 0.0;
        for (int64_t k = 0; k < ta->size; k++) {
            amax = fmax(amax, fabs(ga[k]));
            dmax = fmax(dmax, fabs((double)ga[k] - gb[k]));
        }
        if (!cvae_params_is_trainable(ta)) {
            assert_true(amax == 0.0 && dmax == 0.0); /* frozen: no gradient on either side */
            continue;
        }
        if (dmax > 1e-5 * amax)
            fail_msg("%s: max |g1 - gt| = %g against max |g1| = %g", cvae_params_name(pa, i), dmax, amax);
        assert_true(amax > 0.0);
    }
}

static void test_gradient_matches_one_thread(void **state)
{
    (void)state;
    cvae_model *one = new_model();
    cvae_trainer *t1 = new_trainer(one, 1);
    const float l1 = step(t1, N);
    const int counts[] = {2, 3, 5};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        cvae_model *m = new_model();
        cvae_trainer *tr = new_trainer(m, counts[c]);
        const float l = step(tr, N);
        assert_true(fabsf(l - l1) <= 2e-6f * fabsf(l1));
        grads_close(one, m);
        cvae_trainer_free(tr);
        cvae_model_free(m);
    }
    cvae_trainer_free(t1);
    cvae_model_free(one);
}

static void test_bitwise_reproducible(void **state)
{
    (void)state;
    cvae_model *a = new_model(), *b = new_model();
    cvae_trainer *ta = new_trainer(a, 3), *tb = new_trainer(b, 3);
    for (int s = 0; s < 3; s++) {
        float la = step(ta, N), lb = step(tb, N);
        assert_memory_equal(&la, &lb, sizeof la);
    }
    cvae_params *pa = cvae_model_params(a), *pb = cvae_model_params(b);
    assert_memory_equal(cvae_params_data(pa), cvae_params_data(pb),
                        sizeof(float) * (size_t)cvae_params_numel(pa));
    cvae_trainer_free(ta);
    cvae_trainer_free(tb);
    cvae_model_free(a);
    cvae_model_free(b);
}

/* One step of a one-thread trainer and of a `threads` one on fresh, equal models. */
static void compare_fresh(int threads, int later_threads, int64_t n)
{
    cvae_model *a = new_model(), *b = new_model();
    cvae_trainer *ta = new_trainer(a, 1), *tb = new_trainer(b, threads);
    if (later_threads) CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tb, later_threads));
    const float la = step(ta, n), lb = step(tb, n);
    assert_true(fabsf(la - lb) <= 2e-6f * fabsf(la));
    grads_close(a, b);
    cvae_trainer_free(ta);
    cvae_trainer_free(tb);
    cvae_model_free(a);
    cvae_model_free(b);
}

/* Fewer images than threads: as many slices as images. A team can be resized. */
static void test_small_batches_and_changing_counts(void **state)
{
    (void)state;
    for (int64_t n = 1; n <= 3; n++) compare_fresh(4, 0, n);
    compare_fresh(4, 2, N);
    compare_fresh(2, 3, N);
}

static void test_bad_counts_and_default(void **state)
{
    (void)state;
    cvae_model *m = new_model();
    cvae_train_opts o = cvae_train_opts_default();
    cvae_trainer *tr = NULL;
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    assert_int_equal(cvae_trainer_threads(tr), cvae__blas_threads());
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_threads(tr, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_threads(tr, 65));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_threads(NULL, 2));
    assert_int_equal(cvae_trainer_threads(NULL), 0);
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 2));
    /* a step leaves BLAS's own thread count as it found it (always 1 without BLAS) */
    cvae__blas_set_threads(2);
    const int blas_threads = cvae__blas_threads();
    (void)step(tr, N);
    assert_int_equal(cvae__blas_threads(), blas_threads);
    cvae__blas_set_threads(1);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

static cvae_status record_blas_threads(void *ctx, int i)
{
    ((int *)ctx)[i] = cvae__blas_threads();
    return CVAE_OK;
}

/* Inside a team's run BLAS's own threads are 1 where cvae__sgemm calls OpenBLAS (a team member's
 * product must not start BLAS threads of its own); with the built-in GEMM nothing changes them
 * (each openblas_set_num_threads costs tens of microseconds per run). */
static void test_team_blas_threads(void **state)
{
    (void)state;
    cvae__team *team = NULL;
    CVAE_OK_OR_FAIL(cvae__team_new(2, &team));
    cvae__blas_set_threads(2);
    const int outside = cvae__blas_threads(); /* 2 with OpenBLAS, 1 without any BLAS */
    int seen[2] = {0, 0};
    CVAE_OK_OR_FAIL(cvae__team_run(team, 2, record_blas_threads, seen));
    const int want = cvae__sgemm_is_builtin() ? outside : 1;
    assert_int_equal(seen[0], want);
    assert_int_equal(seen[1], want);
    CVAE_OK_OR_FAIL(cvae__team_run(team, 1, record_blas_threads, seen));
    assert_int_equal(seen[0], want);
    assert_int_equal(cvae__blas_threads(), outside);
    cvae__blas_set_threads(1);
    cvae__team_free(team);
}

/* A non-finite weight fails the step on every slice; the parameters stay as they were. */
static void test_nonfinite_stops_all_slices(void **state)
{
    (void)state;
    cvae_model *m = new_model();
    cvae_params *p = cvae_model_params(m);
    cvae_trainer *tr = new_trainer(m, 3);
    cvae_params_find(p, "dec.deconv2.weight")->data[5] = NAN;
    const size_t bytes = sizeof(float) * (size_t)cvae_params_numel(p);
    float *before = malloc(bytes);
    memcpy(before, cvae_params_data(p), bytes);
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_step(tr, images, labels, N, NULL));
    assert_memory_equal(before, cvae_params_data(p), bytes);
    assert_int_equal(cvae_trainer_steps(tr), 0);
    free(before);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

/* Two trainers with teams of their own, stepping at once from two host threads,
 * give what each gives alone. */
typedef struct job {
    cvae_model *m;
    cvae_trainer *tr;
    float loss[3];
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int s = 0; s < 3; s++)
        if (cvae_trainer_step(j->tr, images, labels, N, &j->loss[s])) j->loss[s] = NAN;
    return NULL;
}

static void test_concurrent_trainers(void **state)
{
    (void)state;
    job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i].m = new_model();
        jobs[i].tr = new_trainer(jobs[i].m, 2);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    run_job(&jobs[2]);
    cvae_params *p2 = cvae_model_params(jobs[2].m);
    for (int i = 0; i < 2; i++) {
        assert_memory_equal(jobs[i].loss, jobs[2].loss, sizeof jobs[i].loss);
        assert_memory_equal(cvae_params_data(cvae_model_params(jobs[i].m)), cvae_params_data(p2),
                            sizeof(float) * (size_t)cvae_params_numel(p2));
    }
    for (int i = 0; i < 3; i++) {
        cvae_trainer_free(jobs[i].tr);
        cvae_model_free(jobs[i].m);
    }
}

/* ---- inference ---- */

#define IW_K 3

typedef struct outputs {
    float recon[N * PER], mu[N * 16], logvar[N * 16], dec[N * PER], gen[N * PER], rec[N], kl[N],
        nll[N];
} outputs;

static cvae_status infer_all(cvae_model *m, outputs *o)
{
    cvae_status s = cvae_model_forward(m, images, labels, N, 7, o->recon, o->mu, o->logvar);
    if (!s) s = cvae_model_decode(m, o->mu, labels, N, o->dec);
    if (!s) s = cvae_model_generate(m, labels, N, 9, o->gen);
    if (!s) s = cvae_model_elbo(m, images, labels, N, 11, o->rec, o->kl);
    if (!s) s = cvae_model_iw_nll(m, images, labels, N, IW_K, 13, o->nll);
    return s;
}

static void outputs_close(const outputs *a, const outputs *b)
{
    test_assert_close(a->recon, b->recon, N * PER, 1e-5, 1e-6, "recon");
    test_assert_close(a->mu, b->mu, N * 16, 1e-5, 1e-6, "mu");
    test_assert_close(a->logvar, b->logvar, N * 16, 1e-5, 1e-6, "logvar");
    test_assert_close(a->dec, b->dec, N * PER, 1e-5, 1e-6, "decode");
    test_assert_close(a->gen, b->gen, N * PER, 1e-5, 1e-6, "generate");
    test_assert_close(a->rec, b->rec, N, 1e-5, 1e-5, "elbo rec");
    test_assert_close(a->kl, b->kl, N, 1e-5, 1e-5, "elbo kl");
    test_assert_close(a->nll, b->nll, N, 1e-5, 1e-5, "iw nll");
}

static void test_inference_slices_match_one_thread(void **state)
{
    (void)state;
    static outputs one, many;
    cvae_model *m = new_model();
    assert_int_equal(cvae_model_threads(m), cvae__blas_threads());
    CVAE_OK_OR_FAIL(cvae_model_set_threads(m, 1));
    CVAE_OK_OR_FAIL(infer_all(m, &one));
    const int counts[] = {2, 3, 5, 13, 20};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        CVAE_OK_OR_FAIL(cvae_model_set_threads(m, counts[c]));
        assert_int_equal(cvae_model_threads(m), counts[c]);
        memset(&many, 0, sizeof many);
        CVAE_OK_OR_FAIL(infer_all(m, &many));
        outputs_close(&one, &many);
    }
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_set_threads(m, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_set_threads(m, 65));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_set_threads(NULL, 2));
    assert_int_equal(cvae_model_threads(NULL), 0);
    cvae_model_free(m);
}

/* Four host threads share one model with a team of 2: whoever gets the team runs the
 * slices at once, the others run the same slices one after another; all agree bitwise
 * with a call made alone. */
typedef struct infer_job {
    cvae_model *m;
    outputs out;
    cvae_status s;
} infer_job;

static void *infer_job_run(void *arg)
{
    infer_job *j = arg;
    for (int r = 0; r < 3 && !j->s; r++) j->s = infer_all(j->m, &j->out);
    cvae_thread_workspace_release();
    return NULL;
}

static void test_concurrent_inference_is_bitwise_stable(void **state)
{
    (void)state;
    enum { T = 4 };
    cvae_model *m = new_model();
    CVAE_OK_OR_FAIL(cvae_model_set_threads(m, 2));
    static outputs alone;
    CVAE_OK_OR_FAIL(infer_all(m, &alone));
    static infer_job jobs[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        jobs[i].m = m;
        assert_int_equal(pthread_create(&th[i], NULL, infer_job_run, &jobs[i]), 0);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        assert_int_equal(jobs[i].s, CVAE_OK);
        assert_memory_equal(&jobs[i].out, &alone, sizeof alone);
    }
    cvae_model_free(m);
}

/* Every allocation of a new team and its cold sliced forward fails in turn, on the caller or
 * on a team thread: the caller gets CVAE_ERR_NOMEM with a message, and nothing leaks. */
static cvae_status cold_forward(cvae_model *m, float *recon)
{
    cvae_thread_workspace_release();
    cvae_status s = cvae_model_set_threads(m, 3); /* a new team: new threads, new tapes */
    return s ? s : cvae_model_forward(m, images, labels, N, 7, recon, NULL, NULL);
}

static void test_slice_allocation_failure(void **state)
{
    (void)state;
    static float recon[N * PER];
    cvae_model *m = new_model();
    cvae_thread_workspace_release(); /* made before the counting began */
    failalloc_install(0);
    const long base = failalloc_live();
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cold_forward(m, recon));
    const long n = failalloc_calls();
    assert_true(n >= 4); /* the team, and a tape per member at least */
    for (long k = 1; k <= n; k++) {
        failalloc_arm(k);
        cvae_status s = cold_forward(m, recon);
        if (!failalloc_fired()) fail_msg("attempt %ld of %ld never came", k, n);
        assert_int_equal(s, CVAE_ERR_NOMEM);
        assert_true(cvae_last_error()[0] != '\0');
    }
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_model_set_threads(m, 1)); /* joins the team: its tapes are freed */
    cvae_thread_workspace_release();
    assert_int_equal(failalloc_live(), base);
    failalloc_uninstall();
    cvae_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_matches_one_thread),
        cmocka_unit_test(test_bitwise_reproducible),
        cmocka_unit_test(test_small_batches_and_changing_counts),
        cmocka_unit_test(test_bad_counts_and_default),
        cmocka_unit_test(test_team_blas_threads),
        cmocka_unit_test(test_nonfinite_stops_all_slices),
        cmocka_unit_test(test_concurrent_trainers),
        cmocka_unit_test(test_inference_slices_match_one_thread),
        cmocka_unit_test(test_concurrent_inference_is_bitwise_stable),
        cmocka_unit_test(test_slice_allocation_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
