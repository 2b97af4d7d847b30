/* The built-in GEMM (lib/core/gemm.h) against a double-precision reference, every micro-kernel
 * the CPU runs against the portable one on the same packed panels, and cvae__sgemm's choice
 * of backend.
 *
 * Tolerance: a float dot product of length K, summed in any order, with or without fused
 * multiply-adds, is within K u sum_p |a_p b_p| of the exact one (u = FLT_EPSILON / 2, first
 * order); alpha, beta and the final add cost a few more roundings. Every element must satisfy
 *     |c - c_exact| <= (K + 4) FLT_EPSILON (|alpha| sum_p |a_ip b_pj| + |beta| |c0_ij|),
 * twice that worst-case bound, while a wrong index, a skipped or doubled block gives an error
 * of the order of the terms themselves. The padding of A and B (between the extent and the
 * leading dimension) holds NaN, so reading it fails the check, and the padding of C must come
 * back bit for bit. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/gemm.h"
#include "testutil.h"

typedef struct problem {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
} problem;

static const float alphas[] = {1.0f, -0.75f, 2.5f, 0.0f};
static const float betas[] = {0.0f, 1.0f, -1.25f, 0.5f};
static const float pad_c = 777.25f;

/* Random operands for p: A [ta ? k : m, lda], B [tb ? n : k, ldb], C [m, ldc], padding NaN
 * in A and B and pad_c in C; C's m x n part is NaN when beta == 0. */
static void make_operands(test_rng *r, const problem *p, float **a, float **b, float **c)
{
    const int64_t ar = p->ta ? p->k : p->m, ac = p->ta ? p->m : p->k;
    const int64_t br = p->tb ? p->n : p->k, bc = p->tb ? p->k : p->n;
    *a = malloc(sizeof(float) * (size_t)(ar * p->lda));
    *b = malloc(sizeof(float) * (size_t)(br * p->ldb));
    *c = malloc(sizeof(float) * (size_t)(p->m * p->ldc));
    assert_non_null(*a), assert_non_null(*b), assert_non_null(*c);
    for (int64_t i = 0; i < ar * p->lda; i++)
        (*a)[i] = i % p->lda < ac ? (float)(2 * test_rand_unit(r) - 1) : NAN;
    for (int64_t i = 0; i < br * p->ldb; i++)
        (*b)[i] = i % p->ldb < bc ? (float)(2 * test_rand_unit(r) - 1) : NAN;
    for (int64_t i = 0; i < p->m * p->ldc; i++)
        (*c)[i] = i % p->ldc >= p->n ? pad_c
                  : p->beta == 0     ? NAN
                                     : (float)(2 * test_rand_unit(r) - 1);
}

/* Checks c (after the product) against the exact result from a, b and c0 (before). */
static void check_result(const problem *p, const float *a, const float *b, const float *c0,
                         const float *c, const char *what)
{
    for (int64_t i = 0; i < p->m; i++) {
        for (int64_t j = 0; j < p->ldc; j++) {
            const int64_t at = i * p->ldc + j;
            if (j >= p->n) {
                if (memcmp(&c[at], &c0[at], sizeof(float)))
                    fail_msg("%s: C padding (%lld, %lld) overwritten", what, (long long)i,
                             (long long)j);
                continue;
            }
            double dot = 0, mag = 0;
            if (p->alpha != 0)
                for (int64_t q = 0; q < p->k; q++) {
                    const double x = p->ta ? a[q * p->lda + i] : a[i * p->lda + q];
                    const double y = p->tb ? b[j * p->ldb + q] : b[q * p->ldb + j];
                    dot += x * y;
                    mag += fabs(x * y);
                }
            double want = p->alpha * dot, bound = fabs(p->alpha) * mag;
            if (p->beta != 0) want += p->beta * (double)c0[at], bound += fabs(p->beta * c0[at]);
            const double tol = (double)(p->k + 4) * FLT_EPSILON * bound;
            if (!(fabs(c[at] - want) <= tol))
                fail_msg("%s: %c%c m %lld n %lld k %lld alpha %g beta %g: C(%lld, %lld) = %.9g, "
                         "exact %.9g, |err| %.3g > %.3g",
                         what, p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', (long long)p->m,
                         (long long)p->n, (long long)p->k, p->alpha, p->beta, (long long)i,
                         (long long)j, c[at], want, fabs(c[at] - want), tol);
        }
    }
}

