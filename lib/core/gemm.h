/* The built-in single-threaded SGEMM (Goto / BLIS design): op(A) and op(B) are copied
 * ("packed") block by block into contiguous panels, and a register-blocked micro-kernel
 * multiplies one MR-row panel of A by one NR-column panel of B into an MR x NR tile of C.
 *
 * Packed layouts (the contract between the packing routines and the micro-kernels):
 *   A panel: [kc][MR]  element (i, p) of the panel at a[p * MR + i]; rows past the matrix are 0
 *   B panel: [kc][NR]  element (p, j) of the panel at b[p * NR + j]; columns past it are 0
 * A block of mc rows is ceil(mc / MR) A panels one after another (panel r at a + r * MR * kc),
 * likewise a block of nc columns of B. Anything that can write the B layout (an implicit-GEMM
 * convolution packing B straight from images) can be the B operand of cvae__gemm_run_packer;
 * B stored in memory is one such packer (cvae__gemm_run). C is written through a row stride
 * only.
 *
 * Loops of cvae__gemm_run, outermost first (see docs/portability.md for the sizes):
 *   ic: MC rows of A      pc: KC of the depth, pack A [mc x kc]
 *   jc: NC columns of B   pack B [kc x nc] (stays in L2)
 *   ir: MR rows           the A panel [kc][MR] stays in L1
 *   jr: NR columns        the micro-kernel streams the B panel [kc][NR] from L2
 *
 * Products A B^T with few outputs and a long depth (a convolution's weight gradient: m, n in
 * the tens, k in the thousands) would spend more time packing than multiplying: where the
 * kernel has one, they take its inner-product path instead (dot_nt below), which reads A and
 * B in place, both contiguous along k. */
#ifndef CVAE_CORE_GEMM_H
#define CVAE_CORE_GEMM_H

#include <stdbool.h>
#include <stdint.h>

/* Largest MR and NR of any kernel (sizes of the stack fallback and of test buffers). */
#define CVAE__GEMM_MR_MAX 16
#define CVAE__GEMM_NR_MAX 32

/* One tile: for i < mr, j < nr (mr <= MR, nr <= NR)
 *   C[i][j] = alpha * sum_{p < kc} a[p * MR + i] * b[p * NR + j] + beta * C[i][j],
 * C[i][j] at c[i * ldc + j]; beta == 0 writes C without reading it (NaN there is ignored).
 * a: one packed A panel [kc][MR]; b: one packed B panel [kc][NR]; kc >= 1. Only the mr x nr
 * tile of C is read or written. */
typedef void (*cvae__gemm_ukernel)(int64_t kc, const float *a, const float *b, float alpha,
                                   float beta, float *c, int64_t ldc, int mr, int nr);

/* C[0, m) x [0, n) = alpha A B^T + beta C (beta == 0: C not read), A [m, lda] and B [n, ldb]
 * read in place, k >= 1. part: where k > CVAE__GEMM_DOT_KB, scratch for ceil(m / 4) *
 * ceil(n / 4) * CVAE__GEMM_DOT_PART floats (partial sums kept across depth blocks), 64-byte
 * aligned; not used (may be NULL) otherwise. */
typedef void (*cvae__gemm_dot_fn)(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                                  int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                                  int64_t ldc, float *part);
#define CVAE__GEMM_DOT_PART 256
#define CVAE__GEMM_DOT_KB 512 /* depth block of the inner-product path */

/* A packing routine, with the arguments of cvae__gemm_pack_a (d1 = mc, d2 = kc) or of
 * cvae__gemm_pack_b (d1 = kc, d2 = nc). */
typedef void (*cvae__gemm_pack_fn)(int r, bool trans, const float *x, int64_t ldx, int64_t d1,
                                   int64_t d2, float *dst);

/* A micro-kernel with its panel sizes, the blocking sizes it was tuned for, and the
 * packing routines the driver uses with it. */
typedef struct cvae__gemm_kernel {
    const char *name; /* "avx512", "avx2", "portable" */
    int mr, nr;       /* tile rows (A panel width) and columns (B panel width) */
    int kc, mc, nc;   /* depth block, rows of A and columns of B packed at once */
    cvae__gemm_ukernel run;
    cvae__gemm_pack_fn pack_a, pack_b;
    cvae__gemm_dot_fn dot_nt; /* NULL: no inner-product path */
} cvae__gemm_kernel;

/* Kernels by name: NULL when this build or this CPU lacks it. "portable" always exists. */
const cvae__gemm_kernel *cvae__gemm_kernel_find(const char *name);
/* The fastest kernel the CPU runs (CPUID on x86, chosen once; elsewhere the portable one). */
const cvae__gemm_kernel *cvae__gemm_kernel_best(void);
/* Whether cvae__sgemm should take the built-in GEMM with kernel k over OpenBLAS when the
 * environment does not say: yes for the AVX-512 kernel (measured at least as fast as OpenBLAS
 * on the model's products), no for the others (OpenBLAS's AVX2 kernels win about half). */
bool cvae__gemm_builtin_preferred(const cvae__gemm_kernel *k);

/* The kernels themselves, each compiled for its own instruction set (gemm_kernels_*.c);
 * the x86 ones exist on x86 builds only and may run only where the CPU has their ISA. */
