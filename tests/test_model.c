/* The conditional VAE: parameter count, determinism, files, resume, threads, bad input. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define N 16
#define PER (28 * 28)
#define LAT 16

static cvae_dataset *digits;
static float images[N * PER];
static int32_t labels[N];
static char dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    if (cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &digits)) return -1;
    int64_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i * 37;
    if (cvae_dataset_batch(digits, idx, N, CVAE_BINARIZE_NONE, 0, images, labels)) return -1;
    snprintf(dir, sizeof dir, "/tmp/cvae-test-model-%d", (int)getpid());
    return mkdir(dir, 0700);
}

static int teardown(void **state)
{
    (void)state;
    cvae_dataset_free(digits);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static cvae_model *new_model(const cvae_model_config *cfg)
{
    cvae_model *m = NULL;
    cvae_model_config c = cfg ? *cfg : cvae_model_config_default();
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    return m;
}

static void config_equal(const cvae_model_config *a, const cvae_model_config *b)
{
    assert_int_equal(a->image_channels, b->image_channels);
    assert_int_equal(a->image_h, b->image_h);
    assert_int_equal(a->image_w, b->image_w);
    assert_int_equal(a->num_labels, b->num_labels);
    assert_int_equal(a->latent, b->latent);
    assert_int_equal(a->enc_channels, b->enc_channels);
    assert_int_equal(a->cond_channels, b->cond_channels);
    assert_int_equal(a->enc2_channels, b->enc2_channels);
    assert_int_equal(a->dec_channels, b->dec_channels);
    assert_int_equal(a->table_trainable, b->table_trainable);
    assert_int_equal(a->table_init, b->table_init);
    assert_int_equal(a->cond_decoder, b->cond_decoder);
    assert_int_equal(a->init, b->init);
    assert_memory_equal(&a->beta, &b->beta, sizeof a->beta);
    assert_int_equal(a->kl_warmup, b->kl_warmup);
    assert_true(a->seed == b->seed);
}

static void params_equal(cvae_model *a, cvae_model *b)
{
    cvae_params *pa = cvae_model_params(a), *pb = cvae_model_params(b);
    assert_int_equal(cvae_params_numel(pa), cvae_params_numel(pb));
    assert_memory_equal(cvae_params_data(pa), cvae_params_data(pb),
                        (size_t)cvae_params_numel(pa) * sizeof(float));
}

/* The reference architecture's parameter count, layer by layer. */
static void test_parameter_count_and_summary(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL);
    const int64_t want = (32 * 9 + 32) + (10 * 8 * 9 + 10 * 8) + (64 * 40 * 9 + 64) +
                         (32 * 3146 + 32) + (3136 * 26 + 3136) + (64 * 32 * 16 + 32) + (32 * 16 + 1);
    assert_int_equal(cvae_params_numel(cvae_model_params(m)), want);
    char buf[4096], line[64];
    size_t needed = 0;
    CVAE_OK_OR_FAIL(cvae_model_summary(m, buf, sizeof buf, &needed));
    snprintf(line, sizeof line, "Total params: %lld", (long long)want);
    assert_non_null(strstr(buf, line));
    assert_int_equal(needed, strlen(buf) + 1);
    char small[16];
    CVAE_OK_OR_FAIL(cvae_model_summary(m, small, sizeof small, NULL));
    assert_int_equal(strlen(small), sizeof small - 1);
    cvae_model_free(m);
}

