/* Plain references of the conditional convolutions: per-sample direct loops
 * over the definition, accumulated in double. Slow; for tests only. */
#include "ops/conditional_conv.h"

/* Input index read by output position `o` through tap `i`, or -1 in the padding. */
static int64_t tap(int64_t o, int64_t i, int64_t stride, int64_t pad, int64_t dil, int64_t extent)
{
    int64_t v = o * stride - pad + i * dil;
    return v >= 0 && v < extent ? v : -1;
}

/* One output element of conv(x_n, w) (no bias): x_n: [C, H, W], w: [C, kH, kW]. */
static double conv_at(const float *xn, const float *w, int64_t oy, int64_t ox,
                      const cvae_conv_geom *g)
{
    double s = 0.0;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++) {
            int64_t iy = tap(oy, i, g->o.stride_h, g->o.pad_top, g->o.dilation_h, g->h);
            if (iy < 0) continue;
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t ix = tap(ox, j, g->o.stride_w, g->o.pad_left, g->o.dilation_w, g->w);
                if (ix < 0) continue;
                s += (double)w[(c * g->kh + i) * g->kw + j] * xn[(c * g->h + iy) * g->w + ix];
            }
        }
    return s;
}

/* Accumulates the gradients of one output element with gradient gy:
 * dxn += gy w, dw += gy xn (each may be NULL). */
static void conv_at_backward(float *dxn, float *dw, double gy, const float *xn, const float *w,
                             int64_t oy, int64_t ox, const cvae_conv_geom *g)
{
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++) {
            int64_t iy = tap(oy, i, g->o.stride_h, g->o.pad_top, g->o.dilation_h, g->h);
            if (iy < 0) continue;
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t ix = tap(ox, j, g->o.stride_w, g->o.pad_left, g->o.dilation_w, g->w);
                if (ix < 0) continue;
                int64_t wi = (c * g->kh + i) * g->kw + j, xi = (c * g->h + iy) * g->w + ix;
                if (dxn) dxn[xi] += (float)(gy * w[wi]);
                if (dw) dw[wi] += (float)(gy * xn[xi]);
            }
        }
}

void cvae__cconv2d_forward_ref(float *y, const float *x, const int32_t *labels, const float *table,
                               const float *bias, int64_t n, int64_t cout, const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++) {
            const float *w = table + (labels[s] * cout + co) * ckk;
            double b = bias ? bias[labels[s] * cout + co] : 0.0;
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++)
                    y[(s * cout + co) * p + oy * g->wo + ox] =
                        (float)(b + conv_at(x + s * img, w, oy, ox, g));
        }
}

void cvae__cconv2d_backward_ref(float *dx, float *dtable, float *dbias, const float *dy,
                                const float *x, const int32_t *labels, const float *table,
                                int64_t n, int64_t cout, const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++) {
            int64_t row = labels[s] * cout + co;
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double gy = dy[(s * cout + co) * p + oy * g->wo + ox];
                    if (dbias) dbias[row] += (float)gy;
                    conv_at_backward(dx ? dx + s * img : NULL, dtable ? dtable + row * ckk : NULL,
                                     gy, x + s * img, table + row * ckk, oy, ox, g);
                }
        }
}

void cvae__cconv2d_soft_forward_ref(float *y, const float *x, const float *alpha,
                                    const float *table, const float *bias, int64_t n, int64_t k,
                                    int64_t cout, const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double v = 0.0;
                    for (int64_t l = 0; l < k; l++) {
                        double b = bias ? bias[l * cout + co] : 0.0;
                        v += alpha[s * k + l] *
                             (b + conv_at(x + s * img, table + (l * cout + co) * ckk, oy, ox, g));
                    }
                    y[(s * cout + co) * p + oy * g->wo + ox] = (float)v;
                }
}

