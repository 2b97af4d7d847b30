/* Learning-rate schedules (cvae_train_opts: warm-up, cosine, step decay) and the ELBO's KL
 * warm-up: the rate and the KL weight at given steps, a trainer applying the schedule step by
 * step, checkpoints that carry both and resume bit for bit, checkpoints written before the
 * schedule existed, and the options' checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define N 16
#define PER (28 * 28)

static float images[N * PER];
static int32_t labels[N];

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/cvae_test_schedule_%d_%s", (int)getpid(), name);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    cvae_dataset *ds;
    if (cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &ds)) return -1;
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i * 41;
    cvae_status s = cvae_dataset_batch(ds, idx, N, CVAE_BINARIZE_NONE, 0, images, labels);
    cvae_dataset_free(ds);
    return s ? -1 : 0;
}

static void expect_lr(const cvae_train_opts *o, int64_t t, double want)
{
    const float got = cvae_train_lr_at(o, t);
    if (fabs((double)got - want) > 3e-7 * want + 1e-12) /* float rounding of lr, lr_min, result */
        fail_msg("lr at step %lld: %.9g, want %.9g", (long long)t, (double)got, want);
}

/* The rate at given steps, against the formulas written out by hand. */
static void test_lr_at_given_steps(void **state)
{
    (void)state;
    cvae_train_opts o = cvae_train_opts_default(); /* constant */
    expect_lr(&o, 0, 1e-3);
    expect_lr(&o, 123456, 1e-3);
    assert_true(cvae_train_lr_at(&o, -1) == 0.0f);
    assert_true(cvae_train_lr_at(NULL, 3) == 0.0f);

    o.warmup_steps = 4; /* (t + 1) / 4 of the rate, then the rate */
    expect_lr(&o, 0, 0.25e-3);
    expect_lr(&o, 2, 0.75e-3);
    expect_lr(&o, 3, 1e-3);
    expect_lr(&o, 4, 1e-3);

    o.schedule = CVAE_LR_COSINE; /* after 4 warm-up steps, 10 steps from 1e-3 down to 1e-4 */
    o.decay_steps = 10;
    o.lr_min = 1e-4f;
    expect_lr(&o, 1, 0.5e-3);
    expect_lr(&o, 4, 1e-3);
    expect_lr(&o, 4 + 5, 1e-4 + 0.9e-3 * 0.5);
    expect_lr(&o, 4 + 2, 1e-4 + 0.9e-3 * 0.5 * (1 + cos(3.14159265358979 * 0.2)));
    expect_lr(&o, 4 + 10, 1e-4);
    expect_lr(&o, 4 + 1000, 1e-4);

    o.schedule = CVAE_LR_STEP; /* halved every 3 steps after the warm-up */
    o.decay_steps = 3;
    o.gamma = 0.5f;
    o.warmup_steps = 0;
    expect_lr(&o, 0, 1e-3);
    expect_lr(&o, 2, 1e-3);
    expect_lr(&o, 3, 0.5e-3);
    expect_lr(&o, 8, 0.25e-3);
    expect_lr(&o, 9, 0.125e-3);
}

/* A trainer with a schedule takes the same steps as a constant-rate trainer whose rate is set
 * to the schedule's before each step, bit for bit; and not those of the constant rate. */
