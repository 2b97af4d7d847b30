/* The AVX2 + FMA micro-kernel: 6 x 16 tiles (BLIS's Haswell shape). Each step of the depth
 * loads one 16-float row of the B panel (two ymm) and broadcasts the 6 values of the A panel's
 * column into 12 FMAs: 12 accumulators + 2 B registers + 1 broadcast of the 16 registers.
 * Edge tiles run an instance per row count and masked columns. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "core/gemm.h"

#define MR 6
#define NR 16
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* Lanes [0, n) of 8 set (n may be <= 0 or >= 8). */
INLINE AVX2 __m256i lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE AVX2 void tile(const int rows, const int nv, int64_t kc, const float *a, const float *b,
                      float alpha, float beta, float *c, int64_t ldc, int nr)
{
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++, a += MR, b += NR) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = nv == 2 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            if (i >= rows) break;
            const __m256 ai = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            if (nv == 2) c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
    }
    const __m256i k0 = lanes(nr), k1 = lanes(nr - 8);
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (i >= rows) break;
        float *ci = c + i * ldc;
        __m256 x0 = _mm256_mul_ps(va, c0[i]);
        if (beta != 0) x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci, k0), x0);
        _mm256_maskstore_ps(ci, k0, x0);
        if (nv == 2) {
            __m256 x1 = _mm256_mul_ps(va, c1[i]);
            if (beta != 0) x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(ci + 8, k1), x1);
            _mm256_maskstore_ps(ci + 8, k1, x1);
        }
    }
}

typedef void (*tile_fn)(int64_t kc, const float *a, const float *b, float alpha, float beta,
                        float *c, int64_t ldc, int nr);

#define TILE(R, V)                                                                                 \
    static AVX2 void tile_##R##_##V(int64_t kc, const float *a, const float *b, float alpha,       \
                                    float beta, float *c, int64_t ldc, int nr)                     \
    {                                                                                              \
        tile(R, V, kc, a, b, alpha, beta, c, ldc, nr);                                             \
    }
/* clang-format off */
#define ROWS(R) TILE(R, 1) TILE(R, 2)
ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#define PAIR(R) {tile_##R##_1, tile_##R##_2}
static const tile_fn tiles[MR][2] = {PAIR(1), PAIR(2), PAIR(3), PAIR(4), PAIR(5), PAIR(6)};
/* clang-format on */

static void ukernel(int64_t kc, const float *a, const float *b, float alpha, float beta, float *c,
                    int64_t ldc, int mr, int nr)
{
    tiles[mr - 1][nr > 8](kc, a, b, alpha, beta, c, ldc, nr);
}

const cvae__gemm_kernel cvae__gemm_kernel_avx2 = {
    .name = "avx2",
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .mc = 336,
    .nc = 336,
    .run = ukernel,
    .pack_a = cvae__gemm_pack_a,
    .pack_b = cvae__gemm_pack_b,
};
#endif
