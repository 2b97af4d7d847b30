/* The portable micro-kernel: plain C that the compiler vectorizes for the target at hand
 * (NEON on aarch64). 8 x 8 accumulators fill 16 of aarch64's 32 vector registers. */
#include "core/gemm.h"

/* Fused a * b + c where the target has a fast fused multiply-add, else a * b + c. */
#ifdef __FP_FAST_FMAF
#define MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

/* acc [MR][NR] (row stride NR) -> C tile, mr x nr of it. */
static inline void store_tile(int NR, const float *acc, float alpha, float beta, float *c,
                              int64_t ldc, int mr, int nr)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        const float *ai = acc + i * NR;
        if (beta == 0)
            for (int j = 0; j < nr; j++) ci[j] = alpha * ai[j];
        else
            for (int j = 0; j < nr; j++) ci[j] = MADD(beta, ci[j], alpha * ai[j]);
    }
}

static inline void tile(int MR, int NR, int64_t kc, const float *restrict a,
                        const float *restrict b, float *restrict acc)
{
    for (int i = 0; i < MR * NR; i++) acc[i] = 0;
    for (int64_t p = 0; p < kc; p++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i * NR + j] = MADD(a[i], b[j], acc[i * NR + j]);
}

void cvae__gemm_ukernel_any(int MR, int NR, int64_t kc, const float *a, const float *b, float alpha,
                            float beta, float *c, int64_t ldc, int mr, int nr)
{
    float acc[CVAE__GEMM_MR_MAX * CVAE__GEMM_NR_MAX];
    tile(MR, NR, kc, a, b, acc);
    store_tile(NR, acc, alpha, beta, c, ldc, mr, nr);
}

#define PMR 8
#define PNR 8

/* The same arithmetic as tile() with the loops over the tile fully unrolled, so that the
 * accumulators live in registers and the compiler vectorizes across each row (the generic
 * loop nest above compiles to accumulators in memory). */
static void ukernel(int64_t kc, const float *restrict a, const float *restrict b, float alpha,
                    float beta, float *c, int64_t ldc, int mr, int nr)
{
    float acc[PMR * PNR];
#pragma GCC unroll 64
    for (int i = 0; i < PMR * PNR; i++) acc[i] = 0;
    for (int64_t p = 0; p < kc; p++, a += PMR, b += PNR)
#pragma GCC unroll 8
        for (int i = 0; i < PMR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < PNR; j++) acc[i * PNR + j] = MADD(a[i], b[j], acc[i * PNR + j]);
    store_tile(PNR, acc, alpha, beta, c, ldc, mr, nr);
}

const cvae__gemm_kernel cvae__gemm_kernel_portable = {
    .name = "portable",
    .mr = PMR,
    .nr = PNR,
    .kc = 256,
    .mc = 512,
    .nc = 512,
    .run = ukernel,
    .pack_a = cvae__gemm_pack_a,
    .pack_b = cvae__gemm_pack_b,
};
