/* The AVX-512 path of col2im (lower_avx512.h). */
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
AVX512 void cvae__col2im2_avx512(float *x, const float *cols, const int64_t *idx, int64_t n,
                                 const cvae__col2im2 *p)
{
    _Alignas(64) float ph[CVAE__COL2IM2_FLOATS + 16]; /* + 16: merge reads past a row's end */
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const int64_t hw = p->ho * p->wo, ld = n * hw, chw = p->h * p->w, hq = p->hq;
    const size_t bytes = sizeof(float) * (size_t)(p->sh * 2 * hq * 16);
    const __mmask16 row = lanes(p->wo);
    const int64_t pl = p->pad_left, e0 = (pl % 2) * hq * 16 + pl / 2,
                  e1 = ((1 + pl) % 2) * hq * 16 + (1 + pl) / 2; /* even, odd columns */
    /* row starts, without a division per row: ph's row of image row iy (iy < h <= 128: the
     * planes hold sh hq >= h rows), and the first row of tap row i (i < kh <= sh hq) */
    int32_t img_row[CVAE__COL2IM2_FLOATS / 32], tap_row[CVAE__COL2IM2_FLOATS / 32];
    for (int64_t iy = 0; iy < p->h; iy++) {
        const int64_t py = iy + p->pad_top;
        img_row[iy] = (int32_t)(((py % p->sh) * 2 * hq + py / p->sh) * 16);
    }
    for (int64_t i = 0; i < p->kh; i++)
        tap_row[i] = (int32_t)(((i % p->sh) * 2 * hq + i / p->sh) * 16);
    memset(ph + CVAE__COL2IM2_FLOATS, 0, 16 * sizeof(float));
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = 0; c < p->c; c++) {
            memset(ph, 0, bytes);
            for (int64_t i = 0; i < p->kh; i++)
                for (int64_t j = 0; j < p->kw; j++) {
                    const float *src = cols + ((c * p->kh + i) * p->kw + j) * ld + s * hw;
                    float *dst = ph + tap_row[i] + (j % 2) * hq * 16;
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
                    const float *r = ph + img_row[iy];
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
