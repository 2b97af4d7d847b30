/* Data-parallel training over MPI, every rank on this machine, loopback only (Open MPI's
 * shared-memory transport; its control traffic bound to lo). Runs mpirun on tests/mpi/
 * mpi_worker.c, the `cvae` program and examples/mpi_train.c:
 *   - 2 and 3 ranks (MPI_Allreduce) give the same bits on every run;
 *   - the ordered sum: P ranks of 1 thread give the bits of one process of P threads; the
 *     default sum gives its loss within rounding;
 *   - a NaN on one rank: all skip the step (or all fail); a weight changed on one rank: the
 *     checksum fails every rank;
 *   - `cvae train`: 2 ranks then --resume on 3 give the bits of one process of 2 then 3
 *     threads; the default sum on 3 ranks the same test -ELBO within rounding;
 *   - a rank killed with SIGKILL ends the job within 30 s, non-zero, with a message; the
 *     checkpoint loads and --resume on fewer ranks continues;
 *   - a `cvae` built without MPI refuses to run as one of several processes.
 * Skipped (exit 77) when mpirun is missing. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, setenv, kill */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

enum { NTRAIN = 200, NTEST = 40, SIDE = 28 };

static char dir[64], data[128];

typedef struct result {
    int rc; /* exit status, or 128 + signal */
    double seconds;
    char out[32768], err[32768];
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void nap(void)
{
    const struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Starts argv[0..] (NULL-terminated) in dir, in a process group of its own, its output in
 * dir/NAME.out and dir/NAME.err. */
static pid_t start(const char *name, const char *const *argv)
{
    char out[160], err[160];
    snprintf(out, sizeof out, "%s/%s.out", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(dir) != 0) _exit(99);
        execv(argv[0], (char *const *)argv);
        _exit(98);
    }
    return pid;
}

/* Waits for pid at most `limit` seconds (then kills its group and fails). */
static result *finish(const char *name, pid_t pid, double limit)
{
    static result r;
    const double t0 = now();
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now() - t0 > limit) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("%s did not end within %.0f s", name, limit);
        }
        nap();
    }
    r.seconds = now() - t0;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char path[160];
    snprintf(path, sizeof path, "%s/%s.out", dir, name);
    slurp(path, r.out, sizeof r.out);
    snprintf(path, sizeof path, "%s/%s.err", dir, name);
    slurp(path, r.err, sizeof r.err);
    assert_true(r.rc != 98 && r.rc != 99);
    return &r;
}

