/* The machine's ceiling, the denominator of every "fraction of peak" in docs/performance.md:
 * fused multiply-add throughput of one core and of T cores at once (AVX2 + FMA, and AVX-512
 * where the CPU has it; the loops are in peak.h, x86 only), and cvae__sgemm on square matrices
 * at 1 and T BLAS threads (OpenBLAS's cblas_sgemm, or the single-threaded built-in GEMM in
 * builds without BLAS or with CVAE_GEMM=builtin: its T-thread figure is then one thread's).
 * FMA rates are per second of each thread's CPU time (peak.h), sgemm rates per second of wall
 * time: run it on a quiet machine.
 *
 *   bench_peak [--threads T] [--seconds S]      (T default 2, S per measurement default 0.5) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "peak.h"

/* Wall time: a multi-threaded sgemm's workers are not the calling thread. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of a few square sgemm calls of side n, in GFLOP/s. */
static double sgemm_rate(int n, int threads, double seconds)
{
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (int i = 0; i < n * n; i++) a[i] = b[i] = 0.001f * (float)(i % 1000), c[i] = 0;
    cvae__blas_set_threads(threads);
    double best = 0, t_end = now() + seconds;
    do {
        double t0 = now();
        cvae__sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double r = 2.0 * n * n * n / (now() - t0) * 1e-9;
        if (r > best) best = r;
    } while (now() < t_end);
    free(a), free(b), free(c);
    return best;
}

int main(int argc, char **argv)
{
    int threads = 2;
    double seconds = 0.5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else
            break;
    }
    if (threads < 1 || threads > 64 || !(seconds > 0) || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_peak [--threads T (1..64)] [--seconds S]\n");
        return 2;
    }
    float sink;
    const int avx2 = peak_fma(0, 1e-3, &sink) > 0, avx512 = peak_fma(1, 1e-3, &sink) > 0;
    printf("peak, sgemm backend %s, steady-state rates over %.1f s each\n", cvae__sgemm_backend(),
           seconds);
    printf("%-38s %10s %10s\n", "measure", "1 thread", "threads");
    if (avx2)
        printf("%-38s %10.1f %10.1f  (%d)\n", "FMA, 8-float vectors (AVX2) GF/s",
               peak_fma_threads(0, 1, seconds), peak_fma_threads(0, threads, seconds), threads);
    if (avx512)
        printf("%-38s %10.1f %10.1f  (%d)\n", "FMA, 16-float vectors (AVX-512) GF/s",
               peak_fma_threads(1, 1, seconds), peak_fma_threads(1, threads, seconds), threads);
    for (int n = 256; n <= 1024; n *= 2) {
        char name[64];
        snprintf(name, sizeof name, "sgemm %dx%dx%d GF/s", n, n, n);
        printf("%-38s %10.1f %10.1f  (%d)\n", name, sgemm_rate(n, 1, seconds),
               sgemm_rate(n, threads, seconds), threads);
    }
    return 0;
}
