/* The reference model end to end: training step and inference timings (one
 * JSON line, the interface tests/bench/compare.sh calls), plus human-readable
 * tables (the JSON line also gives the call's GFLOP and the fraction of the machine's FMA peak
 * it reached, peak.h): per-layer roofline against cvae__sgemm (cblas_sgemm, or the built-in GEMM in builds
 * without BLAS or with CVAE_GEMM=builtin), heap allocations per step,
 * peak memory of an epoch of Fashion-MNIST, and scaling with data, batch and K.
 *
 *   bench_model --what train|infer|roofline|allocs|memory|scaling
 *               [--batch B] [--threads T] [--reps R] [--warmup W] [--data DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common.h"
#include "core/blas.h"
#include "cvae/cvae.h"
#include "ops/conv/cond.h"
#include "ops/conv/conv.h"
#include "ops/conv/lower.h"
#include "peak.h"

#ifndef CVAE_BENCH_DATA_DIR
#define CVAE_BENCH_DATA_DIR "tests/data/mnist-digits-5k"
#endif
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

typedef struct opts {
    const char *what, *data;
    int batch, threads, reps, warmup;
} opts;

/* OpenBLAS's kernel family, or the built-in GEMM's name when it does the products. */
static const char *gemm_core(void)
{
#ifdef CVAE_HAVE_BLAS
    if (!cvae__sgemm_is_builtin()) return cvae__blas_core();
#endif
    return cvae__sgemm_backend();
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        cvae_status s_ = (expr);                                                                   \
        if (s_) {                                                                                  \
            fprintf(stderr, "%s failed: %s\n", #expr, cvae_last_error());                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* ---- counting allocator ---- */

static long n_malloc, n_realloc, n_free;
static void *count_malloc(size_t n) { n_malloc++; return malloc(n); }
static void *count_realloc(void *p, size_t n) { n_realloc++; return realloc(p, n); }
static void count_free(void *p) { n_free++; free(p); }

/* ---- data ---- */

typedef struct batch {
    float *images;
    int32_t *labels;
    int64_t n;
} batch;

/* n real digits (the bundled 5k set, wrapping around). */
static batch load_batch(const char *dir, int64_t n)
{
    cvae_dataset *ds;
    CHECK(cvae_dataset_load_dir(dir, "train", &ds));
    batch b = {xmalloc((size_t)n * 784 * sizeof(float)), xmalloc((size_t)n * sizeof(int32_t)), n};
    int64_t *idx = xmalloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i % ds->n;
    CHECK(cvae_dataset_batch(ds, idx, n, CVAE_BINARIZE_NONE, 0, b.images, b.labels));
    free(idx);
    cvae_dataset_free(ds);
    return b;
}

static void free_batch(batch *b)
{
    free(b->images);
    free(b->labels);
}

/* ---- train / infer (JSON) ---- */

typedef struct timing {
    double med_ms, min_ms, cpu_med_ms;
} timing;

static timing time_train(const opts *o, const batch *b, int reps, int warmup)
{
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    (void)o;
    double *ms = xmalloc((size_t)reps * sizeof *ms), *cpu = xmalloc((size_t)reps * sizeof *cpu);
    float loss;
    for (int i = 0; i < warmup; i++) CHECK(cvae_trainer_step(tr, b->images, b->labels, b->n, &loss));
    for (int i = 0; i < reps; i++) {
        double t0 = now(), c0 = cpu_now();
        CHECK(cvae_trainer_step(tr, b->images, b->labels, b->n, &loss));
        ms[i] = 1e3 * (now() - t0);
        cpu[i] = 1e3 * (cpu_now() - c0);
    }
    timing r = {median(ms, reps), ms[0], median(cpu, reps)};
    free(ms);
    free(cpu);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    return r;
}

static timing time_infer(const opts *o, const batch *b, int reps, int warmup)
{
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    (void)o;
    const int64_t n = b->n;
    float *recon = xmalloc((size_t)n * 784 * sizeof(float));
    float *mu = xmalloc((size_t)n * 16 * sizeof(float)), *lv = xmalloc((size_t)n * 16 * sizeof(float));
    double *ms = xmalloc((size_t)reps * sizeof *ms), *cpu = xmalloc((size_t)reps * sizeof *cpu);
    for (int i = 0; i < warmup; i++) CHECK(cvae_model_forward(m, b->images, b->labels, n, 7, recon, mu, lv));
    for (int i = 0; i < reps; i++) {
        double t0 = now(), c0 = cpu_now();
        CHECK(cvae_model_forward(m, b->images, b->labels, n, 7, recon, mu, lv));
        ms[i] = 1e3 * (now() - t0);
        cpu[i] = 1e3 * (cpu_now() - c0);
    }
    timing r = {median(ms, reps), ms[0], median(cpu, reps)};
    free(ms);
    free(cpu);
    free(recon);
    free(mu);
    free(lv);
    cvae_model_free(m);
    return r;
}

static double model_gflop(int64_t n, int train);

/* One JSON line; with the call's GFLOP (the model's GEMMs), the FMA peak of `threads` threads
 * and of one (peak.h, measured after the timing) and the fraction of the former reached. */
static int run_json(const opts *o)
{
    batch b = load_batch(o->data, o->batch);
    int train = strcmp(o->what, "train") == 0;
    timing t = train ? time_train(o, &b, o->reps, o->warmup) : time_infer(o, &b, o->reps, o->warmup);
    const double gflop = model_gflop(o->batch, train), peak = peak_gflops(o->threads, 0.3);
    const double peak1 = o->threads == 1 ? peak : peak_gflops(1, 0.3);
    printf("{\"impl\":\"cvae\",\"what\":\"%s\",\"batch\":%d,\"threads\":%d,\"ms_median\":%.4f,"
           "\"ms_min\":%.4f,\"reps\":%d,\"corename\":\"%s\",\"cpu_ms_median\":%.4f,"
           "\"gflop\":%.6f,\"peak_gflops\":%.1f,\"peak1_gflops\":%.1f,\"peak_fraction\":%.4f}\n",
           o->what, o->batch, o->threads, t.med_ms, t.min_ms, o->reps, gemm_core(), t.cpu_med_ms,
           gflop, peak, peak1, peak > 0 ? gflop / (1e-3 * t.med_ms) / peak : 0.0);
    free_batch(&b);
    return 0;
}

/* ---- allocs ---- */

/* Heap allocations made through the library's allocator per call, after warm-up. */
static int run_allocs(const opts *o)
{
    CHECK(cvae_set_allocator(count_malloc, count_realloc, count_free));
    batch b = load_batch(o->data, o->batch);
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    const int64_t n = b.n;
    float *recon = xmalloc((size_t)n * 784 * sizeof(float)), loss;
    printf("heap calls through cvae_set_allocator (malloc / realloc / free), batch %d\n", o->batch);
    printf("%-28s %8s %8s %8s\n", "call", "malloc", "realloc", "free");
    for (int phase = 0; phase < 2; phase++) {
        for (int i = 0; i < 3; i++) {
            long a = n_malloc, r = n_realloc, f = n_free;
            CHECK(cvae_trainer_step(tr, b.images, b.labels, n, &loss));
            printf("trainer_step #%d%-13s %8ld %8ld %8ld\n", i + 1, "", n_malloc - a, n_realloc - r,
                   n_free - f);
        }
        for (int i = 0; i < 3; i++) {
            long a = n_malloc, r = n_realloc, f = n_free;
            CHECK(cvae_model_forward(m, b.images, b.labels, n, 7, recon, NULL, NULL));
            printf("model_forward #%d%-12s %8ld %8ld %8ld\n", i + 1, "", n_malloc - a, n_realloc - r,
                   n_free - f);
        }
        (void)phase;
    }
    printf("(OpenBLAS allocates its own buffers once, outside this allocator; the bench's\n"
           " own buffers use malloc directly and are made before the counted calls.)\n");
    free(recon);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_thread_workspace_release();
    free_batch(&b);
    CHECK(cvae_set_allocator(NULL, NULL, NULL));
    return 0;
}

/* ---- roofline ---- */

typedef struct gemm {
    bool ta, tb;
    int m, n, k;
} gemm;

static double time_gemm(const gemm *g, const float *a, const float *b, float *c)
{
    const int lda = g->ta ? g->m : g->k, ldb = g->tb ? g->k : g->n;
    double t0 = now();
    cvae__sgemm(g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, 0.0f, c, g->n);
    return now() - t0;
}

enum { L_COND, L_CONV, L_LINEAR, L_CONVT };

typedef struct layer {
    const char *name;
    int kind, x_grad;
    int64_t cin, cout, h, w, k; /* linear: cin -> cout features */
    gemm fwd[2], bwd[3];        /* the GEMMs of the whole batch (m = 0: none) */
} layer;

static double gemm_flops(const gemm *g, int count)
{
    double f = 0;
    for (int i = 0; i < count; i++) f += 2.0 * g[i].m * g[i].n * g[i].k;
    return f;
}

/* The reference model's layers (cvae_model_config_default) at batch n and the GEMMs each runs
 * on the whole batch; returns their number. */
enum { MODEL_LAYERS = 6 };
static int model_layers(int64_t n, layer out[MODEL_LAYERS])
{
    const int p14 = (int)(n * 196), p7 = (int)(n * 49);
    const layer l[MODEL_LAYERS] = {
        {"conv1+cond 1->32+8 3x3s2", L_COND, 0, 1, 40, 28, 28, 3,
         {{false, false, 40, p14, 9}},
         {{false, true, 40, 9, p14}}},
        {"conv 40->64 3x3s2", L_CONV, 1, 40, 64, 14, 14, 3,
         {{false, false, 64, p7, 360}},
         {{false, true, 64, 360, p7}, {true, false, 360, p7, 64}}},
        {"enc linear 3146->32", L_LINEAR, 1, 3146, 32, 0, 0, 0,
         {{false, true, (int)n, 32, 3146}},
         {{true, false, 32, 3146, (int)n}, {false, false, (int)n, 3146, 32}}},
        {"dec linear 26->3136", L_LINEAR, 1, 26, 3136, 0, 0, 0,
         {{false, true, (int)n, 3136, 26}},
         {{true, false, 3136, 26, (int)n}, {false, false, (int)n, 26, 3136}}},
        {"convT 64->32 4x4s2", L_CONVT, 1, 64, 32, 7, 7, 4,
         {{true, false, 512, p7, 64}},
         {{false, true, 64, 512, p7}, {false, false, 64, p7, 512}}},
        {"convT 32->1 4x4s2", L_CONVT, 1, 32, 1, 14, 14, 4,
         {{true, false, 16, p14, 32}},
         {{false, true, 32, 16, p14}, {false, false, 32, p14, 16}}},
    };
    memcpy(out, l, sizeof l);
    return MODEL_LAYERS;
}

/* GFLOP of a training step (forward and backward) or of an inference (forward) at batch n:
 * 2 m n k summed over the model's GEMMs. */
static double model_gflop(int64_t n, int train)
{
    layer l[MODEL_LAYERS];
    double f = 0;
    for (int i = 0; i < model_layers(n, l); i++)
        f += gemm_flops(l[i].fwd, 2) + (train ? gemm_flops(l[i].bwd, 3) : 0);
    return 1e-9 * f;
}

/* Lowering / raising of the whole batch the way the op does it (in chunks), in seconds. */
static double time_lowering(const layer *L, int64_t n, float *x, float *cols, int backward)
{
    const cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    cvae__conv_geom g;
    int64_t c = L->kind == L_CONVT ? L->cout : L->cin, h = L->h * (L->kind == L_CONVT ? 2 : 1);
    if (cvae__conv_geom_init(&g, "bench", c, h, h, L->k, L->k, &o)) return 0;
    const int64_t rows = g.c * g.kh * g.kw, hw = g.ho * g.wo, chunk = cvae__conv_chunk(rows, hw, n);
    double t0 = now();
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk;
        float *xs = x + s0 * g.c * g.h * g.w;
        if (L->kind == L_COND && !backward) cvae__im2col(cols, xs, NULL, ns, &g);
        if (L->kind == L_CONV) {
            cvae__im2col(cols, xs, NULL, ns, &g);
            if (backward) cvae__col2im(xs, cols, NULL, ns, &g);
        }
        if (L->kind == L_CONVT) {
            if (backward) cvae__im2col(cols, xs, NULL, ns, &g);
            else cvae__col2im(xs, cols, NULL, ns, &g);
        }
    }
    return now() - t0;
}

static int run_roofline(const opts *o)
{
    const int64_t n = o->batch;
    layer layers[MODEL_LAYERS];
    const int nl = model_layers(n, layers);
    size_t big = 0; /* the largest operand or result of any of the layers' GEMMs */
    for (int li = 0; li < nl; li++)
        for (int i = 0; i < 5; i++) {
            const gemm *g = i < 2 ? &layers[li].fwd[i] : &layers[li].bwd[i - 2];
            const size_t mk = (size_t)g->m * g->k, kn = (size_t)g->k * g->n, mn = (size_t)g->m * g->n;
            const size_t most = mk > kn ? (mk > mn ? mk : mn) : (kn > mn ? kn : mn);
            if (most > big) big = most;
        }
    big += 4096;
    float *ga = xmalloc(big * sizeof(float)), *gb = xmalloc(big * sizeof(float));
    float *gc = xmalloc(big * sizeof(float)), *ones = xmalloc(big * sizeof(float));
    for (size_t i = 0; i < big; i++) ga[i] = gb[i] = 0.01f * (float)(i % 97), ones[i] = 1.0f, gc[i] = 0;
    int32_t *labels = xmalloc((size_t)n * sizeof *labels);
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)(i * 7 % 10);
    printf("roofline, batch %lld, %d BLAS thread(s), sgemm %s, medians of %d reps\n", (long long)n,
           o->threads, cvae__sgemm_backend(), o->reps);
    printf("%-26s %5s %8s %8s %8s %6s | %6s %6s %6s\n", "layer", "pass", "MFLOP", "op GF/s",
           "gemm GF/s", "ratio", "lower", "gemm", "other");
    for (int li = 0; li < nl; li++) {
        const layer *L = &layers[li];
        cvae_params *pp;
        CHECK(cvae_params_new(&pp));
        cvae_tensor *w = NULL, *b = NULL, *tab = NULL, *tb = NULL;
        int64_t s4[4], s1[1] = {L->cout};
        if (L->kind == L_COND) {
            int64_t sw[4] = {32, 1, 3, 3}, st[5] = {10, 8, 1, 3, 3}, stb[2] = {10, 8}, sb[1] = {32};
            CHECK(cvae_params_add(pp, "w", 4, sw, 1, &w));
            CHECK(cvae_params_add(pp, "b", 1, sb, 1, &b));
            CHECK(cvae_params_add(pp, "t", 5, st, 1, &tab));
            CHECK(cvae_params_add(pp, "tb", 2, stb, 1, &tb));
            CHECK(cvae_tensor_randn(tab, 4, 0, 0.0f, 0.1f));
        } else if (L->kind == L_LINEAR) {
            int64_t sw[2] = {L->cout, L->cin};
            CHECK(cvae_params_add(pp, "w", 2, sw, 1, &w));
            CHECK(cvae_params_add(pp, "b", 1, s1, 1, &b));
        } else {
            int64_t sw[4] = {L->kind == L_CONV ? L->cout : L->cin, L->kind == L_CONV ? L->cin : L->cout,
                             L->k, L->k};
            CHECK(cvae_params_add(pp, "w", 4, sw, 1, &w));
            CHECK(cvae_params_add(pp, "b", 1, s1, 1, &b));
        }
        CHECK(cvae_tensor_randn(w, 3, 0, 0.0f, 0.1f));
        cvae_tape *t;
        CHECK(cvae_tape_new(&t));
        const int nf = L->fwd[1].m ? 2 : 1, nb = L->bwd[2].m ? 3 : L->bwd[1].m ? 2 : 1;
        double *tf = xmalloc((size_t)o->reps * sizeof *tf), *tbk = xmalloc((size_t)o->reps * sizeof *tbk);
        double *gf = xmalloc((size_t)o->reps * sizeof *gf), *gbk = xmalloc((size_t)o->reps * sizeof *gbk);
        double *lf = xmalloc((size_t)o->reps * sizeof *lf), *lb = xmalloc((size_t)o->reps * sizeof *lb);
        for (int r = -o->warmup; r < o->reps; r++) {
            cvae_tape_reset(t);
            cvae_tensor *x, *y;
            if (L->kind == L_LINEAR) {
                s4[0] = n, s4[1] = L->cin;
                CHECK(cvae_tape_tensor(t, 2, s4, &x));
            } else {
                s4[0] = n, s4[1] = L->cin, s4[2] = L->h, s4[3] = L->w;
                CHECK(cvae_tape_tensor(t, 4, s4, &x));
            }
            CHECK(cvae_tensor_randn(x, 5, 0, 0.0f, 1.0f));
            if (L->x_grad) CHECK(cvae_tape_require_grad(t, x));
            cvae_conv_opts co = cvae_conv_opts_make(2, 1);
            double t0 = now();
            if (L->kind == L_COND)
                CHECK(cvae_op_conditional_conv2d_concat(t, x, labels, w, b, tab, tb, &co, &y));
            else if (L->kind == L_CONV) CHECK(cvae_op_conv2d(t, x, w, b, &co, &y));
            else if (L->kind == L_LINEAR) CHECK(cvae_op_linear(t, x, w, b, &y));
            else CHECK(cvae_op_conv_transpose2d(t, x, w, b, &co, &y));
            double t1 = now();
            CHECK(cvae_tape_backward_with(t, y, ones));
            double t2 = now(), g0 = 0, g1 = 0;
            for (int i = 0; i < nf; i++) g0 += time_gemm(&L->fwd[i], ga, gb, gc);
            for (int i = 0; i < nb; i++) g1 += time_gemm(&L->bwd[i], ga, gb, gc);
            double l0 = L->kind == L_LINEAR ? 0 : time_lowering(L, n, ga, gc, 0);
            double l1 = L->kind == L_LINEAR ? 0 : time_lowering(L, n, ga, gc, 1);
            if (r < 0) continue;
            tf[r] = t1 - t0, tbk[r] = t2 - t1, gf[r] = g0, gbk[r] = g1, lf[r] = l0, lb[r] = l1;
        }
        const double ff = gemm_flops(L->fwd, nf), fb = gemm_flops(L->bwd, nb);
        const double mtf = median(tf, o->reps), mtb = median(tbk, o->reps), mgf = median(gf, o->reps);
        const double mgb = median(gbk, o->reps), mlf = median(lf, o->reps), mlb = median(lb, o->reps);
        for (int pass = 0; pass < 2; pass++) {
            const double f = pass ? fb : ff, top = pass ? mtb : mtf, tg = pass ? mgb : mgf;
            const double tl = pass ? mlb : mlf, other = top - tg - tl;
            printf("%-26s %5s %8.1f %8.1f %8.1f %6.2f | %5.0f%% %5.0f%% %5.0f%%\n", L->name,
                   pass ? "bwd" : "fwd", f / 1e6, f / top / 1e9, f / tg / 1e9, tg / top,
                   100 * tl / top, 100 * tg / top, 100 * (other > 0 ? other : 0) / top);
        }
        free(tf), free(tbk), free(gf), free(gbk), free(lf), free(lb);
        cvae_tape_free(t);
        cvae_params_free(pp);
    }
    printf("ratio = op rate / sgemm rate on the same GEMM shapes (whole batch, one call each);\n"
           "lower = im2col/col2im of the layer's geometry timed alone (chunked like the op),\n"
           "gemm = those sgemm calls, other = the rest (layout copies, bias, bookkeeping).\n");
    free(ga), free(gb), free(gc), free(ones), free(labels);
    return 0;
}

/* ---- memory and scaling on Fashion-MNIST ---- */

static double train_steps(cvae_trainer *tr, const cvae_dataset *ds, int64_t first, int64_t count,
                          int64_t bs, float *img, int32_t *lab, int64_t *idx)
{
    double t0 = now();
    float loss;
    for (int64_t s = first; s + bs <= first + count; s += bs) {
        for (int64_t i = 0; i < bs; i++) idx[i] = (s + i) % ds->n;
        CHECK(cvae_dataset_batch(ds, idx, bs, CVAE_BINARIZE_NONE, 0, img, lab));
        CHECK(cvae_trainer_step(tr, img, lab, bs, &loss));
    }
    return now() - t0;
}

static cvae_dataset *load_fashion(const char *split)
{
    cvae_dataset *ds;
    if (cvae_dataset_load_dir(FASHION_DIR, split, &ds)) {
        fprintf(stderr, "cannot load Fashion-MNIST from %s (apt-get install dataset-fashion-mnist): %s\n",
                FASHION_DIR, cvae_last_error());
        exit(1);
    }
    return ds;
}

static int run_memory(const opts *o)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const long rss0 = ru.ru_maxrss;
    cvae_dataset *ds = load_fashion("train");
    const int64_t bs = o->batch;
    float *img = xmalloc((size_t)bs * 784 * sizeof(float));
    int32_t *lab = xmalloc((size_t)bs * sizeof *lab);
    int64_t *idx = xmalloc((size_t)bs * sizeof *idx);
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    double sec = train_steps(tr, ds, 0, ds->n, bs, img, lab, idx);
    getrusage(RUSAGE_SELF, &ru);
    printf("one epoch of Fashion-MNIST (%lld images, batch %lld, %d thread(s), %s): %.1f s, "
           "%.3f ms/image\n", (long long)ds->n, (long long)bs, o->threads, gemm_core(), sec,
           1e3 * sec / (double)ds->n);
    printf("peak resident memory (ru_maxrss): %.1f MB (%.1f MB before loading); dataset bytes %.1f MB; "
           "\n", ru.ru_maxrss / 1024.0, rss0 / 1024.0, (double)ds->n * 785 / 1e6);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_dataset_free(ds);
    free(img), free(lab), free(idx);
    return 0;
}