/* argv of `mpirun --oversubscribe -np P program args...` (ranks 0: the program alone). */
static const char **command(int ranks, const char *program, va_list ap)
{
    static const char *argv[64];
    static char np[16];
    int n = 0;
    if (ranks > 0) {
        snprintf(np, sizeof np, "%d", ranks);
        argv[n++] = CVAE_MPIRUN;
        argv[n++] = "--oversubscribe";
        argv[n++] = "-np";
        argv[n++] = np;
    }
    argv[n++] = program;
    for (const char *a = va_arg(ap, const char *); a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = a;
    argv[n] = NULL;
    return argv;
}

/* Runs the program (on `ranks` ranks, 0: alone) to its end, within 120 s. */
static result *run(int ranks, const char *program, ...)
{
    va_list ap;
    va_start(ap, program);
    const char **argv = command(ranks, program, ap);
    va_end(ap);
    return finish("run", start("run", argv), 120);
}

static void expect(const result *r, int rc, const char *in_out, const char *in_err)
{
    if (rc >= 0 ? r->rc != rc : r->rc == 0)
        fail_msg("exit status %d, wanted %s%d\nstdout: %s\nstderr: %s", r->rc, rc < 0 ? "not " : "",
                 rc < 0 ? 0 : rc, r->out, r->err);
    if (in_out && !strstr(r->out, in_out)) fail_msg("stdout lacks \"%s\":\n%s", in_out, r->out);
    if (in_err && !strstr(r->err, in_err)) fail_msg("stderr lacks \"%s\":\n%s", in_err, r->err);
}

static const char *path_in(const char *name)
{
    static char buf[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Whether two files hold the same bytes. */
static int same_file(const char *a, const char *b)
{
    FILE *f = fopen(path_in(a), "rb"), *g = fopen(path_in(b), "rb");
    int same = f && g;
    while (same) {
        int x = fgetc(f), y = fgetc(g);
        same = x == y;
        if (x == EOF) break;
    }
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

/* "done: loss L ..." of a worker. */
static double worker_loss(const result *r)
{
    const char *p = strstr(r->out, "done: loss ");
    if (!p) fail_msg("no result line:\n%s\n%s", r->out, r->err);
    return atof(p + 11);
}

/* ---- the worker ---- */

static void test_same_ranks_same_bits(void **state)
{
    (void)state;
    for (int ranks = 2; ranks <= 3; ranks++) {
        expect(run(ranks, CVAE_MPI_WORKER, "--check-every", "1", "--out", "a.st", NULL), 0,
               "done: loss", NULL);
        expect(run(ranks, CVAE_MPI_WORKER, "--check-every", "1", "--out", "b.st", NULL), 0,
               "done: loss", NULL);
        if (!same_file("a.st", "b.st")) fail_msg("%d ranks: two runs differ", ranks);
    }
}

static void test_ordered_equals_thread_team(void **state)
{
    (void)state;
    for (int ranks = 2; ranks <= 3; ranks++) {
        char threads[8];
        snprintf(threads, sizeof threads, "%d", ranks);
        const double alone = worker_loss(
            run(0, CVAE_MPI_WORKER, "--single", "--threads", threads, "--out", "one.st", NULL));
        result *r = run(ranks, CVAE_MPI_WORKER, "--reduce", "ordered", "--out", "ordered.st", NULL);
        expect(r, 0, "done: loss", NULL);
        if (!same_file("one.st", "ordered.st"))
            fail_msg("%d ranks x 1 thread (ordered sum) differ from 1 process x %d threads", ranks,
                     ranks);
        const double all = worker_loss(run(ranks, CVAE_MPI_WORKER, NULL));
        if (!(fabs(all - alone) <= 1e-5 * fabs(alone)))
            fail_msg("%d ranks (MPI_Allreduce): loss %.9g, one process %.9g", ranks, all, alone);
    }
}

static void test_nan_on_one_rank(void **state)
{
    (void)state;
    result *r = run(3, CVAE_MPI_WORKER, "--nan", "4", "--skip", "--check-every", "1", NULL);
    expect(r, 0, "steps 11 skipped 1", NULL);
    r = run(3, CVAE_MPI_WORKER, "--nan", "4", NULL);
    expect(r, 1, NULL, "not finite at step 4");
    for (int rank = 0; rank < 3; rank++) { /* every rank stopped at the same step */
        char line[64];
        snprintf(line, sizeof line, "rank %d: step: ", rank);
        if (!strstr(r->err, line)) fail_msg("rank %d did not fail the step:\n%s", rank, r->err);
    }
}

static void test_checksum_catches_divergence(void **state)
{
    (void)state;
    result *r = run(3, CVAE_MPI_WORKER, "--perturb", "5", "--check-every", "3", NULL);
    expect(r, 1, NULL, "parameters differ across workers before step 6: 1 of 3 workers differ");
    for (int rank = 0; rank < 3; rank++) {
        char line[64];
        snprintf(line, sizeof line, "rank %d: step: ", rank);
        if (!strstr(r->err, line)) fail_msg("rank %d did not fail:\n%s", rank, r->err);
    }
    /* without a checksum due, the run ends and the explicit check catches it */
    r = run(2, CVAE_MPI_WORKER, "--perturb", "5", "--check-every", "0", NULL);
    expect(r, 1, NULL, "rank 1: check: ");
}

static void test_example(void **state)
{
    (void)state;
    result *r = run(2, CVAE_MPI_TRAIN, "1", data, "example.st", NULL);
    expect(r, 0, "2 ranks; saved example.st", NULL);
    assert_non_null(strstr(r->out, "epoch 1  train loss"));
}

/* ---- the cvae program ---- */

static void put_be32(FILE *f, uint32_t v)
{
    const unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                                (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* The first n bundled digits of split as plain IDX files in data/. */
static void write_split(const char *split, int n)
{
    cvae_dataset *ds;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), split, &ds));
    char path[192];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", data, split);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x803), put_be32(f, (uint32_t)n), put_be32(f, SIDE), put_be32(f, SIDE);
    fwrite(ds->images, 1, (size_t)n * SIDE * SIDE, f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", data, split);
    f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x801), put_be32(f, (uint32_t)n);
    for (int i = 0; i < n; i++) fputc(ds->labels[i], f);
    assert_int_equal(fclose(f), 0);
    cvae_dataset_free(ds);
}

static double test_elbo(const result *r, int epoch)
{
    char key[32];
    snprintf(key, sizeof key, "epoch %3d ", epoch);
    const char *p = strstr(r->out, key), *q = p ? strstr(p, "test -ELBO ") : NULL;
    if (!q) fail_msg("no epoch %d line:\n%s\n%s", epoch, r->out, r->err);
    return atof(q + 11);
}

/* A constant learning rate: a run resumed for more epochs keeps the schedule of its checkpoint,
 * which would differ from a run given all its epochs at once. */
#define TRAIN(...)                                                                                 \
    "train", "--data", data, "--batch", "20", "--quiet", "--latent", "4", "--lr-schedule",         \
        "constant", __VA_ARGS__, NULL

static void test_cli_ranks_and_resume(void **state)
{
    (void)state;
    /* one process of 2 threads, then resumed on 3 threads */
    expect(run(0, CVAE_CLI,
               TRAIN("--epochs", "1", "--threads", "2", "--checkpoint", "c1.st", "--out", "m1.st")),
           0, "epoch   1", NULL);
    result *r = run(0, CVAE_CLI,
                    TRAIN("--epochs", "2", "--threads", "3", "--resume", "--checkpoint", "c1.st",
                          "--out", "m1.st"));
    expect(r, 0, "saved m1.st", NULL);
    const double alone = test_elbo(r, 2);
    /* 2 ranks, then resumed on 3, ordered sum: the same bits */
    expect(run(2, CVAE_CLI,
               TRAIN("--epochs", "1", "--threads", "1", "--reduce", "ordered", "--checkpoint",
                     "c2.st", "--out", "m2.st")),
           0, "x 2 processes (MPI, ordered sum", NULL);
    r = run(3, CVAE_CLI,
            TRAIN("--epochs", "2", "--threads", "1", "--reduce", "ordered", "--resume",
                  "--checkpoint", "c2.st", "--out", "m2.st"));
    expect(r, 0, "resumed c2.st at epoch 1 (step 10)", NULL);
    assert_non_null(strstr(r->out, "20 steps"));
    if (!same_file("m1.st", "m2.st"))
        fail_msg("2 then 3 ranks (ordered) differ from one process of 2 then 3 threads");
    if (!same_file("c1.st", "c2.st")) fail_msg("the checkpoints differ");
    /* MPI_Allreduce on 3 ranks: the same test -ELBO within rounding */
    r = run(3, CVAE_CLI, TRAIN("--epochs", "2", "--checkpoint", "c3.st", "--out", "m3.st"));
    expect(r, 0, "saved m3.st", NULL);
    const double all = test_elbo(r, 2);
    if (!(fabs(all - alone) <= 1e-3 * fabs(alone)))
        fail_msg("3 ranks: test -ELBO %.3f, one process %.3f", all, alone);
}

/* The ranks mpirun started: its children; *one: the pid of rank `rank`. */
static int find_rank(pid_t mpirun, int rank, pid_t *one)
{
    DIR *d = opendir("/proc");
    int found = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        const pid_t pid = (pid_t)atoi(e->d_name);
        char path[64], buf[8192];
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        slurp(path, buf, sizeof buf);
        const char *close = strrchr(buf, ')');
        int ppid = 0;
        if (!close || sscanf(close + 2, "%*c %d", &ppid) != 1 || ppid != mpirun) continue;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        char want[48];
        snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
        for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
            buf[n] = '\0';
            if (!strcmp(buf + i, want)) *one = pid, found = 1;
        }
    }
    if (d) closedir(d);
    return found;
}

static void test_killed_rank(void **state)
{
    (void)state;
    const char *argv[] = {
        CVAE_MPIRUN, "--oversubscribe",
        "-np",       "3",
        CVAE_CLI,    TRAIN("--epochs", "100000", "--checkpoint", "k.st", "--out", "k-m.st")};
    const pid_t pid = start("killed", argv);
    const double t0 = now();
    while (access(path_in("k.st"), F_OK) != 0) { /* until the first checkpoint */
        if (now() - t0 > 120) {
            kill(-pid, SIGKILL);
            fail_msg("no checkpoint after 120 s");
        }
        nap();
    }
    pid_t victim = 0;
    assert_true(find_rank(pid, 1, &victim));
    assert_int_equal(kill(victim, SIGKILL), 0);
    result *r = finish("killed", pid, 30); /* fails unless the job ends within 30 s */
    expect(r, -1, NULL, "signal 9");
    printf("killed rank 1: the job ended %.1f s later, exit status %d\n", r->seconds, r->rc);

    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    int64_t epoch = 0;
    CVAE_OK_OR_FAIL(cvae_trainer_load(path_in("k.st"), &m, &tr, &epoch));
    assert_true(epoch >= 1);
    assert_int_equal(cvae_trainer_steps(tr), 10 * epoch);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    char more[24], resumed[96];
    snprintf(more, sizeof more, "%lld", (long long)epoch + 1);
    snprintf(resumed, sizeof resumed, "resumed k.st at epoch %lld (step %lld)", (long long)epoch,
             (long long)(10 * epoch));
    r = run(2, CVAE_CLI,
            TRAIN("--epochs", more, "--resume", "--checkpoint", "k.st", "--out", "k-m.st"));
    expect(r, 0, resumed, NULL);
    CVAE_OK_OR_FAIL(cvae_trainer_load(path_in("k.st"), &m, &tr, &epoch));
    assert_int_equal(cvae_trainer_steps(tr), 10 * epoch);
    assert_int_equal(epoch, atoi(more));
    cvae_trainer_free(tr);
    cvae_model_free(m);
}

static void test_refused_without_mpi(void **state)
{
    (void)state;
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1); /* as mpirun -np 3 would */
    result *r = run(0, CVAE_CLI_WITHOUT_MPI, TRAIN("--epochs", "1"));
    unsetenv("OMPI_COMM_WORLD_SIZE");
    expect(r, 1, NULL, "built without MPI");
    assert_null(strstr(r->out, "epoch"));
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cvae-mpi-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(data, sizeof data, "%s/data", dir);
    if (mkdir(data, 0777)) return 1;
    const int have_mpi = CVAE_MPIRUN[0] && access(CVAE_MPIRUN, X_OK) == 0;
    /* every rank on this machine: shared memory between ranks, control traffic on lo */
    setenv("OMPI_MCA_btl", "self,vader", 1);
    setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
    setenv("OMPI_MCA_btl_tcp_if_include", "lo", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    /* a rank of 1 thread is a thread team member only with OpenBLAS on 1 thread too */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    /* sanitized builds: Open MPI's own leaks (tests/mpi/lsan.supp), found in stacks that the
     * fast unwinder cuts short in its plugins */
    static char asan[512], lsan[512];
    const char *a = getenv("ASAN_OPTIONS");
    if (a) {
        snprintf(asan, sizeof asan, "%s:fast_unwind_on_malloc=0", a);
        setenv("ASAN_OPTIONS", asan, 1);
    }
    snprintf(lsan, sizeof lsan, "suppressions=%s:print_suppressions=0", CVAE_MPI_LSAN_SUPP);
    setenv("LSAN_OPTIONS", lsan, 1);
    const struct CMUnitTest with_mpi[] = {
        cmocka_unit_test(test_same_ranks_same_bits),
        cmocka_unit_test(test_ordered_equals_thread_team),
        cmocka_unit_test(test_nan_on_one_rank),
        cmocka_unit_test(test_checksum_catches_divergence),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_cli_ranks_and_resume),
        cmocka_unit_test(test_killed_rank),
        cmocka_unit_test(test_refused_without_mpi),
    };
    const struct CMUnitTest without_mpi[] = {cmocka_unit_test(test_refused_without_mpi)};
    write_split("train", NTRAIN);
    write_split("t10k", NTEST);
    int rc = have_mpi ? cmocka_run_group_tests(with_mpi, NULL, NULL)
                      : cmocka_run_group_tests(without_mpi, NULL, NULL);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    if (!have_mpi && rc == 0) {
        printf("test_mpi: the MPI tests were skipped: no mpirun (apt-get install openmpi-bin "
               "libopenmpi-dev, then reconfigure); only the refusal of a cvae without MPI ran\n");
        return 77;
    }
    return rc;
}
