/* An anchor of the field: oneDNN's convolution primitives (forward, backward-data,
 * backward-weights; deconvolution for the transposed layers) beside cvae's kernels on the
 * reference model's conv layers, timed in one run, each as a fraction of the FMA peak of
 * the threads it used (peak.h, measured in the same run). oneDNN is timed twice: in its
 * preferred (blocked) layouts with the reorders left out, and with the reorders from and to
 * NCHW that a caller holding NCHW arrays pays. cvae's passes are its raw kernels
 * (ops/conv/conv.h) on T OpenBLAS threads, except the model's first layer, the conditional
 * conv, timed through the tape as bench_model's roofline does. No activation is fused on
 * either side (the model fuses ReLU into conv1, conv2 and convT1). Each layer's outputs of
 * all three passes are checked against cvae's on the same inputs and weights.
 *
 *   bench_onednn [--batch N] [--threads T] [--reps R] [--warmup W] [--stat median|min]
 *                [--clock wall|cpu]
 * Defaults 128, 2, 20, 3, median, wall. On a loaded machine: min (the fastest rep), and with
 * --threads 1, cpu (the calling thread's CPU time: both sides then run in that thread only). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dnnl.h>

#include "common.h"
#include "core/blas.h"
#include "cvae/cvae.h"
#include "ops/conv/conv.h"
#include "peak.h"

#define CHECK_TOL 1e-4 /* max |oneDNN - cvae| over max |cvae|, per output */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "%s failed: %s\n", what, why);
    exit(1);
}

#define DN(expr)                                                                                   \
    do {                                                                                           \
        dnnl_status_t s_ = (expr);                                                                 \
        if (s_ != dnnl_success) die(#expr, "oneDNN status");                                       \
    } while (0)

#define CV(expr)                                                                                   \
    do {                                                                                           \
        if (expr) die(#expr, cvae_last_error());                                                   \
    } while (0)

static void *xcalloc(size_t n)
{
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p) die("calloc", "out of memory");
    return p;
}

/* Uniform values in [-1, 1) from a fixed LCG. */
static void fill(float *p, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(seed >> 40) / (double)(1ull << 23) - 1.0);
    }
}

/* max |a - b| / max |b| over n values (b: cvae's). */
static double rel_diff(const float *a, const float *b, int64_t n, double *abs_out)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    *abs_out = d;
    return m > 0 ? d / m : d;
}

/* Lets the other side's idle workers stop spinning before a side is timed: OpenBLAS's wait
 * for work (2^28 cycles by default, about 0.1 s) and libgomp's (well under that). */
static void settle(void)
{
    const struct timespec ts = {0, 250000000};
    nanosleep(&ts, NULL);
}

/* ---- the layers ---- */

enum { FWD, BWD_DATA, BWD_WEIGHTS, PASSES };
static const char *const pass_names[PASSES] = {"fwd", "bwd-d", "bwd-w"};

typedef struct layer {
    const char *name;
    int transposed, x_grad;  /* x_grad 0: the input is the image, no backward-data */
    int64_t cin, cout, h, k; /* h: input extent (square) */
} layer;

static const layer layers[] = {
    {"enc conv1 1->40 3x3", 0, 0, 1, 40, 28, 3},
    {"enc conv2 40->64 3x3", 0, 1, 40, 64, 14, 3},
    {"dec convT1 64->32 4x4", 1, 1, 64, 32, 7, 4},
    {"dec convT2 32->1 4x4", 1, 1, 32, 1, 14, 4},
};
#define NL ((int)(sizeof layers / sizeof layers[0]))

static int64_t out_extent(const layer *L)
{
    return L->transposed ? 2 * L->h : L->h / 2;
}

/* 2 M N K of the layer's GEMM, the same for each pass. */
static double layer_flops(const layer *L, int64_t n)
{
    const int64_t ho = out_extent(L);
    return L->transposed
               ? 2.0 * (double)(L->cout * L->k * L->k) * (double)(n * L->h * L->h) * (double)L->cin
               : 2.0 * (double)L->cout * (double)(n * ho * ho) * (double)(L->cin * L->k * L->k);
}

/* The arrays both sides read (x, w, b, dy) and each side's outputs, NCHW; w in cvae's layout
 * ([Cout, Cin, k, k], transposed: [Cin, Cout, k, k]). */
