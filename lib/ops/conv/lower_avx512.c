/* The AVX-512 path of im2col and col2im (lower_avx512.h). */
#include "ops/conv/lower_avx512.h"

#include <pthread.h>

#include "core/gemm.h"

static bool allowed = true;
static bool have;
static pthread_once_t have_once = PTHREAD_ONCE_INIT;

static void check(void)
{
    have = cvae__gemm_kernel_find("avx512") != NULL; /* CPUID, as for the GEMM's kernel */
}

bool cvae__lower_avx512(void)
{
    pthread_once(&have_once, check);
    return have && allowed;
}

void cvae__lower_set_avx512(bool on)
{
    allowed = on;
}

#ifdef CVAE_LOWER_AVX512
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f")))

/* Lanes [0, n) of 16 (n may be <= 0 or >= 16). */
static inline AVX512 __mmask16 lanes(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* Phase (a, b) (a < sh, b < 2) row y of the planes: 16 floats at ph + ((a 2 + b) hq + y) 16. */

void cvae__phases2_rows(int32_t *rows, const cvae__phases2 *p)
{
    for (int64_t iy = 0; iy < p->h; iy++) {
        const int64_t py = iy + p->pad_top;
        rows[iy] = (int32_t)(((py % p->sh) * 2 * p->hq + py / p->sh) * 16);
    }
    for (int64_t i = 0; i < p->kh; i++)
        rows[128 + i] = (int32_t)(((i % p->sh) * 2 * p->hq + i / p->sh) * 16);
}

/* Image row iy's columns 2t go to lane pl / 2 + t of its even phase row, columns 2t + 1 to lane
 * (1 + pl) / 2 + t of its odd one; the other lanes are padding (0). */
typedef struct splitter {
    int64_t o0, o1;   /* the even and the odd columns' phase rows, from rows[iy] */
    __mmask16 k0, k1; /* the lanes of the even and odd columns */
    __m512i i0, i1;   /* lane -> column of the row (two vectors) */
} splitter;

static inline AVX512 splitter make_splitter(const cvae__phases2 *p)
{
    const int64_t pl = p->pad_left, w = p->w;
    const int s0 = (int)(pl / 2), s1 = (int)((1 + pl) / 2);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i m31 = _mm512_set1_epi32(31);
    const __m512i e = _mm512_slli_epi32(_mm512_sub_epi32(lane, _mm512_set1_epi32(s0)), 1);
    const __m512i o = _mm512_slli_epi32(_mm512_sub_epi32(lane, _mm512_set1_epi32(s1)), 1);
    return (splitter){(pl % 2) * p->hq * 16,
                      ((1 + pl) % 2) * p->hq * 16,
                      (__mmask16)(lanes((w + 1) / 2) << s0),
                      (__mmask16)(lanes(w / 2) << s1),
                      _mm512_and_si512(e, m31),
                      _mm512_and_si512(_mm512_add_epi32(o, _mm512_set1_epi32(1)), m31)};
}

static inline AVX512 void split(float *ph, const float *plane, const cvae__phases2 *p,
                                const int32_t *rows, const splitter *q)
{
    for (int64_t iy = 0; iy < p->h; iy++) {
        const float *r = plane + iy * p->w;
        const __m512 a = _mm512_maskz_loadu_ps(lanes(p->w), r);
        const __m512 b = _mm512_maskz_loadu_ps(lanes(p->w - 16), r + 16);
        _mm512_store_ps(ph + rows[iy] + q->o0, _mm512_maskz_permutex2var_ps(q->k0, a, q->i0, b));
        _mm512_store_ps(ph + rows[iy] + q->o1, _mm512_maskz_permutex2var_ps(q->k1, a, q->i1, b));
    }
}

AVX512 void cvae__split2_avx512(float *ph, const float *plane, const cvae__phases2 *p,
                                const int32_t *rows)
{
    const splitter q = make_splitter(p);
    split(ph, plane, p, rows, &q);
}

AVX512 void cvae__im2col2_avx512(float *cols, const float *x, const int64_t *idx, int64_t n,
                                 const cvae__phases2 *p)
{
    _Alignas(64) float ph[CVAE__PHASES2_FLOATS];
    int32_t rows[256];
    cvae__phases2_rows(rows, p);
    const int64_t hw = p->ho * p->wo, ld = n * hw, chw = p->h * p->w, hq = p->hq;
    const splitter q = make_splitter(p);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __mmask16 out = lanes(p->wo);
    memset(ph, 0, sizeof(float) * (size_t)(p->sh * 2 * hq * 16)); /* padding stays 0 */
    /* samples in blocks of 16 per channel, as the plain path (lower.c's SBLOCK) */
    for (int64_t sb = 0; sb < n; sb += 16)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t s = sb; s < n && s < sb + 16; s++) {
                split(ph, x + ((idx ? idx[s] : s) * p->c + c) * chw, p, rows, &q);
                for (int64_t i = 0; i < p->kh; i++)
                    for (int64_t j = 0; j < p->kw; j++) {
                        const float *src = ph + rows[128 + i] + (j % 2) * hq * 16;
                        float *dst = cols + ((c * p->kh + i) * p->kw + j) * ld + s * hw;
                        const __m512i shift =
                            _mm512_add_epi32(lane, _mm512_set1_epi32((int)(j / 2)));
                        for (int64_t oy = 0; oy < p->ho; oy++, src += 16, dst += p->wo)
                            _mm512_mask_storeu_ps(
                                dst, out, _mm512_permutexvar_ps(shift, _mm512_load_ps(src)));
                    }
            }
}

