/* The built-in GEMM (lib/core/gemm.h) against OpenBLAS's cblas_sgemm (builds with BLAS), one
 * thread, side by side on the reference model's GEMMs at batch 64 (the shapes of bench_model
 * --what roofline: the convolutions lowered by im2col, their backward products with the
 * transposes the ops use, the linear layers) and on squares, in GFLOP/s and as fractions of
 * the one-thread FMA peak measured in the same run (peak.h, bench_peak's loops).
 *
 *   bench_gemm [--kernel avx512|avx2|portable] [--path auto|packed|dot] [--rounds R] [--batch B]
 *
 * --path: the built-in GEMM's path (auto: the inner-product path for A B^T with few outputs,
 * see lib/core/gemm.h; packed: never; dot: for every A B^T product, where the kernel has it).
 *
 * Each shape runs R rounds (default 5) alternating the two backends; a round repeats the
 * product for at least 20 ms of thread CPU time; the best round of each is kept (CPU time
 * and best-of are the least disturbed by other processes on a shared machine). beta = 0,
 * operands without padding, as the ops call it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/gemm.h"
#include "common.h"
#include "peak.h"

typedef struct shape {
    const char *what;
    bool ta, tb;
    int m, n, k;
} shape;

static const cvae__gemm_kernel *kernel;
static cvae__gemm_opts opts;

static void run(int backend, const shape *s, const float *a, const float *b, float *c)
{
    const int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
#ifdef CVAE_HAVE_BLAS
    if (backend == 1) {
        cvae__sgemm_blas(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
        return;
    }
#else
    (void)backend;
#endif
    cvae__gemm_run(kernel, &opts, s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
                   s->n);
}

/* GFLOP/s of one round: repeats until 20 ms of CPU time have passed. */
static double round_rate(int backend, const shape *s, const float *a, const float *b, float *c)
{
    int reps = 0;
    const double t0 = peak_cpu_now();
    double t;
    do {
        run(backend, s, a, b, c);
        reps++;
    } while ((t = peak_cpu_now() - t0) < 0.02);
    return 2.0 * s->m * s->n * s->k * reps / t * 1e-9;
}

int main(int argc, char **argv)
{
    const char *kname = NULL;
    int rounds = 5, batch = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kernel"))
            kname = argv[i + 1];
        else if (!strcmp(argv[i], "--path"))
            opts.path = !strcmp(argv[i + 1], "auto")     ? CVAE__GEMM_AUTO
                        : !strcmp(argv[i + 1], "packed") ? CVAE__GEMM_PACKED
                        : !strcmp(argv[i + 1], "dot")    ? CVAE__GEMM_DOT
                                                         : -1;
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else
            rounds = 0;
    }
    kernel = kname ? cvae__gemm_kernel_find(kname) : cvae__gemm_kernel_best();
    if (rounds < 1 || batch < 1 || batch > 4096 || argc % 2 == 0 || !kernel || opts.path < 0) {
        fprintf(stderr, "usage: bench_gemm [--kernel avx512|avx2|portable (one this CPU runs)] "
                        "[--path auto|packed|dot] [--rounds R >= 1] [--batch B]\n");
        return 2;
    }
    const int n = batch, p14 = batch * 196, p7 = batch * 49;
    const shape shapes[] = {
        {"conv1+cond fwd", 0, 0, 40, p14, 9},   {"conv1+cond dW", 0, 1, 40, 9, p14},
        {"conv2 fwd", 0, 0, 64, p7, 360},       {"conv2 dW", 0, 1, 64, 360, p7},
        {"conv2 dcols", 1, 0, 360, p7, 64},     {"enc linear fwd", 0, 1, n, 32, 3146},
        {"enc linear dW", 1, 0, 32, 3146, n},   {"enc linear dx", 0, 0, n, 3146, 32},
        {"dec linear fwd", 0, 1, n, 3136, 26},  {"dec linear dW", 1, 0, 3136, 26, n},
        {"dec linear dx", 0, 0, n, 26, 3136},   {"convT1 fwd cols", 1, 0, 512, p7, 64},
        {"convT1 dW", 0, 1, 64, 512, p7},       {"convT1 dx", 0, 0, 64, p7, 512},
        {"convT2 fwd cols", 1, 0, 16, p14, 32}, {"convT2 dW", 0, 1, 32, 16, p14},
        {"convT2 dx", 0, 0, 32, p14, 16},       {"square 256", 0, 0, 256, 256, 256},
        {"square 512", 0, 0, 512, 512, 512},    {"square 1024", 0, 0, 1024, 1024, 1024},
    };
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    size_t big = 0;
    for (int i = 0; i < ns; i++) {
        const size_t sz[3] = {(size_t)shapes[i].m * shapes[i].k, (size_t)shapes[i].k * shapes[i].n,
                              (size_t)shapes[i].m * shapes[i].n};
        for (int j = 0; j < 3; j++) big = sz[j] > big ? sz[j] : big;
    }
    float *a = xmalloc(big * sizeof(float)), *b = xmalloc(big * sizeof(float));
    float *c = xmalloc(big * sizeof(float));
    for (size_t i = 0; i < big; i++)
        a[i] = 0.01f * (float)(i % 97) - 0.5f, b[i] = 0.02f * (float)(i % 89) - 0.9f, c[i] = 0;

    cvae__blas_set_threads(1);
    float sink;
    const double fma512 = 1e-9 * peak_fma(1, 0.5, &sink), fma256 = 1e-9 * peak_fma(0, 0.5, &sink);
    const double peak = fma512 > fma256 ? fma512 : fma256;