typedef struct arrays {
    int64_t nx, nw, ny;
    float *x, *w, *b, *dy;
    float *y[2], *dx[2], *dw[2], *db[2]; /* [0]: oneDNN, [1]: cvae */
} arrays;

static void arrays_init(arrays *a, const layer *L, int64_t n)
{
    const int64_t ho = out_extent(L);
    a->nx = n * L->cin * L->h * L->h, a->nw = L->cin * L->cout * L->k * L->k;
    a->ny = n * L->cout * ho * ho;
    a->x = xcalloc((size_t)a->nx), a->w = xcalloc((size_t)a->nw);
    a->b = xcalloc((size_t)L->cout), a->dy = xcalloc((size_t)a->ny);
    fill(a->x, a->nx, 1), fill(a->w, a->nw, 2), fill(a->b, L->cout, 3), fill(a->dy, a->ny, 4);
    for (int s = 0; s < 2; s++) {
        a->y[s] = xcalloc((size_t)a->ny), a->dx[s] = xcalloc((size_t)a->nx);
        a->dw[s] = xcalloc((size_t)a->nw), a->db[s] = xcalloc((size_t)L->cout);
    }
}

static void arrays_free(arrays *a)
{
    free(a->x), free(a->w), free(a->b), free(a->dy);
    for (int s = 0; s < 2; s++) free(a->y[s]), free(a->dx[s]), free(a->dw[s]), free(a->db[s]);
}

/* ---- oneDNN ---- */

/* One argument of a primitive: the user's NCHW memory over an array, and the primitive's
 * own (the same object when the layouts agree, else a reorder between them). */
typedef struct bind {
    int arg, out;
    dnnl_memory_t user, mem;
    dnnl_primitive_t reorder; /* user -> mem for inputs, mem -> user for outputs */
} bind;

typedef struct dpass {
    dnnl_primitive_t prim;
    char impl[48]; /* the implementation's name */
    bind b[4];
    int nb;
} dpass;

typedef struct dnn {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
} dnn;

static void bind_add(dpass *p, const dnn *d, int arg, int out, const dnnl_memory_desc_t *user_md,
                     float *data, const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index)
{
    bind *b = &p->b[p->nb++];
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, index);
    *b = (bind){.arg = arg, .out = out};
    DN(dnnl_memory_create(&b->user, user_md, d->eng, data));
    if (dnnl_memory_desc_equal(md, user_md)) {
        b->mem = b->user;
        return;
    }
    DN(dnnl_memory_create(&b->mem, md, d->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    DN(dnnl_reorder_primitive_desc_create(&rpd, out ? md : user_md, d->eng, out ? user_md : md,
                                          d->eng, NULL));
    DN(dnnl_primitive_create(&b->reorder, rpd));
    DN(dnnl_primitive_desc_destroy(rpd));
}

static void reorder(const dnn *d, const bind *b)
{
    const dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, b->out ? b->mem : b->user},
                                     {DNNL_ARG_TO, b->out ? b->user : b->mem}};
    DN(dnnl_primitive_execute(b->reorder, d->stream, 2, args));
}

/* One execution; with_reorders: the inputs' reorders first, the outputs' after. */
static void dpass_run(const dnn *d, const dpass *p, int with_reorders)
{
    dnnl_exec_arg_t args[4];
    for (int i = 0; i < p->nb; i++) {
        args[i] = (dnnl_exec_arg_t){p->b[i].arg, p->b[i].mem};
        if (with_reorders && p->b[i].reorder && !p->b[i].out) reorder(d, &p->b[i]);
    }
    DN(dnnl_primitive_execute(p->prim, d->stream, p->nb, args));
    for (int i = 0; i < p->nb; i++)
        if (with_reorders && p->b[i].reorder && p->b[i].out) reorder(d, &p->b[i]);
    DN(dnnl_stream_wait(d->stream));
}

static void dpass_free(dpass *p)
{
    for (int i = 0; i < p->nb; i++) {
        if (p->b[i].reorder) dnnl_primitive_destroy(p->b[i].reorder);
        if (p->b[i].mem != p->b[i].user) dnnl_memory_destroy(p->b[i].mem);
        dnnl_memory_destroy(p->b[i].user);
    }
    if (p->prim) dnnl_primitive_destroy(p->prim);
}

