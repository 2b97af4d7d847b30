/* cvae train: Adam on the conditional VAE, a checkpoint each epoch, test -ELBO each epoch.
 * The defaults (40 epochs, lr 2e-3 with cosine decay to 0, label-indexed filters in the
 * decoder) were chosen by measurement on the bundled digits: docs/quality.md. */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

typedef struct train_args {
    const char *data, *out, *checkpoint;
    long epochs, batch, seed, latent;
    long threads; /* 0: the library's default (OpenBLAS's thread count) */
    double lr, beta;
    int frozen, gabor, cond_decoder, plain_decoder, resume, quiet;
    int binarize; /* cvae_binarize */
    int init;     /* cvae_init */
    int schedule; /* cvae_lr_schedule */
    double lr_min, lr_gamma;
    long lr_warmup, lr_step, kl_warmup; /* epochs */
} train_args;

static const cli_choice init_choices[] = {{"torch", CVAE_INIT_TORCH},
                                          {"he-glorot", CVAE_INIT_DEFAULT},
                                          {"he-normal", CVAE_INIT_HE_NORMAL},
                                          {"he-uniform", CVAE_INIT_HE_UNIFORM},
                                          {"glorot-uniform", CVAE_INIT_GLOROT_UNIFORM},
                                          {NULL, 0}};

static const cli_choice schedule_choices[] = {
    {"constant", CVAE_LR_CONSTANT}, {"cosine", CVAE_LR_COSINE}, {"step", CVAE_LR_STEP}, {NULL, 0}};

static const cli_option train_options[] = {
    CLI_STRING(train_args, data, "data", "DIR", NULL,
               "MNIST-format directory (default: the bundled digits)"),
    CLI_INT(train_args, epochs, "epochs", "N", 1, 100000, "40", "passes over the training set"),
    CLI_INT(train_args, batch, "batch", "N", 1, 65536, "128", "batch size"),
    CLI_FLOAT(train_args, lr, "lr", "X", 1e-9, 10, "2e-3", "Adam learning rate"),
    CLI_ENUM(train_args, schedule, "lr-schedule", "NAME", schedule_choices, "cosine",
             "learning rate after the warm-up (cosine: to --lr-min by the last epoch; step: "
             "x --lr-gamma every --lr-step epochs)"),
    CLI_FLOAT(train_args, lr_min, "lr-min", "X", 0, 10, "0", "final learning rate of cosine decay"),
    CLI_INT(train_args, lr_step, "lr-step", "N", 1, 100000, "10", "epochs per step of step decay"),
    CLI_FLOAT(train_args, lr_gamma, "lr-gamma", "X", 1e-6, 1, "0.1",
              "factor of each step of step decay"),
    CLI_INT(train_args, lr_warmup, "lr-warmup", "N", 0, 100000, "0",
            "epochs of linear learning-rate warm-up from 0"),
    CLI_INT(train_args, kl_warmup, "kl-warmup", "N", 0, 100000, "0",
            "epochs over which the KL weight rises linearly from 0 to --beta"),
    CLI_INT(train_args, seed, "seed", "N", 0, 2147483647, "1",
            "seed of initialization, shuffling and noise"),
    CLI_INT(train_args, latent, "latent", "N", 1, 4096, "16", "latent size"),
    CLI_FLOAT(train_args, beta, "beta", "X", 0, 1e6, "1", "weight of the KL term"),
    CLI_FLAG(train_args, frozen, "frozen-table",
             "keep the label-indexed kernels fixed (not trained)"),
    CLI_FLAG(train_args, gabor, "gabor", "start the table from oriented Gabor filters"),
    CLI_FLAG(train_args, cond_decoder, "cond-decoder",
             "label-indexed filters in the decoder too (the default)"),
    CLI_FLAG(train_args, plain_decoder, "no-cond-decoder",
             "no label-indexed filters in the decoder (the reference architecture)"),
    CLI_ENUM(train_args, init, "init", "NAME", init_choices, "torch",
             "weight initialization (torch: PyTorch's default, biases too; he-glorot: He-normal "
             "before ReLU, else Glorot-uniform, zero biases, the former default)"),
    CLI_ENUM(train_args, binarize, "binarize", "MODE", cli_binarize_choices, "none",
             "binarization of the pixels"),
    CLI_STRING(train_args, out, "out", "PATH", "out/cvae.safetensors", "final model"),
    CLI_STRING(train_args, checkpoint, "checkpoint", "PATH", "out/checkpoint.safetensors",
               "per-epoch checkpoint"),
    CLI_FLAG(train_args, resume, "resume", "continue from --checkpoint"),
    CLI_INT(train_args, threads, "threads", "N", 1, 64, NULL,
            "threads of a step (default: OPENBLAS_NUM_THREADS, else the cores)"),
    CLI_FLAG(train_args, quiet, "quiet",
             "no progress bar (the default when stdout is not a terminal)"),
    CLI_END};

static int run(int argc, char **argv);

const cli_command cli_train = {
    .name = "train",
    .synopsis = "[options]",
    .about = "train the conditional VAE (a checkpoint and the test -ELBO each epoch)",
    .options = train_options,
    .run = run};

