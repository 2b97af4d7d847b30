/* The lowered GEMM of the model's convolution forwards (N = 128, in the op's chunks) with the
 * built-in GEMM: explicit (im2col into cols, then the GEMM packs cols) against implicit (the
 * GEMM's B panels packed straight from the images, lib/ops/conv/lower.h), alternated rep by rep
 * in one run. Prints medians of wall and CPU time, the ratio explicit / implicit, and checks
 * that both give the same bits.
 *
 *   bench_implicit [--reps R]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/gemm.h"
#include "ops/conv/lower.h"
#include "common.h"

typedef struct shape {
    const char *name;
    int64_t cin, cout, h, k, stride, pad;
} shape;

/* y: [cout, chunk Ho Wo] per chunk = w times the lowering, the whole batch by chunks, implicit or
 * im2col + GEMM. */
static void forward(int implicit, const shape *s, const cvae__conv_geom *g, int64_t n,
                    const float *x, const float *w, float *cols, float *y)
{
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo, chw = g->c * g->h * g->w;
    const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        float *c = y + s0 * s->cout * hw;
        if (implicit) {
            const cvae__lowered L = {x + s0 * chw, NULL, ns, g};
            cvae__gemm_run_packer(cvae__gemm_kernel_best(), NULL, false, s->cout, pc, ckk, 1.0f, w,
                                  ckk, cvae__pack_lowered, &L, 0.0f, c, pc);
        } else {
            cvae__im2col(cols, x + s0 * chw, NULL, ns, g);
            cvae__sgemm_builtin(false, false, s->cout, pc, ckk, 1.0f, w, ckk, cols, pc, 0.0f, c,
                                pc);
        }
    }
}

int main(int argc, char **argv)
{
    int reps = 41;
    if (argc == 3 && !strcmp(argv[1], "--reps")) reps = atoi(argv[2]);
    if (reps < 1) reps = 1;
    const int64_t n = 128;
    /* the reference model's encoder convolutions (conv1 as a plain conv of its 32 + 8 output
     * channels) and two stride-1 convolutions of deeper networks */
    const shape shapes[] = {{"conv1 1->40 3x3s2 28x28", 1, 40, 28, 3, 2, 1},
                            {"conv2 40->64 3x3s2 14x14", 40, 64, 14, 3, 2, 1},
                            {"conv 64->64 3x3s1 7x7", 64, 64, 7, 3, 1, 1},
                            {"conv 32->32 3x3s1 14x14", 32, 32, 14, 3, 1, 1}};
    printf("implicit GEMM against im2col + GEMM, batch %lld, kernel %s, medians of %d reps\n",
           (long long)n, cvae__gemm_kernel_best()->name, reps);
    printf("%-26s %9s %9s %9s %9s %7s %7s %s\n", "lowering", "expl ms", "impl ms", "expl cpu",
           "impl cpu", "ratio", "cpu rat", "bits");
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        cvae__conv_geom g;
        const cvae_conv_opts o = cvae_conv_opts_make((int)s->stride, (int)s->pad);
        if (cvae__conv_geom_init(&g, "bench", s->cin, s->h, s->h, s->k, s->k, &o)) return 1;
        const int64_t ckk = g.c * g.kh * g.kw, hw = g.ho * g.wo;
        const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
        const int64_t xn = n * g.c * g.h * g.w, wn = s->cout * ckk, yn = s->cout * n * hw;
        float *x = malloc(sizeof(float) * (size_t)xn);
        float *cols = malloc(sizeof(float) * (size_t)(ckk * chunk * hw));
        float *w = malloc(sizeof(float) * (size_t)wn);
        float *y[2] = {malloc(sizeof(float) * (size_t)yn), malloc(sizeof(float) * (size_t)yn)};
        double *t = malloc(sizeof(double) * (size_t)(4 * reps));
        if (!x || !w || !cols || !y[0] || !y[1] || !t) return 1;
        for (int64_t i = 0; i < xn; i++) x[i] = (float)((i * 7919) % 201) / 100 - 1;
        for (int64_t i = 0; i < wn; i++) w[i] = (float)((i * 104729) % 97) / 50 - 1;
        for (int64_t i = 0; i < yn; i++) y[0][i] = y[1][i] = (float)((i * 31) % 89) / 44 - 1;
        for (int r = -3; r < reps; r++)
            for (int impl = 0; impl < 2; impl++) {
                const double w0 = now(), c0 = cpu_now();
                forward(impl, s, &g, n, x, w, cols, y[impl]);
                const double w1 = now(), c1 = cpu_now();
                if (r >= 0) t[impl * reps + r] = w1 - w0, t[(2 + impl) * reps + r] = c1 - c0;
            }
        const bool same = !memcmp(y[0], y[1], sizeof(float) * (size_t)yn);
        const double e = median(t, reps), i = median(t + reps, reps);
        const double ec = median(t + 2 * reps, reps), ic = median(t + 3 * reps, reps);
        printf("%-26s %9.3f %9.3f %9.3f %9.3f %7.2f %7.2f %s\n", s->name, 1e3 * e, 1e3 * i,
               1e3 * ec, 1e3 * ic, e / i, ec / ic, same ? "same" : "DIFFER");
        free(x), free(cols), free(w), free(y[0]), free(y[1]), free(t);
        if (!same) return 1;
    }
    return 0;
}
