/* The built-in GEMM's driver: blocking loops, packing, the calling thread's workspace. */
#include <pthread.h>
#include <stdlib.h>

#include "core/gemm.h"

/* ---- workspace: one buffer per thread, freed at thread exit ---- */

typedef struct workspace {
    float *buf;
    size_t floats;
} workspace;

static pthread_key_t ws_key;
static pthread_once_t ws_once = PTHREAD_ONCE_INIT;
static int ws_key_ok;

static void ws_free(void *p)
{
    workspace *w = p;
    free(w->buf);
    free(w);
}

static void ws_make_key(void)
{
    ws_key_ok = pthread_key_create(&ws_key, ws_free) == 0;
}

/* The calling thread's buffer of at least `floats` floats (64-byte aligned), or NULL. */
static float *ws_get(size_t floats)
{
    pthread_once(&ws_once, ws_make_key);
    if (!ws_key_ok) return NULL;
    workspace *w = pthread_getspecific(ws_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return NULL;
        if (pthread_setspecific(ws_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->floats < floats) {
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) return NULL;
        free(w->buf);
        w->buf = p;
        w->floats = floats;
    }
    return w->buf;
}

/* ---- the loops ---- */

void cvae__gemm_macro(const cvae__gemm_kernel *k, int64_t mc, int64_t nc, int64_t kc,
                      const float *ap, const float *bp, float alpha, float beta, float *c,
                      int64_t ldc)
{
    const int MR = k->mr, NR = k->nr;
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const int mr = mc - ir < MR ? (int)(mc - ir) : MR;
        for (int64_t jr = 0; jr < nc; jr += NR) {
            const int nr = nc - jr < NR ? (int)(nc - jr) : NR;
            k->run(kc, ap + ir * kc, bp + jr * kc, alpha, beta, c + ir * ldc + jr, ldc, mr, nr);
        }
    }
}

/* C = beta C (beta == 0: zeros, whatever C held). */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    if (beta == 1) return;
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0)
            for (int64_t j = 0; j < n; j++) ci[j] = 0;
        else
            for (int64_t j = 0; j < n; j++) ci[j] *= beta;
    }
}

static int64_t round_up(int64_t x, int64_t to)
{
    return (x + to - 1) / to * to;
}
static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Depth of the blocks of the fallback that works on the stack (one MR x NR tile at a time). */
#define FALLBACK_KC 32

/* Below this many outputs and above this depth, A B^T takes the inner-product path. From
 * bench_gemm --path packed|dot (AVX-512): the weight gradients of the model's first and last
 * convolutions, 40 x 9 and 32 x 16 outputs over k = 12544, run 2.9x and 2.2x faster than
 * packed; 64 x 32 outputs over k = 3146 are even; from 64 x 360 outputs packing wins (1.6x). */
#define DOT_MAX_OUTPUTS 4096
#define DOT_MIN_DEPTH 256
/* At most this many rows of A (a linear layer at batch 1 or 2), A B^T takes the inner-product
 * path whatever the depth: packing B costs more than the one or two rows that use it gain.
 * bench_gemm --batch 1|2|3 --path packed|dot (AVX-512): 1 x 3136 x 26 (the decoder's linear
 * layer) runs 2.9x faster on the inner-product path at one row, 2.2x at two, 0.7x at three. */
#define DOT_MAX_ROWS 2

bool cvae__gemm_prefers_dot(const cvae__gemm_kernel *k, bool ta, bool tb, int64_t m, int64_t n,
                            int64_t kdim)
{
    return k->dot_nt && !ta && tb &&
           (m <= DOT_MAX_ROWS || (m * n <= DOT_MAX_OUTPUTS && kdim >= DOT_MIN_DEPTH));
}

/* The blocked loops: C = alpha op(A) B + beta C with B's panels from pack_b, for m, n, kdim >= 1
 * and alpha != 0. */