static void test_forward_is_deterministic_and_sane(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL);
    static float r1[N * PER], r2[N * PER], mu1[N * LAT], mu2[N * LAT], lv[N * LAT];
    CVAE_OK_OR_FAIL(cvae_model_forward(m, images, labels, N, 7, r1, mu1, lv));
    CVAE_OK_OR_FAIL(cvae_model_forward(m, images, labels, N, 7, r2, mu2, NULL));
    assert_memory_equal(r1, r2, sizeof r1);
    assert_memory_equal(mu1, mu2, sizeof mu1);
    for (int i = 0; i < N * PER; i++) assert_true(r1[i] > 0.0f && r1[i] < 1.0f);
    CVAE_OK_OR_FAIL(cvae_model_forward(m, images, labels, N, 8, r2, mu2, NULL));
    assert_memory_equal(mu1, mu2, sizeof mu1); /* the encoder has no noise */
    assert_true(memcmp(r1, r2, sizeof r1) != 0);
    /* encode == forward's mu; a label changes the code */
    CVAE_OK_OR_FAIL(cvae_model_encode(m, images, labels, N, mu2, NULL));
    assert_memory_equal(mu1, mu2, sizeof mu1);
    int32_t other[N];
    for (int i = 0; i < N; i++) other[i] = (labels[i] + 1) % 10;
    CVAE_OK_OR_FAIL(cvae_model_encode(m, images, other, N, mu2, NULL));
    assert_true(memcmp(mu1, mu2, sizeof mu1) != 0);
    /* a sample's result does not depend on the rest of the batch (eps of sample i
     * depends on the seed and i only, so sample 0 alone sees the same noise) */
    float r_one[PER], mu_one[LAT];
    CVAE_OK_OR_FAIL(cvae_model_forward(m, images, labels, 1, 7, r_one, NULL, NULL));
    test_assert_close(r_one, r1, PER, 1e-5, 1e-6, "sample 0 alone vs in the batch");
    CVAE_OK_OR_FAIL(cvae_model_encode(m, images + 5 * PER, labels + 5, 1, mu_one, NULL));
    test_assert_close(mu_one, mu1 + 5 * LAT, LAT, 1e-5, 1e-6, "code of sample 5 alone vs in the batch");
    cvae_model_free(m);
}

static void test_bad_input(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL);
    static float out[N * PER], bad[N * PER];
    for (int i = 0; i < N * PER; i++) out[i] = -7.0f;
    int32_t y[N];
    memcpy(y, labels, sizeof y);
    y[5] = 10;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_model_forward(m, images, y, N, 1, out, NULL, NULL));
    assert_non_null(strstr(cvae_last_error(), "sample 5"));
    y[5] = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_model_generate(m, y, N, 1, out));
    for (int i = 0; i < N * PER; i++) assert_true(out[i] == -7.0f);
    memcpy(bad, images, sizeof bad);
    bad[PER * 2 + 100] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_model_forward(m, bad, labels, N, 1, out, NULL, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_forward(m, images, labels, 0, 1, out, NULL, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_forward(NULL, images, labels, N, 1, out, NULL, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_forward(m, images, NULL, N, 1, out, NULL, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_iw_nll(m, images, labels, N, 0, 1, out));
    cvae_model_config c = cvae_model_config_default();
    c.image_h = 30;
    cvae_model *none = (cvae_model *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_new(&c, &none));
    assert_ptr_equal(none, (cvae_model *)0x1);
    c = cvae_model_config_default();
    c.beta = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_new(&c, &none));
    for (int i = 0; i < N * PER; i++) assert_true(out[i] == -7.0f);
    cvae_model_free(m);
}

static void test_config_json_round_trip(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default(), d;
    c.latent = 2, c.cond_decoder = 1, c.table_trainable = 0, c.table_init = CVAE_TABLE_GABOR;
    c.beta = 0.25f, c.seed = 18446744073709551615ull, c.kl_warmup = 2147483647;
    char *json = NULL;
    const cvae_init inits[] = {CVAE_INIT_DEFAULT, CVAE_INIT_GLOROT_UNIFORM, CVAE_INIT_HE_NORMAL,
                               CVAE_INIT_HE_UNIFORM, CVAE_INIT_TORCH};
    for (size_t i = 0; i < sizeof inits / sizeof *inits; i++) {
        c.init = inits[i];
        CVAE_OK_OR_FAIL(cvae_model_config_to_json(&c, &json));
        CVAE_OK_OR_FAIL(cvae_model_config_from_json(json, strlen(json), &d));
        config_equal(&c, &d);
        cvae_free_buffer(json);
    }
    /* a configuration written before "init" and "kl_warmup" existed: the scheme it was made with */
    const char *old = "{\"image_channels\":1,\"image_h\":28,\"image_w\":28,\"num_labels\":10,"
                      "\"latent\":16,\"enc_channels\":32,\"cond_channels\":8,\"enc2_channels\":64,"
                      "\"dec_channels\":32,\"table_trainable\":1,\"table_init\":\"random\","
                      "\"cond_decoder\":0,\"beta\":1,\"seed\":\"1\"}";
    CVAE_OK_OR_FAIL(cvae_model_config_from_json(old, strlen(old), &d));
    assert_int_equal(d.init, CVAE_INIT_DEFAULT);
    assert_int_equal(d.kl_warmup, 0);
    cvae_model_config z = cvae_model_config_default();
    z.init = CVAE_INIT_ZEROS; /* every unit alike: refused */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_config_validate(&z));
    z.init = (cvae_init)9;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_config_validate(&z));
    z.init = CVAE_INIT_TORCH, z.kl_warmup = -1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_config_validate(&z));
    c.init = CVAE_INIT_TORCH;
    CVAE_OK_OR_FAIL(cvae_model_config_to_json(&c, &json));
    CVAE_OK_OR_FAIL(cvae_model_config_from_json(json, strlen(json), &d));
    cvae_free_buffer(json);
    const char *bad[] = {"",
                         "[]",
                         "{\"latent\": 0}",
                         "{\"latent\": 1.5}",
                         "{\"seed\": 5}",
                         "{\"seed\": \"-1\"}",
                         "{\"table_init\": \"sobel\"}",
                         "{\"image_h\": 1e300}",
                         "{\"latent\": \"16\"}",
                         "{\"beta\": -1}",
                         "{\"cond_decoder\": 1, \"cond_channels\": 0}",
                         "{\"init\": \"zeros\"}",
                         "{\"init\": \"kaiming\"}",
                         "{\"init\": 5}",
                         "{\"kl_warmup\": -1}",
                         "{\"kl_warmup\": 0.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cvae_status s = cvae_model_config_from_json(bad[i], strlen(bad[i]), &d);
        if (s == CVAE_OK) fail_msg("config '%s' was accepted", bad[i]);
    }
    /* a key the configuration does not have, or one given twice, is named */
    const char *unknown = "{\"latent\": 4, \"foo\": 1}", *twice = "{\"latent\": 4, \"latent\": 8}";
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_config_from_json(unknown, strlen(unknown), &d));
    assert_string_equal(cvae_last_error(), "model config: unknown key \"foo\"");
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_config_from_json(twice, strlen(twice), &d));
    assert_string_equal(cvae_last_error(), "model config: key \"latent\" appears twice");
    config_equal(&c, &d); /* untouched by the failures */
}