static void test_trainer_applies_the_schedule(void **state)
{
    (void)state;
    cvae_train_opts sched = cvae_train_opts_default(), flat = cvae_train_opts_default();
    sched.lr = 2e-3f;
    sched.schedule = CVAE_LR_COSINE;
    sched.warmup_steps = 2;
    sched.decay_steps = 4;
    sched.lr_min = 1e-4f;
    flat.lr = 2e-3f;
    cvae_model *m[3];
    cvae_trainer *tr[3];
    const cvae_model_config c = cvae_model_config_default();
    for (int i = 0; i < 3; i++) {
        CVAE_OK_OR_FAIL(cvae_model_new(&c, &m[i]));
        CVAE_OK_OR_FAIL(cvae_trainer_new(m[i], i == 0 ? &sched : &flat, &tr[i]));
    }
    for (int64_t t = 0; t < 8; t++) {
        const float want = cvae_train_lr_at(&sched, t);
        assert_true(cvae_trainer_lr(tr[0]) == want);
        CVAE_OK_OR_FAIL(cvae_trainer_set_lr(tr[1], want));
        for (int i = 0; i < 3; i++)
            CVAE_OK_OR_FAIL(cvae_trainer_step(tr[i], images, labels, N, NULL));
    }
    assert_true(cvae_trainer_lr(tr[0]) == 1e-4f); /* past the decay */
    const cvae_params *p[3];
    for (int i = 0; i < 3; i++) p[i] = cvae_model_params(m[i]);
    const size_t bytes = (size_t)cvae_params_numel(p[0]) * sizeof(float);
    assert_memory_equal(cvae_params_data(p[0]), cvae_params_data(p[1]), bytes);
    assert_memory_not_equal(cvae_params_data(p[0]), cvae_params_data(p[2]), bytes);
    /* set_lr changes the base rate the schedule scales */
    CVAE_OK_OR_FAIL(cvae_trainer_set_lr(tr[0], 1e-3f));
    assert_true(cvae_trainer_lr(tr[0]) == 1e-4f);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_set_lr(tr[0], 5e-5f)); /* below lr_min */
    for (int i = 0; i < 3; i++) {
        cvae_trainer_free(tr[i]);
        cvae_model_free(m[i]);
    }
}

/* Per-sample losses of the ELBO on one batch at noise stream `step`. */
static void elbo_values(cvae_model *m, const cvae_elbo_spec *spec, uint64_t seed, uint64_t step,
                        int recording, float *out)
{
    cvae_tape *t;
    cvae_tensor *x, *loss;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, recording);
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){N, 1, 28, 28}, &x));
    memcpy(x->data, images, sizeof images);
    const cvae_batch b = {
        .x = x, .labels = labels, .n = N, .first = 0, .batch = N, .seed = seed, .step = step};
    CVAE_OK_OR_FAIL(cvae_elbo_loss(cvae_model_net(m), t, &b, (void *)spec, &loss));
    assert_int_equal(loss->size, N);
    memcpy(out, loss->data, N * sizeof(float));
    cvae_tape_free(t);
}

/* The KL weight at given steps: rec + beta min(1, t / W) KL while training, rec + beta KL
 * when evaluating; rec and KL from the same step's noise with beta 0 and 1. */
static void test_kl_warmup_at_given_steps(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    c.beta = 2.0f;
    c.kl_warmup = 10;
    cvae_model *m;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    const cvae_elbo_spec base = {.encoder = 0, .decoder = 1, .beta = 2.0f, .kl_warmup = 10};
    const uint64_t steps[] = {0, 3, 9, 10, 25};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        const uint64_t t = steps[k];
        cvae_elbo_spec rec_only = base, full = base;
        rec_only.beta = 0.0f, rec_only.kl_warmup = 0;
        full.beta = 1.0f, full.kl_warmup = 0;
        float rec[N], rec_kl[N], warm[N], eval[N];
        elbo_values(m, &rec_only, 5, t, 1, rec);
        elbo_values(m, &full, 5, t, 1, rec_kl);
        elbo_values(m, &base, 5, t, 1, warm);
        elbo_values(m, &base, 5, t, 0, eval);
        const double w = t < 10 ? 2.0 * (double)t / 10.0 : 2.0;
        for (int i = 0; i < N; i++) {
            const double kl = (double)rec_kl[i] - (double)rec[i];
            assert_true(kl > 0.01);
            const double want = rec[i] + w * kl, want_eval = rec[i] + 2.0 * kl;
            if (fabs(warm[i] - want) > 1e-5 * fabs(want))
                fail_msg("step %llu sample %d: %.6f, want %.6f", (unsigned long long)t, i,
                         (double)warm[i], want);
            if (fabs(eval[i] - want_eval) > 1e-5 * fabs(want_eval))
                fail_msg("evaluation at step %llu: %.6f, want %.6f (the full beta)",
                         (unsigned long long)t, (double)eval[i], want_eval);
        }
    }
    /* the model's trainer takes the model's warm-up: its first step sees no KL at all */
    cvae_trainer *tr;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    float step_loss, rec[N];
    cvae_elbo_spec rec_only = base;
    rec_only.beta = 0.0f;
    elbo_values(m, &rec_only, o.seed, 0, 1, rec);
    double mean = 0;
    for (int i = 0; i < N; i++) mean += rec[i] / (double)N;
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 1));
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, N, &step_loss));
    if (fabs(step_loss - mean) > 1e-5 * mean)
        fail_msg("first step's loss %.6f, want the reconstruction term %.6f", (double)step_loss,
                 mean);
    const cvae_elbo_spec bad = {.encoder = 0, .decoder = 1, .beta = 1.0f, .kl_warmup = -1};
    cvae_tape *t;
    cvae_tensor *x, *loss = NULL;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){N, 1, 28, 28}, &x));
    const cvae_batch b = {.x = x, .labels = labels, .n = N, .batch = N, .seed = 5};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                    cvae_elbo_loss(cvae_model_net(m), t, &b, (void *)&bad, &loss));
    assert_null(loss);
    cvae_tape_free(t);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