/* Runs p through kernel k with the given blocking (k NULL: through cvae__sgemm) and checks it. */
static void run_problem(test_rng *r, const cvae__gemm_kernel *k, const cvae__gemm_opts *bl,
                        const problem *p, const char *what)
{
    float *a, *b, *c;
    make_operands(r, p, &a, &b, &c);
    float *c0 = malloc(sizeof(float) * (size_t)(p->m * p->ldc));
    assert_non_null(c0);
    memcpy(c0, c, sizeof(float) * (size_t)(p->m * p->ldc));
    if (k)
        cvae__gemm_run(k, bl, p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb,
                       p->beta, c, p->ldc);
    else
        cvae__sgemm(p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, p->beta, c,
                    p->ldc);
    check_result(p, a, b, c0, c, what);
    free(a), free(b), free(c), free(c0);
}

/* A problem of extents m, n, k with random transposes, padding of 0..3 and alpha, beta. */
static problem random_problem(test_rng *r, int64_t m, int64_t n, int64_t k, int trans)
{
    problem p = {trans & 1, (trans >> 1) & 1, m, n, k, 0, 0, 0, 0, 0};
    p.lda = (p.ta ? m : k) + test_rand_int(r, 0, 3);
    p.ldb = (p.tb ? k : n) + test_rand_int(r, 0, 3);
    p.ldc = n + test_rand_int(r, 0, 3);
    p.alpha = alphas[test_rand_int(r, 0, 3)];
    p.beta = betas[test_rand_int(r, 0, 3)];
    return p;
}

static const char *const kernel_names[] = {"portable", "avx2", "avx512"};
#define NKERNELS (sizeof kernel_names / sizeof kernel_names[0])

/* Extents around one tile, every transpose, every alpha and beta, with the kernel's blocking. */
static void test_tile_edges(void **state)
{
    (void)state;
    test_rng r = {101};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        const int64_t ms[] = {1, k->mr - 1, k->mr, k->mr + 1, 2 * k->mr + 3};
        const int64_t ns[] = {1, k->nr - 1, k->nr, k->nr + 1, 2 * k->nr + 5};
        const int64_t ks[] = {1, 2, 9};
        int count = 0;
        for (int trans = 0; trans < 4; trans++)
            for (size_t mi = 0; mi < 5; mi++)
                for (size_t ni = 0; ni < 5; ni++)
                    for (size_t qi = 0; qi < 3; qi++) {
                        if (ms[mi] < 1 || ns[ni] < 1) continue;
                        problem p = random_problem(&r, ms[mi], ns[ni], ks[qi], trans);
                        p.alpha = alphas[count % 4];
                        p.beta = betas[(count / 4) % 4];
                        count++;
                        run_problem(&r, k, NULL, &p, k->name);
                    }
    }
}

/* Tiny blocks (depth 3..8, a few tiles per block) on random extents: every block edge of the
 * driver, many times over, including depth blocks that accumulate into C with beta = 1. */
static void test_block_edges_small_blocks(void **state)
{
    (void)state;
    test_rng r = {202};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        for (int trial = 0; trial < 48; trial++) {
            const cvae__gemm_opts bl = {
                (int)test_rand_int(&r, 3, 8), (int)test_rand_int(&r, 1, 3) * k->mr,
                (int)test_rand_int(&r, 1, 3) * k->nr, CVAE__GEMM_AUTO, NULL};
            problem p =
                random_problem(&r, test_rand_int(&r, 1, 4 * bl.mc), test_rand_int(&r, 1, 4 * bl.nc),
                               test_rand_int(&r, 1, 40), trial % 4);
            run_problem(&r, k, &bl, &p, k->name);
        }
    }
}

/* The kernel's own blocking, extents just past one block in every dimension. */
static void test_block_edges_real_blocks(void **state)
{
    (void)state;
    test_rng r = {303};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        problem p = random_problem(&r, k->mc + k->mr + 1, k->nc + 3, k->kc + 5, (int)ki % 4);
        p.alpha = 1.5f;
        p.beta = 0.5f;
        run_problem(&r, k, NULL, &p, k->name);
        p = random_problem(&r, 2 * k->mr + 1, 3 * k->nr - 1, 2 * k->kc + 1, 3 - (int)ki % 4);
        p.beta = 0;
        run_problem(&r, k, NULL, &p, k->name);
    }
}