/* The primitive of pd and its name; pd destroyed (the primitive keeps what it needs). */
static void dpass_finish(dpass *p, dnnl_primitive_desc_t pd)
{
    const char *impl = "?";
    DN(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    snprintf(p->impl, sizeof p->impl, "%s", impl);
    DN(dnnl_primitive_create(&p->prim, pd));
}

/* The three passes of layer L over the arrays a (oneDNN's outputs in a->*[0]). */
static void dnn_layer(const dnn *d, const layer *L, int64_t n, arrays *a, dpass p[PASSES])
{
    const int64_t ho = out_extent(L), k = L->k;
    const dnnl_dims_t dsrc = {n, L->cin, L->h, L->h}, ddst = {n, L->cout, ho, ho},
                      dwei = {L->cout, L->cin, k, k}, dbias = {L->cout}, strides = {2, 2},
                      pad = {1, 1};
    dnnl_memory_desc_t src, dst, wei, bias, src_any, dst_any, wei_any;
    DN(dnnl_memory_desc_init_by_tag(&src, 4, dsrc, dnnl_f32, dnnl_nchw));
    DN(dnnl_memory_desc_init_by_tag(&dst, 4, ddst, dnnl_f32, dnnl_nchw));
    /* a deconvolution's weights are [O, I, k, k] by their dims; cvae stores [I, O, k, k] */
    DN(dnnl_memory_desc_init_by_tag(&wei, 4, dwei, dnnl_f32,
                                    L->transposed ? dnnl_iohw : dnnl_oihw));
    DN(dnnl_memory_desc_init_by_tag(&bias, 1, dbias, dnnl_f32, dnnl_a));
    DN(dnnl_memory_desc_init_by_tag(&src_any, 4, dsrc, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst_any, 4, ddst, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&wei_any, 4, dwei, dnnl_f32, dnnl_format_tag_any));

    dnnl_convolution_desc_t df, dd, dw; /* dnnl_deconvolution_desc_t is the same type */
    if (L->transposed) {
        const dnnl_alg_kind_t alg = dnnl_deconvolution_direct;
        DN(dnnl_deconvolution_forward_desc_init(&df, dnnl_forward_training, alg, &src_any, &wei_any,
                                                &bias, &dst_any, strides, pad, pad));
        DN(dnnl_deconvolution_backward_data_desc_init(&dd, alg, &src_any, &wei_any, &dst_any,
                                                      strides, pad, pad));
        DN(dnnl_deconvolution_backward_weights_desc_init(&dw, alg, &src_any, &wei_any, &bias,
                                                         &dst_any, strides, pad, pad));
    } else {
        const dnnl_alg_kind_t alg = dnnl_convolution_direct;
        DN(dnnl_convolution_forward_desc_init(&df, dnnl_forward_training, alg, &src_any, &wei_any,
                                              &bias, &dst_any, strides, pad, pad));
        DN(dnnl_convolution_backward_data_desc_init(&dd, alg, &src_any, &wei_any, &dst_any, strides,
                                                    pad, pad));
        DN(dnnl_convolution_backward_weights_desc_init(&dw, alg, &src_any, &wei_any, &bias,
                                                       &dst_any, strides, pad, pad));
    }
    dnnl_primitive_desc_t pf, pd, pw;
    DN(dnnl_primitive_desc_create(&pf, &df, NULL, d->eng, NULL));
    DN(dnnl_primitive_desc_create(&pd, &dd, NULL, d->eng, pf));
    DN(dnnl_primitive_desc_create(&pw, &dw, NULL, d->eng, pf));
    memset(p, 0, PASSES * sizeof *p);

    bind_add(&p[FWD], d, DNNL_ARG_SRC, 0, &src, a->x, pf, dnnl_query_src_md, 0);
    bind_add(&p[FWD], d, DNNL_ARG_WEIGHTS, 0, &wei, a->w, pf, dnnl_query_weights_md, 0);
    bind_add(&p[FWD], d, DNNL_ARG_BIAS, 0, &bias, a->b, pf, dnnl_query_weights_md, 1);
    bind_add(&p[FWD], d, DNNL_ARG_DST, 1, &dst, a->y[0], pf, dnnl_query_dst_md, 0);
    bind_add(&p[BWD_DATA], d, DNNL_ARG_DIFF_DST, 0, &dst, a->dy, pd, dnnl_query_diff_dst_md, 0);
    bind_add(&p[BWD_DATA], d, DNNL_ARG_WEIGHTS, 0, &wei, a->w, pd, dnnl_query_weights_md, 0);
    bind_add(&p[BWD_DATA], d, DNNL_ARG_DIFF_SRC, 1, &src, a->dx[0], pd, dnnl_query_diff_src_md, 0);
    bind_add(&p[BWD_WEIGHTS], d, DNNL_ARG_SRC, 0, &src, a->x, pw, dnnl_query_src_md, 0);
    bind_add(&p[BWD_WEIGHTS], d, DNNL_ARG_DIFF_DST, 0, &dst, a->dy, pw, dnnl_query_diff_dst_md, 0);
    bind_add(&p[BWD_WEIGHTS], d, DNNL_ARG_DIFF_WEIGHTS, 1, &wei, a->dw[0], pw,
             dnnl_query_diff_weights_md, 0);
    bind_add(&p[BWD_WEIGHTS], d, DNNL_ARG_DIFF_BIAS, 1, &bias, a->db[0], pw,
             dnnl_query_diff_weights_md, 1);
    dpass_finish(&p[FWD], pf);
    dpass_finish(&p[BWD_DATA], pd);
    dpass_finish(&p[BWD_WEIGHTS], pw);
    DN(dnnl_primitive_desc_destroy(pf));
    DN(dnnl_primitive_desc_destroy(pd));
    DN(dnnl_primitive_desc_destroy(pw));
}

typedef struct opts {
    int batch, threads, reps, warmup;
    int min; /* report the fastest rep instead of the median */
    int cpu; /* time by the calling thread's CPU clock (one thread only) */
} opts;

/* Seconds of the clock the reps are timed by. */
static double clock_now(const opts *o)
{
    return o->cpu ? peak_cpu_now() : now();
}

/* The median or the minimum of v[0..o->reps) (sorts v). */
static double summary(const opts *o, double *v)
{
    const double m = median(v, o->reps);
    return o->min ? v[0] : m;
}

/* ---- cvae ---- */

typedef struct cconv {
    const layer *L;
    cvae__conv_geom g;
    cvae__conv_ws ws;
    arrays *a;
} cconv;

static void cconv_init(cconv *c, const layer *L, int64_t n, arrays *a)
{
    const cvae_conv_opts o = cvae_conv_opts_make(2, 1);
    c->L = L, c->a = a;
    if (L->transposed)
        CV(cvae__conv_geom_transposed(&c->g, "bench", L->cout, L->h, L->h, L->k, L->k, &o));
    else
        CV(cvae__conv_geom_init(&c->g, "bench", L->cin, L->h, L->h, L->k, L->k, &o));
    /* lowered rows and the other side's channels (conv.h's workspaces) */
    const int64_t rows = c->g.c * c->g.kh * c->g.kw, hw = c->g.ho * c->g.wo;
    const int64_t pc = cvae__conv_chunk(rows, hw, n) * hw;
    c->ws = (cvae__conv_ws){.cols = xcalloc((size_t)(rows * pc)),
                            .cn = xcalloc((size_t)((L->transposed ? L->cin : L->cout) * pc))};
}

/* One pass of cvae's kernels into a->*[1] (gradients accumulate: zero them to check). */
static void cconv_run(const cconv *c, int64_t n, int pass)
{
    const arrays *a = c->a;
    cvae__conv_args args = {.n = n,
                            .ch = c->L->transposed ? c->L->cin : c->L->cout,
                            .x = a->x,
                            .w = a->w,
                            .b = a->b,
                            .y = a->y[1],
                            .dy = a->dy};
    if (pass == BWD_DATA) args.dx = a->dx[1];
    if (pass == BWD_WEIGHTS) args.dw = a->dw[1], args.db = a->db[1];
    if (c->L->transposed) {
        if (pass == FWD)
            cvae__conv_transpose2d_forward(&args, &c->g, &c->ws);
        else
            cvae__conv_transpose2d_backward(&args, &c->g, &c->ws);
    } else {
        if (pass == FWD)
            cvae__conv2d_forward(&args, &c->g, &c->ws);
        else
            cvae__conv2d_backward(&args, &c->g, &c->ws);
    }
}

/* The model's first layer as it runs it: cvae_op_conditional_conv2d_concat (32 learned
 * filters + 8 from a trainable table of 10 labels) through the tape; backward = weights only
 * (the image needs no gradient). Seconds (summary) into t[FWD], t[BWD_WEIGHTS]. */
static void time_cond(const opts *o, float *image, double t[PASSES])
{
    const int64_t n = o->batch;
    cvae_params *pp;
    CV(cvae_params_new(&pp));
    cvae_tensor *w, *b, *tab, *tb, *x, *y;
    const int64_t sw[4] = {32, 1, 3, 3}, sb[1] = {32}, st[5] = {10, 8, 1, 3, 3}, stb[2] = {10, 8};
    const int64_t sx[4] = {n, 1, 28, 28};
    CV(cvae_params_add(pp, "w", 4, sw, 1, &w));
    CV(cvae_params_add(pp, "b", 1, sb, 1, &b));
    CV(cvae_params_add(pp, "t", 5, st, 1, &tab));
    CV(cvae_params_add(pp, "tb", 2, stb, 1, &tb));
    CV(cvae_tensor_randn(w, 3, 0, 0.0f, 0.1f));
    CV(cvae_tensor_randn(tab, 4, 0, 0.0f, 0.1f));
    CV(cvae_tensor_wrap(image, 4, sx, &x));
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    float *ones = xcalloc((size_t)(n * 40 * 196));
    double *tf = calloc((size_t)o->reps, sizeof *tf), *tw = calloc((size_t)o->reps, sizeof *tw);
    if (!labels || !tf || !tw) die("malloc", "out of memory");
    for (int64_t i = 0; i < n; i++) labels[i] = (int32_t)(i * 7 % 10);
    for (int64_t i = 0; i < n * 40 * 196; i++) ones[i] = 1.0f;
    cvae_tape *tp;
    CV(cvae_tape_new(&tp));
    settle();
    const cvae_conv_opts co = cvae_conv_opts_make(2, 1);
    for (int r = -o->warmup; r < o->reps; r++) {
        cvae_tape_reset(tp);
        const double t0 = clock_now(o);
        CV(cvae_op_conditional_conv2d_concat(tp, x, labels, w, b, tab, tb, &co, &y));
        const double t1 = clock_now(o);
        CV(cvae_tape_backward_with(tp, y, ones));
        const double t2 = clock_now(o);
        if (r >= 0) tf[r] = t1 - t0, tw[r] = t2 - t1;
    }
    t[FWD] = summary(o, tf), t[BWD_WEIGHTS] = summary(o, tw), t[BWD_DATA] = 0;
    cvae_tape_free(tp);
    cvae_tensor_free(x);
    cvae_params_free(pp);
    free(labels), free(ones), free(tf), free(tw);
}

/* ---- timing and the table ---- */

enum { S_DNN, S_DNN_REORD, S_CVAE, SIDES };

/* Seconds (summary) of one pass on one side (oneDNN, oneDNN with reorders, cvae). */
static double time_pass(const opts *o, const dnn *d, const dpass *p, const cconv *c, int side,
                        int pass)
{
    double *t = calloc((size_t)o->reps, sizeof *t);
    if (!t) die("calloc", "out of memory");
    settle();
    for (int r = -o->warmup; r < o->reps; r++) {
        const double t0 = clock_now(o);
        if (side == S_CVAE)
            cconv_run(c, o->batch, pass);
        else
            dpass_run(d, p, side == S_DNN_REORD);
        if (r >= 0) t[r] = clock_now(o) - t0;
    }
    const double m = summary(o, t);
    free(t);
    return m;
}

/* Checks the three passes' outputs of both sides on the layer's inputs; 0 when all agree. */
static int check_layer(const layer *L, const dnn *d, const dpass p[PASSES], const cconv *c,
                       int64_t n)
{
    arrays *a = c->a;
    int bad = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        if (pass == BWD_DATA && !L->x_grad) continue;
        memset(a->dx[1], 0, (size_t)a->nx * sizeof(float));
        memset(a->dw[1], 0, (size_t)a->nw * sizeof(float));
        memset(a->db[1], 0, (size_t)L->cout * sizeof(float));
        dpass_run(d, &p[pass], 1);
        cconv_run(c, n, pass);
        double ad, rd, ad2 = 0, rd2 = 0;
        if (pass == FWD)
            rd = rel_diff(a->y[0], a->y[1], a->ny, &ad);
        else if (pass == BWD_DATA)
            rd = rel_diff(a->dx[0], a->dx[1], a->nx, &ad);
        else {
            rd = rel_diff(a->dw[0], a->dw[1], a->nw, &ad);
            rd2 = rel_diff(a->db[0], a->db[1], L->cout, &ad2);
        }
        const int ok = rd <= CHECK_TOL && rd2 <= CHECK_TOL;
        bad |= !ok;
        printf("  check %-22s %-5s max |oneDNN - cvae| %.2e (%.1e of max |cvae|)%s%s\n", L->name,
               pass_names[pass], fmax(ad, ad2), fmax(rd, rd2),
               pass == BWD_WEIGHTS ? ", dw and db" : "", ok ? "" : "  FAIL");
    }
    return bad;
}

