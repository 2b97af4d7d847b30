/* Benchmark: the label-indexed conditional convolution against a plain conv2d
 * of the same shape (ratio of medians, measured side by side, interleaved), and
 * the masked one-conv-per-class approach (K full-batch convs, each multiplied
 * by its one-hot mask column and summed) against the same plain conv2d.
 *
 *   build/tests/bench/bench_conditional_conv [reps [nomasked]]   (default 15 reps)
 *
 * Target: conditional / plain <= 1.10 forward+backward for every K. Ratios are
 * medians over reps of (conditional / plain) measured back to back in each rep.
 * Parameters and (when it needs a gradient) the input live in cvae_params
 * blocks so that no copy is timed; every pass resets its tape, so the arena is
 * reused and nothing is allocated inside a timed pass. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "cvae/cvae.h"
#include "ops/conv/cond.h"
#include "ops/conv/conv.h"

#define N 128
#define MAX_REPS 101

/* With one BLAS thread all work runs on the calling thread: its CPU time is
 * then the measure least disturbed by other jobs on these shared machines. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_) {                                                                                  \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cvae_last_error());      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct config {
    const char *name;
    int64_t cin, cout, h, w;
    int stride, pad;
    int x_grad; /* the input needs a gradient (not the first layer) */
} config;

typedef struct setup {
    const config *c;
    int64_t k;
    cvae_params *p;
    cvae_tensor *x, *w, *b, *table, *tbias;
    int32_t labels[N];
    float *dy;
    cvae_tape *tape;
    cvae_conv_opts o;
} setup;

/* One pass; returns seconds. kind 0: plain conv2d, 1: conditional (algo). */
static double pass(setup *s, int kind, cvae__cconv_algo algo, int backward, cvae__cconv_algo *used)
{
    cvae_tape_reset(s->tape);
    double t0 = now();
    cvae_tensor *y;
    if (kind == 0)
        OK(cvae_op_conv2d(s->tape, s->x, s->w, s->b, &s->o, &y));
    else
        OK(cvae__op_conditional_conv2d_algo(
            s->tape, &(cvae__cconv_in){s->x, s->labels, NULL, NULL, s->table, s->tbias}, &s->o,
            algo, &y, used));
    if (backward) OK(cvae_tape_backward_with(s->tape, y, s->dy));
    return now() - t0;
}

/* The masked approach with the conv2d raw kernels: y = sum_k mask[:, k] * conv(x, W_k, b_k). */
typedef struct masked {
    float *y, *yk, *cols, *ycn, *dyk, *dcols, *dx, *dw, *db, *mask;
} masked;

static double masked_pass(setup *s, masked *m, const cvae__conv_geom *g, int backward)
{
    const int64_t k = s->k, cout = s->c->cout, hw = g->ho * g->wo, ckk = g->c * g->kh * g->kw;
    const int64_t ysz = N * cout * hw;
    double t0 = now();
    memset(m->y, 0, (size_t)ysz * sizeof(float));
    for (int64_t l = 0; l < k; l++) {
        const cvae__conv_args fa = {.n = N, .ch = cout, .x = s->x->data,
                                    .w = s->table->data + l * cout * ckk,
                                    .b = s->tbias->data + l * cout, .y = m->yk};
        cvae__conv2d_forward(&fa, g, &(cvae__conv_ws){.cols = m->cols, .cn = m->ycn});
        for (int64_t n = 0; n < N; n++) {
            const float a = m->mask[n * k + l];
            for (int64_t i = 0; i < cout * hw; i++)
                m->y[n * cout * hw + i] += a * m->yk[n * cout * hw + i];
        }
    }
    if (backward)
        for (int64_t l = 0; l < k; l++) {
            for (int64_t n = 0; n < N; n++) {
                const float a = m->mask[n * k + l];
                for (int64_t i = 0; i < cout * hw; i++)
                    m->dyk[n * cout * hw + i] = a * s->dy[n * cout * hw + i];
            }
            const cvae__conv_args ba = {.n = N, .ch = cout, .x = s->x->data,
                                        .w = s->table->data + l * cout * ckk, .dy = m->dyk,
                                        .dx = s->c->x_grad ? m->dx : NULL,
                                        .dw = m->dw + l * cout * ckk, .db = m->db + l * cout};
            cvae__conv2d_backward(&ba, g, &(cvae__conv_ws){.cols = m->dcols, .cn = m->ycn});
        }
    return now() - t0;
}