static void train_steps(cvae_trainer *tr, int steps, int offset, float *last)
{
    for (int s = 0; s < steps; s++) {
        /* a different half-batch each step, from the fixed sample */
        int k = (s + offset) % 2;
        CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images + k * (N / 2) * PER, labels + k * (N / 2), N / 2, last));
    }
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    c.cond_decoder = 1;
    cvae_model *m = new_model(&c), *l = NULL;
    CVAE_OK_OR_FAIL(cvae_model_save(m, tmp_path("m.safetensors")));
    CVAE_OK_OR_FAIL(cvae_model_load(tmp_path("m.safetensors"), &l));
    params_equal(m, l);
    config_equal(cvae_model_get_config(m), cvae_model_get_config(l));
    static float a[N * PER], b[N * PER];
    CVAE_OK_OR_FAIL(cvae_model_forward(m, images, labels, N, 3, a, NULL, NULL));
    CVAE_OK_OR_FAIL(cvae_model_forward(l, images, labels, N, 3, b, NULL, NULL));
    assert_memory_equal(a, b, sizeof a);
    cvae_model_free(m);
    cvae_model_free(l);
}

/* Six steps in one go equal three steps, a checkpoint, a reload and three more. */
static void test_resume_is_bit_exact(void **state)
{
    (void)state;
    cvae_train_opts o = cvae_train_opts_default();
    o.clip_norm = 100.0f;
    cvae_model *a = new_model(NULL), *b = new_model(NULL), *b2 = NULL;
    cvae_trainer *ta, *tb, *tb2 = NULL;
    float la, lb;
    CVAE_OK_OR_FAIL(cvae_trainer_new(a, &o, &ta));
    CVAE_OK_OR_FAIL(cvae_trainer_new(b, &o, &tb));
    train_steps(ta, 6, 0, &la);
    train_steps(tb, 3, 0, &lb);
    CVAE_OK_OR_FAIL(cvae_trainer_save(tb, 3, tmp_path("ckpt.safetensors")));
    cvae_trainer_free(tb);
    cvae_model_free(b);
    int64_t epoch = -1;
    CVAE_OK_OR_FAIL(cvae_trainer_load(tmp_path("ckpt.safetensors"), &b2, &tb2, &epoch));
    assert_int_equal(epoch, 3);
    assert_int_equal(cvae_trainer_steps(tb2), 3);
    train_steps(tb2, 3, 3, &lb);
    assert_int_equal(cvae_trainer_steps(tb2), 6);
    assert_memory_equal(&la, &lb, sizeof la);
    params_equal(a, b2);
    /* a model file is not a checkpoint, but a checkpoint loads as a model */
    cvae_model *mm = NULL;
    cvae_trainer *tt = NULL;
    CVAE_OK_OR_FAIL(cvae_model_save(a, tmp_path("plain.safetensors")));
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_trainer_load(tmp_path("plain.safetensors"), &mm, &tt, NULL));
    CVAE_OK_OR_FAIL(cvae_model_load(tmp_path("ckpt.safetensors"), &mm));
    cvae_model_free(mm);
    cvae_trainer_free(ta);
    cvae_trainer_free(tb2);
    cvae_model_free(a);
    cvae_model_free(b2);
}