static void print_row(const char *name, const char *pass, double flops, const double t[SIDES],
                      double peak_dnn, double peak_cvae, const char *impl)
{
    const double g0 = flops / t[S_DNN] * 1e-9, g1 = flops / t[S_DNN_REORD] * 1e-9,
                 g2 = flops / t[S_CVAE] * 1e-9;
    printf("%-22s %-5s %8.2f | %8.4f %6.1f %4.0f%% | %8.4f %4.0f%% | %8.4f %6.1f %4.0f%% | %5.2f "
           "%5.2f  %s\n",
           name, pass, flops * 1e-6, 1e3 * t[S_DNN], g0, 100 * g0 / peak_dnn, 1e3 * t[S_DNN_REORD],
           100 * g1 / peak_dnn, 1e3 * t[S_CVAE], g2, 100 * g2 / peak_cvae, t[S_DNN] / t[S_CVAE],
           t[S_DNN_REORD] / t[S_CVAE], impl);
}

static int run(const opts *o)
{
    const int64_t n = o->batch;
    float sink;
    const double p2 = peak_fma(0, 0.3, &sink), p5 = peak_fma(1, 0.3, &sink);
    const double per_thread = 1e-9 * fmax(p2, p5);
    const int cvae_threads = cvae__sgemm_is_builtin() ? 1 : o->threads;
    const double peak_dnn = per_thread * o->threads, peak_cvae = per_thread * cvae_threads;
    const dnnl_version_t *v = dnnl_version();
    dnn d;
    DN(dnnl_engine_create(&d.eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&d.stream, d.eng, dnnl_stream_default_flags));

    printf("oneDNN %d.%d.%d (%d OpenMP threads) beside cvae (sgemm %s, %d thread(s)), batch "
           "%lld, %s of %d reps after %d warm-up, %s time\n",
           v->major, v->minor, v->patch, o->threads, cvae__sgemm_backend(), cvae_threads,
           (long long)n, o->min ? "fastest" : "median", o->reps, o->warmup,
           o->cpu ? "thread CPU" : "wall");
    printf("FMA peak per thread (peak.h, this run): AVX2 %.1f, AVX-512 %.1f GFLOP/s; %% of peak = "
           "rate / (%.1f x threads used)\n",
           1e-9 * p2, 1e-9 * p5, per_thread);
    printf("cvae's per-op times use %d BLAS thread(s) (its model step splits the batch over a "
           "thread team instead);\nratio = oneDNN time / cvae time (> 1: cvae faster), blocked "
           "and with reorders; no activation fused\n",
           cvae_threads);
    printf("%-22s %-5s %8s | %8s %6s %5s | %8s %5s | %8s %6s %5s | %5s %5s  %s\n", "layer", "pass",
           "MFLOP", "dnnl ms", "GF/s", "%pk", "+reord", "%pk", "cvae ms", "GF/s", "%pk", "ratio",
           "+r", "oneDNN impl");

    /* sums of one training step's and one inference's conv passes; cvae's conv1 as the
     * model runs it (the conditional op) and as a plain 1->40 conv */
    double train[SIDES + 1] = {0}, infer[SIDES + 1] = {0}, f_train = 0, f_infer = 0;
    int bad = 0;
    for (int li = 0; li < NL; li++) {
        const layer *L = &layers[li];
        arrays a;
        arrays_init(&a, L, n);
        dpass p[PASSES];
        dnn_layer(&d, L, n, &a, p);
        cconv c;
        cconv_init(&c, L, n, &a);
        bad |= check_layer(L, &d, p, &c, n);
        const double f = layer_flops(L, n);
        double cond[PASSES] = {0};
        if (!L->x_grad) time_cond(o, a.x, cond);
        for (int pass = 0; pass < PASSES; pass++) {
            if (pass == BWD_DATA && !L->x_grad) continue;
            double t[SIDES];
            for (int s = 0; s < SIDES; s++) t[s] = time_pass(o, &d, &p[pass], &c, s, pass);
            print_row(L->name, pass_names[pass], f, t, peak_dnn, peak_cvae, p[pass].impl);
            const double tc = L->x_grad ? t[S_CVAE] : cond[pass];
            if (!L->x_grad) {
                const double tcond[SIDES] = {t[S_DNN], t[S_DNN_REORD], tc};
                print_row(" cvae: cond concat", pass_names[pass], f, tcond, peak_dnn, peak_cvae,
                          "(oneDNN: the plain conv)");
            }
            for (int s = 0; s < SIDES; s++) train[s] += t[s];
            train[SIDES] += tc, f_train += f;
            if (pass == FWD) {
                for (int s = 0; s < SIDES; s++) infer[s] += t[s];
                infer[SIDES] += tc, f_infer += f;
            }
        }
        for (int pass = 0; pass < PASSES; pass++) dpass_free(&p[pass]);
        free(c.ws.cols), free(c.ws.cn);
        arrays_free(&a);
    }
    for (int k = 0; k < 2; k++) {
        const double *s = k ? infer : train, fl = k ? f_infer : f_train;
        const double as_model[SIDES] = {s[S_DNN], s[S_DNN_REORD], s[SIDES]};
        print_row(k ? "total inference" : "total training step", "all", fl, as_model, peak_dnn,
                  peak_cvae, "(cvae conv1: cond concat)");
        print_row(k ? "total inference" : "total training step", "all", fl, s, peak_dnn, peak_cvae,
                  "(cvae conv1: plain conv)");
    }
    printf("training step = conv1 fwd + bwd-w, conv2 / convT1 / convT2 fwd + bwd-d + bwd-w; "
           "inference = the four fwd\n");
    DN(dnnl_stream_destroy(d.stream));
    DN(dnnl_engine_destroy(d.eng));
    if (bad) fprintf(stderr, "bench_onednn: oneDNN and cvae disagree beyond %.0e\n", CHECK_TOL);
    return bad;
}

