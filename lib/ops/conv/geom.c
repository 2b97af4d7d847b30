/* Options, geometry and size checks of the conv family (conv/core.h): one set of messages. */
#include <limits.h>

#include "ops/conv/core.h"

cvae_conv_opts cvae_conv_opts_make(int stride, int pad)
{
    cvae_conv_opts o = {stride, stride, pad, pad, pad, pad, 1, 1, 0, 0, CVAE_ACT_NONE, 0.0f};
    return o;
}

cvae_status cvae__conv_check_opts(const char *fn, const cvae_conv_opts *o, bool transposed)
{
    CVAE_CHECK_NULL(o, fn);
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stride %dx%d and dilation %dx%d must be >= 1",
                           fn, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w);
    if (o->pad_top < 0 || o->pad_bottom < 0 || o->pad_left < 0 || o->pad_right < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: negative padding", fn);
    if (!transposed && (o->output_pad_h || o->output_pad_w))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: output_pad %dx%d applies to transposed convolutions only", fn,
                           o->output_pad_h, o->output_pad_w);
    if (transposed && (o->output_pad_h < 0 || o->output_pad_w < 0 ||
                       o->output_pad_h >= o->stride_h || o->output_pad_w >= o->stride_w))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: output_pad %dx%d must be in [0, stride %dx%d)", fn, o->output_pad_h,
                           o->output_pad_w, o->stride_h, o->stride_w);
    cvae__act act;
    return cvae__act_make(&act, fn, o->activation, o->alpha);
}

static cvae_status check_kernel(const char *fn, int64_t kh, int64_t kw)
{
    if (kh < 1 || kw < 1 || kh > INT_MAX || kw > INT_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: kernel %lldx%lld is invalid", fn, (long long)kh,
                           (long long)kw);
    return CVAE_OK;
}

/* Fills g from checked options and extents whose output (ho, wo) is not empty; C kH kW and
 * Ho Wo must fit int64 (the GEMM check bounds them further). */
static cvae_status fill(cvae__conv_geom *g, const char *fn, const int64_t in[3], int64_t kh,
                        int64_t kw, const int64_t out[2], const cvae_conv_opts *o)
{
    int64_t rows, hw;
    if (!cvae__mul_ok(in[0], kh * kw, &rows) || !cvae__mul_ok(out[0], out[1], &hw) ||
        hw > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_SHAPE, "%s: lowered matrix size overflows", fn);
    cvae__act act;
    CVAE_TRY(cvae__act_make(&act, fn, o->activation, o->alpha));
    *g = (cvae__conv_geom){in[0], in[1], in[2], kh, kw, out[0], out[1], *o, act};
    return CVAE_OK;
}

