/* cvae eval: test -ELBO, importance-weighted NLL, and conditional fidelity
 * (a CNN classifier trained on the same training set judges generated digits). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier.h"
#include "cli.h"

static int eval_usage(void)
{
    printf("usage: cvae eval [options]\n"
           "  --model PATH        model file (default out/cvae.safetensors)\n"
           "  --data DIR          MNIST-format directory (default: the bundled digits)\n"
           "  --k N               importance samples per test image (default 1000; 0 skips)\n"
           "  --n-test N          evaluate on the first N test images (default all)\n"
           "  --per-label N       generated samples per label for fidelity (default 100)\n"
           "  --binarize MODE     none (default), threshold, stochastic\n"
           "  --seed N            (default 1)\n");
    return 0;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

static int fidelity(const cvae_model *m, const cvae_dataset *train, const cvae_dataset *test,
                    long per_label, uint64_t seed)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    const int64_t K = c->num_labels, per = (int64_t)c->image_h * c->image_w;
    if (c->image_channels != 1) {
        printf("conditional fidelity: skipped (the classifier takes 1-channel images)\n");
        return 1;
    }
    classifier *cls = NULL;
    double t0 = seconds();
    if (cli_fail(classifier_train(train, 10, seed, &cls), "training the classifier")) return 0;
    const int64_t nt = test->n, ng = K * per_label;
    int64_t nmax = nt > ng ? nt : ng;
    float *x = malloc(sizeof(float) * (size_t)(nmax * per));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)nmax), *pred = malloc(sizeof(int32_t) * (size_t)nmax);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)nt), *conf = calloc((size_t)(K * K), sizeof(int64_t));
    int ok = x && y && pred && idx && conf;
    for (int64_t i = 0; ok && i < nt; i++) idx[i] = i;
    ok = ok && cli_batch(test, idx, nt, CVAE_BINARIZE_NONE, 0, x, y) &&
         !cli_fail(classifier_predict(cls, x, nt, pred), "classifying");
    int64_t right = 0;
    for (int64_t i = 0; ok && i < nt; i++) right += pred[i] == y[i];
    if (ok)
        printf("classifier (CNN, 10 epochs, %.1fs): accuracy on the real test set %.2f%% (%lld/%lld)\n",
               seconds() - t0, 100.0 * (double)right / (double)nt, (long long)right, (long long)nt);
    for (int64_t i = 0; ok && i < ng; i++) y[i] = (int32_t)(i / per_label);
    ok = ok && !cli_fail(cvae_model_generate(m, y, ng, seed, x), "generating") &&
         !cli_fail(classifier_predict(cls, x, ng, pred), "classifying");
    right = 0;
    for (int64_t i = 0; ok && i < ng; i++) {
        right += pred[i] == y[i];
        conf[y[i] * K + pred[i]]++;
    }
    if (ok) {
        printf("accuracy on generated samples (%ld per label): %.2f%%\n", per_label,
               100.0 * (double)right / (double)ng);
        printf("per label:");
        for (int64_t k = 0; k < K; k++)
            printf(" %lld:%.0f%%", (long long)k, 100.0 * (double)conf[k * K + k] / (double)per_label);
        printf("\nconfusion matrix (rows: requested label, columns: classifier's answer):\n     ");
        for (int64_t k = 0; k < K; k++) printf("%5lld", (long long)k);
        printf("\n");
        for (int64_t r = 0; r < K; r++) {
            printf("%5lld", (long long)r);
            for (int64_t k = 0; k < K; k++) printf("%5lld", (long long)conf[r * K + k]);
            printf("\n");
        }
    }
    free(x), free(y), free(pred), free(idx), free(conf);
    classifier_free(cls);
    return ok;
}

int cmd_eval(int argc, char **argv)
{
    const char *model = "out/cvae.safetensors", *data = cli_default_data_dir();
    long k = 1000, n_test = -1, per_label = 100, seed = 1;
    cvae_binarize mode = CVAE_BINARIZE_NONE;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) return eval_usage();
        if (!(v = cli_value(argc, argv, &i))) return 2;
        if (!strcmp(o, "--model")) model = v;
        else if (!strcmp(o, "--data")) data = v;
        else if (!strcmp(o, "--k")) { if (!cli_int(v, 0, 100000, &k)) return 2; }
        else if (!strcmp(o, "--n-test")) { if (!cli_int(v, 1, 1L << 30, &n_test)) return 2; }
        else if (!strcmp(o, "--per-label")) { if (!cli_int(v, 1, 100000, &per_label)) return 2; }
        else if (!strcmp(o, "--seed")) { if (!cli_int(v, 0, 2147483647, &seed)) return 2; }
        else if (!strcmp(o, "--binarize")) { if (!cli_parse_binarize(v, &mode)) return 2; }
        else {
            fprintf(stderr, "cvae eval: unknown option '%s' (see --help)\n", o);
            return 2;
        }
    }
    cvae_model *m = NULL;
    cvae_dataset *train = NULL, *test = NULL;
    int rc = 1;
    if (cli_fail(cvae_model_load(model, &m), model) || !cli_load(data, "train", &train) ||
        !cli_load(data, "t10k", &test))
        goto done;
    if (n_test < 0 || n_test > test->n) n_test = test->n;
    printf("model %s on %s (%lld test images, %s)\n", model, data, (long long)n_test,
           cli_binarize_name(mode));
    double elbo, rec, kl, t0 = seconds();
    if (!cli_test_elbo(m, test, mode, (uint64_t)seed, &elbo, &rec, &kl)) goto done;
    printf("test -ELBO: %.3f nats/image (reconstruction %.3f + KL %.3f)\n", elbo, rec, kl);
    if (k > 0) {
        double nll;
        t0 = seconds();
        if (!iw_nll(m, test, n_test, (int)k, mode, (uint64_t)seed, &nll)) goto done;
        printf("test IW-NLL (k = %ld): %.3f nats/image (%.1fs)\n", k, nll, seconds() - t0);
    }
    rc = fidelity(m, train, test, per_label, (uint64_t)seed) ? 0 : 1;
done:
    cvae_model_free(m);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
