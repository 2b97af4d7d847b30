/* The trainer of any network (cvae/train.h): a classifier learns with a loss of its own;
 * thread counts, checkpoints and resume are bit-exact; steps allocate nothing once warm;
 * non-finite steps and bad losses; the loader's batches; the model trainer is this trainer
 * with the ELBO. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failalloc.h"
#include "testutil.h"

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/cvae_test_trainer_%d_%s", (int)getpid(), name);
    return buf;
}

static cvae_dataset *digits(const char *split)
{
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), split, &ds));
    return ds;
}

/* A small label-free convolutional classifier of 28x28 digits. */
static cvae_net *classifier(uint64_t seed)
{
    const cvae_layer layers[] = {
        {.kind = CVAE_LAYER_CONV2D,
         .name = "conv",
         .out = 16,
         .kernel = 3,
         .stride = 2,
         .padding = 1,
         .activation = CVAE_ACT_RELU},
        {.kind = CVAE_LAYER_MAX_POOL2D, .kernel = 2},
        {.kind = CVAE_LAYER_FLATTEN},
        {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 10},
    };
    cvae_net *net;
    CVAE_OK_OR_FAIL(cvae_net_new(seed, &net));
    CVAE_OK_OR_FAIL(cvae_net_add(net, "clf", 3, (int64_t[]){1, 28, 28}, layers, 4, NULL));
    return net;
}

/* user != NULL and *(int *)user set: the loss turns NaN. */
static cvae_status xent(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                        cvae_tensor **loss)
{
    cvae_tensor *logits;
    cvae_status s = cvae_net_forward(net, 0, t, b->x, b->labels, &logits);
    if (s) return s;
    if (user && *(int *)user) logits->data[0] = NAN;
    return cvae_op_softmax_cross_entropy(t, logits, b->labels, CVAE_REDUCE_ROWS, loss);
}

static double accuracy(const cvae_net *net, const cvae_dataset *ds, int64_t n)
{
    cvae_tape *t;
    cvae_tensor *x, *y;
    int64_t *idx = malloc((size_t)n * sizeof *idx), right = 0;
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, 0);
    CVAE_OK_OR_FAIL(cvae_tape_tensor(t, 4, (int64_t[]){n, 1, 28, 28}, &x));
    CVAE_OK_OR_FAIL(cvae_dataset_batch(ds, idx, n, CVAE_BINARIZE_NONE, 0, x->data, labels));
    CVAE_OK_OR_FAIL(cvae_net_forward(net, 0, t, x, NULL, &y));
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < 10; k++)
            if (y->data[i * 10 + k] > y->data[i * 10 + best]) best = k;
        right += best == labels[i];
    }
    cvae_tape_free(t);
    free(idx), free(labels);
    return (double)right / (double)n;
}

static void test_classifier_learns(void **state)
{
    (void)state;
    cvae_dataset *train = digits("train"), *test = digits("t10k");
    cvae_net *net = classifier(1);
    cvae_trainer *tr;
    cvae_loader *ld;
    cvae_train_opts o = cvae_train_opts_default();
    o.lr = 3e-3f;
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
    CVAE_OK_OR_FAIL(cvae_loader_new(train, 64, CVAE_BINARIZE_NONE, 7, 1, &ld));
    const double before = accuracy(net, test, 500);
    float first = 0, last = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        while (cvae_loader_next(ld, &x, &y, &n) == CVAE_OK && n > 0) {
            CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, n, &last));
            if (cvae_trainer_steps(tr) == 1) first = last;
        }
    }
    const double after = accuracy(net, test, 500);
    assert_int_equal(cvae_trainer_steps(tr), 2 * cvae_loader_batches(ld));
    assert_true(first > 2.0f && last < 0.6f);
    if (!(before < 0.3 && after > 0.85)) fail_msg("accuracy %.3f -> %.3f", before, after);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_net_free(net);
    cvae_dataset_free(train), cvae_dataset_free(test);
}