static void test_training_lowers_the_loss_and_respects_frozen_table(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    c.table_trainable = 0;
    c.table_init = CVAE_TABLE_GABOR;
    cvae_model *m = new_model(&c);
    cvae_params *p = cvae_model_params(m);
    cvae_tensor *table = cvae_params_find(p, "enc.cond.table"), *w = cvae_params_find(p, "enc.conv1.weight");
    assert_non_null(table);
    assert_null(table->grad);
    float *t0 = malloc(sizeof(float) * (size_t)table->size), *w0 = malloc(sizeof(float) * (size_t)w->size);
    memcpy(t0, table->data, sizeof(float) * (size_t)table->size);
    memcpy(w0, w->data, sizeof(float) * (size_t)w->size);
    cvae_trainer *tr;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    float first = 0, last = 0;
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, N, &first));
    for (int s = 0; s < 40; s++) CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, N, &last));
    print_message("loss %.2f -> %.2f after 41 steps on one batch\n", first, last);
    assert_true(last < 0.7f * first);
    assert_memory_equal(t0, table->data, sizeof(float) * (size_t)table->size);
    assert_true(memcmp(w0, w->data, sizeof(float) * (size_t)w->size) != 0);
    free(t0), free(w0);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

static void test_nonfinite_training_stops_cleanly(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL);
    cvae_params *p = cvae_model_params(m);
    cvae_trainer *tr;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    cvae_tensor *w = cvae_params_find(p, "dec.deconv2.weight");
    w->data[3] = INFINITY;
    const int64_t n = cvae_params_numel(p);
    float *before = malloc(sizeof(float) * (size_t)n);
    memcpy(before, cvae_params_data(p), sizeof(float) * (size_t)n);
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_step(tr, images, labels, N, NULL));
    assert_memory_equal(before, cvae_params_data(p), sizeof(float) * (size_t)n);
    assert_int_equal(cvae_trainer_steps(tr), 0);
    cvae_trainer_free(tr);
    o.skip_nonfinite = 1;
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, images, labels, N, NULL));
    assert_int_equal(cvae_trainer_skipped(tr), 1);
    assert_int_equal(cvae_trainer_steps(tr), 0);
    assert_memory_equal(before, cvae_params_data(p), sizeof(float) * (size_t)n);
    free(before);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

/* Importance weighting tightens the bound: E[IW-NLL_k] <= E[-ELBO]. */
static void test_iw_nll_below_elbo(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL);
    float nll[N], rec[N], kl[N];
    CVAE_OK_OR_FAIL(cvae_model_iw_nll(m, images, labels, N, 64, 5, nll));
    double elbo = 0, iw = 0;
    for (int s = 0; s < 8; s++) {
        CVAE_OK_OR_FAIL(cvae_model_elbo(m, images, labels, N, 100 + (uint64_t)s, rec, kl));
        for (int i = 0; i < N; i++) elbo += (rec[i] + kl[i]) / 8.0;
    }
    for (int i = 0; i < N; i++) iw += nll[i];
    print_message("mean -ELBO %.3f, IW-NLL(64) %.3f\n", elbo / N, iw / N);
    assert_true(iw <= elbo);
    assert_true(iw > 0.5 * elbo);
    float nll1[N];
    CVAE_OK_OR_FAIL(cvae_model_iw_nll(m, images, labels, N, 1, 5, nll1));
    for (int i = 0; i < N; i++) assert_true(isfinite(nll1[i]) && nll1[i] > 0);
    cvae_model_free(m);
}

