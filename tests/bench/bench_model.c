/* The reference model end to end: training step and inference timings (one
 * JSON line, the interface tests/bench/compare.sh calls), plus human-readable
 * tables: per-layer roofline against cblas_sgemm, heap allocations per step,
 * peak memory of an epoch of Fashion-MNIST, and scaling with data, batch and K.
 *
 *   bench_model --what train|infer|roofline|allocs|memory|scaling
 *               [--batch B] [--threads T] [--reps R] [--warmup W] [--data DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cvae/cvae.h"

#ifndef CVAE_BENCH_DATA_DIR
#define CVAE_BENCH_DATA_DIR "tests/data/mnist-digits-5k"
#endif
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

typedef struct opts {
    const char *what, *data;
    int batch, threads, reps, warmup;
} opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): under load from other processes it
 * tracks the work done, where wall time also counts the waiting. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_) {                                                                                  \
            fprintf(stderr, "%s failed: %s\n", #expr, cvae_last_error());                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* ---- counting allocator ---- */

static long n_malloc, n_realloc, n_free;
static void *count_malloc(size_t n) { n_malloc++; return malloc(n); }
static void *count_realloc(void *p, size_t n) { n_realloc++; return realloc(p, n); }
static void count_free(void *p) { n_free++; free(p); }

/* ---- data ---- */

typedef struct batch {
    float *images;
    int32_t *labels;
    int64_t n;
} batch;

/* n real digits (the bundled 5k set, wrapping around). */
static batch load_batch(const char *dir, int64_t n)
{
    cvae_dataset *ds;
    CHECK(cvae_dataset_load_dir(dir, "train", &ds));
    batch b = {xmalloc((size_t)n * 784 * sizeof(float)), xmalloc((size_t)n * sizeof(int32_t)), n};
    int64_t *idx = xmalloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i % ds->n;
    CHECK(cvae_dataset_batch(ds, idx, n, CVAE_BINARIZE_NONE, 0, b.images, b.labels));
    free(idx);
    cvae_dataset_free(ds);
    return b;
}

static void free_batch(batch *b)
{
    free(b->images);
    free(b->labels);
}

/* ---- train / infer (JSON) ---- */

typedef struct timing {
    double med_ms, min_ms, cpu_med_ms;
} timing;

static timing time_train(const opts *o, const batch *b, int reps, int warmup)
{
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    (void)o;
    double *ms = xmalloc((size_t)reps * sizeof *ms), *cpu = xmalloc((size_t)reps * sizeof *cpu);
    float loss;
    for (int i = 0; i < warmup; i++) CHECK(cvae_trainer_step(tr, b->images, b->labels, b->n, &loss));
    for (int i = 0; i < reps; i++) {
        double t0 = now(), c0 = cpu_now();
        CHECK(cvae_trainer_step(tr, b->images, b->labels, b->n, &loss));
        ms[i] = 1e3 * (now() - t0);
        cpu[i] = 1e3 * (cpu_now() - c0);
    }
    timing r = {median(ms, reps), ms[0], median(cpu, reps)};
    free(ms);
    free(cpu);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    return r;
}

static timing time_infer(const opts *o, const batch *b, int reps, int warmup)
{
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    (void)o;
    const int64_t n = b->n;
    float *recon = xmalloc((size_t)n * 784 * sizeof(float));
    float *mu = xmalloc((size_t)n * 16 * sizeof(float)), *lv = xmalloc((size_t)n * 16 * sizeof(float));
    double *ms = xmalloc((size_t)reps * sizeof *ms), *cpu = xmalloc((size_t)reps * sizeof *cpu);
    for (int i = 0; i < warmup; i++) CHECK(cvae_model_forward(m, b->images, b->labels, n, 7, recon, mu, lv));
    for (int i = 0; i < reps; i++) {
        double t0 = now(), c0 = cpu_now();
        CHECK(cvae_model_forward(m, b->images, b->labels, n, 7, recon, mu, lv));
        ms[i] = 1e3 * (now() - t0);
        cpu[i] = 1e3 * (cpu_now() - c0);
    }
    timing r = {median(ms, reps), ms[0], median(cpu, reps)};
    free(ms);
    free(cpu);
    free(recon);
    free(mu);
    free(lv);
    cvae_model_free(m);
    return r;
}