/* Parameters after `steps` steps of batch 40 from a fresh classifier on `threads` threads. */
static float *train_steps(int threads, int steps, int64_t *numel)
{
    cvae_dataset *ds = digits("t10k");
    cvae_net *net = classifier(3);
    cvae_trainer *tr;
    cvae_loader *ld;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, threads));
    assert_int_equal(cvae_trainer_threads(tr), threads);
    CVAE_OK_OR_FAIL(cvae_loader_new(ds, 40, CVAE_BINARIZE_NONE, 5, 1, &ld));
    for (int s = 0; s < steps; s++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        CVAE_OK_OR_FAIL(cvae_loader_next(ld, &x, &y, &n));
        CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, n, NULL));
    }
    const cvae_params *p = cvae_net_params(net);
    *numel = cvae_params_numel(p);
    float *out = malloc((size_t)*numel * sizeof(float));
    memcpy(out, cvae_params_data(p), (size_t)*numel * sizeof(float));
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_net_free(net);
    cvae_dataset_free(ds);
    return out;
}

static void test_threads_reproducible(void **state)
{
    (void)state;
    int64_t n;
    float *a = train_steps(2, 4, &n), *b = train_steps(2, 4, &n), *c = train_steps(1, 4, &n);
    float *d = train_steps(3, 4, &n);
    assert_memory_equal(a, b, (size_t)n * sizeof(float));
    /* another thread count: the same sums in another order (rounding only) */
    test_assert_close(a, c, n, 1e-3, 1e-5, "2 threads against 1");
    test_assert_close(d, c, n, 1e-3, 1e-5, "3 threads against 1");
    free(a), free(b), free(c), free(d);
}

/* Trains `epochs` epochs of 200 digits from loader position (epoch, 0). */
static void run_epochs(cvae_trainer *tr, cvae_loader *ld, int epochs)
{
    for (int e = 0; e < epochs; e++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        while (cvae_loader_next(ld, &x, &y, &n) == CVAE_OK && n > 0)
            CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, n, NULL));
    }
}

static void test_resume_bit_exact(void **state)
{
    (void)state;
    cvae_dataset *all = digits("t10k");
    cvae_dataset part = *all;
    part.n = 200;
    const char *path = tmp_path("ckpt.safetensors");
    float *want = NULL;
    int64_t numel = 0;
    for (int run = 0; run < 2; run++) {
        cvae_net *net = classifier(run ? 99 : 4); /* the restored run starts elsewhere */
        cvae_trainer *tr;
        cvae_loader *ld;
        cvae_train_opts o = cvae_train_opts_default();
        o.clip_norm = 5.0f;
        o.weight_decay = run ? 0.5f : 1e-3f; /* restored from the file */
        CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
        CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 2));
        CVAE_OK_OR_FAIL(cvae_loader_new(&part, 48, CVAE_BINARIZE_STOCHASTIC, 8, 1, &ld));
        if (!run) {
            run_epochs(tr, ld, 1);
            CVAE_OK_OR_FAIL(cvae_trainer_set_lr(tr, 5e-4f));
            CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 1, path));
            run_epochs(tr, ld, 2);
            numel = cvae_params_numel(cvae_net_params(net));
            want = malloc((size_t)numel * sizeof(float));
            memcpy(want, cvae_params_data(cvae_net_params(net)), (size_t)numel * sizeof(float));
        } else {
            int64_t epoch = -1;
            CVAE_OK_OR_FAIL(cvae_trainer_restore(tr, path, &epoch));
            assert_int_equal(epoch, 1);
            assert_int_equal(cvae_trainer_steps(tr), 5);
            assert_true(cvae_trainer_lr(tr) == 5e-4f);
            CVAE_OK_OR_FAIL(cvae_loader_seek(ld, epoch, 0));
            run_epochs(tr, ld, 2);
            assert_memory_equal(want, cvae_params_data(cvae_net_params(net)),
                                (size_t)numel * sizeof(float));
        }
        cvae_loader_free(ld);
        cvae_trainer_free(tr);
        cvae_net_free(net);
    }
    free(want);
    remove(path);
    cvae_dataset_free(all);
}

