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
/* clang-format off */
#define ROWS(R) TILE(R, 1) TILE(R, 2)
ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8) ROWS(9) ROWS(10) ROWS(11) ROWS(12)
#define PAIR(R) {tile_##R##_1, tile_##R##_2}
static const tile_fn tiles[MR][2] = {PAIR(1), PAIR(2), PAIR(3), PAIR(4), PAIR(5), PAIR(6), PAIR(7), PAIR(8), PAIR(9), PAIR(10), PAIR(11), PAIR(12)};
/* clang-format on */

static void ukernel(int64_t kc, const float *a, const float *b, float alpha, float beta, float *c,
                    int64_t ldc, int mr, int nr)
{
    tiles[mr - 1][nr > 16](kc, a, b, alpha, beta, c, ldc, nr);
}

/* ---- packing (r <= 32): where the panel's columns are contiguous in the source (A not
 * transposed, B transposed), 16 source rows x 16 depths at a time, transposed in registers;
 * where its rows are, masked row copies ---- */

/* v[i] lane l -> v[l] lane i. */
INLINE AVX512 void transpose16(__m512 v[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        v[i] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        v[i + 1] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        v[i + 2] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        v[i + 3] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* v[4g + q] now holds, in each 128-bit lane c, the 4 x 4 block (rows 4g..4g+3, column
     * 4c + q); gather the blocks: first pairs of 128-bit lanes, then halves */
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        t[q] = _mm512_shuffle_f32x4(v[q], v[4 + q], 0x88);     /* lanes 0, 2 of each */
        t[4 + q] = _mm512_shuffle_f32x4(v[q], v[4 + q], 0xdd); /* lanes 1, 3 */
        t[8 + q] = _mm512_shuffle_f32x4(v[8 + q], v[12 + q], 0x88);
        t[12 + q] = _mm512_shuffle_f32x4(v[8 + q], v[12 + q], 0xdd);
    }
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        v[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);     /* column q */
        v[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd); /* column 8 + q */
        v[4 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0x88);
        v[12 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0xdd);
    }
}

/* Panels [depth][r] (r <= 32) of X, element (p, j) at x[j * ldx + p], j < width. Source rows
 * past width read as zeros, which makes the panel's padding. */
static AVX512 void pack_transpose(int r, const float *x, int64_t ldx, int64_t depth, int64_t width,
                                  float *dst)
{
    for (int64_t j0 = 0; j0 < width; j0 += r, dst += (int64_t)r * depth) {
        const int64_t w = width - j0 < r ? width - j0 : r;
        for (int g = 0; g < r; g += 16) {
            const int cols = r - g < 16 ? r - g : 16;
            const int valid = w - g <= 0 ? 0 : w - g < cols ? (int)(w - g) : cols;
            const __mmask16 keep = (__mmask16)((1u << cols) - 1);
            const float *src = x + (j0 + g) * ldx;
            for (int64_t p = 0; p < depth; p += 16) {
                const int q = depth - p < 16 ? (int)(depth - p) : 16;
                const __mmask16 deep = (__mmask16)((1u << q) - 1);
                __m512 v[16];
                for (int i = 0; i < 16; i++)
                    v[i] = i < valid ? _mm512_maskz_loadu_ps(deep, src + i * ldx + p)
                                     : _mm512_setzero_ps();
                if (valid) transpose16(v);
                for (int d = 0; d < q; d++)
                    _mm512_mask_storeu_ps(dst + (p + d) * r + g, keep, v[d]);
            }
        }
    }
}

