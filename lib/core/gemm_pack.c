/* Packing of the built-in GEMM (layouts in core/gemm.h). Both operands reduce to two cases:
 * the panel's r-wide rows are contiguous in the source (copy) or its columns are (transpose). */
#include <string.h>

#include "core/gemm.h"

/* Panels [depth][r] of X, element (p, j) at x[p * ldx + j], j < width; inlined for each
 * panel width of the kernels, so that a row's copy is a few vector moves, not a call. */
static inline void copy_panels(const int r, const float *x, int64_t ldx, int64_t depth,
                               int64_t width, float *dst)
{
    for (int64_t j0 = 0; j0 < width; j0 += r, dst += (int64_t)r * depth) {
        const int w = width - j0 < r ? (int)(width - j0) : r;
        const float *src = x + j0;
        if (w == r) {
            for (int64_t p = 0; p < depth; p++)
                memcpy(dst + p * r, src + p * ldx, sizeof(float) * (size_t)r);
        } else {
            for (int64_t p = 0; p < depth; p++)
                for (int j = 0; j < r; j++) dst[p * r + j] = j < w ? src[p * ldx + j] : 0.0f;
        }
    }
}

static void pack_copy(int r, const float *x, int64_t ldx, int64_t depth, int64_t width, float *dst)
{
    switch (r) {
    case 6:
        copy_panels(6, x, ldx, depth, width, dst);
        break;
    case 8:
        copy_panels(8, x, ldx, depth, width, dst);
        break;
    case 12:
        copy_panels(12, x, ldx, depth, width, dst);
        break;
    case 16:
        copy_panels(16, x, ldx, depth, width, dst);
        break;
    case 32:
        copy_panels(32, x, ldx, depth, width, dst);
        break;
    default:
        copy_panels(r, x, ldx, depth, width, dst);
    }
}

/* Panels [depth][r] of X, element (p, j) at x[j * ldx + p], j < width: four source rows at a
 * time, each read contiguously. */
static void pack_transpose(int r, const float *x, int64_t ldx, int64_t depth, int64_t width,
                           float *dst)
{
    for (int64_t j0 = 0; j0 < width; j0 += r, dst += (int64_t)r * depth) {
        const int w = width - j0 < r ? (int)(width - j0) : r;
        int j = 0;
        for (; j + 4 <= w; j += 4) {
            const float *s0 = x + (j0 + j) * ldx, *s1 = s0 + ldx, *s2 = s1 + ldx, *s3 = s2 + ldx;
            float *d = dst + j;
            for (int64_t p = 0; p < depth; p++, d += r) {
                d[0] = s0[p];
                d[1] = s1[p];
                d[2] = s2[p];
                d[3] = s3[p];
            }
        }
        for (; j < w; j++) {
            const float *s = x + (j0 + j) * ldx;
            for (int64_t p = 0; p < depth; p++) dst[p * r + j] = s[p];
        }
        if (w < r)
            for (int64_t p = 0; p < depth; p++) memset(dst + p * r + w, 0, sizeof(float) * (r - w));
    }
}

void cvae__gemm_pack_a(int mr, bool ta, const float *a, int64_t lda, int64_t mc, int64_t kc,
                       float *dst)
{
    if (ta)
        pack_copy(mr, a, lda, kc, mc, dst);
    else
        pack_transpose(mr, a, lda, kc, mc, dst);
}

void cvae__gemm_pack_b(int nr, bool tb, const float *b, int64_t ldb, int64_t kc, int64_t nc,
                       float *dst)
{
    if (tb)
        pack_transpose(nr, b, ldb, kc, nc, dst);
    else
        pack_copy(nr, b, ldb, kc, nc, dst);
}
