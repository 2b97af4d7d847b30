#include "core/blas.h"
#include <limits.h>

#include "ops/activation.h"
#include "ops/conv.h"
#include "tape/tape_internal.h"

/* ---- layout helpers ---- */

void cvae__nchw_to_cn(float *cn, const float *x, const int64_t *idx, int64_t n, int64_t c, int64_t hw,
                      float *csum, const float *y, const cvae__act *act)
{
    const int64_t ld = n * hw;
    const bool grad = act && act->kind != CVAE_ACT_NONE;
    for (int64_t s = 0; s < n; s++) {
        const int64_t off = (idx ? idx[s] : s) * c * hw;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *src = x + off + ch * hw;
            float *dst = cn + ch * ld + s * hw;
            if (grad)
                cvae__act_backward(dst, src, y + off + ch * hw, hw, act);
            else
                memcpy(dst, src, (size_t)hw * sizeof(float));
            if (csum) csum[ch] += cvae__sum_floats(dst, hw);
        }
    }
}

void cvae__cn_to_nchw(float *x, const float *cn, const int64_t *idx, int64_t n, int64_t c, int64_t hw,
                      const float *bias, cvae__cn_write op, const cvae__act *act)
{
    static const cvae__act none = {CVAE_ACT_NONE, 0.0f};
    const int64_t ld = n * hw;
    for (int64_t s = 0; s < n; s++) {
        float *xs = x + (idx ? idx[s] : s) * c * hw;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *src = cn + ch * ld + s * hw;
            float *dst = xs + ch * hw;
            const float bv = bias ? bias[ch] : 0.0f;
            if (op == CVAE__CN_ADD)
                for (int64_t p = 0; p < hw; p++) dst[p] += src[p] + bv;
            else
                cvae__act_bias_forward(dst, src, bv, hw, act ? act : &none);
        }
    }
}

void cvae__channel_sums(float *db, const float *dy, int64_t n, int64_t c, int64_t hw, const float *y,
                        const cvae__act *act)
{
    const bool grad = act && act->kind != CVAE_ACT_NONE;
    for (int64_t s = 0; s < n; s++)
        for (int64_t ch = 0; ch < c; ch++) {
            const int64_t off = (s * c + ch) * hw;
            db[ch] += grad ? cvae__act_backward_sum(dy + off, y + off, hw, act) : cvae__sum_floats(dy + off, hw);
        }
}

/* ---- chunking ---- */

/* Floats of a lowered chunk: small enough to stay in L2 between the lowering and the
 * GEMM that consumes it (measured: 128K floats = 512 KiB). */
#define CHUNK_FLOATS ((int64_t)1 << 17)

int64_t cvae__conv_chunk(int64_t rows, int64_t hw, int64_t n)
{
    int64_t per = rows * hw, s = per > 0 ? CHUNK_FLOATS / per : n;
    if (s < 1) s = 1;
    return s < n ? s : n;
}

/* ---- conv2d ---- */

void cvae__conv2d_forward(float *y, float *cols, float *ycn, const float *x, const float *w,
                          const float *b, int64_t n, int64_t cout, const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo, chw = g->c * g->h * g->w;
    const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        cvae__im2col(cols, x + s0 * chw, NULL, ns, g);
        cvae__sgemm(false, false, cout, pc, ckk, 1.0f, w, ckk, cols, pc, 0.0f, ycn, pc);
        cvae__cn_to_nchw(y + s0 * cout * hw, ycn, NULL, ns, cout, hw, b, CVAE__CN_STORE, &g->act);
    }
}

void cvae__conv2d_backward(float *dx, float *dw, float *db, float *dycn, float *cols, const float *dy,
                           const float *y, const float *x, const float *w, int64_t n, int64_t cout,
                           const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, hw = g->ho * g->wo, chw = g->c * g->h * g->w;
    if (!dx && !dw) {
        if (db) cvae__channel_sums(db, dy, n, cout, hw, y, &g->act);
        return;
    }
    const int64_t chunk = cvae__conv_chunk(ckk, hw, n);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        const float *ys = g->act.kind != CVAE_ACT_NONE ? y + s0 * cout * hw : NULL;
        cvae__nchw_to_cn(dycn, dy + s0 * cout * hw, NULL, ns, cout, hw, db, ys, &g->act);
        if (dw) {
            cvae__im2col(cols, x + s0 * chw, NULL, ns, g);
            cvae__sgemm(false, true, cout, ckk, pc, 1.0f, dycn, pc, cols, pc, 1.0f, dw, ckk);
        }
        if (dx) {
            cvae__sgemm(true, false, ckk, pc, cout, 1.0f, w, ckk, dycn, pc, 0.0f, cols, pc);
            cvae__col2im(dx + s0 * chw, cols, NULL, ns, g);
        }
    }
}