static void make_setup(setup *s, const config *c, int64_t k, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    s->k = k;
    s->o = cvae_conv_opts_make(c->stride, c->pad);
    OK(cvae_params_new(&s->p));
    int64_t sx[4] = {N, c->cin, c->h, c->w}, sw[4] = {c->cout, c->cin, 3, 3}, sb[1] = {c->cout};
    int64_t st[5] = {k, c->cout, c->cin, 3, 3}, stb[2] = {k, c->cout};
    OK(cvae_params_add(s->p, "x", 4, sx, c->x_grad, &s->x));
    OK(cvae_params_add(s->p, "w", 4, sw, 1, &s->w));
    OK(cvae_params_add(s->p, "b", 1, sb, 1, &s->b));
    OK(cvae_params_add(s->p, "table", 5, st, 1, &s->table));
    OK(cvae_params_add(s->p, "table_bias", 2, stb, 1, &s->tbias));
    for (int i = 0; i < cvae_params_count(s->p); i++)
        OK(cvae_tensor_rand_uniform(cvae_params_at(s->p, i), seed, (uint64_t)i, -1.0f, 1.0f));
    for (int n = 0; n < N; n++)
        s->labels[n] = (int32_t)((uint64_t)(n * 2654435761u + seed) % (uint64_t)k);
    cvae__conv_geom g;
    OK(cvae__conv_geom_init(&g, "bench", c->cin, c->h, c->w, 3, 3, &s->o));
    int64_t ysz = N * c->cout * g.ho * g.wo;
    s->dy = malloc((size_t)ysz * sizeof(float));
    for (int64_t i = 0; i < ysz; i++) s->dy[i] = (float)((i * 7 % 13) - 6) / 6.0f;
    OK(cvae_tape_new(&s->tape));
}

static void free_setup(setup *s)
{
    free(s->dy);
    cvae_tape_free(s->tape);
    cvae_params_free(s->p);
}

static const char *algo_name(cvae__cconv_algo a)
{
    return a == CVAE__CCONV_ALL_K ? "all-K" : a == CVAE__CCONV_GROUPED ? "grouped" : "auto";
}

