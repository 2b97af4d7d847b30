/* Data-parallel training over MPI, measured (docs/distributed.md):
 *
 *   mpirun -np P build/tests/bench/bench_mpi [--steps N] [--threads T] [--reduce allreduce|ordered]
 *                                            [--batch B] [--save FILE] [--compare FILE] [--single]
 *
 * Trains the quick-start model (the default configuration of `cvae train`, the bundled digits,
 * seed 1) for N timed steps (after 3 untimed ones) and prints, from rank 0:
 *   - the step time (median over steps of the slowest rank's), the time in the sums over the
 *     ranks (mean per step, slowest rank) and its share of the step, the bytes summed per step;
 *   - the forward pass alone (cvae_trainer_eval on the same batches: the step minus it is the
 *     backward pass, the sums and the optimizer), and the CPU time of a step (the slowest
 *     rank's, all its threads; on a loaded machine closer to the work than the wall time);
 *   - the CPU time of a parameter checksum (cvae_trainer_check_sync);
 *   - the test -ELBO after the run;
 *   - with --compare FILE (parameters another run saved with --save): the largest and the
 *     root-mean-square difference of the parameters, relative to their RMS, and the test
 *     -ELBO difference.
 * --single trains without cvae_mpi (the one-process reference, also under mpirun -np 1).
 * `--what sum` instead times MPI_Allreduce alone on 2^k floats (k = 0, 2, ..., 20 and the
 * model's gradient block): the latency and bandwidth of the transport. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <cvae/cvae.h>
#include <cvae/mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "core/blas.h"

typedef struct opts {
    int steps, threads, batch, single, ordered;
    const char *what, *save, *compare;
} opts;

static void check(cvae_status s, const char *what)
{
    if (s == CVAE_OK) return;
    fprintf(stderr, "bench_mpi: %s: %s\n", what, cvae_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static double test_elbo(const cvae_model *m, const cvae_dataset *ds)
{
    const int64_t per = (int64_t)ds->rows * ds->cols, bs = 250;
    float *x = malloc(sizeof(float) * (size_t)(bs * per)), r[250], k[250];
    int64_t idx[250];
    int32_t y[250];
    double sum = 0;
    for (int64_t s = 0; s < ds->n; s += bs) {
        const int64_t n = ds->n - s < bs ? ds->n - s : bs;
        for (int64_t i = 0; i < n; i++) idx[i] = s + i;
        check(cvae_dataset_batch(ds, idx, n, CVAE_BINARIZE_NONE, 12345, x, y), "test batch");
        check(cvae_model_elbo(m, x, y, n, 12345 + (uint64_t)s, r, k), "test elbo");
        for (int64_t i = 0; i < n; i++) sum += (double)r[i] + (double)k[i];
    }
    free(x);
    return sum / (double)ds->n;
}

/* Parameters against a file of another run: max |a - b| and RMS(a - b), both over RMS(b). */
static void compare(const float *p, int64_t n, const char *path, double elbo)
{
    FILE *f = fopen(path, "rb");
    float *q = malloc((size_t)n * sizeof *q);
    double other = 0;
    if (!f || fread(&other, sizeof other, 1, f) != 1 ||
        fread(q, sizeof *q, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_mpi: cannot read %lld parameters from %s\n", (long long)n, path);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    fclose(f);
    double big = 0, d2 = 0, q2 = 0;
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)p[i] - (double)q[i]);
        big = d > big ? d : big;
        d2 += d * d;
        q2 += (double)q[i] * q[i];
        differ += p[i] != q[i];
    }
    const double rms = sqrt(q2 / (double)n);
    printf("against %s: %lld of %lld parameters differ; max |diff| %.3g (%.3g of their RMS "
           "%.3g), RMS diff %.3g (%.3g of RMS); test -ELBO %.4f vs %.4f (diff %+.4f nats)\n",
           path, (long long)differ, (long long)n, big, big / rms, rms, sqrt(d2 / (double)n),
           sqrt(d2 / (double)n) / rms, elbo, other, elbo - other);
    free(q);
}