/* Input offset of tap (i, j) at output (oy, ox), or -1 in the padding. */
static int64_t tap_offset(const cvae_conv_geom *g, int64_t i, int64_t j, int64_t oy, int64_t ox)
{
    int64_t iy = oy * g->o.stride_h - g->o.pad_top + i * g->o.dilation_h;
    int64_t ix = ox * g->o.stride_w - g->o.pad_left + j * g->o.dilation_w;
    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return -1;
    return iy * g->w + ix;
}

void cvae__conv2d_forward_ref(float *y, const float *x, const float *w, const float *b, int64_t n,
                              int64_t cout, const cvae_conv_geom *g)
{
    const int64_t hw = g->h * g->w, kk = g->kh * g->kw;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t ci = 0; ci < g->c; ci++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t off = tap_offset(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)x[(s * g->c + ci) * hw + off] *
                                           w[(co * g->c + ci) * kk + i * g->kw + j];
                            }
                    y[((s * cout + co) * g->ho + oy) * g->wo + ox] = (float)acc;
                }
}

void cvae__conv2d_dx_ref(float *dx, const float *dy, const float *w, int64_t n, int64_t cout,
                         const cvae_conv_geom *g)
{
    const int64_t hw = g->h * g->w, kk = g->kh * g->kw;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    float d = dy[((s * cout + co) * g->ho + oy) * g->wo + ox];
                    for (int64_t ci = 0; ci < g->c; ci++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t off = tap_offset(g, i, j, oy, ox);
                                if (off >= 0)
                                    dx[(s * g->c + ci) * hw + off] += d * w[(co * g->c + ci) * kk + i * g->kw + j];
                            }
                }
}

void cvae__conv2d_dw_ref(float *dw, const float *dy, const float *x, int64_t n, int64_t cout,
                         const cvae_conv_geom *g)
{
    const int64_t hw = g->h * g->w, kk = g->kh * g->kw;
    for (int64_t co = 0; co < cout; co++)
        for (int64_t ci = 0; ci < g->c; ci++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    double acc = 0.0;
                    for (int64_t s = 0; s < n; s++)
                        for (int64_t oy = 0; oy < g->ho; oy++)
                            for (int64_t ox = 0; ox < g->wo; ox++) {
                                int64_t off = tap_offset(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)dy[((s * cout + co) * g->ho + oy) * g->wo + ox] *
                                           x[(s * g->c + ci) * hw + off];
                            }
                    dw[(co * g->c + ci) * kk + i * g->kw + j] += (float)acc;
                }
}

void cvae__conv2d_db_ref(float *db, const float *dy, int64_t n, int64_t cout, int64_t hw)
{
    for (int64_t co = 0; co < cout; co++) {
        double acc = 0.0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t p = 0; p < hw; p++) acc += dy[(s * cout + co) * hw + p];
        db[co] += (float)acc;
    }
}

/* ---- conv_transpose2d ---- */

void cvae__conv_transpose2d_forward(float *y, float *xcn, float *cols, const float *x, const float *w,
                                    const float *b, int64_t n, int64_t cin, const cvae_conv_geom *g)
{
    const int64_t rows = g->c * g->kh * g->kw, hw = g->ho * g->wo, yhw = g->h * g->w;
    const int64_t chunk = cvae__conv_chunk(rows, hw, n);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        cvae__nchw_to_cn(xcn, x + s0 * cin * hw, NULL, ns, cin, hw, NULL, NULL, NULL);
        cvae__sgemm(true, false, rows, pc, cin, 1.0f, w, rows, xcn, pc, 0.0f, cols, pc);
        float *ys = y + s0 * g->c * yhw;
        for (int64_t k = 0; k < ns * g->c; k++) {
            const float bv = b ? b[k % g->c] : 0.0f;
            for (int64_t q = 0; q < yhw; q++) ys[k * yhw + q] = bv;
        }
        cvae__col2im(ys, cols, NULL, ns, g);
        cvae__act_forward(ys, ys, ns * g->c * yhw, &g->act); /* the chunk is still in cache */
    }
}

