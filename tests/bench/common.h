/* What the benchmarks share: wall and CPU time, medians, integer options. */
#ifndef CVAE_BENCH_COMMON_H
#define CVAE_BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds of CLOCK_MONOTONIC. */
static inline double now(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

/* CPU seconds of the whole process (all threads): under load from other processes it tracks
 * the work done, where wall time also counts the waiting. */
static inline double cpu_now(void)
{
    return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* malloc that ends the benchmark when memory runs out. */
static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* *out = s as an integer in [lo, hi]; 0 when s is NULL, not a number or out of range. */
static inline int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

#endif