/* The inner-product path of A B^T (kernels that have one), forced, on extents around its
 * 4 x 4 and 1 x 16 tiles, depths around its 16 lanes and its depth blocks of 512; and the
 * packed path on a product the automatic choice would send there. */
static void test_dot_path(void **state)
{
    (void)state;
    test_rng r = {707};
    const int64_t ms[] = {1, 2, 3, 4, 5, 9}, ns[] = {1, 2, 4, 7, 16, 17, 33};
    const int64_t ks[] = {1, 15, 16, 17, 511, 512, 513, 1100};
    const cvae__gemm_opts dot = {0, 0, 0, CVAE__GEMM_DOT, NULL},
                          packed = {0, 0, 0, CVAE__GEMM_PACKED, NULL};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k || !k->dot_nt) continue;
        int count = 0;
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
            for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
                for (size_t qi = 0; qi < sizeof ks / sizeof *ks; qi++, count++) {
                    if ((mi + ni + qi) % 2) continue; /* half of them */
                    problem p = random_problem(&r, ms[mi], ns[ni], ks[qi], 2);
                    p.alpha = alphas[count % 3];
                    p.beta = betas[count % 4];
                    run_problem(&r, k, &dot, &p, "dot path");
                }
        /* one or two rows at any depth (a linear layer at batch 1), few outputs at a long one */
        assert_true(cvae__gemm_prefers_dot(k, false, true, 1, 3136, 26));
        assert_true(cvae__gemm_prefers_dot(k, false, true, 2, 3136, 26));
        assert_false(cvae__gemm_prefers_dot(k, false, true, 3, 3136, 26));
        problem p = random_problem(&r, 13, 7, 700, 2);
        assert_true(cvae__gemm_prefers_dot(k, p.ta, p.tb, p.m, p.n, p.k));
        run_problem(&r, k, &packed, &p, "packed path of an A B^T product");
        run_problem(&r, k, NULL, &p, "automatic path");
    }
}

/* cvae__sgemm itself (whichever backend this run uses), and alpha == 0 and k == 0, where
 * BLAS leaves A and B unread: C = beta C, and beta == 0 clears NaN. */
static void test_sgemm_entry_and_degenerate(void **state)
{
    (void)state;
    test_rng r = {404};
    for (int trial = 0; trial < 16; trial++) {
        problem p = random_problem(&r, test_rand_int(&r, 1, 70), test_rand_int(&r, 1, 90),
                                   test_rand_int(&r, 1, 300), trial % 4);
        run_problem(&r, NULL, NULL, &p, "cvae__sgemm");
    }
    float nan_ab[4] = {NAN, NAN, NAN, NAN}, c[6] = {1, 2, NAN, 3, 4, NAN};
    cvae__sgemm_builtin(false, false, 2, 2, 2, 0.0f, nan_ab, 2, nan_ab, 2, 2.0f, c, 3);
    assert_true(c[0] == 2 && c[1] == 4 && c[3] == 6 && c[4] == 8 && isnan(c[2]) && isnan(c[5]));
    cvae__sgemm_builtin(true, true, 2, 2, 0, 1.0f, nan_ab, 2, nan_ab, 2, 0.0f, c, 3);
    assert_true(c[0] == 0 && c[1] == 0 && c[3] == 0 && c[4] == 0 && isnan(c[2]) && isnan(c[5]));
    float c1[1] = {NAN};
    cvae__sgemm_builtin(false, false, 0, 1, 1, 1.0f, nan_ab, 1, nan_ab, 1, 0.0f, c1, 1);
    assert_true(isnan(c1[0])); /* m == 0: nothing written */
}

/* Each ISA kernel against the portable one on the same packed panels, every tile size up to
 * MR x NR; only the mr x nr tile of C may change. */