static void test_restore_errors(void **state)
{
    (void)state;
    cvae_dataset *ds = digits("t10k");
    cvae_net *net = classifier(4), *other;
    cvae_trainer *tr, *tr2;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
    float x[28 * 28 * 2] = {0};
    const int32_t y[2] = {1, 2};
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, 2, NULL));
    char ckpt[256], plain[256], broken[256];
    snprintf(ckpt, sizeof ckpt, "%s", tmp_path("err_ckpt.safetensors"));
    snprintf(plain, sizeof plain, "%s", tmp_path("err_net.safetensors"));
    snprintf(broken, sizeof broken, "%s", tmp_path("err_nan.safetensors"));
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 3, ckpt));
    CVAE_OK_OR_FAIL(cvae_net_save(net, plain));

    /* a network built otherwise: strict, nothing changes */
    const cvae_layer wide[] = {{.kind = CVAE_LAYER_FLATTEN},
                               {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 10}};
    CVAE_OK_OR_FAIL(cvae_net_new(1, &other));
    CVAE_OK_OR_FAIL(cvae_net_add(other, "clf", 3, (int64_t[]){1, 28, 28}, wide, 2, NULL));
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(other, &o, xent, NULL, &tr2));
    const cvae_params *p2 = cvae_net_params(other);
    float *before = malloc((size_t)cvae_params_numel(p2) * sizeof(float));
    memcpy(before, cvae_params_data(p2), (size_t)cvae_params_numel(p2) * sizeof(float));
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_trainer_restore(tr2, ckpt, NULL));
    if (!strstr(cvae_last_error(), "clf.conv.weight")) fail_msg("%s", cvae_last_error());
    assert_memory_equal(before, cvae_params_data(p2),
                        (size_t)cvae_params_numel(p2) * sizeof(float));
    assert_int_equal(cvae_trainer_steps(tr2), 0);
    /* a network file is no checkpoint */
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_trainer_restore(tr, plain, NULL));
    assert_non_null(strstr(cvae_last_error(), "not a training checkpoint"));
    /* NaN in Adam's moments */
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(ckpt, &f));
    const int n = cvae_st_count(f);
    cvae_st_entry *e = calloc((size_t)n, sizeof *e);
    float *bad = NULL;
    for (int i = 0; i < n; i++) {
        e[i].name = cvae_st_name(f, i);
        const float *d;
        CVAE_OK_OR_FAIL(cvae_st_find(f, e[i].name, &e[i].ndim, e[i].shape, &d));
        e[i].data = d;
        if (!strcmp(e[i].name, "optim.adam.v")) {
            bad = malloc((size_t)e[i].shape[0] * sizeof(float));
            memcpy(bad, d, (size_t)e[i].shape[0] * sizeof(float));
            bad[3] = NAN;
            e[i].data = bad;
        }
    }
    const char *keys[2] = {"cvae.kind", "cvae.train"};
    const char *vals[2] = {"checkpoint", cvae_st_meta(f, "cvae.train")};
    CVAE_OK_OR_FAIL(cvae_safetensors_save(broken, e, n, keys, vals, 2));
    cvae_safetensors_close(f);
    const int64_t steps = cvae_trainer_steps(tr);
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_restore(tr, broken, NULL));
    assert_int_equal(cvae_trainer_steps(tr), steps);
    CVAE_EXPECT_ERR(CVAE_ERR_IO, cvae_trainer_restore(tr, tmp_path("none"), NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_save(tr, -1, ckpt));
    remove(ckpt), remove(plain), remove(broken);
    free(e), free(bad), free(before);
    cvae_trainer_free(tr), cvae_trainer_free(tr2);
    cvae_net_free(net), cvae_net_free(other);
    cvae_dataset_free(ds);
}

static void test_zero_allocations(void **state)
{
    (void)state;
    cvae_dataset *ds = digits("t10k");
    for (int threads = 1; threads <= 2; threads++) {
        cvae_net *net = classifier(4);
        cvae_trainer *tr;
        cvae_loader *ld;
        cvae_train_opts o = cvae_train_opts_default();
        o.clip_norm = 1.0f;
        CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
        CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, threads));
        CVAE_OK_OR_FAIL(cvae_loader_new(ds, 32, CVAE_BINARIZE_NONE, 1, 1, &ld));
        for (int s = 0; s < 6; s++) {
            if (s == 2) failalloc_arm(0);
            const float *x;
            const int32_t *y;
            int64_t n;
            CVAE_OK_OR_FAIL(cvae_loader_next(ld, &x, &y, &n));
            CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, n, NULL));
        }
        if (failalloc_calls() != 0)
            fail_msg("%ld allocations in 4 warm steps on %d thread(s)", failalloc_calls(), threads);
        cvae_loader_free(ld);
        cvae_trainer_free(tr);
        cvae_net_free(net);
    }
    cvae_dataset_free(ds);
}

static cvae_status wrong_shape(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                               cvae_tensor **loss)
{
    (void)user;
    return cvae_net_forward(net, 0, t, b->x, b->labels, loss); /* [n, 10]: no loss */
}