static int run_json(const opts *o)
{
    batch b = load_batch(o->data, o->batch);
    int train = strcmp(o->what, "train") == 0;
    timing t = train ? time_train(o, &b, o->reps, o->warmup) : time_infer(o, &b, o->reps, o->warmup);
    printf("{\"impl\":\"cvae\",\"what\":\"%s\",\"batch\":%d,\"threads\":%d,\"ms_median\":%.4f,"
           "\"ms_min\":%.4f,\"reps\":%d,\"corename\":\"%s\",\"cpu_ms_median\":%.4f}\n",
           o->what, o->batch, o->threads, t.med_ms, t.min_ms, o->reps, openblas_get_corename(),
           t.cpu_med_ms);
    free_batch(&b);
    return 0;
}

/* ---- allocs ---- */

/* Heap allocations made through the library's allocator per call, after warm-up. */
static int run_allocs(const opts *o)
{
    CHECK(cvae_set_allocator(count_malloc, count_realloc, count_free));
    batch b = load_batch(o->data, o->batch);
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    const int64_t n = b.n;
    float *recon = xmalloc((size_t)n * 784 * sizeof(float)), loss;
    printf("heap calls through cvae_set_allocator (malloc / realloc / free), batch %d\n", o->batch);
    printf("%-28s %8s %8s %8s\n", "call", "malloc", "realloc", "free");
    for (int phase = 0; phase < 2; phase++) {
        for (int i = 0; i < 3; i++) {
            long a = n_malloc, r = n_realloc, f = n_free;
            CHECK(cvae_trainer_step(tr, b.images, b.labels, n, &loss));
            printf("trainer_step #%d%-13s %8ld %8ld %8ld\n", i + 1, "", n_malloc - a, n_realloc - r,
                   n_free - f);
        }
        for (int i = 0; i < 3; i++) {
            long a = n_malloc, r = n_realloc, f = n_free;
            CHECK(cvae_model_forward(m, b.images, b.labels, n, 7, recon, NULL, NULL));
            printf("model_forward #%d%-12s %8ld %8ld %8ld\n", i + 1, "", n_malloc - a, n_realloc - r,
                   n_free - f);
        }
        (void)phase;
    }
    printf("(OpenBLAS allocates its own buffers once, outside this allocator; the bench's\n"
           " own buffers use malloc directly and are made before the counted calls.)\n");
    free(recon);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_thread_workspace_release();
    free_batch(&b);
    CHECK(cvae_set_allocator(NULL, NULL, NULL));
    return 0;
}

/* ---- main ---- */

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_model --what train|infer|roofline|allocs|memory|scaling "
                    "[--batch B] [--threads T] [--reps R] [--warmup W] [--data DIR]\n");
    return 2;
}

int main(int argc, char **argv)
{
    opts o = {"train", CVAE_BENCH_DATA_DIR, 128, 1, 30, 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (!strcmp(a, "--what")) o.what = v;
        else if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--batch")) ok = parse_int(v, 1, 1 << 20, &o.batch);
        else if (!strcmp(a, "--threads")) ok = parse_int(v, 1, 256, &o.threads);
        else if (!strcmp(a, "--reps")) ok = parse_int(v, 1, 1 << 20, &o.reps);
        else if (!strcmp(a, "--warmup")) ok = parse_int(v, 0, 1 << 20, &o.warmup);
        else ok = 0;
        if (!ok) return usage();
        i++;
    }
    openblas_set_num_threads(o.threads);
    if (!strcmp(o.what, "train") || !strcmp(o.what, "infer")) return run_json(&o);
    if (!strcmp(o.what, "allocs")) return run_allocs(&o);
    return usage();
}
