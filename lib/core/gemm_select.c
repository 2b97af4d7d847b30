/* Run-time choice of the built-in GEMM's micro-kernel: CPUID on x86 (through
 * __builtin_cpu_supports, which also checks that the OS saves the wide registers),
 * the portable kernel everywhere else. */
#include <pthread.h>
#include <string.h>

#include "core/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define CVAE_GEMM_X86 1
#endif

static bool cpu_has(const cvae__gemm_kernel *k)
{
#ifdef CVAE_GEMM_X86
    __builtin_cpu_init();
    if (k == &cvae__gemm_kernel_avx512) return __builtin_cpu_supports("avx512f");
    if (k == &cvae__gemm_kernel_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return k == &cvae__gemm_kernel_portable;
}

/* Fastest first. */
static const cvae__gemm_kernel *const kernels[] = {
#ifdef CVAE_GEMM_X86
    &cvae__gemm_kernel_avx512,
    &cvae__gemm_kernel_avx2,
#endif
    &cvae__gemm_kernel_portable,
};
#define NKERNELS (sizeof kernels / sizeof kernels[0])

const cvae__gemm_kernel *cvae__gemm_kernel_find(const char *name)
{
    for (size_t i = 0; i < NKERNELS; i++)
        if (name && !strcmp(kernels[i]->name, name)) return cpu_has(kernels[i]) ? kernels[i] : NULL;
    return NULL;
}

static const cvae__gemm_kernel *best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    for (size_t i = 0; i < NKERNELS && !best; i++)
        if (cpu_has(kernels[i])) best = kernels[i];
}

const cvae__gemm_kernel *cvae__gemm_kernel_best(void)
{
    pthread_once(&best_once, choose);
    return best;
}
