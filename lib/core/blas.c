/* cvae__sgemm and BLAS's thread count through CBLAS (OpenBLAS). */
#include <cblas.h>

#include "core/blas.h"

void cvae__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

int cvae__blas_threads(void) { return openblas_get_num_threads(); }

void cvae__blas_set_threads(int n) { openblas_set_num_threads(n); }
