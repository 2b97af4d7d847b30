/* Plain references of conv2d and conv_transpose2d: direct loops over the definition,
 * accumulated in double, without the activation. Slow; for tests only. */
#include "ops/conv/conv.h"

void cvae__conv2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cout = a->ch, hw = g->h * g->w, kk = g->kh * g->kw;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double acc = a->b ? a->b[co] : 0.0;
                    for (int64_t ci = 0; ci < g->c; ci++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                const int64_t off = cvae__conv_tap(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)a->x[(s * g->c + ci) * hw + off] *
                                           a->w[(co * g->c + ci) * kk + i * g->kw + j];
                            }
                    a->y[((s * cout + co) * g->ho + oy) * g->wo + ox] = (float)acc;
                }
}

/* sum over samples s and output positions (oy, ox) of out[s, oy, ox] in[s, tap (i, j)]: the
 * weight gradient's sum for one tap, with out and in pointing at one channel of sample 0 and
 * the samples out_stride and in_stride floats apart. */
static double tap_sum(const float *out, int64_t out_stride, const float *in, int64_t in_stride,
                      int64_t n, int64_t i, int64_t j, const cvae__conv_geom *g)
{
    double acc = 0.0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t oy = 0; oy < g->ho; oy++)
            for (int64_t ox = 0; ox < g->wo; ox++) {
                const int64_t off = cvae__conv_tap(g, i, j, oy, ox);
                if (off >= 0)
                    acc += (double)out[s * out_stride + oy * g->wo + ox] * in[s * in_stride + off];
            }
    return acc;
}

/* db[co] += sum of dy[., co, .]: dy [n, cout, hw]. */
static void bias_grad_ref(float *db, const float *dy, int64_t n, int64_t cout, int64_t hw)
{
    for (int64_t co = 0; co < cout; co++) {
        double acc = 0.0;
        for (int64_t s = 0; s < n; s++)
            for (int64_t p = 0; p < hw; p++) acc += dy[(s * cout + co) * hw + p];
        db[co] += (float)acc;
    }
}

void cvae__conv2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cout = a->ch, hw = g->h * g->w, kk = g->kh * g->kw, ohw = g->ho * g->wo;
    for (int64_t s = 0; a->dx && s < a->n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    const float d = a->dy[(s * cout + co) * ohw + oy * g->wo + ox];
                    for (int64_t ci = 0; ci < g->c; ci++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                const int64_t off = cvae__conv_tap(g, i, j, oy, ox);
                                if (off >= 0)
                                    a->dx[(s * g->c + ci) * hw + off] +=
                                        d * a->w[(co * g->c + ci) * kk + i * g->kw + j];
                            }
                }
    for (int64_t co = 0; a->dw && co < cout; co++)
        for (int64_t ci = 0; ci < g->c; ci++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++)
                    a->dw[(co * g->c + ci) * kk + i * g->kw + j] +=
                        (float)tap_sum(a->dy + co * ohw, cout * ohw, a->x + ci * hw, g->c * hw,
                                       a->n, i, j, g);
    if (a->db) bias_grad_ref(a->db, a->dy, a->n, cout, ohw);
}

/* y[s, co, tap(i, j, oy, ox)] += x[s, ci, oy, ox] w[ci, co, i, j], gathered per output element. */
void cvae__conv_transpose2d_forward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cin = a->ch, cout = g->c, kk = g->kh * g->kw;
    const int64_t sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t s = 0; s < a->n; s++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t iy = 0; iy < g->h; iy++)
                for (int64_t ix = 0; ix < g->w; ix++) {
                    double acc = a->b ? a->b[co] : 0.0;
                    for (int64_t i = 0; i < g->kh; i++) {
                        const int64_t ty = iy + g->o.pad_top - i * g->o.dilation_h;
                        if (ty < 0 || ty % sh || ty / sh >= g->ho) continue;
                        for (int64_t j = 0; j < g->kw; j++) {
                            const int64_t tx = ix + g->o.pad_left - j * g->o.dilation_w;
                            if (tx < 0 || tx % sw || tx / sw >= g->wo) continue;
                            for (int64_t ci = 0; ci < cin; ci++)
                                acc +=
                                    (double)
                                        a->x[((s * cin + ci) * g->ho + ty / sh) * g->wo + tx / sw] *
                                    a->w[(ci * cout + co) * kk + i * g->kw + j];
                        }
                    }
                    a->y[((s * cout + co) * g->h + iy) * g->w + ix] = (float)acc;
                }
}

void cvae__conv_transpose2d_backward_ref(const cvae__conv_args *a, const cvae__conv_geom *g)
{
    const int64_t cin = a->ch, cout = g->c, kk = g->kh * g->kw, yhw = g->h * g->w;
    for (int64_t s = 0; a->dx && s < a->n; s++)
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t oy = 0; oy < g->ho; oy++)
                for (int64_t ox = 0; ox < g->wo; ox++) {
                    double acc = 0.0;
                    for (int64_t co = 0; co < cout; co++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                const int64_t off = cvae__conv_tap(g, i, j, oy, ox);
                                if (off >= 0)
                                    acc += (double)a->dy[(s * cout + co) * yhw + off] *
                                           a->w[(ci * cout + co) * kk + i * g->kw + j];
                            }
                    a->dx[((s * cin + ci) * g->ho + oy) * g->wo + ox] += (float)acc;
                }
    for (int64_t ci = 0; a->dw && ci < cin; ci++)
        for (int64_t co = 0; co < cout; co++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    const int64_t xhw = g->ho * g->wo;
                    a->dw[(ci * cout + co) * kk + i * g->kw + j] +=
                        (float)tap_sum(a->x + ci * xhw, cin * xhw, a->dy + co * yhw, cout * yhw,
                                       a->n, i, j, g);
                }
    if (a->db) bias_grad_ref(a->db, a->dy, a->n, cout, yhw);
}
