/* The one door to BLAS: every matrix product of the library goes through cvae__sgemm, and
 * every change of BLAS's own thread count through cvae__blas_*_threads, so that the backend
 * (OpenBLAS through CBLAS, or the built-in GEMM) is chosen in one place. */
#ifndef CVAE_CORE_BLAS_H
#define CVAE_CORE_BLAS_H

#include <stdbool.h>
#include <stdint.h>

/* C = alpha op(A) op(B) + beta C, row-major (CBLAS's sgemm with CblasRowMajor).
 * op(A): [m, k] (A stored [m, lda] or, when ta, [k, lda]); op(B): [k, n] (B stored
 * [k, ldb] or, when tb, [n, ldb]); C: [m, ldc]. Extents and leading dimensions must fit
 * an int (the ops check this before they call). beta == 0 ignores C's old contents. */
void cvae__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* BLAS's own thread count (1 for a single-threaded backend). */
int cvae__blas_threads(void);
/* Sets BLAS's own thread count (no-op for a single-threaded backend). */
void cvae__blas_set_threads(int n);

#endif