static void test_kernels_match_portable(void **state)
{
    (void)state;
    test_rng r = {505};
    const int64_t kcs[] = {1, 2, 7, 64, 385};
    enum { LDC = CVAE__GEMM_NR_MAX + 3, ROWS = CVAE__GEMM_MR_MAX };
    for (size_t ki = 1; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) {
            print_message("kernel %s: not run by this CPU, skipped\n", kernel_names[ki]);
            continue;
        }
        for (size_t qi = 0; qi < sizeof kcs / sizeof kcs[0]; qi++) {
            const int64_t kc = kcs[qi];
            float *a = malloc(sizeof(float) * (size_t)(kc * k->mr)),
                  *b = malloc(sizeof(float) * (size_t)(kc * k->nr));
            assert_non_null(a), assert_non_null(b);
            test_fill(&r, a, kc * k->mr, -1, 1, 0);
            test_fill(&r, b, kc * k->nr, -1, 1, 0);
            for (int mr = 1; mr <= k->mr; mr++)
                for (int nr = 1; nr <= k->nr; nr++) {
                    const float beta = betas[(mr + nr) % 4], alpha = alphas[(mr * nr) % 3];
                    float c0[ROWS * LDC], c_isa[ROWS * LDC], c_ref[ROWS * LDC];
                    for (int i = 0; i < ROWS * LDC; i++) {
                        const bool in = i / LDC < mr && i % LDC < nr;
                        c0[i] = !in ? pad_c : beta == 0 ? NAN : (float)(2 * test_rand_unit(&r) - 1);
                    }
                    memcpy(c_isa, c0, sizeof c0);
                    memcpy(c_ref, c0, sizeof c0);
                    k->run(kc, a, b, alpha, beta, c_isa, LDC, mr, nr);
                    cvae__gemm_ukernel_any(k->mr, k->nr, kc, a, b, alpha, beta, c_ref, LDC, mr, nr);
                    for (int i = 0; i < ROWS * LDC; i++) {
                        const int row = i / LDC, col = i % LDC;
                        if (row >= mr || col >= nr) {
                            if (memcmp(&c_isa[i], &c0[i], sizeof(float)))
                                fail_msg("%s %dx%d kc %lld: C(%d, %d) outside the tile written",
                                         k->name, mr, nr, (long long)kc, row, col);
                            continue;
                        }
                        double mag = 0;
                        for (int64_t p = 0; p < kc; p++)
                            mag += fabs((double)a[p * k->mr + row] * b[p * k->nr + col]);
                        double bound = fabs(alpha) * mag + (beta != 0 ? fabs(beta * c0[i]) : 0);
                        /* both within (kc + 4) eps bound of the exact value */
                        const double tol = 2 * (double)(kc + 4) * FLT_EPSILON * bound;
                        if (!(fabs(c_isa[i] - c_ref[i]) <= tol))
                            fail_msg("%s %dx%d kc %lld beta %g: C(%d, %d) = %.9g, portable %.9g, "
                                     "|diff| %.3g > %.3g",
                                     k->name, mr, nr, (long long)kc, beta, row, col, c_isa[i],
                                     c_ref[i], fabs(c_isa[i] - c_ref[i]), tol);
                    }
                }
            free(a), free(b);
        }
    }
}

/* Two threads multiplying at once (each with its own packing buffers) get the bits one
 * thread gets. */
typedef struct job {
    problem p;
    const float *a, *b;
    float *c;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int rep = 0; rep < 3; rep++)
        cvae__sgemm_builtin(j->p.ta, j->p.tb, j->p.m, j->p.n, j->p.k, j->p.alpha, j->a, j->p.lda,
                            j->b, j->p.ldb, 0.0f, j->c, j->p.ldc);
    return NULL;
}

static void test_threads_share_nothing(void **state)
{
    (void)state;
    test_rng r = {606};
    job jobs[2];
    float *ref[2];
    for (int t = 0; t < 2; t++) {
        jobs[t].p = random_problem(&r, 37 + 50 * t, 101 - 40 * t, 390 - 250 * t, t + 1);
        float *a, *b, *c;
        make_operands(&r, &jobs[t].p, &a, &b, &c);
        jobs[t].a = a, jobs[t].b = b, jobs[t].c = c;
        const size_t bytes = sizeof(float) * (size_t)(jobs[t].p.m * jobs[t].p.ldc);
        ref[t] = malloc(bytes);
        assert_non_null(ref[t]);
        memcpy(ref[t], c, bytes);
        const problem *p = &jobs[t].p;
        cvae__sgemm_builtin(p->ta, p->tb, p->m, p->n, p->k, p->alpha, a, p->lda, b, p->ldb, 0.0f,
                            ref[t], p->ldc);
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_job, &jobs[1]), 0);
    run_job(&jobs[0]);
    assert_int_equal(pthread_join(th, NULL), 0);
    for (int t = 0; t < 2; t++) {
        assert_memory_equal(jobs[t].c, ref[t],
                            sizeof(float) * (size_t)(jobs[t].p.m * jobs[t].p.ldc));
        free((void *)jobs[t].a), free((void *)jobs[t].b), free(jobs[t].c), free(ref[t]);
    }
}