static int run_scaling(const opts *o)
{
    cvae_dataset *ds = load_fashion("train");
    const int64_t bs = o->batch;
    float *img = xmalloc((size_t)512 * 784 * sizeof(float));
    int32_t *lab = xmalloc((size_t)512 * sizeof *lab);
    int64_t *idx = xmalloc((size_t)512 * sizeof *idx);
    cvae_model_config cfg = cvae_model_config_default();
    cvae_model *m;
    CHECK(cvae_model_new(&cfg, &m));
    cvae_train_opts to = cvae_train_opts_default();
    cvae_trainer *tr;
    CHECK(cvae_trainer_new(m, &to, &tr));
    printf("scaling, %d thread(s), core %s\n", o->threads, gemm_core());
    train_steps(tr, ds, 0, 4 * bs, bs, img, lab, idx); /* warm-up */
    printf("%-22s %10s %10s %12s\n", "data", "images", "seconds", "ms/image");
    const int64_t parts[3] = {ds->n / 4, ds->n / 2, ds->n};
    for (int i = 0; i < 3; i++) {
        double sec = train_steps(tr, ds, 0, parts[i], bs, img, lab, idx);
        printf("epoch of %-13s %10lld %10.2f %12.4f\n", i == 0 ? "1/4" : i == 1 ? "1/2" : "all",
               (long long)parts[i], sec, 1e3 * sec / (double)(parts[i] / bs * bs));
    }
    printf("\n%-10s %12s %12s\n", "batch", "ms/step", "ms/image");
    for (int64_t b = 16; b <= 512; b *= 2) {
        double *t = xmalloc((size_t)o->reps * sizeof *t);
        train_steps(tr, ds, 0, 2 * b, b, img, lab, idx);
        for (int r = 0; r < o->reps; r++) t[r] = train_steps(tr, ds, r * b, b, b, img, lab, idx);
        double med = median(t, o->reps);
        printf("%-10lld %12.3f %12.4f\n", (long long)b, 1e3 * med, 1e3 * med / (double)b);
        free(t);
    }
    cvae_trainer_free(tr);
    cvae_model_free(m);
    /* conditional conv (the model's first layer, fused with 32 learned filters) vs K */
    printf("\nconditional conv 1->32+8 3x3s2, batch %lld, fwd+bwd, labels uniform in [0, K)\n",
           (long long)bs);
    printf("%-8s %12s\n", "K", "ms");
    batch bt = load_batch(o->data, bs);
    for (int64_t k = 10; k <= 1000; k = k == 10 ? 30 : k == 30 ? 100 : k == 100 ? 300 : k == 300 ? 1000 : 2000) {
        cvae_params *pp;
        CHECK(cvae_params_new(&pp));
        cvae_tensor *w, *b, *tab, *tb;
        int64_t sw[4] = {32, 1, 3, 3}, st[5] = {k, 8, 1, 3, 3}, stb[2] = {k, 8}, sb[1] = {32};
        CHECK(cvae_params_add(pp, "w", 4, sw, 1, &w));
        CHECK(cvae_params_add(pp, "b", 1, sb, 1, &b));
        CHECK(cvae_params_add(pp, "t", 5, st, 1, &tab));
        CHECK(cvae_params_add(pp, "tb", 2, stb, 1, &tb));
        CHECK(cvae_tensor_randn(tab, 4, 0, 0.0f, 0.1f));
        int32_t *labels = xmalloc((size_t)bs * sizeof *labels);
        for (int64_t i = 0; i < bs; i++) labels[i] = (int32_t)((i * 7919 + 13) % k);
        cvae_tape *t;
        CHECK(cvae_tape_new(&t));
        float *ones = xmalloc((size_t)bs * 40 * 196 * sizeof(float));
        for (int64_t i = 0; i < bs * 40 * 196; i++) ones[i] = 1.0f;
        double *ms = xmalloc((size_t)o->reps * sizeof *ms);
        cvae_conv_opts co = cvae_conv_opts_make(2, 1);
        for (int r = -o->warmup; r < o->reps; r++) {
            cvae_tape_reset(t);
            cvae_tensor *x, *y;
            int64_t s4[4] = {bs, 1, 28, 28};
            CHECK(cvae_tape_tensor(t, 4, s4, &x));
            memcpy(x->data, bt.images, (size_t)bs * 784 * sizeof(float));
            double t0 = now();
            CHECK(cvae_op_conditional_conv2d_concat(t, x, labels, w, b, tab, tb, &co, &y));
            CHECK(cvae_tape_backward_with(t, y, ones));
            if (r >= 0) ms[r] = 1e3 * (now() - t0);
        }
        printf("%-8lld %12.3f\n", (long long)k, median(ms, o->reps));
        free(ms), free(ones), free(labels);
        cvae_tape_free(t);
        cvae_params_free(pp);
    }
    free_batch(&bt);
    cvae_dataset_free(ds);
    free(img), free(lab), free(idx);
    return 0;
}