void cvae__cconv2d_soft_backward_ref(float *dx, float *dtable, float *dbias, float *dalpha,
                                     const float *dy, const float *x, const float *alpha,
                                     const float *table, const float *bias, int64_t n, int64_t k,
                                     int64_t cout, const cvae_conv_geom *g)
{
    const int64_t ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < n; s++)
        for (int64_t l = 0; l < k; l++) {
            double a = alpha[s * k + l], da = 0.0;
            for (int64_t co = 0; co < cout; co++) {
                const float *w = table + (l * cout + co) * ckk;
                double b = bias ? bias[l * cout + co] : 0.0, db = 0.0;
                for (int64_t oy = 0; oy < g->ho; oy++)
                    for (int64_t ox = 0; ox < g->wo; ox++) {
                        double gy = dy[(s * cout + co) * p + oy * g->wo + ox];
                        if (dalpha) da += gy * (b + conv_at(x + s * img, w, oy, ox, g));
                        db += a * gy;
                        conv_at_backward(dx ? dx + s * img : NULL,
                                         dtable ? dtable + (l * cout + co) * ckk : NULL, a * gy,
                                         x + s * img, w, oy, ox, g);
                    }
                if (dbias) dbias[l * cout + co] += (float)db;
            }
            if (dalpha) dalpha[s * k + l] += (float)da;
        }
}

/* For the transposed convolution, y position (oy, ox) receives x position
 * (iy, ix) through tap (i, j) when oy = iy*stride - pad + i*dil. */
void cvae__cconvt2d_forward_ref(float *y, const float *x, const int32_t *labels, const float *table,
                                const float *bias, int64_t n, int64_t cin, const cvae_conv_geom *gt)
{
    const int64_t cout = gt->c, kk = gt->kh * gt->kw;
    const int64_t h = gt->ho, w = gt->wo, ho = gt->h, wo = gt->w;
    const int64_t sh = gt->o.stride_h, sw = gt->o.stride_w;
    for (int64_t s = 0; s < n; s++) {
        const float *wl = table + (int64_t)labels[s] * cin * cout * kk;
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < ho; oy++)
                for (int64_t ox = 0; ox < wo; ox++) {
                    double v = bias ? bias[labels[s] * cout + co] : 0.0;
                    for (int64_t i = 0; i < gt->kh; i++) {
                        int64_t ty = oy + gt->o.pad_top - i * gt->o.dilation_h;
                        if (ty < 0 || ty % sh || ty / sh >= h) continue;
                        for (int64_t j = 0; j < gt->kw; j++) {
                            int64_t tx = ox + gt->o.pad_left - j * gt->o.dilation_w;
                            if (tx < 0 || tx % sw || tx / sw >= w) continue;
                            for (int64_t ci = 0; ci < cin; ci++)
                                v += (double)x[((s * cin + ci) * h + ty / sh) * w + tx / sw] *
                                     wl[((ci * cout + co) * gt->kh + i) * gt->kw + j];
                        }
                    }
                    y[((s * cout + co) * ho + oy) * wo + ox] = (float)v;
                }
    }
}

void cvae__cconvt2d_backward_ref(float *dx, float *dtable, float *dbias, const float *dy,
                                 const float *x, const int32_t *labels, const float *table,
                                 int64_t n, int64_t cin, const cvae_conv_geom *gt)
{
    const int64_t cout = gt->c, kk = gt->kh * gt->kw;
    const int64_t h = gt->ho, w = gt->wo, ho = gt->h, wo = gt->w;
    for (int64_t s = 0; s < n; s++) {
        const int64_t off = (int64_t)labels[s] * cin * cout * kk;
        if (dbias)
            for (int64_t co = 0; co < cout; co++) {
                double b = 0.0;
                for (int64_t q = 0; q < ho * wo; q++) b += dy[(s * cout + co) * ho * wo + q];
                dbias[labels[s] * cout + co] += (float)b;
            }
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t iy = 0; iy < h; iy++)
                for (int64_t ix = 0; ix < w; ix++) {
                    const int64_t xi = ((s * cin + ci) * h + iy) * w + ix;
                    double gx = 0.0;
                    for (int64_t co = 0; co < cout; co++)
                        for (int64_t i = 0; i < gt->kh; i++) {
                            int64_t oy =
                                tap(iy, i, gt->o.stride_h, gt->o.pad_top, gt->o.dilation_h, ho);
                            if (oy < 0) continue;
                            for (int64_t j = 0; j < gt->kw; j++) {
                                int64_t ox = tap(ix, j, gt->o.stride_w, gt->o.pad_left,
                                                 gt->o.dilation_w, wo);
                                if (ox < 0) continue;
                                int64_t wi = off + ((ci * cout + co) * gt->kh + i) * gt->kw + j;
                                double g = dy[((s * cout + co) * ho + oy) * wo + ox];
                                gx += g * table[wi];
                                if (dtable) dtable[wi] += (float)(g * x[xi]);
                            }
                        }
                    if (dx) dx[xi] += (float)gx;
                }
    }
}