/* The environment's CVAE_GEMM picks cvae__sgemm's backend, else the kernel does: the built-in
 * GEMM for AVX-512 (builds without BLAS: always the built-in one, BLAS's thread count 1 and
 * fixed); the best kernel is one this CPU runs. */
static void test_backend_choice(void **state)
{
    (void)state;
    const char *env = getenv("CVAE_GEMM");
#ifdef CVAE_HAVE_BLAS
    const bool by_kernel = !strcmp(cvae__gemm_kernel_best()->name, "avx512");
    const bool want = env && !strcmp(env, "builtin") ? true
                      : env && !strcmp(env, "blas")  ? false
                                                     : by_kernel;
    assert_int_equal(cvae__gemm_builtin_preferred(cvae__gemm_kernel_best()), by_kernel);
    assert_false(cvae__gemm_builtin_preferred(cvae__gemm_kernel_find("portable")));
#else
    (void)env;
    const bool want = true;
    cvae__blas_set_threads(4);
    assert_int_equal(cvae__blas_threads(), 1);
#endif
    assert_int_equal(cvae__sgemm_is_builtin(), want);
    assert_int_equal(!strncmp(cvae__sgemm_backend(), "built-in ", 9), want);
    const cvae__gemm_kernel *best = cvae__gemm_kernel_best();
    assert_non_null(best);
    assert_ptr_equal(cvae__gemm_kernel_find(best->name), best);
    assert_non_null(cvae__gemm_kernel_find("portable"));
    assert_null(cvae__gemm_kernel_find("no such kernel"));
    print_message("cvae__sgemm: %s; best built-in kernel %s %dx%d\n", cvae__sgemm_backend(),
                  best->name, best->mr, best->nr);
}

/* A B operand from a packer (cvae__gemm_run_packer): the stored B packed by the kernel's own
 * routine behind a callback that checks its block lies inside op(B); the same bits as
 * cvae__gemm_run on the packed path, all transposes, tiny and real blocks. */
typedef struct stored {
    const cvae__gemm_kernel *k;
    bool tb;
    const float *b;
    int64_t ldb, kdim, n;
    int calls;
} stored;

static void pack_stored(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                        float *dst)
{
    stored *s = (stored *)ctx;
    assert_true(p0 >= 0 && kc >= 1 && p0 + kc <= s->kdim && j0 >= 0 && nc >= 1 && j0 + nc <= s->n &&
                nr == s->k->nr);
    s->calls++;
    s->k->pack_b(nr, s->tb, s->tb ? s->b + j0 * s->ldb + p0 : s->b + p0 * s->ldb + j0, s->ldb, kc,
                 nc, dst);
}

static void test_packer_operand(void **state)
{
    (void)state;
    test_rng r = {303};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        for (int trial = 0; trial < 40; trial++) {
            const cvae__gemm_opts tiny = {(int)test_rand_int(&r, 3, 8), k->mr,
                                          (int)test_rand_int(&r, 1, 2) * k->nr, CVAE__GEMM_PACKED,
                                          NULL};
            const cvae__gemm_opts real = {0, 0, 0, CVAE__GEMM_PACKED, NULL};
            const cvae__gemm_opts *bl = trial % 2 ? &tiny : &real;
            const int64_t big = trial % 2 ? 3 : k->kc + 2;
            problem p =
                random_problem(&r, test_rand_int(&r, 1, 3 * k->mr), test_rand_int(&r, 1, 3 * k->nr),
                               test_rand_int(&r, 1, big), trial % 4);
            float *a, *b, *c;
            make_operands(&r, &p, &a, &b, &c);
            float *c1 = malloc(sizeof(float) * (size_t)(p.m * p.ldc));
            assert_non_null(c1);
            memcpy(c1, c, sizeof(float) * (size_t)(p.m * p.ldc));
            cvae__gemm_run(k, bl, p.ta, p.tb, p.m, p.n, p.k, p.alpha, a, p.lda, b, p.ldb, p.beta, c,
                           p.ldc);
            stored s = {k, p.tb, b, p.ldb, p.k, p.n, 0};
            cvae__gemm_run_packer(k, bl, p.ta, p.m, p.n, p.k, p.alpha, a, p.lda, pack_stored, &s,
                                  p.beta, c1, p.ldc);
            assert_true(p.alpha == 0 ? s.calls == 0 : s.calls >= 1);
            assert_memory_equal(c, c1, sizeof(float) * (size_t)(p.m * p.ldc));
            free(a), free(b), free(c), free(c1);
        }
    }
}

