/* cvae train: Adam on the conditional VAE, a checkpoint each epoch, test -ELBO each epoch. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct train_args {
    const char *data, *out, *checkpoint;
    long epochs, batch;
    double lr, beta;
    long seed, latent;
    int frozen, gabor, cond_decoder, resume, quiet;
    cvae_binarize binarize;
    long threads; /* 0: the library's default (OpenBLAS's thread count) */
} train_args;

static int train_usage(void)
{
    printf("usage: cvae train [options]\n"
           "  --data DIR          MNIST-format directory (default: the bundled digits)\n"
           "  --epochs N          passes over the training set (default 30)\n"
           "  --batch N           batch size (default 128)\n"
           "  --lr X              Adam learning rate (default 1e-3)\n"
           "  --seed N            seed of initialization, shuffling and noise (default 1)\n"
           "  --latent N          latent size (default 16)\n"
           "  --beta X            weight of the KL term (default 1)\n"
           "  --frozen-table      keep the label-indexed kernels fixed (not trained)\n"
           "  --gabor             start the table from oriented Gabor filters\n"
           "  --cond-decoder      add label-indexed filters to the decoder too\n"
           "  --binarize MODE     none (grey values, default), threshold, stochastic\n"
           "  --out PATH          final model (default out/cvae.safetensors)\n"
           "  --checkpoint PATH   per-epoch checkpoint (default out/checkpoint.safetensors)\n"
           "  --resume            continue from --checkpoint\n"
           "  --threads N         threads of a step (default: OPENBLAS_NUM_THREADS, else the cores)\n"
           "  --quiet             no progress bar\n");
    return 0;
}

static int parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){cli_default_data_dir(), "out/cvae.safetensors", "out/checkpoint.safetensors",
                      30, 128, 1e-3, 1.0, 1, 16, 0, 0, 0, 0, !isatty(1), CVAE_BINARIZE_NONE, 0};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        long v;
        double d;
#define VAL() const char *val = cli_value(argc, argv, &i); if (!val) return 0
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) return train_usage(), -1;
        else if (!strcmp(o, "--frozen-table")) a->frozen = 1;
        else if (!strcmp(o, "--gabor")) a->gabor = 1;
        else if (!strcmp(o, "--cond-decoder")) a->cond_decoder = 1;
        else if (!strcmp(o, "--resume")) a->resume = 1;
        else if (!strcmp(o, "--quiet")) a->quiet = 1;
        else if (!strcmp(o, "--data")) { VAL(); a->data = val; }
        else if (!strcmp(o, "--out")) { VAL(); a->out = val; }
        else if (!strcmp(o, "--checkpoint")) { VAL(); a->checkpoint = val; }
        else if (!strcmp(o, "--epochs")) { VAL(); if (!cli_int(val, 1, 100000, &v)) return 0; a->epochs = v; }
        else if (!strcmp(o, "--batch")) { VAL(); if (!cli_int(val, 1, 65536, &v)) return 0; a->batch = v; }
        else if (!strcmp(o, "--seed")) { VAL(); if (!cli_int(val, 0, 2147483647, &v)) return 0; a->seed = v; }
        else if (!strcmp(o, "--threads")) { VAL(); if (!cli_int(val, 1, 64, &v)) return 0; a->threads = v; }
        else if (!strcmp(o, "--latent")) { VAL(); if (!cli_int(val, 1, 4096, &v)) return 0; a->latent = v; }
        else if (!strcmp(o, "--lr")) { VAL(); if (!cli_float(val, 1e-9, 10, &d)) return 0; a->lr = d; }
        else if (!strcmp(o, "--beta")) { VAL(); if (!cli_float(val, 0, 1e6, &d)) return 0; a->beta = d; }
        else if (!strcmp(o, "--binarize")) { VAL(); if (!cli_parse_binarize(val, &a->binarize)) return 0; }
        else {
            fprintf(stderr, "cvae train: unknown option '%s' (see --help)\n", o);
            return 0;
        }
