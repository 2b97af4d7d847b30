/* The AVX-512 path of col2im (lower.c) for the stride-phase lowering with stride 2 across and
 * narrow planes, the transposed convolutions and backward-data passes of the usual encoders and
 * decoders (a 4x4 kernel of stride 2 on planes of 7 to 28: rows of 7 to 14 floats).
 *
 * The plain path adds each tap's rows into phase planes of the plane's own row length: rows of
 * 7 floats, a 4-float vector and a scalar tail each, read back while the stores that wrote them
 * are still in flight at other offsets (no store-to-load forwarding). Here each phase row is one
 * aligned 16-float vector: a tap's row is one masked load shifted into place and one full add,
 * and the phases are merged into the image two rows of 16 at a time. The taps are added in the
 * same order, so the result is the plain path's, bit for bit (test_im2col). */
#ifndef CVAE_OPS_CONV_LOWER_AVX512_H
#define CVAE_OPS_CONV_LOWER_AVX512_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define CVAE_LOWER_AVX512 1 /* compiled in (calls stay behind #ifdef) */
#endif

/* col2im's geometry for this path: images [c, h, w], taps kh x kw, lowered rows of ho x wo,
 * stride sh down and 2 across, padding top and left, hq rows per phase plane. */
typedef struct cvae__col2im2 {
    int64_t c, h, w, kh, kw, ho, wo, sh, pad_top, pad_left, hq;
} cvae__col2im2;

/* Floats of the phase planes, at most (the stack buffer of the path; with rows of 16 floats
 * and 2 phases across, planes of at most 128 rows). */
#define CVAE__COL2IM2_FLOATS 4096

/* Whether the path runs: the CPU has AVX-512 and no test turned it off. */
bool cvae__lower_avx512(void);
/* Tests: false keeps to the plain loops whatever the CPU. */
void cvae__lower_set_avx512(bool allowed);

/* x[idx[s]] += the contributions of cols [c kh kw, n ho wo] (cvae__col2im), for geometries with
 * 2 sh hq 16 <= CVAE__COL2IM2_FLOATS and phase rows of at most 16 (x86 builds, where
 * cvae__lower_avx512()). */
void cvae__col2im2_avx512(float *x, const float *cols, const int64_t *idx, int64_t n,
                          const cvae__col2im2 *p);

#endif