static void test_nonfinite_and_bad_losses(void **state)
{
    (void)state;
    cvae_net *net = classifier(2);
    cvae_trainer *tr;
    cvae_train_opts o = cvae_train_opts_default();
    int poison = 0;
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, &poison, &tr));
    float x[28 * 28 * 3];
    for (int i = 0; i < 28 * 28 * 3; i++) x[i] = (float)(i % 7) / 7.0f;
    const int32_t y[3] = {1, 2, 3}, bad_y[3] = {1, 12, 3};
    const cvae_params *p = cvae_net_params(net);
    const size_t bytes = (size_t)cvae_params_numel(p) * sizeof(float);
    float *before = malloc(bytes);
    memcpy(before, cvae_params_data(p), bytes);
    poison = 1;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_step(tr, x, y, 3, NULL));
    assert_memory_equal(before, cvae_params_data(p), bytes);
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_trainer_step(tr, x, bad_y, 3, NULL));
    x[5] = INFINITY;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_step(tr, x, y, 3, NULL));
    assert_non_null(strstr(cvae_last_error(), "input 0"));
    x[5] = 0.5f;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_step(tr, x, y, 0, NULL));
    assert_memory_equal(before, cvae_params_data(p), bytes);
    assert_int_equal(cvae_trainer_steps(tr), 0);
    cvae_trainer_free(tr);

    o.skip_nonfinite = 1;
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, xent, &poison, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, 3, NULL));
    assert_int_equal(cvae_trainer_skipped(tr), 1);
    assert_int_equal(cvae_trainer_steps(tr), 0);
    assert_memory_equal(before, cvae_params_data(p), bytes);
    poison = 0;
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, 3, NULL));
    assert_int_equal(cvae_trainer_steps(tr), 1);
    assert_memory_not_equal(before, cvae_params_data(p), bytes);
    cvae_trainer_free(tr);

    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, wrong_shape, NULL, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 1));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_trainer_step(tr, x, y, 3, NULL));
    if (!strstr(cvae_last_error(), "30 values for a slice of 3")) fail_msg("%s", cvae_last_error());
    cvae_trainer_free(tr);
    o.lr = -1.0f;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_new_net(net, &o, xent, NULL, &tr));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_trainer_new_net(net, &o, NULL, NULL, &tr));
    free(before);
    cvae_net_free(net);
}

static void test_loader(void **state)
{
    (void)state;
    cvae_dataset *ds = digits("t10k");
    cvae_dataset part = *ds;
    part.n = 103;
    cvae_loader *a, *b, *plain;
    CVAE_OK_OR_FAIL(cvae_loader_new(&part, 25, CVAE_BINARIZE_NONE, 3, 1, &a));
    CVAE_OK_OR_FAIL(cvae_loader_new(&part, 25, CVAE_BINARIZE_NONE, 3, 1, &b));
    CVAE_OK_OR_FAIL(cvae_loader_new(&part, 25, CVAE_BINARIZE_NONE, 3, 0, &plain));
    assert_int_equal(cvae_loader_batches(a), 5);
    const float *x, *xb;
    const int32_t *y, *yb;
    int64_t n, nb;
    /* every sample once per epoch: label counts and pixel sums match the dataset's */
    double want = 0, got[2] = {0, 0};
    int want_hist[10] = {0}, hist[10] = {0};
    for (int64_t i = 0; i < part.n * 784; i++) want += part.images[i] / 255.0;
    for (int64_t i = 0; i < part.n; i++) want_hist[part.labels[i]]++;
    float first_batch[2][25 * 784];
    for (int e = 0; e < 2; e++) {
        int batches = 0;
        memset(hist, 0, sizeof hist);
        while (cvae_loader_next(a, &x, &y, &n) == CVAE_OK && n > 0) {
            assert_int_equal(n, batches < 4 ? 25 : 3);
            CVAE_OK_OR_FAIL(cvae_loader_next(b, &xb, &yb, &nb));
            assert_int_equal(n, nb);
            assert_memory_equal(x, xb, (size_t)n * 784 * sizeof(float));
            if (!batches) memcpy(first_batch[e], x, sizeof first_batch[e]);
            for (int64_t i = 0; i < n * 784; i++) got[e] += x[i];
            for (int64_t i = 0; i < n; i++) hist[y[i]]++;
            batches++;
        }
        assert_null(x);
        assert_int_equal(batches, 5);
        assert_int_equal(cvae_loader_epoch(a), e + 1);
        assert_memory_equal(hist, want_hist, sizeof hist);
        assert_true(fabs(got[e] - want) < 1e-3 * want);
        CVAE_OK_OR_FAIL(cvae_loader_next(b, &xb, &yb, &nb));
        assert_int_equal(nb, 0);
    }
    assert_memory_not_equal(first_batch[0], first_batch[1], sizeof first_batch[0]);
    /* without shuffling: file order */
    CVAE_OK_OR_FAIL(cvae_loader_next(plain, &x, &y, &n));
    int64_t idx[25];
    float direct[25 * 784];
    int32_t dl[25];
    for (int i = 0; i < 25; i++) idx[i] = i;
    CVAE_OK_OR_FAIL(cvae_dataset_batch(&part, idx, 25, CVAE_BINARIZE_NONE, 0, direct, dl));
    assert_memory_equal(x, direct, sizeof direct);
    assert_memory_equal(y, dl, sizeof dl);
    /* seek: batch 1 of epoch 1 as a fresh pass gives it */
    CVAE_OK_OR_FAIL(cvae_loader_seek(b, 1, 0));
    CVAE_OK_OR_FAIL(cvae_loader_next(b, &xb, &yb, &nb));
    assert_memory_equal(xb, first_batch[1], sizeof first_batch[1]);
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_loader_seek(b, 0, 6));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_loader_new(&part, 0, CVAE_BINARIZE_NONE, 3, 1, &a));
    cvae_loader_free(a), cvae_loader_free(b), cvae_loader_free(plain);
    cvae_dataset_free(ds);
}

