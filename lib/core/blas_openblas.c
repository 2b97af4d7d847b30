/* The CBLAS backend (OpenBLAS); compiled only in builds with CVAE_BLAS=ON. */
#include <cblas.h>

#include "core/blas.h"

void cvae__sgemm_blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

const char *cvae__blas_core(void)
{
    return openblas_get_corename();
}

int cvae__blas_threads(void)
{
    return openblas_get_num_threads();
}

void cvae__blas_set_threads(int n)
{
    openblas_set_num_threads(n);
}