static int train(const opts *o, int rank, int size)
{
    cvae_dataset *train_set, *test_set;
    check(cvae_dataset_load_dir(CVAE_BENCH_DATA_DIR, "train", &train_set), "data");
    check(cvae_dataset_load_dir(CVAE_BENCH_DATA_DIR, "t10k", &test_set), "data");
    cvae_model_config c = cvae_model_config_default();
    cvae_train_opts to = cvae_train_opts_default();
    cvae_model *m;
    cvae_trainer *tr;
    cvae_loader *ld;
    check(cvae_model_new(&c, &m), "model");
    check(cvae_trainer_new(m, &to, &tr), "trainer");
    check(cvae_trainer_set_threads(tr, o->threads), "threads");
    check(cvae_loader_new(train_set, o->batch, CVAE_BINARIZE_NONE, 1, 1, &ld), "loader");
    cvae_mpi *mpi = NULL;
    if (!o->single) {
        check(cvae_mpi_new(tr, MPI_COMM_WORLD, o->ordered ? CVAE_MPI_ORDERED : CVAE_MPI_ALLREDUCE,
                           0, &mpi),
              "cvae_mpi_new");
        check(cvae_loader_shard(ld, rank, size), "shard");
    }
    const int64_t numel = cvae_params_numel(cvae_net_params(cvae_model_net(m)));
    double *step = malloc((size_t)o->steps * sizeof *step), sums = 0, cpu = 0;
    for (int s = -3; s < o->steps; s++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        check(cvae_loader_next(ld, &x, &y, &n), "batch");
        if (n == 0) check(cvae_loader_next(ld, &x, &y, &n), "batch");
        if (s == 0) sums = cvae_mpi_sum_seconds(mpi), cpu = cpu_now();
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        check(cvae_trainer_step(tr, x, y, n, NULL), "step");
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (s >= 0) step[s] = dt;
    }
    double in_sums = cvae_mpi_sum_seconds(mpi) - sums;
    cpu = cpu_now() - cpu;
    MPI_Allreduce(MPI_IN_PLACE, &cpu, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    /* the forward pass alone (an evaluation of the last batch, which records nothing) */
    double *fwd = malloc((size_t)o->steps * sizeof *fwd);
    for (int s = 0; s < o->steps; s++) {
        const float *x;
        const int32_t *y;
        int64_t n;
        check(cvae_loader_next(ld, &x, &y, &n), "batch");
        if (n == 0) check(cvae_loader_next(ld, &x, &y, &n), "batch");
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        check(cvae_trainer_eval(tr, x, y, n, 7, NULL), "eval");
        fwd[s] = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &fwd[s], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    qsort(fwd, (size_t)o->steps, sizeof *fwd, cmp_double);
    /* the parameter checksum (with ranks: plus its broadcast and a one-float sum) */
    double chk[21];
    uint64_t checksum;
    for (int i = 0; i < 21; i++) {
        const double t0 = cpu_now();
        check(cvae_trainer_check_sync(tr, &checksum), "checksum");
        chk[i] = cpu_now() - t0;
    }
    qsort(chk, 21, sizeof *chk, cmp_double);
    MPI_Allreduce(MPI_IN_PLACE, &in_sums, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    double mean = 0;
    for (int s = 0; s < o->steps; s++) mean += step[s] / o->steps;
    qsort(step, (size_t)o->steps, sizeof *step, cmp_double);
    if (rank == 0) {
        const double sum_ms = 1e3 * in_sums / o->steps;
        printf("%s, %d rank(s) x %d thread(s), batch %d: step %.2f ms (median; mean %.2f), sums "
               "%.2f ms per step (%.1f%% of the mean step), %lld bytes summed per step\n",
               o->single    ? "one process"
               : o->ordered ? "ordered"
                            : "allreduce",
               size, o->threads, o->batch, 1e3 * step[o->steps / 2], 1e3 * mean, sum_ms,
               sum_ms / (10 * mean), (long long)(4 * (numel + 3)));
        printf("forward alone (cvae_trainer_eval): %.2f ms (median); CPU time per step %.2f ms "
               "(slowest rank, all its threads)\n",
               1e3 * fwd[o->steps / 2], 1e3 * cpu / o->steps);
        printf("parameter checksum (cvae_trainer_check_sync): %.3f ms CPU (median of 21)\n",
               1e3 * chk[10]);
        const double elbo = test_elbo(m, test_set);
        printf("after %d steps (3 + %d timed): test -ELBO %.4f nats\n", o->steps + 3, o->steps,
               elbo);
        const float *p = cvae_params_data(cvae_net_params(cvae_model_net(m)));
        if (o->compare) compare(p, numel, o->compare, elbo);
        if (o->save) {
            FILE *f = fopen(o->save, "wb");
            if (!f || fwrite(&elbo, sizeof elbo, 1, f) != 1 ||
                fwrite(p, sizeof *p, (size_t)numel, f) != (size_t)numel || fclose(f))
                fprintf(stderr, "bench_mpi: cannot write %s\n", o->save);
        }
    }
    free(step);
    free(fwd);
    cvae_mpi_free(mpi);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_dataset_free(train_set);
    cvae_dataset_free(test_set);
    return 0;
}

/* MPI_Allreduce alone: median of 50 calls per size. */
static int sums(int rank, int size, int64_t numel)
{
    float *x = calloc((size_t)numel, sizeof *x);
    double t[50];
    if (rank == 0)
        printf("MPI_Allreduce (MPI_SUM, in place), %d ranks: floats, bytes, median us\n", size);
    for (int64_t n = 1;; n = n * 4 > numel && n < numel ? numel : n * 4) {
        for (int r = -5; r < 50; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            const double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double dt = MPI_Wtime() - t0;
            MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (r >= 0) t[r] = dt;
        }
        qsort(t, 50, sizeof *t, cmp_double);
        if (rank == 0)
            printf("  %9lld %10lld %9.1f\n", (long long)n, 4 * (long long)n, 1e6 * t[25]);
        if (n == numel) break;
    }
    free(x);
    return 0;
}

int main(int argc, char **argv)
{
    int rank, size, provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    opts o = {100, 1, 128, 0, 0, "train", NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--single"))
            o.single = 1;
        else if (!strcmp(a, "--steps") && ++i)
            o.steps = atoi(v);
        else if (!strcmp(a, "--threads") && ++i)
            o.threads = atoi(v);
        else if (!strcmp(a, "--batch") && ++i)
            o.batch = atoi(v);
        else if (!strcmp(a, "--reduce") && ++i)
            o.ordered = !strcmp(v, "ordered");
        else if (!strcmp(a, "--save") && ++i)
            o.save = v;
        else if (!strcmp(a, "--compare") && ++i)
            o.compare = v;
        else if (!strcmp(a, "--what") && ++i)
            o.what = v;
        else {
            if (rank == 0)
                fprintf(stderr, "bench_mpi: unknown argument '%s' (see the source's head)\n", a);
            MPI_Finalize();
            return 2;
        }
    }
    if (o.steps < 1 || o.threads < 1 || o.batch < 1) {
        if (rank == 0) fprintf(stderr, "bench_mpi: --steps, --threads and --batch must be >= 1\n");
        MPI_Finalize();
        return 2;
    }
    cvae__blas_set_threads(1);
    int rc;
    if (!strcmp(o.what, "sum")) {
        cvae_model_config c = cvae_model_config_default();
        cvae_model *m;
        check(cvae_model_new(&c, &m), "model");
        rc = sums(rank, size, cvae_params_numel(cvae_net_params(cvae_model_net(m))));
        cvae_model_free(m);
    } else {
        rc = train(&o, rank, size);
    }
    MPI_Finalize();
    return rc;
}
