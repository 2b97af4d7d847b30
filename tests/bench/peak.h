/* The FMA throughput loops of bench_peak, shared with the benchmarks that state their speed
 * as a fraction of it (bench_gemm). x86 only (AVX2 + FMA and AVX-512); elsewhere the rates
 * are 0 ("not measured"). Each loop keeps 12 independent accumulators in registers (more
 * than latency x ports on any current core), so it runs at the issue rate of the FMA units.
 * Rates are per second of the thread's CPU time: what a core does while the thread runs on
 * it, the same whether or not other processes share the machine. */
#ifndef CVAE_BENCH_PEAK_H
#define CVAE_BENCH_PEAK_H

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

#endif