void cvae__conv_transpose2d_backward(float *dx, float *dw, float *db, float *cols, float *xcn,
                                     float *dym, const float *dy, const float *y, const float *x,
                                     const float *w, int64_t n, int64_t cin, const cvae_conv_geom *g)
{
    const int64_t rows = g->c * g->kh * g->kw, hw = g->ho * g->wo, yhw = g->h * g->w;
    if (!dx && !dw) {
        if (db) cvae__channel_sums(db, dy, n, g->c, yhw, y, &g->act);
        return;
    }
    const int64_t chunk = cvae__conv_chunk(rows, hw, n);
    for (int64_t s0 = 0; s0 < n; s0 += chunk) {
        const int64_t ns = n - s0 < chunk ? n - s0 : chunk, pc = ns * hw;
        const float *dys = dy + s0 * g->c * yhw;
        if (g->act.kind != CVAE_ACT_NONE) { /* dY of the chunk */
            cvae__act_backward(dym, dys, y + s0 * g->c * yhw, ns * g->c * yhw, &g->act);
            dys = dym;
        }
        if (db) cvae__channel_sums(db, dys, ns, g->c, yhw, NULL, NULL);
        cvae__im2col(cols, dys, NULL, ns, g);
        if (dw) {
            cvae__nchw_to_cn(xcn, x + s0 * cin * hw, NULL, ns, cin, hw, NULL, NULL, NULL);
            cvae__sgemm(false, true, cin, rows, pc, 1.0f, xcn, pc, cols, pc, 1.0f, dw, rows);
        }
        if (dx) {
            cvae__sgemm(false, false, cin, pc, rows, 1.0f, w, rows, cols, pc, 0.0f, xcn, pc);
            cvae__cn_to_nchw(dx + s0 * cin * hw, xcn, NULL, ns, cin, hw, NULL, CVAE__CN_ADD, NULL);
        }
    }
}

/* y[s, co, tap(i, j, oy, ox)] += x[s, ci, oy, ox] w[ci, co, i, j], gathered per output element. */
void cvae__conv_transpose2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                                        int64_t n, int64_t cin, const cvae_conv_geom *g)
{
    const int64_t cout = g->c, kk = g->kh * g->kw, sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t iy = 0; iy < g->h; iy++)
                for (int64_t ix = 0; ix < g->w; ix++) {
                    double acc = b ? b[co] : 0.0;
                    for (int64_t i = 0; i < g->kh; i++) {
                        int64_t ty = iy + g->o.pad_top - i * g->o.dilation_h;
                        if (ty < 0 || ty % sh || ty / sh >= g->ho) continue;
                        for (int64_t j = 0; j < g->kw; j++) {
                            int64_t tx = ix + g->o.pad_left - j * g->o.dilation_w;
                            if (tx < 0 || tx % sw || tx / sw >= g->wo) continue;
                            for (int64_t ci = 0; ci < cin; ci++)
                                acc += (double)x[((s * cin + ci) * g->ho + ty / sh) * g->wo + tx / sw] *
                                       w[(ci * cout + co) * kk + i * g->kw + j];
                        }
                    }
                    y[((s * cout + co) * g->h + iy) * g->w + ix] = (float)acc;
                }
}

void cvae__conv_transpose2d_dx_ref(float *dx, const float *dy, const float *w, int64_t n, int64_t cin,
                                   const cvae_conv_geom *g)
{
    const int64_t cout = g->c, kk = g->kh * g->kw, yhw = g->h * g->w;
    for (int64_t s = 0; s < n; s++)
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double acc = 0.0;
                    for (int64_t co = 0; co < cout; co++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t off = tap_offset(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)dy[(s * cout + co) * yhw + off] * w[(ci * cout + co) * kk + i * g->kw + j];
                            }
                    dx[((s * cin + ci) * g->ho + oy) * g->wo + ox] += (float)acc;
                }
}

void cvae__conv_transpose2d_dw_ref(float *dw, const float *dy, const float *x, int64_t n, int64_t cin,
                                   const cvae_conv_geom *g)
{
    const int64_t cout = g->c, kk = g->kh * g->kw, yhw = g->h * g->w;
    for (int64_t ci = 0; ci < cin; ci++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    double acc = 0.0;
                    for (int64_t s = 0; s < n; s++)
                        for (int64_t oy = 0; oy < g->ho; oy++)
                            for (int64_t ox = 0; ox < g->wo; ox++) {
                                int64_t off = tap_offset(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)x[((s * cin + ci) * g->ho + oy) * g->wo + ox] *
                                           dy[(s * cout + co) * yhw + off];
                            }
                    dw[(ci * cout + co) * kk + i * g->kw + j] += (float)acc;
                }
}