int main(int argc, char **argv)
{
    opts o = {128, 2, 20, 3, 0, 0};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;
        if (!strcmp(a, "--batch"))
            ok = parse_int(v, 1, 1 << 16, &o.batch);
        else if (!strcmp(a, "--threads"))
            ok = parse_int(v, 1, 256, &o.threads);
        else if (!strcmp(a, "--stat")) {
            o.min = v && !strcmp(v, "min");
            ok = o.min || (v && !strcmp(v, "median"));
        } else if (!strcmp(a, "--clock")) {
            o.cpu = v && !strcmp(v, "cpu");
            ok = o.cpu || (v && !strcmp(v, "wall"));
        } else if (!strcmp(a, "--reps"))
            ok = parse_int(v, 1, 1 << 20, &o.reps);
        else if (!strcmp(a, "--warmup"))
            ok = parse_int(v, 0, 1 << 20, &o.warmup);
        else
            ok = 0;
        if (!ok || (o.cpu && o.threads > 1)) {
            fprintf(stderr, "usage: bench_onednn [--batch N] [--threads T] [--reps R] "
                            "[--warmup W] [--stat median|min] "
                            "[--clock wall|cpu (one thread)]\n");
            return 2;
        }
    }
    omp_set_num_threads(o.threads);
    cvae__blas_set_threads(o.threads);
    return run(&o);
}