/* Eight steps in one go equal four, a checkpoint, a load (model and trainer rebuilt from the
 * file) and four more, with a warm-up, a cosine decay and a KL warm-up all under way. */
static void test_resume_bit_exact_with_schedule(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    c.kl_warmup = 6;
    cvae_train_opts o = cvae_train_opts_default();
    o.schedule = CVAE_LR_COSINE;
    o.warmup_steps = 2;
    o.decay_steps = 5;
    o.lr_min = 2e-4f;
    cvae_model *a, *b, *b2 = NULL;
    cvae_trainer *ta, *tb, *tb2 = NULL;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &a));
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &b));
    CVAE_OK_OR_FAIL(cvae_trainer_new(a, &o, &ta));
    CVAE_OK_OR_FAIL(cvae_trainer_new(b, &o, &tb));
    float la = 0, lb = 0;
    for (int s = 0; s < 8; s++)
        CVAE_OK_OR_FAIL(cvae_trainer_step(ta, images + (s % 2) * (N / 2) * PER,
                                          labels + (s % 2) * (N / 2), N / 2, &la));
    for (int s = 0; s < 4; s++)
        CVAE_OK_OR_FAIL(cvae_trainer_step(tb, images + (s % 2) * (N / 2) * PER,
                                          labels + (s % 2) * (N / 2), N / 2, &lb));
    CVAE_OK_OR_FAIL(cvae_trainer_save(tb, 1, tmp_path("ckpt.safetensors")));
    cvae_trainer_free(tb);
    cvae_model_free(b);
    CVAE_OK_OR_FAIL(cvae_trainer_load(tmp_path("ckpt.safetensors"), &b2, &tb2, NULL));
    assert_int_equal(cvae_model_get_config(b2)->kl_warmup, 6);
    assert_true(cvae_trainer_lr(tb2) == cvae_train_lr_at(&o, 4));
    for (int s = 4; s < 8; s++)
        CVAE_OK_OR_FAIL(cvae_trainer_step(tb2, images + (s % 2) * (N / 2) * PER,
                                          labels + (s % 2) * (N / 2), N / 2, &lb));
    assert_memory_equal(&la, &lb, sizeof la);
    const cvae_params *pa = cvae_model_params(a), *pb = cvae_model_params(b2);
    assert_memory_equal(cvae_params_data(pa), cvae_params_data(pb),
                        (size_t)cvae_params_numel(pa) * sizeof(float));
    remove(tmp_path("ckpt.safetensors"));
    cvae_trainer_free(ta);
    cvae_trainer_free(tb2);
    cvae_model_free(a);
    cvae_model_free(b2);
}

/* A checkpoint written before the schedule's keys existed restores with a constant rate (its
 * lr), whatever the restoring trainer was created with; the schedule's keys are checked. */
