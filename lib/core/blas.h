/* The one door to BLAS: every matrix product of the library goes through cvae__sgemm, and
 * every change of BLAS's own thread count through cvae__blas_*_threads, so that the backend
 * (OpenBLAS through CBLAS, or the built-in GEMM of core/gemm.h) is chosen in one place.
 * CVAE_HAVE_BLAS is defined in builds with OpenBLAS (CMake option CVAE_BLAS, the default). */
#ifndef CVAE_CORE_BLAS_H
#define CVAE_CORE_BLAS_H

#include <stdbool.h>
#include <stdint.h>

/* C = alpha op(A) op(B) + beta C, row-major (CBLAS's sgemm with CblasRowMajor).
 * op(A): [m, k] (A stored [m, lda] or, when ta, [k, lda]); op(B): [k, n] (B stored
 * [k, ldb] or, when tb, [n, ldb]); C: [m, ldc]. Extents and leading dimensions must fit
 * an int (the ops check this before they call). beta == 0 ignores C's old contents.
 * The backend: the environment's CVAE_GEMM=blas|builtin (read once; "blas" is ignored in
 * builds without BLAS); else the built-in GEMM where its AVX-512 kernel runs (as fast as
 * OpenBLAS's AVX-512 kernels on the model's products and 1.4x its AVX2 ones: docs/portability.md)
 * or where the build has no BLAS, OpenBLAS otherwise. */
void cvae__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* The same product with the built-in GEMM and the fastest kernel for this CPU,
 * single-threaded, whatever cvae__sgemm would choose. */
void cvae__sgemm_builtin(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc);

#ifdef CVAE_HAVE_BLAS
/* The same product through CBLAS, whatever cvae__sgemm would choose. */
void cvae__sgemm_blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc);
/* OpenBLAS's kernel family ("Haswell", "Cooperlake", ...). */
const char *cvae__blas_core(void);
#endif

/* Weights used by several products in a row (the chunks of one convolution): op(A) [m, k]
 * packed once. cvae__sgemm_packed_a_floats: the floats to pack it into, 0 where cvae__sgemm does
 * not run the built-in GEMM (nothing to pack then). cvae__sgemm_pack_a: packs it (A as
 * cvae__sgemm takes it). cvae__sgemm_packed: cvae__sgemm with ap, the packing of the same
 * (ta, m, k, a), or NULL; the same bits either way. */
int64_t cvae__sgemm_packed_a_floats(int64_t m, int64_t k);
void cvae__sgemm_pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *ap);
void cvae__sgemm_packed(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *ap, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc);

/* True when cvae__sgemm runs the built-in GEMM. */
bool cvae__sgemm_is_builtin(void);
/* cvae__sgemm's backend in words: "OpenBLAS Haswell" or "built-in avx512 12x32". */
const char *cvae__sgemm_backend(void);

/* BLAS's own thread count (1 for a single-threaded backend). */
int cvae__blas_threads(void);
/* Sets BLAS's own thread count (no-op for a single-threaded backend). */
void cvae__blas_set_threads(int n);

#endif