static void progress(int64_t done, int64_t total, double loss, double ips, double eta)
{
    int width = 30, fill = (int)(width * done / (total ? total : 1));
    printf("\r  [%.*s%*s] %3lld%%  loss %8.2f  %6.0f img/s  ETA %4.0fs", fill,
           "##############################", width - fill, "", (long long)(100 * done / total), loss,
           ips, eta);
    fflush(stdout);
}

static int run(int argc, char **argv)
{
    train_args a = {.data = cli_default_data_dir(), .quiet = !isatty(1)};
    int p = cli_parse(&cli_train, argc, argv, &a, NULL);
    if (p >= 0) return p;
    if (a.cond_decoder && a.plain_decoder) {
        fprintf(stderr, "cvae train: --cond-decoder and --no-cond-decoder contradict each other\n");
        return CLI_EXIT_USAGE;
    }
    const cvae_binarize mode = (cvae_binarize)a.binarize;
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
        c.cond_decoder = !a.plain_decoder;
        c.beta = (float)a.beta;
        c.init = (cvae_init)a.init;
        c.seed = (uint64_t)a.seed;
        const int64_t batches = (train->n + a.batch - 1) / a.batch, steps = a.epochs * batches;
        c.kl_warmup =
            (int)(a.kl_warmup * batches < 2147483647 ? a.kl_warmup * batches : 2147483647);
        cvae_train_opts o = cvae_train_opts_default();
        o.lr = (float)a.lr;
        o.seed = (uint64_t)a.seed;
        o.schedule = (cvae_lr_schedule)a.schedule;
        o.warmup_steps = a.lr_warmup * batches;
        o.decay_steps = o.schedule == CVAE_LR_STEP ? a.lr_step * batches
                        : steps > o.warmup_steps   ? steps - o.warmup_steps
                                                   : 1;
        o.lr_min = (float)a.lr_min;
        o.gamma = (float)a.lr_gamma;
        if (cli_fail(cvae_model_new(&c, &m), "creating the model") ||
            cli_fail(cvae_trainer_new(m, &o, &tr), "creating the trainer"))
            goto done;
    }
    if (a.threads && (cli_fail(cvae_trainer_set_threads(tr, (int)a.threads), "setting threads") ||
                      cli_fail(cvae_model_set_threads(m, (int)a.threads), "setting threads")))
        goto done;
    if (!cli_make_parent_dir(a.out) || !cli_make_parent_dir(a.checkpoint)) goto done;
    {
        char summary[4096];
        cvae_model_summary(m, summary, sizeof summary, NULL);
        printf("%s", summary);
        printf("data: %s (%lld train, %lld test, %s), batch %ld, Adam lr %g, seed %ld, %d thread(s)\n",
               a.data, (long long)train->n, (long long)test->n, cli_binarize_name(mode), a.batch,
               a.lr, a.seed, cvae_trainer_threads(tr));
        if (a.resume) {
            printf("learning rate of the next step %g (schedule from the checkpoint)\n",
                   (double)cvae_trainer_lr(tr));
        } else {
            printf("learning rate %g", a.lr);
            if (a.lr_warmup) printf(", linear warm-up over %ld epoch(s)", a.lr_warmup);
            if (a.schedule == CVAE_LR_COSINE)
                printf(", cosine decay to %g by epoch %ld", a.lr_min, a.epochs);
            if (a.schedule == CVAE_LR_STEP)
                printf(", x %g every %ld epoch(s)", a.lr_gamma, a.lr_step);
            if (a.kl_warmup)
                printf("; KL weight rising from 0 to %g over %ld epoch(s)", a.beta, a.kl_warmup);
            printf("\n");
        }
        cvae_loader *ld = NULL;
        if (cli_fail(cvae_loader_new(train, a.batch, mode, (uint64_t)a.seed, 1, &ld), "loading batches") ||
            cli_fail(cvae_loader_seek(ld, start_epoch, 0), "loading batches")) {
            cvae_loader_free(ld);
            goto done;
        }
        rc = 0;
        double t_all = cli_now();
        for (int64_t e = start_epoch; e < a.epochs && !rc; e++) {
            double t0 = cli_now(), sum = 0;
            int64_t seen = 0, n;
            const float *x;
            const int32_t *y;
            while (!rc && !(rc = cli_fail(cvae_loader_next(ld, &x, &y, &n), "batch")) && n > 0) {
                float loss = 0;
                rc = cli_fail(cvae_trainer_step(tr, x, y, n, &loss), "training step");
                sum += (double)loss * (double)n;
                seen += n;
                if (!a.quiet) {
                    double dt = cli_now() - t0;
                    progress(seen, train->n, sum / (double)seen, (double)seen / dt,
                             dt / (double)seen * (double)(train->n - seen));
                }
            }
            if (rc) break;
            double dt = cli_now() - t0, elbo, rec, kl;
            if (!a.quiet) printf("\r%*s\r", 90, "");
            if (!cli_test_elbo(m, test, mode, 12345, &elbo, &rec, &kl)) {
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
                printf("saved %s (%.1fs of training, %lld steps)\n", a.out, cli_now() - t_all,
                       (long long)cvae_trainer_steps(tr));
        }
        cvae_loader_free(ld);
    }
done:
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    return rc;
}