#ifdef CVAE_HAVE_BLAS
    const int backends = 2;
    printf("bench_gemm: 1 thread, batch %d; built-in kernel %s %dx%d (KC %d, MC %d, NC %d) against "
           "OpenBLAS %s (cblas_sgemm)\n",
           batch, kernel->name, kernel->mr, kernel->nr, kernel->kc, kernel->mc, kernel->nc,
           cvae__blas_core());
#else
    const int backends = 1;
    printf("bench_gemm: 1 thread, batch %d; built-in kernel %s %dx%d (KC %d, MC %d, NC %d); "
           "built without BLAS, no OpenBLAS column\n",
           batch, kernel->name, kernel->mr, kernel->nr, kernel->kc, kernel->mc, kernel->nc);
#endif
    printf("FMA peak, 1 thread (bench_peak's loops): AVX-512 %.1f GF/s, AVX2 %.1f GF/s "
           "(0: not on this CPU); %% below are of %.1f\n",
           fma512, fma256, peak);
    printf("best of %d rounds of >= 20 ms thread CPU time, alternating\n\n", rounds);
    printf("%-16s %2s %6s %6s %6s | %9s %6s | %9s %6s | %7s\n", "gemm", "op", "m", "n", "k",
           "built-in", "%peak", "OpenBLAS", "%peak", "ratio");
    int wins = 0;
    for (int i = 0; i < ns; i++) {
        const shape *s = &shapes[i];
        double best[2] = {0, 0};
        for (int be = 0; be < backends; be++) run(be, s, a, b, c); /* warm-up */
        for (int r = 0; r < rounds; r++)
            for (int be = 0; be < backends; be++) {
                const double rate = round_rate(be, s, a, b, c);
                if (rate > best[be]) best[be] = rate;
            }
        const double pct = peak > 0 ? 100 * best[0] / peak : 0;
        const bool dot = opts.path == CVAE__GEMM_DOT
                             ? kernel->dot_nt && !s->ta && s->tb
                             : opts.path == CVAE__GEMM_AUTO &&
                                   cvae__gemm_prefers_dot(kernel, s->ta, s->tb, s->m, s->n, s->k);
        printf("%-16s %c%c %6d %6d %6d | %9.1f %5.1f%%%c|", s->what, s->ta ? 'T' : 'N',
               s->tb ? 'T' : 'N', s->m, s->n, s->k, best[0], pct, dot ? '*' : ' ');
        if (backends == 2) {
            const double ratio = best[0] / best[1];
            wins += ratio > 1;
            printf(" %9.1f %5.1f%% | %7.3f%s\n", best[1], peak > 0 ? 100 * best[1] / peak : 0,
                   ratio, ratio > 1 ? "  built-in wins" : "");
        } else {
            printf(" %9s %6s | %7s\n", "-", "-", "-");
        }
    }
    printf("\n*: the built-in GEMM's inner-product path (A B^T read in place)\n");
    if (backends == 2)
        printf("ratio = built-in / OpenBLAS GFLOP/s; the built-in GEMM wins %d of %d shapes\n",
               wins, ns);
    free(a), free(b), free(c);
    return 0;
}