static void blocked(const cvae__gemm_kernel *k, const cvae__gemm_opts *opts, bool ta, int64_t m,
                    int64_t n, int64_t kdim, float alpha, const float *a, int64_t lda,
                    cvae__gemm_b_packer pack_b, const void *ctx, float beta, float *c, int64_t ldc)
{
    const int MR = k->mr, NR = k->nr;
    int64_t KC = opts && opts->kc > 0 ? opts->kc : k->kc;
    int64_t MC = round_up(opts && opts->mc > 0 ? opts->mc : k->mc, MR);
    int64_t NC = round_up(opts && opts->nc > 0 ? opts->nc : k->nc, NR);
    KC = min64(KC, kdim);
    MC = min64(MC, round_up(m, MR));
    NC = min64(NC, round_up(n, NR));

    /* A packed whole beforehand: only with the kernel's own blocks (those it was packed in) */
    const float *whole = opts && !opts->kc && !opts->mc && !opts->nc ? opts->a_packed : NULL;
    _Alignas(64) float stack[(CVAE__GEMM_MR_MAX + CVAE__GEMM_NR_MAX) * FALLBACK_KC];
    float *abuf = ws_get((size_t)((whole ? 0 : MC) + NC) * (size_t)KC); /* A's block, then B's */
    if (!abuf) {
        abuf = stack;
        KC = min64(KC, FALLBACK_KC);
        MC = MR;
        NC = NR;
        whole = NULL;
    }
    float *bp = whole ? abuf : abuf + MC * KC;
    const float *ap = abuf;

    for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = min64(MC, m - ic);
        for (int64_t pc = 0; pc < kdim; pc += KC) {
            const int64_t kc = min64(KC, kdim - pc);
            if (whole)
                ap = whole + ic * kdim + pc * round_up(mc, MR);
            else
                k->pack_a(MR, ta, ta ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, abuf);
            const float beta_c = pc == 0 ? beta : 1.0f;
            for (int64_t jc = 0; jc < n; jc += NC) {
                const int64_t nc = min64(NC, n - jc);
                pack_b(ctx, pc, kc, jc, nc, NR, bp);
                cvae__gemm_macro(k, mc, nc, kc, ap, bp, alpha, beta_c, c + ic * ldc + jc, ldc);
            }
        }
    }
}

int64_t cvae__gemm_packed_a_floats(const cvae__gemm_kernel *k, int64_t m, int64_t kdim)
{
    return round_up(m, k->mr) * kdim;
}

void cvae__gemm_pack_a_all(const cvae__gemm_kernel *k, bool ta, int64_t m, int64_t kdim,
                           const float *a, int64_t lda, float *ap)
{
    const int MR = k->mr;
    const int64_t KC = min64(k->kc, kdim), MC = min64(round_up(k->mc, MR), round_up(m, MR));
    for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = min64(MC, m - ic);
        for (int64_t pc = 0; pc < kdim; pc += KC)
            k->pack_a(MR, ta, ta ? a + pc * lda + ic : a + ic * lda + pc, lda, mc,
                      min64(KC, kdim - pc), ap + ic * kdim + pc * round_up(mc, MR));
    }
}

/* B stored in memory: the kernel's own packing. */
typedef struct stored_b {
    cvae__gemm_pack_fn pack;
    bool tb;
    const float *b;
    int64_t ldb;
} stored_b;

static void pack_stored_b(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                          float *dst)
{
    const stored_b *s = ctx;
    s->pack(nr, s->tb, s->tb ? s->b + j0 * s->ldb + p0 : s->b + p0 * s->ldb + j0, s->ldb, kc, nc,
            dst);
}

void cvae__gemm_run(const cvae__gemm_kernel *k, const cvae__gemm_opts *opts, bool ta, bool tb,
                    int64_t m, int64_t n, int64_t kdim, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (kdim <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    const int path = opts ? opts->path : CVAE__GEMM_AUTO;
    if (k->dot_nt && !ta && tb &&
        (path == CVAE__GEMM_DOT ||
         (path == CVAE__GEMM_AUTO && cvae__gemm_prefers_dot(k, ta, tb, m, n, kdim)))) {
        float *part = kdim <= CVAE__GEMM_DOT_KB
                          ? NULL
                          : ws_get((size_t)((m + 3) / 4 * ((n + 3) / 4)) * CVAE__GEMM_DOT_PART);
        if (part || kdim <= CVAE__GEMM_DOT_KB) {
            k->dot_nt(m, n, kdim, alpha, a, lda, b, ldb, beta, c, ldc, part);
            return;
        }
    }
    const stored_b sb = {k->pack_b, tb, b, ldb};
    blocked(k, opts, ta, m, n, kdim, alpha, a, lda, pack_stored_b, &sb, beta, c, ldc);
}

void cvae__gemm_run_packer(const cvae__gemm_kernel *k, const cvae__gemm_opts *opts, bool ta,
                           int64_t m, int64_t n, int64_t kdim, float alpha, const float *a,
                           int64_t lda, cvae__gemm_b_packer pack_b, const void *ctx, float beta,
                           float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (kdim <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    blocked(k, opts, ta, m, n, kdim, alpha, a, lda, pack_b, ctx, beta, c, ldc);
}