/* Conditional (algo) over plain, forward and forward+backward (times: medians per pass). */
static void compare(setup *s, cvae__cconv_algo algo, int reps, double *fwd, double *fb,
                    cvae__cconv_algo *used)
{
    double pf[MAX_REPS], cf[MAX_REPS], pb[MAX_REPS], cb[MAX_REPS];
    for (int w = 0; w < 3; w++) {
        pass(s, 0, algo, 1, used);
        pass(s, 1, algo, 1, used);
    }
    const int inner = 4;
    for (int r = 0; r < reps; r++) {
        pf[r] = cf[r] = pb[r] = cb[r] = 0;
        for (int i = 0; i < inner; i++) {
            pf[r] += pass(s, 0, algo, 0, used);
            cf[r] += pass(s, 1, algo, 0, used);
            pb[r] += pass(s, 0, algo, 1, used);
            cb[r] += pass(s, 1, algo, 1, used);
        }
    }
    /* ratios of each rep's adjacent pair, then their median: robust to load drifting between reps
     */
    double rf[MAX_REPS], rb[MAX_REPS];
    for (int r = 0; r < reps; r++) rf[r] = cf[r] / pf[r], rb[r] = cb[r] / pb[r];
    *fwd = median(rf, reps);
    *fb = median(rb, reps);
    double mpf = median(pf, reps), mcf = median(cf, reps), mpb = median(pb, reps),
           mcb = median(cb, reps);
    printf("    %-8s plain fwd %8.1f us  cond fwd %8.1f us  | plain f+b %8.1f us  cond f+b %8.1f us"
           "  | ratio fwd %.3f  f+b %.3f\n",
           algo_name(algo), 1e6 * mpf / inner, 1e6 * mcf / inner, 1e6 * mpb / inner,
           1e6 * mcb / inner, *fwd, *fb);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 1) reps = 1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    const int masked_too = !(argc > 2 && strcmp(argv[2], "nomasked") == 0);
    printf("bench_conditional_conv: N = %d, 3x3 kernels, stride 2, pad 1 (as in the model), "
           "medians of %d reps x 4 passes\n",
           N, reps);
    if (cvae__blas_threads() == 1 || cvae__sgemm_is_builtin()) clock_id = CLOCK_THREAD_CPUTIME_ID;
    printf("sgemm backend: %s, BLAS threads: %d, OPENBLAS_CORETYPE=%s; clock: %s\n",
           cvae__sgemm_backend(), cvae__blas_threads(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
           clock_id == CLOCK_MONOTONIC ? "wall (several BLAS threads)" : "thread CPU time");
    const config cfgs[] = {
        {"Cin 1 -> Cout 8, 28x28 -> 14x14 (input needs no gradient)", 1, 8, 28, 28, 2, 1, 0},
        {"Cin 32 -> Cout 8, 14x14 -> 7x7 (input needs a gradient)", 32, 8, 14, 14, 2, 1, 1},
    };
    const int64_t ks[] = {10, 100, 1000};
    double worst_fb = 0;
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        printf("\n%s\n", cfgs[ci].name);
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            setup s;
            make_setup(&s, &cfgs[ci], ks[ki], 1000 + ki);
            int present = 0;
            {
                char seen[1000] = {0};
                for (int n = 0; n < N; n++) present += !seen[s.labels[n]]++;
            }
            cvae__cconv_algo used = CVAE__CCONV_AUTO;
            double f, fb;
            printf("  K = %lld (%d labels present)\n", (long long)ks[ki], present);
            compare(&s, CVAE__CCONV_GROUPED, reps, &f, &fb, &used);
            cvae__conv_geom g;
            OK(cvae__conv_geom_init(&g, "bench", s.c->cin, s.c->h, s.c->w, 3, 3, &s.o));
            if (ks[ki] * s.c->cout <= 80)
                compare(&s, CVAE__CCONV_ALL_K, reps, &f, &fb, &used);
            else
                printf("    all-K    skipped (K Cout = %lld GEMM rows: about K times the work)\n",
                       (long long)(ks[ki] * s.c->cout));
            compare(&s, CVAE__CCONV_AUTO, reps, &f, &fb, &used);
            printf("    auto chose: %s; target f+b ratio <= 1.10: %s\n", algo_name(used),
                   fb <= 1.10 ? "met" : "MISSED");
            if (fb > worst_fb) worst_fb = fb;

            /* masked approach: fewer reps, it costs about K plain convs */
            if (!masked_too) {
                free_setup(&s);
                continue;
            }
            const int64_t hw = g.ho * g.wo, ckk = g.c * 9, ysz = N * s.c->cout * hw;
            masked m;
            m.y = malloc((size_t)ysz * 4), m.yk = malloc((size_t)ysz * 4),
            m.dyk = malloc((size_t)ysz * 4);
            m.cols = malloc((size_t)(ckk * N * hw) * 4),
            m.dcols = malloc((size_t)(ckk * N * hw) * 4);
            m.ycn = malloc((size_t)ysz * 4), m.dx = calloc((size_t)s.x->size, 4);
            m.dw = calloc((size_t)s.table->size, 4), m.db = calloc((size_t)s.tbias->size, 4);
            m.mask = calloc((size_t)(N * ks[ki]), 4);
            for (int n = 0; n < N; n++) m.mask[n * ks[ki] + s.labels[n]] = 1.0f;
            int mreps = ks[ki] >= 1000 ? 1 : 3;
            double mf[MAX_REPS], mb[MAX_REPS], pf[MAX_REPS], pb[MAX_REPS];
            if (ks[ki] < 1000) masked_pass(&s, &m, &g, 1);
            for (int r = 0; r < mreps; r++) {
                pf[r] = pass(&s, 0, CVAE__CCONV_AUTO, 0, NULL);
                mf[r] = masked_pass(&s, &m, &g, 0);
                pb[r] = pass(&s, 0, CVAE__CCONV_AUTO, 1, NULL);
                mb[r] = masked_pass(&s, &m, &g, 1);
            }
            double rf = median(mf, mreps) / median(pf, mreps),
                   rb = median(mb, mreps) / median(pb, mreps);
            printf(
                "    masked (K convs x one-hot mask): fwd %.1f ms, f+b %.1f ms | ratio over plain: "
                "fwd %.1f  f+b %.1f  (K = %lld)\n",
                1e3 * median(mf, mreps), 1e3 * median(mb, mreps), rf, rb, (long long)ks[ki]);
            free(m.y), free(m.yk), free(m.dyk), free(m.cols), free(m.dcols), free(m.ycn),
                free(m.dx);
            free(m.dw), free(m.db), free(m.mask);
            free_setup(&s);
        }
    }
    printf("\nworst auto f+b ratio: %.3f (target <= 1.10)\n", worst_fb);
    return 0;
}