/* op(A) packed whole once (cvae__gemm_pack_a_all) and given to runs through opts->a_packed: the
 * same bits as packing A block by block, each kernel, extents across its MC and KC blocks and
 * tiles, both transposes of A, B stored or from a packer (the conv ops' two uses). With blocking
 * sizes of its own, a run ignores a_packed (it was packed in the kernel's blocks). */
static void test_a_packed_whole(void **state)
{
    (void)state;
    test_rng r = {2203};
    for (size_t ki = 0; ki < NKERNELS; ki++) {
        const cvae__gemm_kernel *k = cvae__gemm_kernel_find(kernel_names[ki]);
        if (!k) continue;
        for (int trial = 0; trial < 24; trial++) {
            const int64_t m = trial % 3 ? test_rand_int(&r, 1, 3 * k->mr + 1)
                                        : k->mc + test_rand_int(&r, 1, 2 * k->mr);
            const int64_t kd =
                trial % 4 ? test_rand_int(&r, 1, 40) : k->kc + test_rand_int(&r, 1, 9);
            const int64_t n = test_rand_int(&r, 1, 2 * k->nr + 3);
            problem p = random_problem(&r, m, n, kd, (int)test_rand_int(&r, 0, 3));
            float *a, *b, *c;
            make_operands(&r, &p, &a, &b, &c);
            float *c1 = malloc(sizeof(float) * (size_t)(m * p.ldc));
            float *ap = malloc(sizeof(float) * (size_t)cvae__gemm_packed_a_floats(k, m, kd));
            assert_non_null(c1), assert_non_null(ap);
            memcpy(c1, c, sizeof(float) * (size_t)(m * p.ldc));
            cvae__gemm_pack_a_all(k, p.ta, m, kd, a, p.lda, ap);
            /* the kernel's blocks with A packed whole or block by block; or tiny blocks, with
             * a_packed (ignored) or without */
            const bool small = trial % 5 == 4;
            const cvae__gemm_opts whole = {0, 0, 0, CVAE__GEMM_PACKED, ap};
            const cvae__gemm_opts blocks = {0, 0, 0, CVAE__GEMM_PACKED, NULL};
            const cvae__gemm_opts tiny = {3, k->mr, k->nr, CVAE__GEMM_PACKED, ap};
            const cvae__gemm_opts tiny_plain = {3, k->mr, k->nr, CVAE__GEMM_PACKED, NULL};
            cvae__gemm_run(k, small ? &tiny : &whole, p.ta, p.tb, m, n, kd, p.alpha, a, p.lda, b,
                           p.ldb, p.beta, c, p.ldc);
            cvae__gemm_run(k, small ? &tiny_plain : &blocks, p.ta, p.tb, m, n, kd, p.alpha, a,
                           p.lda, b, p.ldb, p.beta, c1, p.ldc);
            if (memcmp(c, c1, sizeof(float) * (size_t)(m * p.ldc)))
                fail_msg("kernel %s: %c%c m %lld n %lld k %lld: A packed whole differs", k->name,
                         p.ta ? 'T' : 'N', p.tb ? 'T' : 'N', (long long)m, (long long)n,
                         (long long)kd);
            free(a), free(b), free(c), free(c1), free(ap);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tile_edges),
        cmocka_unit_test(test_block_edges_small_blocks),
        cmocka_unit_test(test_block_edges_real_blocks),
        cmocka_unit_test(test_dot_path),
        cmocka_unit_test(test_sgemm_entry_and_degenerate),
        cmocka_unit_test(test_kernels_match_portable),
        cmocka_unit_test(test_packer_operand),
        cmocka_unit_test(test_a_packed_whole),
        cmocka_unit_test(test_threads_share_nothing),
        cmocka_unit_test(test_backend_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