/* Lanes [0, n) of 16 (n may be <= 0 or >= 16). */
INLINE AVX512 __mmask16 lanes(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* Panels [depth][r] (r <= 32) of X, element (p, j) at x[p * ldx + j], j < width: masked
 * loads of each row's part, full rows stored (the padding as zeros). */
static AVX512 void pack_copy(int r, const float *x, int64_t ldx, int64_t depth, int64_t width,
                             float *dst)
{
    const __mmask16 s0 = lanes(r), s1 = lanes(r - 16);
    for (int64_t j0 = 0; j0 < width; j0 += r, dst += (int64_t)r * depth) {
        const int64_t w = width - j0 < r ? width - j0 : r;
        const __mmask16 l0 = lanes(w), l1 = lanes(w - 16);
        const float *src = x + j0;
        for (int64_t p = 0; p < depth; p++) {
            _mm512_mask_storeu_ps(dst + p * r, s0, _mm512_maskz_loadu_ps(l0, src + p * ldx));
            if (r > 16)
                _mm512_mask_storeu_ps(dst + p * r + 16, s1,
                                      _mm512_maskz_loadu_ps(l1, src + p * ldx + 16));
        }
    }
}

static void pack_a(int mr, bool ta, const float *a, int64_t lda, int64_t mc, int64_t kc, float *dst)
{
    if (ta)
        pack_copy(mr, a, lda, kc, mc, dst);
    else
        pack_transpose(mr, a, lda, kc, mc, dst);
}

static void pack_b(int nr, bool tb, const float *b, int64_t ldb, int64_t kc, int64_t nc, float *dst)
{
    if (tb)
        pack_transpose(nr, b, ldb, kc, nc, dst);
    else
        pack_copy(nr, b, ldb, kc, nc, dst);
}

/* ---- the inner-product path: C = alpha A B^T + beta C, A and B read in place ----
 * Tiles of TR rows of A by TS rows of B (4 x 4, or 1 x 16 where A has one or two rows): 16
 * accumulators of 16 lanes (lane l sums the products at depths = l mod 16); 4 x 4 makes 8 loads
 * per 16 FMAs. The depth runs in blocks of DOT_KB so that the tile's rows of A stay in L1 while
 * the loop passes over B's; between blocks, a tile's accumulators wait in `part`; at the end
 * the 16 are summed across their lanes together (sum16). */
#define DOT_KB CVAE__GEMM_DOT_KB

INLINE AVX512 void dot_tile(const int TS, const int R, const int S, int64_t kb, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float *part, bool first)
{
    __m512 acc[16]; /* (r, s) at r * TS + s; all 16 kept (those past R x S stay 0), for sum16 */
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = first || i / TS >= R || i % TS >= S ? _mm512_setzero_ps()
                                                     : _mm512_load_ps(part + i * 16);
    for (int64_t p = 0; p < kb; p += 16) {
        const __mmask16 k = kb - p >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (kb - p)) - 1);
        __m512 av[4], bv[16];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) av[r] = _mm512_maskz_loadu_ps(k, a + r * lda + p);
#pragma GCC unroll 16
        for (int s = 0; s < S; s++) bv[s] = _mm512_maskz_loadu_ps(k, b + s * ldb + p);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 16
            for (int s = 0; s < S; s++)
                acc[r * TS + s] = _mm512_fmadd_ps(av[r], bv[s], acc[r * TS + s]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) _mm512_store_ps(part + i * 16, acc[i]);
}

typedef void (*dot_tile_fn)(int64_t kb, const float *a, int64_t lda, const float *b, int64_t ldb,
                            float *part, bool first);

#define DOT_TILE(TS, R, S)                                                                         \
    static AVX512 void dot_tile_##TS##_##R##_##S(int64_t kb, const float *a, int64_t lda,          \
                                                 const float *b, int64_t ldb, float *part,         \
                                                 bool first)                                       \
    {                                                                                              \
        dot_tile(TS, R, S, kb, a, lda, b, ldb, part, first);                                       \
    }
/* clang-format off */
#define DOT_ROWS(R) DOT_TILE(4, R, 1) DOT_TILE(4, R, 2) DOT_TILE(4, R, 3) DOT_TILE(4, R, 4)
DOT_ROWS(1) DOT_ROWS(2) DOT_ROWS(3) DOT_ROWS(4)
#define DOT_ROW(R) {dot_tile_4_##R##_1, dot_tile_4_##R##_2, dot_tile_4_##R##_3, dot_tile_4_##R##_4}
static const dot_tile_fn dot_tiles[4][4] = {DOT_ROW(1), DOT_ROW(2), DOT_ROW(3), DOT_ROW(4)};
#define DOT_WIDE(S) DOT_TILE(16, 1, S)
DOT_WIDE(1) DOT_WIDE(2) DOT_WIDE(3) DOT_WIDE(4) DOT_WIDE(5) DOT_WIDE(6) DOT_WIDE(7) DOT_WIDE(8)
DOT_WIDE(9) DOT_WIDE(10) DOT_WIDE(11) DOT_WIDE(12) DOT_WIDE(13) DOT_WIDE(14) DOT_WIDE(15) DOT_WIDE(16)
#define W(S) dot_tile_16_1_##S
static const dot_tile_fn dot_wide[16] = {W(1), W(2), W(3), W(4), W(5), W(6), W(7), W(8), W(9), W(10), W(11), W(12), W(13), W(14), W(15), W(16)};
#undef W
/* clang-format on */

