/* Convolutions of the reference model (N = 128), forward + backward through the
 * tape, against cvae__sgemm (cblas_sgemm, or the built-in GEMM without BLAS) on the same GEMM
 * shapes, measured side by side.
 * Prints medians of repeated runs in GFLOP/s and the ratio conv / sgemm. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "cvae/cvae.h"
#include "common.h"

#define REPS 15

typedef struct layer {
    const char *name;
    int transposed, x_grad;
    int64_t n, cin, cout, h, w, k;
    int stride, pad, out_pad;
} layer;

#define CHECK(expr)                                                                      \
    do {                                                                                 \
        cvae_status s_ = (expr);                                                         \
        if (s_) {                                                                        \
            fprintf(stderr, "%s failed: %s\n", #expr, cvae_last_error());                \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

typedef struct gemm {
    bool ta, tb;
    int m, n, k;
} gemm;

static double time_gemm(const gemm *g, float *a, float *b, float *c)
{
    int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    double t0 = now();
    cvae__sgemm(g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, 0.0f, c, g->n);
    return now() - t0;
}

static void run_layer(const layer *L)
{
    cvae_conv_opts o = cvae_conv_opts_make(L->stride, L->pad);
    o.output_pad_h = o.output_pad_w = L->out_pad;
    int64_t sx[4] = {L->n, L->cin, L->h, L->w};
    int64_t sw[4] = {L->transposed ? L->cin : L->cout, L->transposed ? L->cout : L->cin, L->k, L->k};
    int64_t sb[1] = {L->cout};
    cvae_params *p;
    CHECK(cvae_params_new(&p));
    cvae_tensor *w, *b, *x0;
    CHECK(cvae_params_add(p, "w", 4, sw, 1, &w));
    CHECK(cvae_params_add(p, "b", 1, sb, 1, &b));
    CHECK(cvae_tensor_randn(w, 1, 0, 0.0f, 0.1f));
    CHECK(cvae_tensor_new(4, sx, &x0));
    CHECK(cvae_tensor_randn(x0, 2, 0, 0.0f, 1.0f));
    cvae_tape *t;
    CHECK(cvae_tape_new(&t));
    /* output extents, and the GEMMs of the lowering: conv2d [Cout, CKK] x [CKK, P] with
     * P = N Ho Wo; the transpose runs conv2d's input-gradient product forward (P = N H W). */
    int64_t ho, wo;
    if (!L->transposed) {
        ho = (L->h + 2 * L->pad - L->k) / L->stride + 1, wo = (L->w + 2 * L->pad - L->k) / L->stride + 1;
    } else {
        ho = (L->h - 1) * L->stride - 2 * L->pad + L->k + L->out_pad;
        wo = (L->w - 1) * L->stride - 2 * L->pad + L->k + L->out_pad;
    }
    gemm gs[3];
    int ng = 0;
    if (!L->transposed) {
        int m = (int)L->cout, k = (int)(L->cin * L->k * L->k), pp = (int)(L->n * ho * wo);
        gs[ng++] = (gemm){false, false, m, pp, k}; /* forward */
        gs[ng++] = (gemm){false, true, m, k, pp};   /* dW */
        if (L->x_grad) gs[ng++] = (gemm){true, false, k, pp, m}; /* dcols */
    } else {
        int ci = (int)L->cin, rows = (int)(L->cout * L->k * L->k), pp = (int)(L->n * L->h * L->w);
        gs[ng++] = (gemm){true, false, rows, pp, ci};   /* forward cols */
        gs[ng++] = (gemm){false, true, ci, rows, pp};   /* dW */
        if (L->x_grad) gs[ng++] = (gemm){false, false, ci, pp, rows}; /* dx */
    }
    float *ga[3], *gb[3], *gc[3];
    double flops = 0, tg[3][REPS];
    for (int i = 0; i < ng; i++) {
        size_t sa = (size_t)gs[i].m * (size_t)gs[i].k, sbb = (size_t)gs[i].k * (size_t)gs[i].n;
        size_t sc = (size_t)gs[i].m * (size_t)gs[i].n;
        ga[i] = malloc(sa * sizeof(float)), gb[i] = malloc(sbb * sizeof(float)), gc[i] = malloc(sc * sizeof(float));
        for (size_t j = 0; j < sa; j++) ga[i][j] = (float)(j % 17) * 0.01f;
        for (size_t j = 0; j < sbb; j++) gb[i][j] = (float)(j % 13) * 0.01f;
        memset(gc[i], 0, sc * sizeof(float));
        flops += 2.0 * gs[i].m * gs[i].n * (double)gs[i].k;
    }
    float *dy = NULL;
    double tc[REPS], tf[REPS];
    /* conv runs and GEMM runs alternate, so that drift on a shared machine hits both */
    for (int r = -2; r < REPS; r++) {
        cvae_tape_reset(t);
        cvae_params_zero_grad(p);
        cvae_tensor *x, *y;
        CHECK(cvae_tape_tensor(t, 4, sx, &x));
        memcpy(x->data, x0->data, (size_t)x0->size * sizeof(float));
        if (L->x_grad) CHECK(cvae_tape_require_grad(t, x));
        double t0 = now();
        if (L->transposed)
            CHECK(cvae_op_conv_transpose2d(t, x, w, b, &o, &y));
        else
            CHECK(cvae_op_conv2d(t, x, w, b, &o, &y));
        double t1 = now();
        if (!dy) {
            dy = malloc((size_t)y->size * sizeof(float));
            for (int64_t i = 0; i < y->size; i++) dy[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
        }
        CHECK(cvae_tape_backward_with(t, y, dy));
        double t2 = now();
        if (r >= 0) tc[r] = t2 - t0, tf[r] = t1 - t0;
        for (int i = 0; i < ng; i++) {
            double s = time_gemm(&gs[i], ga[i], gb[i], gc[i]);
            if (r >= 0) tg[i][r] = s;
        }
    }
    double conv_s = median(tc, REPS), fwd_s = median(tf, REPS), gemm_s = 0,
           gemm_fwd_s = median(tg[0], REPS);
    for (int i = 0; i < ng; i++) gemm_s += median(tg[i], REPS);
    for (int i = 0; i < ng; i++) free(ga[i]), free(gb[i]), free(gc[i]);
    double f0 = 2.0 * gs[0].m * gs[0].n * (double)gs[0].k;
    printf("%-44s fwd %6.1f / sgemm %6.1f GFLOP/s (%3.0f%%) | fwd+bwd %6.1f / sgemm %6.1f GFLOP/s "
           "= %3.0f%% "
           "(%.2f ms vs %.2f ms)\n",
           L->name, f0 / fwd_s * 1e-9, f0 / gemm_fwd_s * 1e-9, 100.0 * gemm_fwd_s / fwd_s,
           flops / conv_s * 1e-9, flops / gemm_s * 1e-9, 100.0 * gemm_s / conv_s, conv_s * 1e3,
           gemm_s * 1e3);
    free(dy);
    cvae_tape_free(t);
    cvae_params_free(p);
    cvae_tensor_free(x0);
}

int main(void)
{
    printf("sgemm backend %s, %d BLAS thread(s); medians of %d runs, N = 128\n",
           cvae__sgemm_backend(), cvae__blas_threads(), REPS);
    const layer layers[] = {
        {"conv 32->64 3x3 s2 p1 14x14 (target >= 60%)", 0, 1, 128, 32, 64, 14, 14, 3, 2, 1, 0},
        {"conv 1->32 3x3 s2 p1 28x28 (raw images)", 0, 0, 128, 1, 32, 28, 28, 3, 2, 1, 0},
        {"convT 64->32 4x4 s2 p1 7x7->14x14", 1, 1, 128, 64, 32, 7, 7, 4, 2, 1, 0},
        {"convT 32->1 4x4 s2 p1 14x14->28x28", 1, 1, 128, 32, 1, 14, 14, 4, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) run_layer(&layers[i]);
    return 0;
}
