/* The AVX-512 micro-kernel: 12 x 32 tiles. Each step of the depth loads one 32-float row of
 * the B panel (two zmm) and broadcasts the 12 values of the A panel's column into 24 FMAs
 * (24 accumulators + 2 B registers of the 32): two FMA ports stay busy with 1.2 loads per
 * FMA, well within two load ports. Edge tiles run the same code with fewer rows (an
 * instance per row count, no wasted FMAs) and masked columns. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "core/gemm.h"

#define MR 12
#define NR 32
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

INLINE AVX512 void tile(const int rows, const int nv, int64_t kc, const float *a, const float *b,
                        float alpha, float beta, float *c, int64_t ldc, int nr)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++, a += MR, b += NR) {
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = nv == 2 ? _mm512_loadu_ps(b + 16) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            if (i >= rows) break;
            const __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            if (nv == 2) c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    const __mmask16 k0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= rows) break;
        float *ci = c + i * ldc;
        __m512 x0 = _mm512_mul_ps(va, c0[i]);
        if (beta != 0) x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, ci), x0);
        _mm512_mask_storeu_ps(ci, k0, x0);
        if (nv == 2) {
            __m512 x1 = _mm512_mul_ps(va, c1[i]);
            if (beta != 0) x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, ci + 16), x1);
            _mm512_mask_storeu_ps(ci + 16, k1, x1);
        }
    }
}

typedef void (*tile_fn)(int64_t kc, const float *a, const float *b, float alpha, float beta,
                        float *c, int64_t ldc, int nr);

#define TILE(R, V)                                                                                 \
    static AVX512 void tile_##R##_##V(int64_t kc, const float *a, const float *b, float alpha,     \
                                      float beta, float *c, int64_t ldc, int nr)                   \
    {                                                                                              \
        tile(R, V, kc, a, b, alpha, beta, c, ldc, nr);                                             \
    }
#define ROWS(R) TILE(R, 1) TILE(R, 2)
ROWS(1)
ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8) ROWS(9) ROWS(10) ROWS(11) ROWS(12)
#define PAIR(R)                                                                                    \
    {                                                                                              \
        tile_##R##_1, tile_##R##_2                                                                 \
    }
    static const tile_fn tiles[MR][2] = {PAIR(1), PAIR(2), PAIR(3), PAIR(4),  PAIR(5),  PAIR(6),
                                         PAIR(7), PAIR(8), PAIR(9), PAIR(10), PAIR(11), PAIR(12)};

static void ukernel(int64_t kc, const float *a, const float *b, float alpha, float beta, float *c,
                    int64_t ldc, int mr, int nr)
{
    tiles[mr - 1][nr > 16](kc, a, b, alpha, beta, c, ldc, nr);
}

const cvae__gemm_kernel cvae__gemm_kernel_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .kc = 384,
    .mc = 480,
    .nc = 480,
    .run = ukernel,
    .pack_a = cvae__gemm_pack_a,
    .pack_b = cvae__gemm_pack_b,
};
#endif