typedef struct job {
    const cvae_model *m;
    int id;
    float recon[N * PER], gen[N * PER];
    cvae_status s;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int r = 0; r < 3 && !j->s; r++) {
        j->s = cvae_model_forward(j->m, images, labels, N, (uint64_t)j->id, j->recon, NULL, NULL);
        if (!j->s) j->s = cvae_model_generate(j->m, labels, N, (uint64_t)j->id, j->gen);
    }
    cvae_thread_workspace_release();
    return NULL;
}

static void test_threads_match_serial(void **state)
{
    (void)state;
    enum { T = 6 };
    cvae_model *m = new_model(NULL);
    static job jobs[T], serial[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        serial[i].m = jobs[i].m = m;
        serial[i].id = jobs[i].id = i % 3;
        run_job(&serial[i]);
        assert_int_equal(serial[i].s, CVAE_OK);
    }
    for (int i = 0; i < T; i++) assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        assert_int_equal(jobs[i].s, CVAE_OK);
        assert_memory_equal(jobs[i].recon, serial[i].recon, sizeof jobs[i].recon);
        assert_memory_equal(jobs[i].gen, serial[i].gen, sizeof jobs[i].gen);
    }
    cvae_model_free(m);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_file(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)*size);
    assert_int_equal(fread(buf, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return buf;
}

/* Points at the first occurrence of `what` in b[0..n) (which must hold it). */
static unsigned char *find_bytes(unsigned char *b, size_t n, const char *what)
{
    for (size_t i = 0; i + strlen(what) <= n; i++)
        if (memcmp(b + i, what, strlen(what)) == 0) return b + i;
    fail_msg("'%s' not found", what);
    return NULL;
}

/* Found by review: the checksum covered the data only, so a flipped metadata byte
 * (table_trainable 1 -> 0) loaded silently, and unknown configuration or training-state keys
 * were ignored. */
static void test_metadata_is_checked(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL), *l = (cvae_model *)0x1;
    cvae_trainer *tr, *lt = (cvae_trainer *)0x1;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    char good[512], ckpt[512], bad[512];
    snprintf(good, sizeof good, "%s", tmp_path("meta-good.safetensors"));
    snprintf(ckpt, sizeof ckpt, "%s", tmp_path("meta-ckpt.safetensors"));
    snprintf(bad, sizeof bad, "%s", tmp_path("meta-bad.safetensors"));
    CVAE_OK_OR_FAIL(cvae_model_save(m, good));
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 1, ckpt));

    long size;
    unsigned char *buf = read_file(good, &size);
    unsigned char *flag = find_bytes(buf, (size_t)size, "\\\"table_trainable\\\":1");
    flag[strlen("\\\"table_trainable\\\":")] = '0'; /* valid JSON, a valid config: a frozen table */
    write_file(bad, buf, (size_t)size);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    assert_non_null(strstr(cvae_last_error(), "checksum mismatch"));
    assert_non_null(strstr(cvae_last_error(), bad));
    free(buf);

    test_resave_with_meta(good, bad, "cvae.config", "{\"latent\":16,\"foo\":1}");
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    assert_non_null(strstr(cvae_last_error(), bad));
    assert_non_null(strstr(cvae_last_error(), "model config: unknown key \"foo\""));

    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(ckpt, &f));
    char train[1024];
    snprintf(train, sizeof train, "%s", cvae_st_meta(f, "cvae.train"));
    cvae_safetensors_close(f);
    test_resave_with_meta(ckpt, bad, "cvae.train", train); /* re-saved as it was: it loads */
    cvae_model *cm = NULL;
    cvae_trainer *ct = NULL;
    CVAE_OK_OR_FAIL(cvae_trainer_load(bad, &cm, &ct, NULL));
    cvae_trainer_free(ct);
    cvae_model_free(cm);
    snprintf(train + strlen(train) - 1, sizeof train - strlen(train) + 1, ",\"lr_decay\":0.5}");
    test_resave_with_meta(ckpt, bad, "cvae.train", train);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_trainer_load(bad, &l, &lt, NULL));
    assert_non_null(strstr(cvae_last_error(), "training state: unknown key \"lr_decay\""));
    assert_ptr_equal(l, (cvae_model *)0x1);
    assert_ptr_equal(lt, (cvae_trainer *)0x1);
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