AVX512 void cvae__col2im2_avx512(float *x, const float *cols, const int64_t *idx, int64_t n,
                                 const cvae__phases2 *p)
{
    _Alignas(64) float ph[CVAE__PHASES2_FLOATS + 16]; /* + 16: merge reads past a row's end */
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const int64_t hw = p->ho * p->wo, ld = n * hw, chw = p->h * p->w, hq = p->hq;
    const size_t bytes = sizeof(float) * (size_t)(p->sh * 2 * hq * 16);
    const __mmask16 row = lanes(p->wo);
    const int64_t pl = p->pad_left, e0 = (pl % 2) * hq * 16 + pl / 2,
                  e1 = ((1 + pl) % 2) * hq * 16 + (1 + pl) / 2; /* even, odd columns */
    int32_t rows[256];
    cvae__phases2_rows(rows, p);
    memset(ph + CVAE__PHASES2_FLOATS, 0, 16 * sizeof(float));
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = 0; c < p->c; c++) {
            memset(ph, 0, bytes);
            for (int64_t i = 0; i < p->kh; i++)
                for (int64_t j = 0; j < p->kw; j++) {
                    const float *src = cols + ((c * p->kh + i) * p->kw + j) * ld + s * hw;
                    float *dst = ph + rows[128 + i] + (j % 2) * hq * 16;
                    const int64_t dj = j / 2; /* the row's first column in the phase */
                    const __mmask16 at = (__mmask16)(row << dj);
                    for (int64_t oy = 0; oy < p->ho; oy++, src += p->wo, dst += 16)
                        _mm512_store_ps(dst, _mm512_add_ps(_mm512_load_ps(dst),
                                                           _mm512_maskz_loadu_ps(at, src - dj)));
                }
            float *img = x + ((idx ? idx[s] : s) * p->c + c) * chw;
            /* Row iy's columns 2t and 2t + 1, interleaved. Even rows first, then odd ones: a row's
             * masked load must not overlap the 64 bytes the previous row's masked store just
             * wrote (rows of 14 floats would: the load then waits for the store to retire). */
            for (int64_t iy0 = 0; iy0 < 2; iy0++)
                for (int64_t iy = iy0; iy < p->h; iy += 2) {
                    const float *r = ph + rows[iy];
                    const __m512 ev = _mm512_loadu_ps(r + e0), od = _mm512_loadu_ps(r + e1);
                    float *d = img + iy * p->w;
                    const __mmask16 k0 = lanes(p->w), k1 = lanes(p->w - 16);
                    _mm512_mask_storeu_ps(d, k0,
                                          _mm512_add_ps(_mm512_maskz_loadu_ps(k0, d),
                                                        _mm512_permutex2var_ps(ev, lo, od)));
                    if (k1)
                        _mm512_mask_storeu_ps(d + 16, k1,
                                              _mm512_add_ps(_mm512_maskz_loadu_ps(k1, d + 16),
                                                            _mm512_permutex2var_ps(ev, hi, od)));
                }
        }
}
#endif
