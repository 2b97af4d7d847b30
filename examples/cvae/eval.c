/* cvae eval: test -ELBO, importance-weighted NLL, and, in the eyes of a CNN judge trained on
 * the same training set (examples/nets/judge.h), conditional fidelity and Fréchet distances
 * of generated images (docs/metrics.md). */
#include <stdlib.h>

#include "cli.h"
#include "quality.h"

typedef struct eval_args {
    const char *model, *data;
    long k, n_test, per_label, judge_epochs, seed;
    int binarize; /* cvae_binarize */
} eval_args;

static const cli_option eval_options[] = {
    CLI_STRING(eval_args, model, "model", "PATH", "out/cvae.safetensors", "model file"),
    CLI_STRING(eval_args, data, "data", "DIR", NULL,
               "MNIST-format directory (default: the bundled digits)"),
    CLI_INT(eval_args, k, "k", "N", 0, 100000, "1000",
            "importance samples per test image, 0 skips the IW-NLL"),
    CLI_INT(eval_args, n_test, "n-test", "N", 1, 1L << 30, NULL,
            "IW-NLL on the first N test images (default all)"),
    CLI_INT(eval_args, per_label, "per-label", "N", 1, 100000, "100",
            "generated samples per label for fidelity"),
    CLI_INT(eval_args, judge_epochs, "judge-epochs", "N", 0, 1000, "0",
            "training epochs of the judge classifier; 0: 15, or fewer on sets of over 16,000 "
            "images (about 240,000 images seen)"),
    CLI_ENUM(eval_args, binarize, "binarize", "MODE", cli_binarize_choices, "none",
             "binarization of the pixels"),
    CLI_INT(eval_args, seed, "seed", "N", 0, 2147483647, "1",
            "seed of the noise, the samples and the judge"),
    CLI_END};

static int run(int argc, char **argv);

const cli_command cli_eval = {
    .name = "eval",
    .synopsis = "[options]",
    .about = "test -ELBO, IW-NLL, conditional fidelity and Fréchet distances of a model",
    .options = eval_options,
    .run = run};

static int iw_nll(const cvae_model *m, const cvae_dataset *ds, int64_t n_test, int k,
                  cvae_binarize mode, uint64_t seed, double *out)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    const int64_t per = (int64_t)c->image_channels * c->image_h * c->image_w, bs = 100;
    float *x = malloc(sizeof(float) * (size_t)(bs * per)), *nll = malloc(sizeof(float) * bs);
    int32_t *y = malloc(sizeof(int32_t) * bs);
    int64_t *idx = malloc(sizeof(int64_t) * bs);
    double sum = 0;
    int ok = x && nll && y && idx;
    for (int64_t s = 0; ok && s < n_test; s += bs) {
        int64_t n = n_test - s < bs ? n_test - s : bs;
        for (int64_t i = 0; i < n; i++) idx[i] = s + i;
        ok = cli_batch(ds, idx, n, mode, seed, x, y) &&
             !cli_fail(cvae_model_iw_nll(m, x, y, n, k, seed + (uint64_t)s, nll), "iw-nll");
        for (int64_t i = 0; ok && i < n; i++) sum += nll[i];
    }
    free(x), free(nll), free(y), free(idx);
    *out = sum / (double)n_test;
    return ok;
}

/* Trains the judge, prints its accuracy on the real test set, then fidelity and the Fréchet
 * distances of the model's images in its eyes. */
static int judge_model(const cvae_model *m, const cvae_dataset *train, const cvae_dataset *test,
                       const eval_args *a)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    if (c->image_channels != 1 || c->image_h != train->rows || c->image_w != train->cols) {
        printf("judge: skipped (it takes 1-channel images of the data's size)\n");
        return 1;
    }
    judge_opts o = judge_opts_default();
    o.epochs = a->judge_epochs ? (int)a->judge_epochs : judge_auto_epochs(train->n);
    o.seed = (uint64_t)a->seed;
    judge *j = NULL;
    double t0 = cli_now();
    if (cli_fail(judge_train(train, &o, &j), "training the judge")) return 0;
    const double took = cli_now() - t0;
    const int64_t nt = test->n, per = (int64_t)c->image_h * c->image_w;
    float *x = malloc(sizeof(float) * (size_t)(nt * per));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)nt), *pred = malloc(sizeof(int32_t) * (size_t)nt);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)nt), right = 0;
    int ok = x && y && pred && idx;
    for (int64_t i = 0; ok && i < nt; i++) idx[i] = i;
    ok = ok && cli_batch(test, idx, nt, CVAE_BINARIZE_NONE, 0, x, y) &&
         !cli_fail(judge_apply(j, x, nt, pred, NULL), "judging");
    for (int64_t i = 0; ok && i < nt; i++) right += pred[i] == y[i];
    if (ok)
        printf("judge (CNN, %d epoch%s, shifts up to %d px, trained in %.1fs): accuracy on the "
               "real test set %.2f%% (%lld/%lld)\n",
               o.epochs, o.epochs == 1 ? "" : "s", o.shift, took,
               100.0 * (double)right / (double)nt, (long long)right, (long long)nt);
    ok = ok && eval_fidelity(m, j, a->per_label, (uint64_t)a->seed);
    ok = ok && eval_frechet(m, j, x, y, nt, (uint64_t)a->seed);
    free(x), free(y), free(pred), free(idx);
    judge_free(j);
    return ok;
}

static int run(int argc, char **argv)
{
    eval_args a = {.data = cli_default_data_dir(), .n_test = -1};
    int p = cli_parse(&cli_eval, argc, argv, &a, NULL);
    if (p >= 0) return p;
    const cvae_binarize mode = (cvae_binarize)a.binarize;
    const uint64_t seed = (uint64_t)a.seed;
    cvae_model *m = NULL;
    cvae_dataset *train = NULL, *test = NULL;
    int rc = 1;
    if (cli_fail(cvae_model_load(a.model, &m), a.model) || !cli_load(a.data, "train", &train) ||
        !cli_load(a.data, "t10k", &test))
        goto done;
    if (a.n_test < 0 || a.n_test > test->n) a.n_test = test->n;
    printf("model %s on %s (%lld test images, %s)\n", a.model, a.data, (long long)a.n_test,
           cli_binarize_name(mode));
    double elbo, rec, kl;
    if (!cli_test_elbo(m, test, mode, seed, &elbo, &rec, &kl)) goto done;
    printf("test -ELBO: %.3f nats/image (reconstruction %.3f + KL %.3f)\n", elbo, rec, kl);
    if (a.k > 0) {
        double nll, t0 = cli_now();
        if (!iw_nll(m, test, a.n_test, (int)a.k, mode, seed, &nll)) goto done;
        printf("test IW-NLL (k = %ld): %.3f nats/image (%.1fs)\n", a.k, nll, cli_now() - t0);
    }
    rc = judge_model(m, train, test, &a) ? 0 : 1;
done:
    cvae_model_free(m);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