/* ---- argument checks ---- */

/* rows x cols matrices (and the `other` x cols one) fit the BLAS int and int64 sizes. */
static cvae_status check_lowering(const char *fn, int64_t rows, int64_t cols, int64_t other)
{
    int64_t a, b;
    if (rows > INT_MAX || cols > INT_MAX || other > INT_MAX || !cvae__mul_ok(rows, cols, &a) ||
        !cvae__mul_ok(other, cols, &b) || a > INT64_MAX / 8 || b > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_SHAPE,
                           "%s: lowered matrices (%lld x %lld, %lld x %lld) exceed the BLAS int range",
                           fn, (long long)rows, (long long)cols, (long long)other, (long long)cols);
    return CVAE_OK;
}

static cvae_status check_image(const char *fn, const cvae_tensor *x, int64_t kh, int64_t kw)
{
    char sx[64];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s is not [N, C, H, W]", fn, cvae__shape_str(x, sx, sizeof sx));
    if (kh < 1 || kw < 1 || kh > INT_MAX || kw > INT_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: kernel %lldx%lld is invalid", fn, (long long)kh, (long long)kw);
    return CVAE_OK;
}

cvae_status cvae__conv2d_plan(cvae_conv_geom *g, const char *fn, const cvae_tensor *x, int64_t cout,
                              int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    if (!o) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: argument 'o' is NULL", fn);
    CVAE_TRY(check_image(fn, x, kh, kw));
    if (o->output_pad_h || o->output_pad_w)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: output_pad %dx%d applies to transposed convolutions only",
                           fn, o->output_pad_h, o->output_pad_w);
    cvae_conv_geom t;
    CVAE_TRY(cvae__conv_geom(&t, fn, x->shape[1], x->shape[2], x->shape[3], kh, kw, o));
    int64_t ckk, p;
    if (!cvae__mul_ok(x->shape[1], kh * kw, &ckk) || !cvae__mul_ok(x->shape[0], t.ho * t.wo, &p))
        return cvae__error(CVAE_ERR_SHAPE, "%s: lowered matrix size overflows", fn);
    CVAE_TRY(check_lowering(fn, ckk, p, cout));
    *g = t;
    return CVAE_OK;
}

cvae_status cvae__conv_transpose2d_plan(cvae_conv_geom *g, const char *fn, const cvae_tensor *x,
                                        int64_t cout, int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    if (!o) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: argument 'o' is NULL", fn);
    CVAE_TRY(check_image(fn, x, kh, kw));
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stride %dx%d and dilation %dx%d must be >= 1", fn,
                           o->stride_h, o->stride_w, o->dilation_h, o->dilation_w);
    if (o->pad_top < 0 || o->pad_bottom < 0 || o->pad_left < 0 || o->pad_right < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: negative padding", fn);
    if (o->output_pad_h < 0 || o->output_pad_w < 0 || o->output_pad_h >= o->stride_h ||
        o->output_pad_w >= o->stride_w)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: output_pad %dx%d must be in [0, stride %dx%d)", fn,
                           o->output_pad_h, o->output_pad_w, o->stride_h, o->stride_w);
    const int64_t h = x->shape[2], w = x->shape[3];
    int64_t sh, sw;
    if (!cvae__mul_ok(h - 1, o->stride_h, &sh) || !cvae__mul_ok(w - 1, o->stride_w, &sw) ||
        sh > INT64_MAX / 4 || sw > INT64_MAX / 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: output extent overflows", fn);
    int64_t ho = sh - o->pad_top - o->pad_bottom + (int64_t)o->dilation_h * (kh - 1) + o->output_pad_h + 1;
    int64_t wo = sw - o->pad_left - o->pad_right + (int64_t)o->dilation_w * (kw - 1) + o->output_pad_w + 1;
    if (ho < 1 || wo < 1)
        return cvae__error(CVAE_ERR_SHAPE, "%s: input %lldx%lld with kernel %lldx%lld and this padding gives an "
                           "empty output", fn, (long long)h, (long long)w, (long long)kh, (long long)kw);
    cvae_conv_geom t;
    CVAE_TRY(cvae__conv_geom(&t, fn, cout, ho, wo, kh, kw, o));
    if (t.ho != h || t.wo != w)
        return cvae__error(CVAE_ERR_SHAPE, "%s: inconsistent transposed geometry", fn);
    int64_t rows, p;
    if (!cvae__mul_ok(cout, kh * kw, &rows) || !cvae__mul_ok(x->shape[0], h * w, &p))
        return cvae__error(CVAE_ERR_SHAPE, "%s: lowered matrix size overflows", fn);
    CVAE_TRY(check_lowering(fn, rows, p, x->shape[1]));
    *g = t;
    return CVAE_OK;
}