extern const cvae__gemm_kernel cvae__gemm_kernel_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const cvae__gemm_kernel cvae__gemm_kernel_avx2;
extern const cvae__gemm_kernel cvae__gemm_kernel_avx512;
#endif

/* The portable kernel with MR and NR given at run time: the reference the ISA kernels are
 * tested against, on the same packed panels. */
void cvae__gemm_ukernel_any(int MR, int NR, int64_t kc, const float *a, const float *b, float alpha,
                            float beta, float *c, int64_t ldc, int mr, int nr);

/* op(A)[0, mc) x [0, kc), a at its first element (A stored [mc, lda], or [kc, lda] when ta),
 * -> ceil(mc / mr) panels [kc][mr] in dst. */
void cvae__gemm_pack_a(int mr, bool ta, const float *a, int64_t lda, int64_t mc, int64_t kc,
                       float *dst);
/* op(B)[0, kc) x [0, nc), b at its first element (B stored [kc, ldb], or [nc, ldb] when tb),
 * -> ceil(nc / nr) panels [kc][nr] in dst. */
void cvae__gemm_pack_b(int nr, bool tb, const float *b, int64_t ldb, int64_t kc, int64_t nc,
                       float *dst);

/* C[0, mc) x [0, nc) = alpha * Ap Bp + beta * C: the ir / jr loops over packed blocks
 * (ap: ceil(mc / MR) A panels [kc][MR]; bp: ceil(nc / NR) B panels [kc][NR]), C row stride ldc. */
void cvae__gemm_macro(const cvae__gemm_kernel *k, int64_t mc, int64_t nc, int64_t kc,
                      const float *ap, const float *bp, float alpha, float beta, float *c,
                      int64_t ldc);

/* A B operand given by what its packed panels hold: writes op(B)[p0, p0 + kc) x [j0, j0 + nc)
 * (kc, nc >= 1) into dst as ceil(nc / nr) panels [kc][nr], columns past nc set to 0. */
typedef void (*cvae__gemm_b_packer)(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                                    int nr, float *dst);

/* How one run goes: blocking sizes (0: the kernel's own; mc and nc round up to MR, NR) and
 * the path (the tests and benchmarks force one or the other). */
enum { CVAE__GEMM_AUTO, CVAE__GEMM_PACKED, CVAE__GEMM_DOT };
typedef struct cvae__gemm_opts {
    int kc, mc, nc;
    int path; /* CVAE__GEMM_AUTO: the inner-product path where it pays (when the kernel has
                 one and the product is A B^T), CVAE__GEMM_PACKED: never, CVAE__GEMM_DOT:
                 whenever it applies */
    const float *a_packed; /* NULL, or op(A) packed whole by cvae__gemm_pack_a_all for this
                              kernel, used instead of packing A block by block (only with the
                              kernel's own blocking: kc, mc, nc 0) */
} cvae__gemm_opts;

/* Floats of op(A) [m, kdim] packed whole for kernel k. */
int64_t cvae__gemm_packed_a_floats(const cvae__gemm_kernel *k, int64_t m, int64_t kdim);

/* op(A) [m, kdim] (A stored [m, lda], or [kdim, lda] when ta) packed whole into ap: the blocks
 * cvae__gemm_run packs with k's own blocking, one after another (block (ic, pc) at
 * ap + ic kdim + pc round_up(mc, MR)), so that several products with the same A (the chunks of
 * one convolution, its weights) pack it once: the same panels, the same bits. */
void cvae__gemm_pack_a_all(const cvae__gemm_kernel *k, bool ta, int64_t m, int64_t kdim,
                           const float *a, int64_t lda, float *ap);

/* The product the inner-product path takes under CVAE__GEMM_AUTO. */
bool cvae__gemm_prefers_dot(const cvae__gemm_kernel *k, bool ta, bool tb, int64_t m, int64_t n,
                            int64_t kdim);

/* C = alpha op(A) op(B) + beta C with kernel k (cvae__sgemm's semantics, see core/blas.h),
 * single-threaded. The packing buffers are the calling thread's, allocated on first use
 * with plain malloc (like a BLAS library's, outside cvae's allocator) and freed when the
 * thread exits; if that allocation fails, the run uses a small stack buffer and tiny blocks
 * (slower, same results). opts: NULL for the kernel's sizes and CVAE__GEMM_AUTO. */
void cvae__gemm_run(const cvae__gemm_kernel *k, const cvae__gemm_opts *opts, bool ta, bool tb,
                    int64_t m, int64_t n, int64_t kdim, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* cvae__gemm_run with B (its transpose absorbed) given by pack_b(ctx, ...): the same blocks and
 * the same micro-kernel calls on the same panels, so the same bits as cvae__gemm_run on a B
 * stored with what pack_b writes. The packed path always (no inner-product path). */
void cvae__gemm_run_packer(const cvae__gemm_kernel *k, const cvae__gemm_opts *opts, bool ta,
                           int64_t m, int64_t n, int64_t kdim, float alpha, const float *a,
                           int64_t lda, cvae__gemm_b_packer pack_b, const void *ctx, float beta,
                           float *c, int64_t ldc);

#endif
