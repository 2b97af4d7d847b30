/* Plain references of the conditional convolutions: per-sample direct loops over the
 * definition, accumulated in double, without the activation. Slow; for tests only. */
#include "ops/conv/cond.h"
#include "ops/conv/conv.h"

/* One output element of conv(x_n, w) (no bias): x_n: [C, H, W], w: [C, kH, kW]. */
static double conv_at(const float *xn, const float *w, int64_t oy, int64_t ox,
                      const cvae__conv_geom *g)
{
    double s = 0.0;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t off = cvae__conv_tap(g, i, j, oy, ox);
                if (off >= 0)
                    s += (double)w[(c * g->kh + i) * g->kw + j] * xn[c * g->h * g->w + off];
            }
    return s;
}

/* The gradients of one output element with gradient gy: dxn += gy w, dw += gy xn (each may be
 * NULL). */
static void conv_at_backward(float *dxn, float *dw, double gy, const float *xn, const float *w,
                             const int64_t at[2], const cvae__conv_geom *g)
{
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t off = cvae__conv_tap(g, i, j, at[0], at[1]);
                if (off < 0) continue;
                const int64_t wi = (c * g->kh + i) * g->kw + j, xi = c * g->h * g->w + off;
                if (dxn) dxn[xi] += (float)(gy * w[wi]);
                if (dw) dw[wi] += (float)(gy * xn[xi]);
            }
}

void cvae__cconv2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cout = a->ch, ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w;
    const int64_t p = g->ho * g->wo;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t co = 0; co < cout; co++) {
            const int64_t row = a->labels[s] * cout + co;
            const double b = a->b ? a->b[row] : 0.0;
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++)
                    a->y[(s * cout + co) * p + oy * g->wo + ox] =
                        (float)(b + conv_at(a->x + s * img, a->w + row * ckk, oy, ox, g));
        }
}

void cvae__cconv2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cout = a->ch, ckk = g->c * g->kh * g->kw, img = g->c * g->h * g->w;
    const int64_t p = g->ho * g->wo;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t co = 0; co < cout; co++) {
            const int64_t row = a->labels[s] * cout + co;
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    const double gy = a->dy[(s * cout + co) * p + oy * g->wo + ox];
                    const int64_t at[2] = {oy, ox};
                    if (a->db) a->db[row] += (float)gy;
                    conv_at_backward(a->dx ? a->dx + s * img : NULL,
                                     a->dw ? a->dw + row * ckk : NULL, gy, a->x + s * img,
                                     a->w + row * ckk, at, g);
                }
        }
}

void cvae__cconv2d_soft_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t k = a->k, cout = a->ch, ckk = g->c * g->kh * g->kw;
    const int64_t img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double v = 0.0;
                    for (int64_t l = 0; l < k; l++) {
                        const double b = a->b ? a->b[l * cout + co] : 0.0;
                        v += a->alpha[s * k + l] *
                             (b + conv_at(a->x + s * img, a->w + (l * cout + co) * ckk, oy, ox, g));
                    }
                    a->y[(s * cout + co) * p + oy * g->wo + ox] = (float)v;
                }
}

void cvae__cconv2d_soft_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t k = a->k, cout = a->ch, ckk = g->c * g->kh * g->kw;
    const int64_t img = g->c * g->h * g->w, p = g->ho * g->wo;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t l = 0; l < k; l++) {
            const double al = a->alpha[s * k + l];
            double da = 0.0;
            for (int64_t co = 0; co < cout; co++) {
                const int64_t row = l * cout + co;
                const float *w = a->w + row * ckk;
                const double b = a->b ? a->b[row] : 0.0;
                double db = 0.0;
                for (int64_t oy = 0; oy < g->ho; oy++)
                    for (int64_t ox = 0; ox < g->wo; ox++) {
                        const double gy = a->dy[(s * cout + co) * p + oy * g->wo + ox];
                        const int64_t at[2] = {oy, ox};
                        if (a->dalpha) da += gy * (b + conv_at(a->x + s * img, w, oy, ox, g));
                        db += al * gy;
                        conv_at_backward(a->dx ? a->dx + s * img : NULL,
                                         a->dw ? a->dw + row * ckk : NULL, al * gy, a->x + s * img,
                                         w, at, g);
                    }
                if (a->db) a->db[row] += (float)db;
            }
            if (a->dalpha) a->dalpha[s * k + l] += (float)da;
        }
}

/* For the transposed convolution, y position (oy, ox) receives x position (iy, ix) through tap
 * (i, j) when oy = iy stride - pad + i dil: the tap of the adjoint convolution gt at (iy, ix). */
void cvae__cconvt2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *gt)
{
    const int64_t cin = a->ch, cout = gt->c, kk = gt->kh * gt->kw;
    const int64_t h = gt->ho, w = gt->wo, ho = gt->h, wo = gt->w;
    const int64_t sh = gt->o.stride_h, sw = gt->o.stride_w;
    for (int64_t s = 0; s < a->n; s++) {
        const float *wl = a->w + (int64_t)a->labels[s] * cin * cout * kk;
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < ho; oy++)
                for (int64_t ox = 0; ox < wo; ox++) {
                    double v = a->b ? a->b[a->labels[s] * cout + co] : 0.0;
                    for (int64_t i = 0; i < gt->kh; i++) {
                        const int64_t ty = oy + gt->o.pad_top - i * gt->o.dilation_h;
                        if (ty < 0 || ty % sh || ty / sh >= h) continue;
                        for (int64_t j = 0; j < gt->kw; j++) {
                            const int64_t tx = ox + gt->o.pad_left - j * gt->o.dilation_w;
                            if (tx < 0 || tx % sw || tx / sw >= w) continue;
                            for (int64_t ci = 0; ci < cin; ci++)
                                v += (double)a->x[((s * cin + ci) * h + ty / sh) * w + tx / sw] *
                                     wl[((ci * cout + co) * gt->kh + i) * gt->kw + j];
                        }
                    }
                    a->y[((s * cout + co) * ho + oy) * wo + ox] = (float)v;
                }
    }
}

void cvae__cconvt2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *gt)
{
    const int64_t cin = a->ch, cout = gt->c, kk = gt->kh * gt->kw;
    const int64_t h = gt->ho, w = gt->wo, yhw = gt->h * gt->w;
    for (int64_t s = 0; s < a->n; s++) {
        const int64_t off = (int64_t)a->labels[s] * cin * cout * kk;
        for (int64_t co = 0; a->db && co < cout; co++) {
            double b = 0.0;
            for (int64_t q = 0; q < yhw; q++) b += a->dy[(s * cout + co) * yhw + q];
            a->db[a->labels[s] * cout + co] += (float)b;
        }
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t iy = 0; iy < h; iy++)
                for (int64_t ix = 0; ix < w; ix++) {
                    const int64_t xi = ((s * cin + ci) * h + iy) * w + ix;
                    double gx = 0.0;
                    for (int64_t co = 0; co < cout; co++)
                        for (int64_t i = 0; i < gt->kh; i++)
                            for (int64_t j = 0; j < gt->kw; j++) {
                                const int64_t yo = cvae__conv_tap(gt, i, j, iy, ix);
                                if (yo < 0) continue;
                                const int64_t wi =
                                    off + ((ci * cout + co) * gt->kh + i) * gt->kw + j;
                                const double g = a->dy[(s * cout + co) * yhw + yo];
                                gx += g * a->w[wi];
                                if (a->dw) a->dw[wi] += (float)(g * a->x[xi]);
                            }
                    if (a->dx) a->dx[xi] += (float)gx;
                }
    }
}