#undef VAL
    }
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The epoch's sample order: a Fisher-Yates shuffle keyed by (seed, epoch). */
static void shuffle(int64_t *order, int64_t n, uint64_t seed, int64_t epoch)
{
    cvae_rng r = cvae_rng_make(seed, 0x5348554646ull + (uint64_t)epoch);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(((uint64_t)cvae_rng_u32(&r) * (uint64_t)(i + 1)) >> 32);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void progress(int64_t done, int64_t total, double loss, double ips, double eta)
{
    int width = 30, fill = (int)(width * done / (total ? total : 1));
    printf("\r  [%.*s%*s] %3lld%%  loss %8.2f  %6.0f img/s  ETA %4.0fs", fill,
           "##############################", width - fill, "", (long long)(100 * done / total), loss,
           ips, eta);
    fflush(stdout);
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int p = parse(argc, argv, &a);
    if (p <= 0) return p < 0 ? 0 : 2;
    cvae_dataset *train = NULL, *test = NULL;
    if (!cli_load(a.data, "train", &train) || !cli_load(a.data, "t10k", &test)) {
        cvae_dataset_free(train);
        return 1;
    }
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    int64_t start_epoch = 0;
    int rc = 1;
    if (a.resume) {
        if (cli_fail(cvae_trainer_load(a.checkpoint, &m, &tr, &start_epoch), "resuming")) goto done;
        printf("resumed %s at epoch %lld (step %lld)\n", a.checkpoint, (long long)start_epoch,
               (long long)cvae_trainer_steps(tr));
    } else {
        cvae_model_config c = cvae_model_config_default();
        c.image_h = train->rows;
        c.image_w = train->cols;
        c.num_labels = train->num_classes > test->num_classes ? train->num_classes : test->num_classes;
        c.latent = (int)a.latent;
        c.table_trainable = !a.frozen;
        c.table_init = a.gabor ? CVAE_TABLE_GABOR : CVAE_TABLE_RANDOM;
        c.cond_decoder = a.cond_decoder;
        c.beta = (float)a.beta;
        c.seed = (uint64_t)a.seed;
        cvae_train_opts o = cvae_train_opts_default();
        o.lr = (float)a.lr;
        o.seed = (uint64_t)a.seed;
        if (cli_fail(cvae_model_new(&c, &m), "creating the model") ||
            cli_fail(cvae_trainer_new(m, &o, &tr), "creating the trainer"))
            goto done;
    }
    if (a.threads && (cli_fail(cvae_trainer_set_threads(tr, (int)a.threads), "setting threads") ||
                      cli_fail(cvae_model_set_threads(m, (int)a.threads), "setting threads")))
        goto done;
    if (!cli_make_parent_dir(a.out) || !cli_make_parent_dir(a.checkpoint)) goto done;
    {
        const cvae_model_config *c = cvae_model_get_config(m);
        char summary[4096];
        cvae_model_summary(m, summary, sizeof summary, NULL);
        printf("%s", summary);
        printf("data: %s (%lld train, %lld test, %s), batch %ld, Adam lr %g, seed %ld, %d thread(s)\n",
               a.data, (long long)train->n, (long long)test->n, cli_binarize_name(a.binarize), a.batch,
               a.lr, a.seed, cvae_trainer_threads(tr));
        const int64_t per = (int64_t)c->image_channels * c->image_h * c->image_w;
        float *x = malloc(sizeof(float) * (size_t)(a.batch * per));
        int32_t *y = malloc(sizeof(int32_t) * (size_t)a.batch);
        int64_t *order = malloc(sizeof(int64_t) * (size_t)train->n);
        if (!x || !y || !order) {
            fprintf(stderr, "cvae train: out of memory\n");
            free(x), free(y), free(order);
            goto done;
        }
        rc = 0;
        double t_all = now();
        for (int64_t e = start_epoch; e < a.epochs && !rc; e++) {
            shuffle(order, train->n, (uint64_t)a.seed, e);
            double t0 = now(), sum = 0;
            int64_t seen = 0;
            for (int64_t s = 0; s < train->n && !rc; s += a.batch) {
                int64_t n = train->n - s < a.batch ? train->n - s : a.batch;
                float loss = 0;
                if (!cli_batch(train, order + s, n, a.binarize, (uint64_t)a.seed + (uint64_t)e, x, y) ||
                    cli_fail(cvae_trainer_step(tr, x, y, n, &loss), "training step"))
                    rc = 1;
                sum += (double)loss * (double)n;
                seen += n;
                if (!a.quiet) {
                    double dt = now() - t0;
                    progress(seen, train->n, sum / (double)seen, (double)seen / dt,
                             dt / (double)seen * (double)(train->n - seen));
                }
            }
            if (rc) break;
            double dt = now() - t0, elbo, rec, kl;
            if (!a.quiet) printf("\r%*s\r", 90, "");
            if (!cli_test_elbo(m, test, a.binarize, 12345, &elbo, &rec, &kl)) {
                rc = 1;
                break;
            }
            printf("epoch %3lld  train loss %8.3f  test -ELBO %8.3f nats (rec %.3f + KL %.3f)  "
                   "%.1fs  %.0f img/s\n",
                   (long long)e + 1, sum / (double)seen, elbo, rec, kl, dt, (double)seen / dt);
            fflush(stdout);
            rc = cli_fail(cvae_trainer_save(tr, e + 1, a.checkpoint), "saving the checkpoint");
        }
        if (!rc) {
            rc = cli_fail(cvae_model_save(m, a.out), "saving the model");
            if (!rc)
                printf("saved %s (%.1fs of training, %lld steps)\n", a.out, now() - t_all,
                       (long long)cvae_trainer_steps(tr));
        }
        free(x), free(y), free(order);
    }
done:
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