static void test_checkpoint_without_schedule_keys(void **state)
{
    (void)state;
    cvae_model *m;
    cvae_trainer *tr;
    cvae_train_opts o = cvae_train_opts_default(), sched = cvae_train_opts_default();
    o.lr = 3e-4f;
    sched.schedule = CVAE_LR_STEP;
    sched.decay_steps = 1;
    sched.gamma = 0.5f;
    const cvae_model_config c = cvae_model_config_default();
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, N, NULL));
    char ckpt[256], old[256];
    snprintf(ckpt, sizeof ckpt, "%s", tmp_path("new.safetensors"));
    snprintf(old, sizeof old, "%s", tmp_path("old.safetensors"));
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 2, ckpt));
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(ckpt, &f));
    char train[1024];
    snprintf(train, sizeof train, "%s", cvae_st_meta(f, "cvae.train"));
    cvae_safetensors_close(f);
    char *cut = strstr(train, ",\"schedule\":");
    assert_non_null(cut);
    assert_non_null(strstr(cut, "\"warmup_steps\":0,\"decay_steps\":0,\"lr_min\":0,\"gamma\":0}"));
    strcpy(cut, "}"); /* as written before the schedule existed */
    test_resave_with_meta(ckpt, old, "cvae.train", train);

    cvae_trainer *other;
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &sched, &other));
    assert_true(cvae_trainer_lr(other) == 1e-3f);
    int64_t epoch = -1;
    CVAE_OK_OR_FAIL(cvae_trainer_restore(other, old, &epoch));
    assert_int_equal(epoch, 2);
    assert_int_equal(cvae_trainer_steps(other), 1);
    assert_true(cvae_trainer_lr(other) == 3e-4f);
    CVAE_OK_OR_FAIL(cvae_trainer_step(other, images, labels, N, NULL));
    assert_true(cvae_trainer_lr(other) == 3e-4f); /* constant, not the step schedule */

    /* keys present but wrong are refused, the trainer unchanged */
    const char *bad_tails[] = {",\"schedule\":\"linear\"}",
                               ",\"schedule\":2}",
                               ",\"warmup_steps\":-1}",
                               ",\"decay_steps\":1.5}",
                               ",\"schedule\":\"cosine\",\"decay_steps\":0}",
                               ",\"schedule\":\"step\",\"decay_steps\":3,\"gamma\":1.5}"};
    for (size_t i = 0; i < sizeof bad_tails / sizeof *bad_tails; i++) {
        strcpy(cut, bad_tails[i]);
        test_resave_with_meta(ckpt, old, "cvae.train", train);
        cvae_clear_error();
        if (cvae_trainer_restore(other, old, NULL) == CVAE_OK)
            fail_msg("a checkpoint ending in %s was restored", bad_tails[i]);
        assert_non_null(strstr(cvae_last_error(), "training state"));
        assert_int_equal(cvae_trainer_steps(other), 2);
    }
    remove(ckpt), remove(old);
    cvae_trainer_free(other);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

/* Options a trainer refuses, naming what is wrong. */
static void test_bad_schedules(void **state)
{
    (void)state;
    cvae_model *m;
    const cvae_model_config c = cvae_model_config_default();
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    cvae_trainer *tr = (cvae_trainer *)0x1;
    struct {
        cvae_lr_schedule schedule;
        int64_t warmup, decay;
        float lr_min, gamma;
        const char *says;
    } bad[] = {{(cvae_lr_schedule)3, 0, 1, 0, 0, "unknown lr schedule"},
               {CVAE_LR_CONSTANT, -1, 0, 0, 0, "warmup_steps -1"},
               {CVAE_LR_COSINE, 0, 0, 0, 0, "cosine schedule needs decay_steps"},
               {CVAE_LR_COSINE, 0, 10, 2e-3f, 0, "lr_min 0.002 is above lr"},
               {CVAE_LR_COSINE, 0, 10, NAN, 0, "lr_min nan"},
               {CVAE_LR_STEP, 0, 0, 0, 0.5f, "step schedule needs decay_steps"},
               {CVAE_LR_STEP, 0, 5, 0, 0, "gamma 0 is outside"},
               {CVAE_LR_STEP, 0, 5, 0, 1.5f, "gamma 1.5 is outside"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cvae_train_opts o = cvae_train_opts_default();
        o.schedule = bad[i].schedule;
        o.warmup_steps = bad[i].warmup;
        o.decay_steps = bad[i].decay;
        o.lr_min = bad[i].lr_min;
        o.gamma = bad[i].gamma;
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_new(m, &o, &tr));
        if (!strstr(cvae_last_error(), bad[i].says))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, cvae_last_error(), bad[i].says);
        assert_ptr_equal(tr, (cvae_trainer *)0x1);
    }
    cvae_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_at_given_steps),
        cmocka_unit_test(test_trainer_applies_the_schedule),
        cmocka_unit_test(test_kl_warmup_at_given_steps),
        cmocka_unit_test(test_resume_bit_exact_with_schedule),
        cmocka_unit_test(test_checkpoint_without_schedule_keys),
        cmocka_unit_test(test_bad_schedules),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
