/* cvae__sgemm's choice of backend (CVAE_GEMM, else by kernel; read once) and the built-in
 * GEMM's entry. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/gemm.h"

static bool use_builtin;
static char backend[64];
static pthread_once_t choice_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    const cvae__gemm_kernel *k = cvae__gemm_kernel_best();
#ifdef CVAE_HAVE_BLAS
    const char *env = getenv("CVAE_GEMM");
    if (env && !strcmp(env, "builtin"))
        use_builtin = true;
    else if (env && !strcmp(env, "blas"))
        use_builtin = false;
    else
        use_builtin = cvae__gemm_builtin_preferred(k);
#else
    use_builtin = true;
#endif
    if (use_builtin) {
        snprintf(backend, sizeof backend, "built-in %s %dx%d", k->name, k->mr, k->nr);
    } else {
#ifdef CVAE_HAVE_BLAS
        snprintf(backend, sizeof backend, "OpenBLAS %s", cvae__blas_core());
#endif
    }
}

bool cvae__gemm_builtin_preferred(const cvae__gemm_kernel *k)
{
    return !strcmp(k->name, "avx512");
}

bool cvae__sgemm_is_builtin(void)
{
    pthread_once(&choice_once, choose);
    return use_builtin;
}

const char *cvae__sgemm_backend(void)
{
    pthread_once(&choice_once, choose);
    return backend;
}

void cvae__sgemm_builtin(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc)
{
    cvae__gemm_run(cvae__gemm_kernel_best(), NULL, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                   ldc);
}

void cvae__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                 int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
#ifdef CVAE_HAVE_BLAS
    if (!cvae__sgemm_is_builtin()) {
        cvae__sgemm_blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    cvae__sgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int64_t cvae__sgemm_packed_a_floats(int64_t m, int64_t k)
{
    return cvae__sgemm_is_builtin() ? cvae__gemm_packed_a_floats(cvae__gemm_kernel_best(), m, k)
                                    : 0;
}

void cvae__sgemm_pack_a(bool ta, int64_t m, int64_t k, const float *a, int64_t lda, float *ap)
{
    cvae__gemm_pack_a_all(cvae__gemm_kernel_best(), ta, m, k, a, lda, ap);
}

void cvae__sgemm_packed(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *ap, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc)
{
    if (!ap) {
        cvae__sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const cvae__gemm_opts o = {0, 0, 0, CVAE__GEMM_AUTO, ap};
    cvae__gemm_run(cvae__gemm_kernel_best(), &o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                   ldc);
}

#ifndef CVAE_HAVE_BLAS
int cvae__blas_threads(void)
{
    return 1;
}

void cvae__blas_set_threads(int n)
{
    (void)n;
}
#endif