/* The sums of the lanes of the 16 vectors at p[0, 256) (vector v at p + 16 v), as one vector
 * (lane v: the sum of vector v): a tree of unpacks and lane shuffles, 45 operations for 16 sums. */
INLINE AVX512 __m512 sum16(const float *p)
{
    __m512 v[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) v[i] = _mm512_load_ps(p + 16 * i);
    /* pairs (2i, 2i + 1): in each 128-bit lane, [a0+a2, b0+b2, a1+a3, b1+b3] */
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        v[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                             _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    /* quads: in each 128-bit lane, the lane's partial sums of vectors 4i .. 4i + 3 */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(v[2 * i]), b = _mm512_castps_pd(v[2 * i + 1]);
        v[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    /* 128-bit lanes of quads q, q + 1: [q (L0 + L1), q (L2 + L3), q+1 (L0 + L1), q+1 (L2 + L3)] */
    v[0] = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x88), _mm512_shuffle_f32x4(v[0], v[1], 0xdd));
    v[1] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x88), _mm512_shuffle_f32x4(v[2], v[3], 0xdd));
    /* [quad 0, quad 1, quad 2, quad 3], each summed over its four lanes */
    return _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x88), _mm512_shuffle_f32x4(v[0], v[1], 0xdd));
}

/* C[i0 .. i0 + R) x [j0 .. j0 + S) = alpha (the sums of a TS-wide tile's accumulators, part) +
 * beta C. */
static AVX512 void store_tile(const float *part, int TS, int64_t i0, int64_t j0, int R, int S,
                              float alpha, float beta, float *c, int64_t ldc)
{
    float sums[16]; /* (r, s) at r * TS + s */
    _mm512_storeu_ps(sums, _mm512_mul_ps(_mm512_set1_ps(alpha), sum16(part)));
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            float *ci = c + (i0 + r) * ldc + j0 + s;
            *ci = beta == 0 ? sums[r * TS + s] : sums[r * TS + s] + beta * *ci;
        }
}

static AVX512 void dot_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                          float *part)
{
    /* one or two rows of A: 1 x 16 tiles (16 outputs per sum16), a row at a time */
    const int TR = m <= 2 ? 1 : 4, TS = 16 / TR;
    const int64_t tj = (n + TS - 1) / TS;
    _Alignas(64) float one[CVAE__GEMM_DOT_PART];
    for (int64_t p0 = 0; p0 < k; p0 += DOT_KB) {
        const int64_t kb = k - p0 < DOT_KB ? k - p0 : DOT_KB;
        for (int64_t i0 = 0; i0 < m; i0 += TR) {
            const int R = m - i0 < TR ? (int)(m - i0) : TR;
            for (int64_t j0 = 0; j0 < n; j0 += TS) {
                const int S = n - j0 < TS ? (int)(n - j0) : TS;
                /* one depth block: each tile summed as soon as it is done */
                float *pt = k <= DOT_KB ? one : part + (i0 / TR * tj + j0 / TS) * CVAE__GEMM_DOT_PART;
                const dot_tile_fn f = TR == 1 ? dot_wide[S - 1] : dot_tiles[R - 1][S - 1];
                f(kb, a + i0 * lda + p0, lda, b + j0 * ldb + p0, ldb, pt, p0 == 0);
                if (k <= DOT_KB) store_tile(pt, TS, i0, j0, R, S, alpha, beta, c, ldc);
            }
        }
    }
    if (k > DOT_KB)
        for (int64_t i0 = 0; i0 < m; i0 += TR)
            for (int64_t j0 = 0; j0 < n; j0 += TS)
                store_tile(part + (i0 / TR * tj + j0 / TS) * CVAE__GEMM_DOT_PART, TS, i0, j0,
                           m - i0 < TR ? (int)(m - i0) : TR, n - j0 < TS ? (int)(n - j0) : TS,
                           alpha, beta, c, ldc);
}

const cvae__gemm_kernel cvae__gemm_kernel_avx512 = {
    .name = "avx512",
    .mr = MR,
    .nr = NR,
    .kc = 384,
    .mc = 480,
    .nc = 480,
    .run = ukernel,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .dot_nt = dot_nt,
};
#endif
