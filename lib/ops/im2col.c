#include "ops/im2col.h"

#include "core/internal.h"

cvae_conv_opts cvae_conv_opts_make(int stride, int pad)
{
    cvae_conv_opts o = {stride, stride, pad, pad, pad, pad, 1, 1, 0, 0};
    return o;
}

cvae_status cvae__conv_geom(cvae_conv_geom *g, const char *fn, int64_t c, int64_t h, int64_t w,
                            int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    if (!o) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: conv options are NULL", fn);
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stride %dx%d and dilation %dx%d must be >= 1", fn,
                           o->stride_h, o->stride_w, o->dilation_h, o->dilation_w);
    if (o->pad_top < 0 || o->pad_bottom < 0 || o->pad_left < 0 || o->pad_right < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: negative padding", fn);
    int64_t eh = h + o->pad_top + o->pad_bottom - (int64_t)o->dilation_h * (kh - 1) - 1;
    int64_t ew = w + o->pad_left + o->pad_right - (int64_t)o->dilation_w * (kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return cvae__error(CVAE_ERR_SHAPE, "%s: kernel %lldx%lld does not fit input %lldx%lld with this padding",
                           fn, (long long)kh, (long long)kw, (long long)h, (long long)w);
    g->c = c, g->h = h, g->w = w, g->kh = kh, g->kw = kw;
    g->ho = eh / o->stride_h + 1;
    g->wo = ew / o->stride_w + 1;
    g->o = *o;
    return CVAE_OK;
}

/* For output column ox of kernel tap j, the input column is ox*s - pad + j*d.
 * Valid ox form one contiguous range [lo, hi); the rest read padding. */
static void valid_range(int64_t tap, int64_t stride, int64_t pad, int64_t dil, int64_t in, int64_t out,
                        int64_t *lo, int64_t *hi)
{
    int64_t off = tap * dil - pad; /* input index = ox*stride + off */
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = in - off <= 0 ? 0 : (in - off + stride - 1) / stride;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

void cvae__im2col(float *cols, const float *x, const int64_t *idx, int64_t n, const cvae_conv_geom *g)
{
    const int64_t hw = g->ho * g->wo, ld = n * hw, img = g->c * g->h * g->w;
    const int64_t sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = cols + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t xlo, xhi;
                valid_range(j, sw, g->o.pad_left, g->o.dilation_w, g->w, g->wo, &xlo, &xhi);
                const int64_t offw = j * g->o.dilation_w - g->o.pad_left;
                for (int64_t s = 0; s < n; s++) {
                    const float *xs = x + (idx ? idx[s] : s) * img + c * g->h * g->w;
                    float *dst = row + s * hw;
                    for (int64_t oy = 0; oy < g->ho; oy++, dst += g->wo) {
                        int64_t iy = oy * sh - g->o.pad_top + i * g->o.dilation_h;
                        if (iy < 0 || iy >= g->h) {
                            memset(dst, 0, (size_t)g->wo * sizeof(float));
                            continue;
                        }
                        const float *src = xs + iy * g->w;
                        for (int64_t ox = 0; ox < xlo; ox++) dst[ox] = 0.0f;
                        if (sw == 1)
                            memcpy(dst + xlo, src + xlo + offw, (size_t)(xhi - xlo) * sizeof(float));
                        else
                            for (int64_t ox = xlo; ox < xhi; ox++) dst[ox] = src[ox * sw + offw];
                        for (int64_t ox = xhi; ox < g->wo; ox++) dst[ox] = 0.0f;
                    }
                }
            }
}

void cvae__col2im(float *x, const float *cols, const int64_t *idx, int64_t n, const cvae_conv_geom *g)
{
    const int64_t hw = g->ho * g->wo, ld = n * hw, img = g->c * g->h * g->w;
    const int64_t sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = cols + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t xlo, xhi;
                valid_range(j, sw, g->o.pad_left, g->o.dilation_w, g->w, g->wo, &xlo, &xhi);
                const int64_t offw = j * g->o.dilation_w - g->o.pad_left;
                for (int64_t s = 0; s < n; s++) {
                    float *xs = x + (idx ? idx[s] : s) * img + c * g->h * g->w;
                    const float *src = row + s * hw;
                    for (int64_t oy = 0; oy < g->ho; oy++, src += g->wo) {
                        int64_t iy = oy * sh - g->o.pad_top + i * g->o.dilation_h;
                        if (iy < 0 || iy >= g->h) continue;
                        float *dst = xs + iy * g->w;
                        for (int64_t ox = xlo; ox < xhi; ox++) dst[ox * sw + offw] += src[ox];
                    }
                }
            }
}