/* ---- main ---- */

static int usage(void)
{
    fprintf(stderr, "usage: bench_model --what train|infer|roofline|allocs|memory|scaling "
                    "[--batch B] [--threads T] [--reps R] [--warmup W] [--data DIR]\n");
    return 2;
}

int main(int argc, char **argv)
{
    opts o = {"train", CVAE_BENCH_DATA_DIR, 128, 1, 30, 5};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (!strcmp(a, "--what")) o.what = v;
        else if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--batch")) ok = parse_int(v, 1, 1 << 20, &o.batch);
        else if (!strcmp(a, "--threads")) ok = parse_int(v, 1, 256, &o.threads);
        else if (!strcmp(a, "--reps")) ok = parse_int(v, 1, 1 << 20, &o.reps);
        else if (!strcmp(a, "--warmup")) ok = parse_int(v, 0, 1 << 20, &o.warmup);
        else ok = 0;
        if (!ok) return usage();
    }
    cvae__blas_set_threads(o.threads);
    if (!strcmp(o.what, "train") || !strcmp(o.what, "infer")) return run_json(&o);
    if (!strcmp(o.what, "allocs")) return run_allocs(&o);
    if (!strcmp(o.what, "roofline")) return run_roofline(&o);
    if (!strcmp(o.what, "memory")) return run_memory(&o);
    if (!strcmp(o.what, "scaling")) return run_scaling(&o);
    return usage();
}
