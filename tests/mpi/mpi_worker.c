/* The MPI program of test_mpi: a small network (a label-indexed conv, batch norm, a linear
 * layer) trained on the bundled test digits over the ranks of mpirun, or alone (--single).
 *   mpi_worker [--single] [--threads T] [--reduce ordered] [--steps S] [--check-every N]
 *              [--perturb STEP] [--nan STEP] [--skip] [--out FILE]
 * --perturb: rank 1 moves one weight by 1e-3 before step STEP (a divergence to catch);
 * --nan: rank 1's loss is NaN at step STEP (--skip: the trainer skips such steps).
 * Rank 0 prints "done: loss L checksum C steps S skipped K" and saves the network to FILE;
 * a failure prints "rank R: message" and exits 1. */
#include <cvae/cvae.h>
#include <cvae/mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
    int single, threads, ordered, steps, perturb, nan, skip, rank;
    long check_every;
    const char *out;
} args;

static const cvae_layer layers[] = {
    {.kind = CVAE_LAYER_CONV2D,
     .name = "conv1",
     .out = 4,
     .cond_out = 2,
     .labels = 10,
     .kernel = 3,
     .stride = 2,
     .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_BATCH_NORM2D, .name = "bn"},
    {.kind = CVAE_LAYER_CONV2D,
     .name = "conv2",
     .out = 8,
     .kernel = 3,
     .stride = 2,
     .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_FLATTEN},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 10},
};

static cvae_status xent(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                        cvae_tensor **loss)
{
    const args *a = user;
    cvae_tensor *logits;
    cvae_status s = cvae_net_forward(net, 0, t, b->x, b->labels, &logits);
    if (s) return s;
    if (a->rank == 1 && (int)b->step == a->nan) logits->data[0] = NAN;
    return cvae_op_softmax_cross_entropy(t, logits, b->labels, CVAE_REDUCE_ROWS, loss);
}

static int fail(const args *a, const char *what)
{
    fprintf(stderr, "rank %d: %s: %s\n", a->rank, what, cvae_last_error());
    return 1;
}

static int train(args *a, int ranks)
{
    cvae_dataset *ds = NULL;
    cvae_net *net = NULL;
    cvae_trainer *tr = NULL;
    cvae_loader *ld = NULL;
    cvae_mpi *mpi = NULL;
    cvae_train_opts o = cvae_train_opts_default();
    o.skip_nonfinite = a->skip;
    o.clip_norm = 2.0f;
    int rc = 1;
    if (cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &ds) || cvae_net_new(3, &net) ||
        cvae_net_add(net, "clf", 3, (int64_t[]){1, 28, 28}, layers, 5, NULL) ||
        cvae_trainer_new_net(net, &o, xent, a, &tr) || cvae_trainer_set_threads(tr, a->threads) ||
        cvae_loader_new(ds, 29, CVAE_BINARIZE_NONE, 5, 1, &ld))
        return fail(a, "setting up");
    if (!a->single &&
        (cvae_mpi_new(tr, MPI_COMM_WORLD, a->ordered ? CVAE_MPI_ORDERED : CVAE_MPI_ALLREDUCE,
                      a->check_every, &mpi) ||
         cvae_loader_shard(ld, a->rank, ranks))) {
        rc = fail(a, "joining");
        goto done;
    }
    float loss = 0;
    for (int s = 0; s < a->steps; s++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        if (cvae_loader_next(ld, &x, &y, &n) || (!n && cvae_loader_next(ld, &x, &y, &n))) {
            rc = fail(a, "batch");
            goto done;
        }
        if (s == a->perturb && a->rank == 1) {
            float *p = cvae_params_data(cvae_net_params(net));
            p[7] += 1e-3f;
        }
        if (cvae_trainer_step(tr, x, y, n, &loss)) {
            rc = fail(a, "step");
            goto done;
        }
    }
    uint64_t sum;
    if (cvae_trainer_check_sync(tr, &sum)) {
        rc = fail(a, "check");
        goto done;
    }
    if (a->rank == 0) {
        printf("done: loss %.9g checksum %016llx steps %lld skipped %lld\n", (double)loss,
               (unsigned long long)sum, (long long)cvae_trainer_steps(tr),
               (long long)cvae_trainer_skipped(tr));
        if (a->out && cvae_net_save(net, a->out)) {
            rc = fail(a, "saving");
            goto done;
        }
    }
    rc = 0;
done:
    cvae_mpi_free(mpi);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_net_free(net);
    cvae_dataset_free(ds);
    return rc;
}

int main(int argc, char **argv)
{
    args a = {0, 1, 0, 12, -1, -1, 0, 0, 1, NULL};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(k, "--single"))
            a.single = 1;
        else if (!strcmp(k, "--skip"))
            a.skip = 1;
        else if (!strcmp(k, "--reduce") && ++i)
            a.ordered = !strcmp(v, "ordered");
        else if (!strcmp(k, "--threads") && ++i)
            a.threads = atoi(v);
        else if (!strcmp(k, "--steps") && ++i)
            a.steps = atoi(v);
        else if (!strcmp(k, "--check-every") && ++i)
            a.check_every = atol(v);
        else if (!strcmp(k, "--perturb") && ++i)
            a.perturb = atoi(v);
        else if (!strcmp(k, "--nan") && ++i)
            a.nan = atoi(v);
        else if (!strcmp(k, "--out") && ++i)
            a.out = v;
        else
            return fprintf(stderr, "mpi_worker: unknown argument '%s'\n", k), 2;
    }
    int ranks = 1;
    if (!a.single) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &a.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    }
    const int rc = train(&a, ranks);
    if (!a.single) MPI_Finalize();
    return rc;
}