/* ---- tape ops ---- */

typedef struct conv_ctx {
    cvae_conv_geom g; /* with the fused activation, differentiated from the node's output */
    int keep_w; /* w needed a gradient when recorded (the backward re-lowers x chunk by chunk) */
} conv_ctx;

/* Gradient buffers for the inputs of nd that need one (allocated before any scratch). */
static cvae_status grads(cvae_tape *t, const cvae_node *nd, int keep_w, float **dx, float **dw, float **db)
{
    cvae_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    *dx = *dw = *db = NULL;
    if (cvae__needs_grad(x) && !(*dx = cvae__tape_grad(t, x))) return CVAE_ERR_NOMEM;
    if (keep_w && cvae__needs_grad(w) && !(*dw = cvae__tape_grad(t, w))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(b) && !(*db = cvae__tape_grad(t, b))) return CVAE_ERR_NOMEM;
    return CVAE_OK;
}

/* Scratch buffers of the given float counts (a count of 0: NULL; c may be NULL with nc 0) from
 * the arena; on failure releases back to m. */
static cvae_status scratch(cvae_tape *t, cvae_tape_mark m, const char *what, float **a, int64_t na,
                           float **b, int64_t nb, float **c, int64_t nc)
{
    *a = *b = NULL;
    if (c) *c = NULL;
    if ((!na || (*a = cvae__tape_floats(t, na, what))) && (!nb || (*b = cvae__tape_floats(t, nb, what))) &&
        (!nc || (*c = cvae__tape_floats(t, nc, what))))
        return CVAE_OK;
    cvae__tape_release(t, m);
    return CVAE_ERR_NOMEM;
}

/* Non-NULL t, x, w, o, y; x [N, C, H, W]; w 4-D with C input channels at dimension cin_dim (0 or
 * 1) and Cout output channels at the other; b NULL or [Cout]. */
static cvae_status check_args(const char *fn, const cvae_tape *t, const cvae_tensor *x,
                              const cvae_tensor *w, const cvae_tensor *b, const cvae_conv_opts *o,
                              cvae_tensor *const *y, int cin_dim)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(w, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    char sx[64], sw[64];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s is not [N, C, H, W]", fn, cvae__shape_str(x, sx, sizeof sx));
    if (w->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: weight %s is not 4-D", fn, cvae__shape_str(w, sw, sizeof sw));
    const int64_t cin_w = w->shape[cin_dim], cout = w->shape[1 - cin_dim];
    if (x->shape[1] != cin_w)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s and weight %s disagree on input channels", fn,
                           cvae__shape_str(x, sx, sizeof sx), cvae__shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != cout))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias %s does not match %lld output channels", fn,
                           cvae__shape_str(b, sx, sizeof sx), (long long)cout);
    return CVAE_OK;
}

/* Records out's backward (ctx: g, whether w needs a gradient); *y = out. */
static cvae_status record(cvae_tape *t, cvae__backward_fn bw, cvae_tensor *out, cvae_tensor **in,
                          int n_in, const cvae_conv_geom *g, cvae_tensor **y)
{
    const int keep = cvae_tape_recording(t) && cvae__needs_grad(out) && cvae__needs_grad(in[1]);
    void *vctx;
    CVAE_TRY(cvae__tape_record(t, bw, out, in, n_in, sizeof(conv_ctx), &vctx));
    if (vctx) {
        conv_ctx *c = vctx;
        c->g = *g;
        c->keep_w = keep;
    }
    *y = out;
    return CVAE_OK;
}

static cvae_status conv2d_backward(cvae_tape *t, const cvae_node *nd)
{
    const conv_ctx *c = nd->ctx;
    const cvae_conv_geom *g = &c->g;
    cvae_tensor *x = nd->in[0], *w = nd->in[1];
    float *dx, *dw, *db;
    CVAE_TRY(grads(t, nd, c->keep_w, &dx, &dw, &db));
    const int64_t n = x->shape[0], cout = w->shape[0], hw = g->ho * g->wo, ckk = g->c * g->kh * g->kw;
    const int64_t pc = dx || dw ? cvae__conv_chunk(ckk, hw, n) * hw : 0;
    cvae_tape_mark m = cvae__tape_mark(t);
    float *dycn, *cols;
    CVAE_TRY(scratch(t, m, "cvae_op_conv2d backward", &dycn, cout * pc, &cols, ckk * pc, NULL, 0));
    cvae__conv2d_backward(dx, dw, db, dycn, cols, nd->out->grad, nd->out->data, x->data, w->data, n, cout,
                          g);
    cvae__tape_release(t, m);
    return CVAE_OK;
}