/* The model trainer is the generic trainer with cvae_elbo_loss on the model's network. */
static void test_model_trainer_is_generic(void **state)
{
    (void)state;
    cvae_dataset *ds = digits("t10k");
    cvae_model_config c = cvae_model_config_default();
    c.cond_decoder = 1;
    float *params[2];
    int64_t numel = 0;
    for (int way = 0; way < 2; way++) {
        cvae_model *m;
        cvae_trainer *tr;
        cvae_train_opts o = cvae_train_opts_default();
        o.seed = 17;
        CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
        cvae_elbo_spec spec = {.encoder = cvae_net_find(cvae_model_net(m), "enc"),
                               .decoder = cvae_net_find(cvae_model_net(m), "dec"),
                               .beta = c.beta};
        CVAE_OK_OR_FAIL(
            way ? cvae_trainer_new_net(cvae_model_net(m), &o, cvae_elbo_loss, &spec, &tr)
                : cvae_trainer_new(m, &o, &tr));
        CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 2));
        cvae_loader *ld;
        CVAE_OK_OR_FAIL(cvae_loader_new(ds, 32, CVAE_BINARIZE_NONE, 1, 1, &ld));
        for (int s = 0; s < 3; s++) {
            const float *x;
            const int32_t *y;
            int64_t n;
            CVAE_OK_OR_FAIL(cvae_loader_next(ld, &x, &y, &n));
            CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, n, NULL));
        }
        numel = cvae_params_numel(cvae_model_params(m));
        params[way] = malloc((size_t)numel * sizeof(float));
        memcpy(params[way], cvae_params_data(cvae_model_params(m)), (size_t)numel * sizeof(float));
        cvae_loader_free(ld);
        cvae_trainer_free(tr);
        cvae_model_free(m);
    }
    assert_memory_equal(params[0], params[1], (size_t)numel * sizeof(float));
    free(params[0]), free(params[1]);

    /* a model trainer restores only a checkpoint of the same configuration */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("model_ckpt.safetensors"));
    cvae_model *m, *other;
    cvae_trainer *tr, *tr2;
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 0, path));
    c.beta = 2.0f; /* the same parameters, another loss */
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &other));
    CVAE_OK_OR_FAIL(cvae_trainer_new(other, &o, &tr2));
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_trainer_restore(tr2, path, NULL));
    assert_non_null(strstr(cvae_last_error(), "configuration"));
    CVAE_OK_OR_FAIL(cvae_trainer_restore(tr, path, NULL));
    remove(path);
    cvae_trainer_free(tr), cvae_trainer_free(tr2);
    cvae_model_free(m), cvae_model_free(other);
    cvae_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier_learns),
        cmocka_unit_test(test_threads_reproducible),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_restore_errors),
        cmocka_unit_test_setup_teardown(test_zero_allocations, failalloc_setup, failalloc_teardown),
        cmocka_unit_test(test_nonfinite_and_bad_losses),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_model_trainer_is_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
