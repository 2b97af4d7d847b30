/* cvae train: Adam on the conditional VAE, a checkpoint each epoch, test -ELBO each epoch;
 * under an MPI launcher (mpirun -np P cvae train), data-parallel over its P processes.
 * The defaults (40 epochs, lr 2e-3 with cosine decay to 0, label-indexed filters in the
 * decoder) were chosen by measurement on the bundled digits: docs/quality.md. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"

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
    int reduce;                         /* 1: the ordered sum over MPI processes */
    long check_every;
} train_args;

static const cli_choice init_choices[] = {{"torch", CVAE_INIT_TORCH},
                                          {"he-glorot", CVAE_INIT_DEFAULT},
                                          {"he-normal", CVAE_INIT_HE_NORMAL},
                                          {"he-uniform", CVAE_INIT_HE_UNIFORM},
                                          {"glorot-uniform", CVAE_INIT_GLOROT_UNIFORM},
                                          {NULL, 0}};

static const cli_choice schedule_choices[] = {
    {"constant", CVAE_LR_CONSTANT}, {"cosine", CVAE_LR_COSINE}, {"step", CVAE_LR_STEP}, {NULL, 0}};

static const cli_choice reduce_choices[] = {{"allreduce", 0}, {"ordered", 1}, {NULL, 0}};

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
    CLI_ENUM(train_args, reduce, "reduce", "MODE", reduce_choices, "allreduce",
             "under mpirun: how gradients are summed (ordered: bitwise P threads)"),
    CLI_INT(train_args, check_every, "check-every", "N", 0, 1000000000, "50",
            "under mpirun: compare parameter checksums across processes every N steps"),
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
           "##############################", width - fill, "", (long long)(100 * done / total),
           loss, ips, eta);
    fflush(stdout);
}

/* Threads of a step: --threads, else the library's default shared by the processes of this
 * machine. */
static int set_threads(cvae_trainer *tr, cvae_model *m, long threads, int local)
{
    int t = (int)threads;
    if (!t) {
        t = cvae_trainer_threads(tr) / local;
        if (t < 1) t = 1;
    }
    return !cli_fail(cvae_trainer_set_threads(tr, t), "setting threads") &&
           !cli_fail(cvae_model_set_threads(m, t), "setting threads");
}

/* The model and its trainer, new or from the checkpoint. */
static int make(const train_args *a, const cvae_dataset *train, const cvae_dataset *test, int talk,
                cvae_model **m, cvae_trainer **tr, int64_t *start_epoch)
{
    if (a->resume) {
        if (cli_fail(cvae_trainer_load(a->checkpoint, m, tr, start_epoch), "resuming")) return 0;
        if (talk)
            printf("resumed %s at epoch %lld (step %lld)\n", a->checkpoint, (long long)*start_epoch,
                   (long long)cvae_trainer_steps(*tr));
        return 1;
    }
    cvae_model_config c = cvae_model_config_default();
    c.image_h = train->rows;
    c.image_w = train->cols;
    c.num_labels = train->num_classes > test->num_classes ? train->num_classes : test->num_classes;
    c.latent = (int)a->latent;
    c.table_trainable = !a->frozen;
    c.table_init = a->gabor ? CVAE_TABLE_GABOR : CVAE_TABLE_RANDOM;
    c.cond_decoder = !a->plain_decoder;
    c.beta = (float)a->beta;
    c.init = (cvae_init)a->init;
    c.seed = (uint64_t)a->seed;
    /* steps of an epoch: the same under MPI (each process takes a shard of every batch) */
    const int64_t batches = (train->n + a->batch - 1) / a->batch, steps = a->epochs * batches;
    c.kl_warmup = (int)(a->kl_warmup * batches < 2147483647 ? a->kl_warmup * batches : 2147483647);
    cvae_train_opts o = cvae_train_opts_default();
    o.lr = (float)a->lr;
    o.seed = (uint64_t)a->seed;
    o.schedule = (cvae_lr_schedule)a->schedule;
    o.warmup_steps = a->lr_warmup * batches;
    o.decay_steps = o.schedule == CVAE_LR_STEP ? a->lr_step * batches
                    : steps > o.warmup_steps   ? steps - o.warmup_steps
                                               : 1;
    o.lr_min = (float)a->lr_min;
    o.gamma = (float)a->lr_gamma;
    return !cli_fail(cvae_model_new(&c, m), "creating the model") &&
           !cli_fail(cvae_trainer_new(*m, &o, tr), "creating the trainer");
}