/* Files of format 1 (crc32 over the data section only; tests/fuzz/corpus/model_file/v1_*,
 * written by cvae before format 2) still load, and save again as format 2. */
static void test_format_1_files_load(void **state)
{
    (void)state;
    const char *model = CVAE_FUZZ_CORPUS_DIR "/model_file/v1_tiny_model";
    const char *ckpt = CVAE_FUZZ_CORPUS_DIR "/model_file/v1_tiny_checkpoint";
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(model, &f));
    assert_string_equal(cvae_st_meta(f, "format_version"), "1");
    cvae_safetensors_close(f);
    cvae_model *m = NULL, *back = NULL, *cm = NULL;
    CVAE_OK_OR_FAIL(cvae_model_load(model, &m));
    const cvae_model_config *c = cvae_model_get_config(m);
    assert_int_equal(c->init, CVAE_INIT_DEFAULT); /* written before the key existed */
    assert_int_equal(c->image_h, 8);
    assert_int_equal(c->num_labels, 3);
    assert_int_equal(c->latent, 2);
    CVAE_OK_OR_FAIL(cvae_model_save(m, tmp_path("resaved.safetensors")));
    CVAE_OK_OR_FAIL(cvae_safetensors_open(tmp_path("resaved.safetensors"), &f));
    assert_string_equal(cvae_st_meta(f, "format_version"), CVAE_ST_FORMAT_VERSION);
    cvae_safetensors_close(f);
    CVAE_OK_OR_FAIL(cvae_model_load(tmp_path("resaved.safetensors"), &back));
    params_equal(m, back);
    cvae_trainer *tr = NULL;
    int64_t epoch = -1;
    CVAE_OK_OR_FAIL(cvae_trainer_load(ckpt, &cm, &tr, &epoch));
    assert_int_equal(epoch, 3);
    assert_int_equal(cvae_trainer_steps(tr), 1);
    cvae_trainer_free(tr);
    cvae_model_free(cm);
    cvae_model_free(back);
    cvae_model_free(m);
}

static void test_bad_files(void **state)
{
    (void)state;
    cvae_model *m = new_model(NULL), *l = (cvae_model *)0x1;
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s", tmp_path("good.safetensors"));
    snprintf(bad, sizeof bad, "%s", tmp_path("bad.safetensors"));
    CVAE_OK_OR_FAIL(cvae_model_save(m, good));
    long size;
    unsigned char *buf = read_file(good, &size);
    const long cuts[] = {0, 7, 8, 100, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(bad, buf, (size_t)cuts[i]);
        CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    }
    buf[size - 5] ^= 0x40; /* a weight bit: the CRC catches it */
    write_file(bad, buf, (size_t)size);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    buf[size - 5] ^= 0x40;
    unsigned char huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    memcpy(buf, huge, 8);
    write_file(bad, buf, (size_t)size);
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_model_load(tmp_path("missing.safetensors"), &l));
    /* the configuration says latent 8 but the tensors are for latent 16 */
    cvae_params *p = cvae_model_params(m);
    const char *keys[2] = {"cvae.kind", "cvae.config"}, *vals[2] = {"model", "{\"latent\": 8}"};
    CVAE_OK_OR_FAIL(cvae_safetensors_save_params(bad, p, keys, vals, 2));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_model_load(bad, &l));
    /* not a cvae file */
    CVAE_OK_OR_FAIL(cvae_safetensors_save_params(bad, p, NULL, NULL, 0));
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(bad, &l));
    assert_ptr_equal(l, (cvae_model *)0x1);
    /* a failed save leaves the previous file intact */
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_model_save(m, tmp_path("no/such/dir/x.safetensors")));
    CVAE_OK_OR_FAIL(cvae_model_load(good, &l));
    cvae_model_free(l);
    free(buf);
    cvae_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_count_and_summary),
        cmocka_unit_test(test_forward_is_deterministic_and_sane),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_config_json_round_trip),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_resume_is_bit_exact),
        cmocka_unit_test(test_training_lowers_the_loss_and_respects_frozen_table),
        cmocka_unit_test(test_nonfinite_training_stops_cleanly),
        cmocka_unit_test(test_iw_nll_below_elbo),
        cmocka_unit_test(test_threads_match_serial),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_metadata_is_checked),
        cmocka_unit_test(test_format_1_files_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
