/* The FMA throughput loops of bench_peak, shared with the benchmarks that state their speed
 * as a fraction of it (bench_gemm). x86 only (AVX2 + FMA and AVX-512); elsewhere the rates
 * are 0 ("not measured"). Each loop keeps 12 independent accumulators in registers (more
 * than latency x ports on any current core), so it runs at the issue rate of the FMA units.
 * Rates are per second of the thread's CPU time: what a core does while the thread runs on
 * it, the same whether or not other processes share the machine. */
#ifndef CVAE_BENCH_PEAK_H
#define CVAE_BENCH_PEAK_H

#include <pthread.h>
#include <time.h>

static inline double peak_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define PEAK_ACC 12
#define PEAK_INNER 1000 /* FMA rounds per timing check */

/* Runs rounds of PEAK_ACC independent FMAs on 8-float vectors; returns FLOP/s. */
__attribute__((target("avx2,fma"))) static double peak_fma_avx2(double seconds, float *sink)
{
    __m256 acc[PEAK_ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm256_set1_ps((float)i);
    double flops = 0, t0 = peak_cpu_now();
    do {
        for (int r = 0; r < PEAK_INNER; r++)
            for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        flops += 2.0 * 8 * PEAK_ACC * PEAK_INNER;
    } while (peak_cpu_now() - t0 < seconds);
    float s = 0;
    for (int i = 0; i < PEAK_ACC; i++) s += _mm256_cvtss_f32(acc[i]);
    *sink = s;
    return flops / (peak_cpu_now() - t0);
}

/* The same on 16-float vectors. */
__attribute__((target("avx512f"))) static double peak_fma_avx512(double seconds, float *sink)
{
    __m512 acc[PEAK_ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    double flops = 0, t0 = peak_cpu_now();
    do {
        for (int r = 0; r < PEAK_INNER; r++)
            for (int i = 0; i < PEAK_ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        flops += 2.0 * 16 * PEAK_ACC * PEAK_INNER;
    } while (peak_cpu_now() - t0 < seconds);
    float s = 0;
    for (int i = 0; i < PEAK_ACC; i++) s += _mm512_reduce_add_ps(acc[i]);
    *sink = s;
    return flops / (peak_cpu_now() - t0);
}

/* FLOP/s of one thread: wide 0 for AVX2 + FMA, 1 for AVX-512; 0 where the CPU lacks it. */
static inline double peak_fma(int wide, double seconds, float *sink)
{
    __builtin_cpu_init();
    if (wide) return __builtin_cpu_supports("avx512f") ? peak_fma_avx512(seconds, sink) : 0;
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    return peak_fma_avx2(seconds, sink);
}
#else
static inline double peak_fma(int wide, double seconds, float *sink)
{
    (void)wide, (void)seconds;
    *sink = 0;
    return 0;
}
#endif

typedef struct peak_job {
    int wide; /* 0: AVX2, 1: AVX-512 */
    double seconds, rate;
    float sink;
} peak_job;

static inline void *peak_run_job(void *p)
{
    peak_job *j = p;
    j->rate = peak_fma(j->wide, j->seconds, &j->sink);
    return NULL;
}

/* Sum of the FMA rates of t threads running at once, in GFLOP/s (0 if a thread fails to
 * start or the CPU lacks the width). */
static inline double peak_fma_threads(int wide, int t, double seconds)
{
    pthread_t th[64];
    peak_job jobs[64];
    int started = 0;
    for (int i = 0; i < t && i < 64; i++) {
        jobs[i] = (peak_job){wide, seconds, 0, 0};
        if (pthread_create(&th[i], NULL, peak_run_job, &jobs[i])) break;
        started++;
    }
    double sum = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        sum += jobs[i].rate;
    }
    return started == t ? sum * 1e-9 : 0;
}

/* The machine's FMA peak of t threads at once in GFLOP/s: AVX-512 where the CPU has it, else
 * AVX2 + FMA (0 elsewhere): the denominator of every "fraction of peak". */
static inline double peak_gflops(int t, double seconds)
{
    float sink;
    const int wide = peak_fma(1, 1e-3, &sink) > 0;
    return peak_fma_threads(wide, t, seconds);
}

#endif