/* Cores this process may run on (its affinity mask; 0 if unknown). */
static int usable_cores(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

/* The learning-rate schedule, as given or as restored. */
static void print_schedule(const train_args *a, const cvae_trainer *tr)
{
    if (a->resume) {
        printf("learning rate of the next step %g (schedule from the checkpoint)\n",
               (double)cvae_trainer_lr(tr));
        return;
    }
    printf("learning rate %g", a->lr);
    if (a->lr_warmup) printf(", linear warm-up over %ld epoch(s)", a->lr_warmup);
    if (a->schedule == CVAE_LR_COSINE)
        printf(", cosine decay to %g by epoch %ld", a->lr_min, a->epochs);
    if (a->schedule == CVAE_LR_STEP) printf(", x %g every %ld epoch(s)", a->lr_gamma, a->lr_step);
    if (a->kl_warmup)
        printf("; KL weight rising from 0 to %g over %ld epoch(s)", a->beta, a->kl_warmup);
    printf("\n");
}

/* One epoch of steps; *mean the mean training loss. Every process steps on the same batches. */
static int epoch(const train_args *a, cvae_trainer *tr, cvae_loader *ld, int64_t total,
                 double *mean, double *seconds)
{
    double t0 = cli_now(), sum = 0;
    int64_t seen = 0, n;
    const float *x;
    const int32_t *y;
    for (;;) {
        if (cli_fail(cvae_loader_next(ld, &x, &y, &n), "batch")) return 0;
        if (n == 0) break;
        float loss = 0;
        if (cli_fail(cvae_trainer_step(tr, x, y, n, &loss), "training step")) return 0;
        sum += (double)loss * (double)n;
        seen += n;
        if (!a->quiet) {
            double dt = cli_now() - t0;
            progress(seen, total, sum / (double)seen, (double)seen / dt,
                     dt / (double)seen * (double)(total - seen));
        }
    }
    *mean = sum / (double)seen;
    *seconds = cli_now() - t0;
    return 1;
}

/* The training run of one process of d (rank 0 talks and writes the files). */
static int train_run(train_args *a, cli_dist *d, cvae_dataset *train, cvae_dataset *test)
{
    const int talk = d->rank == 0;
    const cvae_binarize mode = (cvae_binarize)a->binarize;
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    cvae_loader *ld = NULL;
    int64_t start_epoch = 0;
    int ok = make(a, train, test, talk, &m, &tr, &start_epoch) &&
             set_threads(tr, m, a->threads, d->local) &&
             (!talk || (cli_make_parent_dir(a->out) && cli_make_parent_dir(a->checkpoint))) &&
             !cli_fail(cvae_loader_new(train, a->batch, mode, (uint64_t)a->seed, 1, &ld),
                       "loading batches") &&
             !cli_fail(cvae_loader_seek(ld, start_epoch, 0), "loading batches") &&
             !cli_fail(cvae_loader_shard(ld, d->rank, d->size), "loading batches");
    ok = cli_dist_all(d, ok) && cli_dist_join(d, tr, a->reduce, a->check_every);
    if (ok && talk) {
        char summary[4096];
        cvae_model_summary(m, summary, sizeof summary, NULL);
        printf("%s", summary);
        printf(
            "data: %s (%lld train, %lld test, %s), batch %ld, Adam lr %g, seed %ld, %d thread(s)",
            a->data, (long long)train->n, (long long)test->n, cli_binarize_name(mode), a->batch,
            a->lr, a->seed, cvae_trainer_threads(tr));
        if (d->size > 1)
            printf(" x %d processes (MPI, %s sum, checksum every %ld steps)", d->size,
                   a->reduce ? "ordered" : "MPI_Allreduce", a->check_every);
        printf("\n");
        print_schedule(a, tr);
        if (d->local > 1 && !getenv("OPENBLAS_NUM_THREADS"))
            printf("note: %d processes share this machine and OPENBLAS_NUM_THREADS is unset: "
                   "OpenBLAS may start threads of its own in each (set it to 1)\n",
                   d->local);
        const int cores = usable_cores(), threads = cvae_trainer_threads(tr);
        if (cores > 0 && cores < threads)
            printf("note: this process may run on %d core(s) only but steps with %d threads (an MPI "
                   "launcher binds processes to cores: mpirun --bind-to none, or --map-by "
                   "ppr:1:node:PE=%d, gives each its cores)\n",
                   cores, threads, threads);
    }
    const double t_all = cli_now();
    for (int64_t e = start_epoch; ok && e < a->epochs; e++) {
        double mean, dt, elbo, rec, kl;
        /* a step's failure is every process's (cvae_trainer_set_dist) */
        if (!epoch(a, tr, ld, train->n, &mean, &dt)) {
            ok = 0;
            break;
        }
        if (!a->quiet) printf("\r%*s\r", 90, "");
        ok = !cli_fail(cvae_trainer_check_sync(tr, NULL), "comparing the processes");
        if (ok && talk) {
            ok = cli_test_elbo(m, test, mode, 12345, &elbo, &rec, &kl);
            if (ok)
                printf("epoch %3lld  train loss %8.3f  test -ELBO %8.3f nats (rec %.3f + KL %.3f)  "
                       "%.1fs  %.0f img/s\n",
                       (long long)e + 1, mean, elbo, rec, kl, dt, (double)train->n / dt);
            fflush(stdout);
            ok = ok &&
                 !cli_fail(cvae_trainer_save(tr, e + 1, a->checkpoint), "saving the checkpoint");
        }
        ok = cli_dist_all(d, ok);
    }
    if (ok && talk) {
        ok = !cli_fail(cvae_model_save(m, a->out), "saving the model");
        if (ok) {
            const double t = cli_now() - t_all;
            printf("saved %s (%.1fs of training, %lld steps", a->out, t,
                   (long long)cvae_trainer_steps(tr));
            if (d->size > 1)
                printf("; rank 0 spent %.1fs in sums over the processes", cli_dist_sum_seconds(d));
            printf(")\n");
        }
    }
    ok = cli_dist_all(d, ok);
    cli_dist_leave(d);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    return ok ? 0 : 1;
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
    cli_dist d;
    if (!cli_dist_begin(&d)) return 1;
    if (d.size > 1) {
        snprintf(cli_who, sizeof cli_who, "cvae[rank %d of %d]", d.rank, d.size);
        if (d.rank) a.quiet = 1;
    }
    cvae_dataset *train = NULL, *test = NULL;
    int ok = cli_load(a.data, "train", &train) && cli_load(a.data, "t10k", &test);
    int rc = cli_dist_all(&d, ok) ? train_run(&a, &d, train, test) : 1;
    cvae_dataset_free(train);
    cvae_dataset_free(test);
    cli_dist_end(&d);
    return rc;
}