cvae_status cvae_op_conv2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                           const cvae_conv_opts *o, cvae_tensor **y)
{
    static const char *fn = "cvae_op_conv2d";
    CVAE_TRY(check_args(fn, t, x, w, b, o, y, 1));
    cvae_conv_geom g;
    CVAE_TRY(cvae__conv2d_plan(&g, fn, x, w->shape[0], w->shape[2], w->shape[3], o));
    const int64_t n = x->shape[0], cout = w->shape[0], ckk = g.c * g.kh * g.kw;
    cvae_tensor *in[3] = {x, w, b};
    const int n_in = b ? 3 : 2;
    const int64_t shape[4] = {n, cout, g.ho, g.wo};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 4, shape, in, n_in, &out));
    const int64_t pc = cvae__conv_chunk(ckk, g.ho * g.wo, n) * g.ho * g.wo;
    float *cols, *ycn;
    cvae_tape_mark m = cvae__tape_mark(t);
    CVAE_TRY(scratch(t, m, fn, &cols, ckk * pc, &ycn, cout * pc, NULL, 0));
    cvae__conv2d_forward(out->data, cols, ycn, x->data, w->data, b ? b->data : NULL, n, cout, &g);
    cvae__tape_release(t, m);
    return record(t, conv2d_backward, out, in, n_in, &g, y);
}

static cvae_status conv_transpose2d_backward(cvae_tape *t, const cvae_node *nd)
{
    const conv_ctx *c = nd->ctx;
    const cvae_conv_geom *g = &c->g;
    cvae_tensor *x = nd->in[0], *w = nd->in[1];
    float *dx, *dw, *db;
    CVAE_TRY(grads(t, nd, c->keep_w, &dx, &dw, &db));
    const int64_t n = x->shape[0], cin = x->shape[1], hw = g->ho * g->wo, rows = g->c * g->kh * g->kw;
    const int64_t chunk = dx || dw ? cvae__conv_chunk(rows, hw, n) : 0, pc = chunk * hw;
    const int64_t ym = g->act.kind != CVAE_ACT_NONE ? chunk * g->c * g->h * g->w : 0; /* dY of a chunk */
    cvae_tape_mark m = cvae__tape_mark(t);
    float *cols, *xcn, *dym;
    CVAE_TRY(scratch(t, m, "cvae_op_conv_transpose2d backward", &cols, rows * pc, &xcn, cin * pc, &dym, ym));
    cvae__conv_transpose2d_backward(dx, dw, db, cols, xcn, dym, nd->out->grad, nd->out->data, x->data,
                                    w->data, n, cin, g);
    cvae__tape_release(t, m);
    return CVAE_OK;
}

cvae_status cvae_op_conv_transpose2d(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b,
                                     const cvae_conv_opts *o, cvae_tensor **y)
{
    static const char *fn = "cvae_op_conv_transpose2d";
    CVAE_TRY(check_args(fn, t, x, w, b, o, y, 0));
    cvae_conv_geom g;
    CVAE_TRY(cvae__conv_transpose2d_plan(&g, fn, x, w->shape[1], w->shape[2], w->shape[3], o));
    const int64_t n = x->shape[0], cin = x->shape[1], cout = g.c;
    cvae_tensor *in[3] = {x, w, b};
    const int n_in = b ? 3 : 2;
    const int64_t shape[4] = {n, cout, g.h, g.w};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 4, shape, in, n_in, &out));
    const int64_t rows = cout * g.kh * g.kw, pc = cvae__conv_chunk(rows, g.ho * g.wo, n) * g.ho * g.wo;
    float *xcn, *cols;
    cvae_tape_mark m = cvae__tape_mark(t);
    CVAE_TRY(scratch(t, m, fn, &xcn, cin * pc, &cols, rows * pc, NULL, 0));
    cvae__conv_transpose2d_forward(out->data, xcn, cols, x->data, w->data, b ? b->data : NULL, n, cin, &g);
    cvae__tape_release(t, m);
    return record(t, conv_transpose2d_backward, out, in, n_in, &g, y);
}
