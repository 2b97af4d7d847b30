/* The AVX-512 path of im2col and col2im (lower.c) for the stride-phase lowering with stride 2
 * across and narrow planes: the convolutions, transposed convolutions and backward passes of
 * the usual encoders and decoders (3x3 or 4x4 kernels of stride 2 on planes of 7 to 28: rows of
 * 7 to 14 floats).
 *
 * The plain path keeps phase planes of the plane's own row length: rows of 7 floats, a 4-float
 * vector and a scalar tail each, read back while the stores that wrote them are still in flight
 * at other offsets (no store-to-load forwarding). Here each phase row is one aligned 16-float
 * vector: an image row is split into its two phase rows with one permute each, a tap's row is
 * one masked load (col2im: and one add) shifted into place, and col2im merges the phases into
 * the image two columns at a time. The same copies, and the same additions in the same order, as
 * the plain path: the same bits (test_im2col). */
#ifndef CVAE_OPS_CONV_LOWER_AVX512_H
#define CVAE_OPS_CONV_LOWER_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define CVAE_LOWER_AVX512 1 /* compiled in (calls stay behind #ifdef) */
#endif

/* The geometry of this path: images [c, h, w], taps kh x kw, lowered rows of ho x wo, stride sh
 * down and 2 across, padding top and left, hq rows per phase plane. */
typedef struct cvae__phases2 {
    int64_t c, h, w, kh, kw, ho, wo, sh, pad_top, pad_left, hq;
} cvae__phases2;

/* Floats of the phase planes, at most (the stack buffer of the path; with rows of 16 floats
 * and 2 phases across, planes of at most 128 rows). */
#define CVAE__PHASES2_FLOATS 4096

/* Whether the path runs: the CPU has AVX-512 and no test turned it off. */
bool cvae__lower_avx512(void);
/* Tests: false keeps to the plain loops whatever the CPU. */
void cvae__lower_set_avx512(bool allowed);

/* rows: 256 entries. The layout of the path's phase planes: phase (a, b) (a < sh, b < 2) row y is the 16 floats
 * at ((a 2 + b) hq + y) 16. rows[iy] (iy < h): where image row iy lands in phase (a, 0), with
 * a, y its phase and row (phase (a, 1): hq 16 further); rows[128 + i] (i < kh): the first row
 * tap row i reads in phase (a, 0), likewise. h, kh <= 128 where the path takes a geometry. */
void cvae__phases2_rows(int32_t *rows, const cvae__phases2 *p);

/* The phase rows of one image plane [h, w] into ph (64-byte aligned, its padding 0), with
 * rows from cvae__phases2_rows: the implicit GEMM's packer (lower.c) copies taps from them. */
void cvae__split2_avx512(float *ph, const float *plane, const cvae__phases2 *p,
                         const int32_t *rows);

/* For geometries with 2 sh hq 16 <= CVAE__PHASES2_FLOATS and phase rows of at most 16 floats,
 * in x86 builds, where cvae__lower_avx512():
 * im2col: cols [c kh kw, n ho wo] = the lowering of images x[idx[s]] (cvae__im2col);
 * col2im: x[idx[s]] += the contributions of cols (cvae__col2im). */
void cvae__im2col2_avx512(float *cols, const float *x, const int64_t *idx, int64_t n,
                          const cvae__phases2 *p);
void cvae__col2im2_avx512(float *x, const float *cols, const int64_t *idx, int64_t n,
                          const cvae__phases2 *p);

#endif