cvae_status cvae__conv_geom_init(cvae__conv_geom *g, const char *fn, int64_t c, int64_t h,
                                 int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    CVAE_TRY(cvae__conv_check_opts(fn, o, false));
    CVAE_TRY(check_kernel(fn, kh, kw));
    const int64_t eh = h + o->pad_top + o->pad_bottom - (int64_t)o->dilation_h * (kh - 1) - 1;
    const int64_t ew = w + o->pad_left + o->pad_right - (int64_t)o->dilation_w * (kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return cvae__error(CVAE_ERR_SHAPE,
                           "%s: kernel %lldx%lld does not fit input %lldx%lld with this padding",
                           fn, (long long)kh, (long long)kw, (long long)h, (long long)w);
    const int64_t in[3] = {c, h, w}, out[2] = {eh / o->stride_h + 1, ew / o->stride_w + 1};
    return fill(g, fn, in, kh, kw, out, o);
}

/* *e = the transposed extent (in - 1) stride - pads + dilation (k - 1) + output_pad + 1; false
 * when it overflows. */
static bool transposed_extent(int64_t *e, int64_t in, int stride, int64_t pads, int dilation,
                              int64_t k, int output_pad)
{
    int64_t s;
    if (!cvae__mul_ok(in - 1, stride, &s) || s > INT64_MAX / 4) return false;
    *e = s - pads + (int64_t)dilation * (k - 1) + output_pad + 1;
    return true;
}

cvae_status cvae__conv_geom_transposed(cvae__conv_geom *g, const char *fn, int64_t cout, int64_t h,
                                       int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o)
{
    CVAE_TRY(cvae__conv_check_opts(fn, o, true));
    CVAE_TRY(check_kernel(fn, kh, kw));
    int64_t ho, wo;
    if (!transposed_extent(&ho, h, o->stride_h, (int64_t)o->pad_top + o->pad_bottom, o->dilation_h,
                           kh, o->output_pad_h) ||
        !transposed_extent(&wo, w, o->stride_w, (int64_t)o->pad_left + o->pad_right, o->dilation_w,
                           kw, o->output_pad_w))
        return cvae__error(CVAE_ERR_SHAPE, "%s: output extent overflows", fn);
    if (ho < 1 || wo < 1)
        return cvae__error(CVAE_ERR_SHAPE,
                           "%s: input %lldx%lld with kernel %lldx%lld and this padding gives an "
                           "empty output",
                           fn, (long long)h, (long long)w, (long long)kh, (long long)kw);
    /* the adjoint convolution maps ho x wo back to h x w exactly, as output_pad < stride */
    const int64_t in[3] = {cout, ho, wo}, out[2] = {h, w};
    return fill(g, fn, in, kh, kw, out, o);
}

cvae_status cvae__conv_check_gemm(const char *fn, int64_t rows, int64_t n, int64_t hw,
                                  int64_t other)
{
    int64_t cols, a, b;
    if (!cvae__mul_ok(n, hw, &cols) || rows > INT_MAX || cols > INT_MAX || other > INT_MAX ||
        !cvae__mul_ok(rows, cols, &a) || !cvae__mul_ok(other, cols, &b) || a > INT64_MAX / 8 ||
        b > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_SHAPE,
                           "%s: lowered matrices (%lld and %lld rows, %lld x %lld columns) exceed "
                           "the BLAS int range",
                           fn, (long long)rows, (long long)other, (long long)n, (long long)hw);
    return CVAE_OK;
}

cvae_status cvae__conv_check_image(const char *fn, const cvae_tensor *x)
{
    char sx[64];
    if (x->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s is not [N, C, H, W]", fn,
                           cvae__shape_str(x, sx, sizeof sx));
    return CVAE_OK;
}

cvae_status cvae__conv_check_args(const char *fn, const cvae_tape *t, const cvae_tensor *x,
                                  const cvae_tensor *w, const cvae_tensor *b,
                                  const cvae_conv_opts *o, cvae_tensor *const *y, int cin_dim)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(w, fn);
    CVAE_CHECK_NULL(o, fn);
    CVAE_CHECK_NULL(y, fn);
    CVAE_TRY(cvae__conv_check_image(fn, x));
    char sx[64], sw[64];
    if (w->ndim != 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: weight %s is not 4-D", fn,
                           cvae__shape_str(w, sw, sizeof sw));
    const int64_t cout = w->shape[1 - cin_dim];
    if (x->shape[1] != w->shape[cin_dim])
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s and weight %s disagree on input channels", fn,
                           cvae__shape_str(x, sx, sizeof sx), cvae__shape_str(w, sw, sizeof sw));
    if (b && (b->ndim != 1 || b->shape[0] != cout))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias %s does not match %lld output channels", fn,
                           cvae__shape_str(b, sx, sizeof sx), (long long)cout);
    return CVAE_OK;
}

cvae_status cvae__cconv_check_inputs(const char *fn, const cvae_tensor *x, const int32_t *labels,
                                     const cvae_tensor *table, const cvae_tensor *tbias,
                                     int cin_dim)
{
    char s1[80], s2[80];
    if (table->ndim != 5)
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s must be %s", fn,
                           cvae__shape_str(table, s1, sizeof s1),
                           cin_dim == 2 ? "[K, Cout, Cin, kH, kW]" : "[K, Cin, Cout, kH, kW]");
    const int64_t k = table->shape[0], cout = table->shape[3 - cin_dim];
    if (labels) CVAE_TRY(cvae__check_labels(labels, x->shape[0], k, fn));
    if (table->shape[cin_dim] != x->shape[1])
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s has Cin %lld but x %s has %lld channels",
                           fn, cvae__shape_str(table, s1, sizeof s1),
                           (long long)table->shape[cin_dim], cvae__shape_str(x, s2, sizeof s2),
                           (long long)x->shape[1]);
    if (tbias && (tbias->ndim != 2 || tbias->shape[0] != k || tbias->shape[1] != cout))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias_table %s must be [K, Cout] = [%lld, %lld]", fn,
                           cvae__shape_str(tbias, s1, sizeof s1), (long long)k, (long long)cout);
    return CVAE_OK;
}

/* Floats of a lowered chunk: small enough to stay in L2 between the lowering and the GEMM that
 * consumes it (measured: 128K floats = 512 KiB). */
#define CHUNK_FLOATS ((int64_t)1 << 17)

int64_t cvae__conv_chunk(int64_t rows, int64_t hw, int64_t n)
{
    int64_t per = rows * hw, s = per > 0 ? CHUNK_FLOATS / per : n;
    if (s < 1) s = 1;
    return s < n ? s : n;
}
