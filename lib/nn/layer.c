/* cvae_layer: checking a declaration against its input shape (plan), its parameters' names
 * and initial values, and the summary's words for it. The forward is in layer_forward.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "cvae/nn.h"
#include "nn/layer.h"

static const char *const kind_names[] = {
    "?",       "Linear",  "Conv2D",      "ConvTranspose2D", "BatchNorm2D", "Activation",
    "Flatten", "Reshape", "LabelConcat", "MaxPool2D",       "AvgPool2D",   "Upsample2D"};

const char *cvae_layer_kind_name(cvae_layer_kind kind)
{
    return kind > CVAE_LAYER_NONE && kind <= CVAE_LAYER_UPSAMPLE2D ? kind_names[kind] : "?";
}

uint64_t cvae__name_stream(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

cvae_status cvae__init_bias(cvae_tensor *b, cvae_init init, int64_t fan_in, uint64_t seed,
                            const char *name)
{
    if (!b) return CVAE_OK;
    if (init != CVAE_INIT_TORCH) return cvae_tensor_fill(b, 0.0f);
    return cvae_init_fill(b, init, fan_in, 1, seed, cvae__name_stream(name));
}

/* Largest extent, kernel, stride, padding or dilation a layer accepts. */
#define EXTENT_MAX ((int64_t)1 << 31)
#define GEOM_MAX 4096

static cvae_status fail(cvae_status s, const char *where, const char *fmt, ...) CVAE_PRINTF(3, 4);

static cvae_status fail(cvae_status s, const char *where, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cvae__error(s, "%s: %s", where, msg);
}

static bool has_params(cvae_layer_kind k)
{
    return k == CVAE_LAYER_LINEAR || k == CVAE_LAYER_CONV2D || k == CVAE_LAYER_CONV_TRANSPOSE2D ||
           k == CVAE_LAYER_BATCH_NORM2D;
}

static bool relu_family(cvae_activation a)
{
    return a == CVAE_ACT_RELU || a == CVAE_ACT_LEAKY_RELU || a == CVAE_ACT_ELU;
}

static void declare(cvae__layer *l, cvae__role r, int ndim, const int64_t *shape, bool trainable,
                    cvae__fill fill, int64_t fan_in, int64_t fan_out)
{
    cvae__param_decl *d = &l->decl[r];
    d->present = true;
    d->ndim = ndim;
    for (int i = 0; i < CVAE_MAX_DIMS; i++) d->shape[i] = i < ndim ? shape[i] : 1;
    d->trainable = trainable;
    d->fill = fill;
    d->scheme = l->spec.init != CVAE_INIT_DEFAULT ? l->spec.init
                : relu_family(l->spec.activation) ? CVAE_INIT_HE_NORMAL
                                                  : CVAE_INIT_GLOROT_UNIFORM;
    d->fan_in = fan_in > 0 ? fan_in : 1;
    d->fan_out = fan_out > 0 ? fan_out : 1;
}

/* A bias starts at zero, or under CVAE_INIT_TORCH as PyTorch draws it (the weight's bound). */
static cvae__fill bias_fill(const cvae__layer *l)
{
    return l->spec.init == CVAE_INIT_TORCH ? CVAE__FILL_SCHEME : CVAE__FILL_ZEROS;
}

/* Names: required (1..CVAE__NAME_MAX bytes) for layers with parameters, copied into l. */
static cvae_status copy_names(cvae__layer *l, const cvae_layer *s, const char *where)
{
    const char *names[2] = {s->name, s->table_name};
    char *dst[2] = {l->name, l->table};
    for (int i = 0; i < 2; i++) {
        const char *n = names[i] ? names[i] : i ? s->name : NULL;
        if (!n) {
            if (has_params(s->kind))
                return fail(CVAE_ERR_INVALID_ARG, where, "a %s layer needs a .name",
                            cvae_layer_kind_name(s->kind));
            continue;
        }
        size_t len = strlen(n);
        if (len == 0 || len > CVAE__NAME_MAX)
            return fail(CVAE_ERR_INVALID_ARG, where, "name length %zu outside [1, %d]", len,
                        CVAE__NAME_MAX);
        memcpy(dst[i], n, len + 1);
    }
    l->spec.name = l->name[0] ? l->name : NULL;
    l->spec.table_name = l->table[0] ? l->table : NULL;
    return CVAE_OK;
}

static cvae_status check_activation(cvae__layer *l, const char *where)
{
    cvae_layer *s = &l->spec;
    if ((int)s->activation < CVAE_ACT_NONE || s->activation > CVAE_ACT_TANH)
        return fail(CVAE_ERR_INVALID_ARG, where, "unknown activation %d", (int)s->activation);
    if (!isfinite(s->alpha) || s->alpha < 0.0f)
        return fail(CVAE_ERR_INVALID_ARG, where, "activation alpha %g must be finite and >= 0",
                    (double)s->alpha);
    const bool takes = has_params(s->kind) || s->kind == CVAE_LAYER_ACTIVATION;
    if (!takes && s->activation != CVAE_ACT_NONE)
        return fail(CVAE_ERR_INVALID_ARG, where,
                    "a %s layer has no activation (add an Activation "
                    "layer after it)",
                    cvae_layer_kind_name(s->kind));
    if (s->kind == CVAE_LAYER_ACTIVATION && s->activation == CVAE_ACT_NONE)
        return fail(CVAE_ERR_INVALID_ARG, where, "an Activation layer needs an .activation");
    return CVAE_OK;
}

static cvae_status check_range(const char *where, const char *what, int64_t v, int64_t lo,
                               int64_t hi)
{
    if (v < lo || v > hi)
        return fail(CVAE_ERR_INVALID_ARG, where, "%s = %lld outside [%lld, %lld]", what,
                    (long long)v, (long long)lo, (long long)hi);
    return CVAE_OK;
}

static cvae_status need_image(const cvae__layer *l, const char *where)
{
    if (l->in_ndim != 3)
        return fail(CVAE_ERR_SHAPE, where, "a %s layer takes [C, H, W] per sample, got %d dims",
                    cvae_layer_kind_name(l->spec.kind), l->in_ndim);
    return CVAE_OK;
}

static cvae_status check_in(const cvae__layer *l, const char *where)
{
    if (l->spec.in && l->spec.in != l->in[0])
        return fail(CVAE_ERR_SHAPE, where, "takes %lld input %s but the previous layer gives %lld",
                    (long long)l->spec.in, l->in_ndim == 1 ? "features" : "channels",
                    (long long)l->in[0]);
    return CVAE_OK;
}

static void set_out(cvae__layer *l, int ndim, int64_t a, int64_t b, int64_t c)
{
    const int64_t v[3] = {a, b, c};
    l->out_ndim = ndim;
    for (int i = 0; i < 4; i++) l->out[i] = i < ndim ? v[i] : 1;
}

static cvae_status plan_linear(cvae__layer *l, const char *where)
{
    const cvae_layer *s = &l->spec;
    if (l->in_ndim != 1)
        return fail(CVAE_ERR_SHAPE, where,
                    "a Linear layer takes [D] per sample, got %d dims (add a "
                    "Flatten layer before it)",
                    l->in_ndim);
    CVAE_TRY(check_in(l, where));
    CVAE_TRY(check_range(where, ".out", s->out, 1, EXTENT_MAX));
    const int64_t in = l->in[0], w[2] = {s->out, in}, b[1] = {s->out};
    if (in * s->out > EXTENT_MAX)
        return fail(CVAE_ERR_INVALID_ARG, where, "a weight of %lld x %lld is above 2^31 values",
                    (long long)s->out, (long long)in);
    declare(l, CVAE__WEIGHT, 2, w, !s->frozen, CVAE__FILL_SCHEME, in, s->out);
    if (!s->no_bias) declare(l, CVAE__BIAS, 1, b, !s->frozen, bias_fill(l), in, s->out);
    set_out(l, 1, s->out, 0, 0);
    return CVAE_OK;
}

/* Conv2D and ConvTranspose2D, each with an optional label-indexed part. */
static cvae_status plan_conv(cvae__layer *l, const char *where)
{
    cvae_layer *s = &l->spec;
    const bool tr = s->kind == CVAE_LAYER_CONV_TRANSPOSE2D;
    CVAE_TRY(need_image(l, where));
    CVAE_TRY(check_in(l, where));
    CVAE_TRY(check_range(where, ".out", s->out, 0, EXTENT_MAX));
    CVAE_TRY(check_range(where, ".cond_out", s->cond_out, 0, EXTENT_MAX));
    if (s->out + s->cond_out < 1)
        return fail(CVAE_ERR_INVALID_ARG, where, "no filters: .out and .cond_out are both 0");
    if (s->cond_out)
        CVAE_TRY(check_range(where, ".labels", s->labels, 1, EXTENT_MAX));
    else if (s->labels)
        return fail(CVAE_ERR_INVALID_ARG, where,
                    ".labels = %lld without label-indexed filters "
                    "(.cond_out)",
                    (long long)s->labels);
    CVAE_TRY(check_range(where, ".kernel", s->kernel, 1, GEOM_MAX));
    CVAE_TRY(check_range(where, ".kernel_w", s->kernel_w, 1, GEOM_MAX));
    CVAE_TRY(check_range(where, ".stride", s->stride, 1, GEOM_MAX));
    CVAE_TRY(check_range(where, ".padding", s->padding, 0, GEOM_MAX));
    CVAE_TRY(check_range(where, ".dilation", s->dilation, 1, GEOM_MAX));
    CVAE_TRY(check_range(where, ".output_padding", s->output_padding, 0, tr ? s->stride - 1 : 0));
    cvae_conv_opts *o = &l->conv;
    *o = cvae_conv_opts_make(s->stride, s->padding);
    o->dilation_h = o->dilation_w = s->dilation;
    o->output_pad_h = o->output_pad_w = s->output_padding;
    o->activation = s->activation;
    o->alpha = s->alpha;
    const int64_t c = l->in[0], kh = s->kernel, kw = s->kernel_w, kk = kh * kw;
    const int64_t span_h = (int64_t)s->dilation * (kh - 1),
                  span_w = (int64_t)s->dilation * (kw - 1);
    int64_t ho, wo;
    if (tr) {
        ho = (l->in[1] - 1) * s->stride - 2 * s->padding + span_h + s->output_padding + 1;
        wo = (l->in[2] - 1) * s->stride - 2 * s->padding + span_w + s->output_padding + 1;
    } else {
        ho = (l->in[1] + 2 * s->padding - span_h - 1) / s->stride + 1;
        wo = (l->in[2] + 2 * s->padding - span_w - 1) / s->stride + 1;
        if (l->in[1] + 2 * s->padding - span_h - 1 < 0 ||
            l->in[2] + 2 * s->padding - span_w - 1 < 0)
            ho = wo = 0;
    }
    if (ho < 1 || wo < 1 || ho > EXTENT_MAX || wo > EXTENT_MAX)
        return fail(CVAE_ERR_SHAPE, where,
                    "a %lldx%lld input with a %lldx%lld kernel, stride %d and "
                    "padding %d gives no output",
                    (long long)l->in[1], (long long)l->in[2], (long long)kh, (long long)kw,
                    s->stride, s->padding);
    /* fans: inputs per output unit (a transposed conv's output sees kk / stride^2 taps per
     * input channel on average), outputs per input unit; PyTorch's fan_in of a transposed
     * conv is weight.size(1) kH kW = C_out kH kW (of the table: cond_out kH kW) */
    const int64_t stride2 = (int64_t)s->stride * s->stride;
    const bool torch = s->init == CVAE_INIT_TORCH;
    const int64_t fan_in = tr && !torch ? c * kk / stride2 : c * kk;
    const int64_t fan_in_w = tr && torch ? s->out * kk : fan_in,
                  fan_in_t = tr && torch ? s->cond_out * kk : fan_in;
    const int64_t size = (s->out > s->cond_out ? s->out : s->cond_out) * c * kk;
    if (size > EXTENT_MAX || (s->labels && s->cond_out * c * kk > EXTENT_MAX / s->labels))
        return fail(CVAE_ERR_INVALID_ARG, where,
                    "a weight of this layer would hold above 2^31 values");
    const bool train = !s->frozen, train_table = !s->frozen && !s->frozen_table;
    if (s->out) {
        const int64_t w[4] = {tr ? c : s->out, tr ? s->out : c, kh, kw}, b[1] = {s->out};
        declare(l, CVAE__WEIGHT, 4, w, train, CVAE__FILL_SCHEME, fan_in_w, s->out * kk);
        if (!s->no_bias) declare(l, CVAE__BIAS, 1, b, train, bias_fill(l), fan_in_w, s->out * kk);
    }
    if (s->cond_out) {
        const int64_t t[5] = {s->labels, tr ? c : s->cond_out, tr ? s->cond_out : c, kh, kw};
        const int64_t tb[2] = {s->labels, s->cond_out};
        const cvae__fill fill =
            s->table_init == CVAE_TABLE_GABOR ? CVAE__FILL_GABOR : CVAE__FILL_SCHEME;
        declare(l, CVAE__TABLE, 5, t, train_table, fill, fan_in_t, s->cond_out * kk);
        if (!s->no_bias)
            declare(l, CVAE__TABLE_BIAS, 2, tb, train_table,
                    fill == CVAE__FILL_GABOR ? CVAE__FILL_ZEROS : bias_fill(l), fan_in_t,
                    s->cond_out * kk);
    }
    set_out(l, 3, s->out + s->cond_out, ho, wo);
    return CVAE_OK;
}

static cvae_status plan_batch_norm(cvae__layer *l, const char *where)
{
    cvae_layer *s = &l->spec;
    CVAE_TRY(need_image(l, where));
    CVAE_TRY(check_in(l, where));
    if (!(s->momentum >= 0.0f && s->momentum <= 1.0f))
        return fail(CVAE_ERR_INVALID_ARG, where, "momentum %g outside [0, 1]", (double)s->momentum);
    if (!(s->eps >= 0.0f) || !isfinite(s->eps))
        return fail(CVAE_ERR_INVALID_ARG, where, "eps %g must be finite and > 0", (double)s->eps);
    if (s->momentum == 0.0f) s->momentum = 0.1f;
    if (s->eps == 0.0f) s->eps = 1e-5f;
    const int64_t c[1] = {l->in[0]};
    declare(l, CVAE__WEIGHT, 1, c, !s->frozen, CVAE__FILL_ONES, 1, 1);
    declare(l, CVAE__BIAS, 1, c, !s->frozen, CVAE__FILL_ZEROS, 1, 1);
    declare(l, CVAE__RUNNING_MEAN, 1, c, false, CVAE__FILL_ZEROS, 1, 1);
    declare(l, CVAE__RUNNING_VAR, 1, c, false, CVAE__FILL_ONES, 1, 1);
    set_out(l, 3, l->in[0], l->in[1], l->in[2]);
    return CVAE_OK;
}

static cvae_status plan_reshape(cvae__layer *l, const char *where)
{
    const cvae_layer *s = &l->spec;
    int64_t in = 1, known = 1;
    for (int i = 0; i < l->in_ndim; i++) in *= l->in[i];
    int nd = 0, infer = -1;
    while (nd < 4 && s->shape[nd]) nd++;
    for (int i = nd; i < 4; i++)
        if (s->shape[i]) return fail(CVAE_ERR_INVALID_ARG, where, ".shape has an extent after a 0");
    if (nd == 0) return fail(CVAE_ERR_INVALID_ARG, where, "a Reshape layer needs a .shape");
    for (int i = 0; i < nd; i++) {
        if (s->shape[i] == -1 && infer < 0)
            infer = i;
        else if (s->shape[i] < 1 || s->shape[i] > EXTENT_MAX)
            return fail(CVAE_ERR_INVALID_ARG, where, ".shape[%d] = %lld is invalid", i,
                        (long long)s->shape[i]);
        else
            known *= s->shape[i];
    }
    l->out_ndim = nd;
    for (int i = 0; i < 4; i++) l->out[i] = i < nd ? s->shape[i] : 1;
    if (infer >= 0) {
        if (in % known)
            known = 0;
        else
            l->out[infer] = in / known, known = in;
    }
    if (known != in)
        return fail(CVAE_ERR_SHAPE, where,
                    "cannot reshape %lld values per sample to the given "
                    ".shape",
                    (long long)in);
    return CVAE_OK;
}

static cvae_status plan_pool(cvae__layer *l, const char *where)
{
    cvae_layer *s = &l->spec;
    CVAE_TRY(need_image(l, where));
    CVAE_TRY(check_range(where, ".kernel", s->kernel, 1, GEOM_MAX));
    if (!s->stride) s->stride = s->kernel;
    CVAE_TRY(check_range(where, ".stride", s->stride, 1, GEOM_MAX));
    if (s->padding || s->kernel_w != s->kernel)
        return fail(CVAE_ERR_INVALID_ARG, where, "pooling takes square windows without padding");
    if (l->in[1] < s->kernel || l->in[2] < s->kernel)
        return fail(CVAE_ERR_SHAPE, where, "a %lldx%lld input is smaller than the %dx%d window",
                    (long long)l->in[1], (long long)l->in[2], s->kernel, s->kernel);
    set_out(l, 3, l->in[0], (l->in[1] - s->kernel) / s->stride + 1,
            (l->in[2] - s->kernel) / s->stride + 1);
    return CVAE_OK;
}

static cvae_status plan_kind(cvae__layer *l, const char *where)
{
    cvae_layer *s = &l->spec;
    switch (s->kind) {
    case CVAE_LAYER_LINEAR:
        return plan_linear(l, where);
    case CVAE_LAYER_CONV2D:
    case CVAE_LAYER_CONV_TRANSPOSE2D:
        return plan_conv(l, where);
    case CVAE_LAYER_BATCH_NORM2D:
        return plan_batch_norm(l, where);
    case CVAE_LAYER_ACTIVATION:
        l->out_ndim = l->in_ndim;
        memcpy(l->out, l->in, sizeof l->out);
        return CVAE_OK;
    case CVAE_LAYER_FLATTEN: {
        int64_t d = 1;
        for (int i = 0; i < l->in_ndim; i++) d *= l->in[i];
        set_out(l, 1, d, 0, 0);
        return CVAE_OK;
    }
    case CVAE_LAYER_RESHAPE:
        return plan_reshape(l, where);
    case CVAE_LAYER_LABEL_CONCAT:
        if (l->in_ndim != 1)
            return fail(CVAE_ERR_SHAPE, where,
                        "a LabelConcat layer takes [D] per sample, got %d "
                        "dims (add a Flatten layer before it)",
                        l->in_ndim);
        CVAE_TRY(check_range(where, ".labels", s->labels, 1, 1 << 24));
        set_out(l, 1, l->in[0] + s->labels, 0, 0);
        return CVAE_OK;
    case CVAE_LAYER_MAX_POOL2D:
    case CVAE_LAYER_AVG_POOL2D:
        return plan_pool(l, where);
    case CVAE_LAYER_UPSAMPLE2D:
        CVAE_TRY(need_image(l, where));
        CVAE_TRY(check_range(where, ".scale", s->scale, 1, GEOM_MAX));
        if (l->in[1] * s->scale > EXTENT_MAX || l->in[2] * s->scale > EXTENT_MAX)
            return fail(CVAE_ERR_SHAPE, where, "the upsampled image is too large");
        set_out(l, 3, l->in[0], l->in[1] * s->scale, l->in[2] * s->scale);
        return CVAE_OK;
    case CVAE_LAYER_NONE:
        break;
    }
    return fail(CVAE_ERR_INVALID_ARG, where, "unknown layer kind %d (is .kind set?)", (int)s->kind);
}

cvae_status cvae__layer_plan(cvae__layer *l, const cvae_layer *spec, int in_ndim, const int64_t *in,
                             const char *where)
{
    memset(l, 0, sizeof *l);
    l->spec = *spec;
    for (int r = 0; r < CVAE__ROLES; r++) l->param[r] = -1;
    if ((int)spec->kind <= CVAE_LAYER_NONE || spec->kind > CVAE_LAYER_UPSAMPLE2D)
        return fail(CVAE_ERR_INVALID_ARG, where, "unknown layer kind %d (is .kind set?)",
                    (int)spec->kind);
    CVAE_TRY(copy_names(l, spec, where));
    if ((int)spec->init < CVAE_INIT_DEFAULT || spec->init > CVAE_INIT_TORCH)
        return fail(CVAE_ERR_INVALID_ARG, where, "unknown init scheme %d", (int)spec->init);
    if ((int)spec->table_init < CVAE_TABLE_RANDOM || spec->table_init > CVAE_TABLE_GABOR)
        return fail(CVAE_ERR_INVALID_ARG, where, "unknown table init %d", (int)spec->table_init);
    CVAE_TRY(check_activation(l, where));
    if (in_ndim < 1 || in_ndim > 4)
        return fail(CVAE_ERR_SHAPE, where, "an input of %d dims per sample", in_ndim);
    l->in_ndim = in_ndim;
    for (int i = 0; i < 4; i++) {
        l->in[i] = i < in_ndim ? in[i] : 1;
        if (l->in[i] < 1 || l->in[i] > EXTENT_MAX)
            return fail(CVAE_ERR_SHAPE, where, "input extent %lld outside [1, 2^31]",
                        (long long)l->in[i]);
    }
    cvae_layer *s = &l->spec;
    if (!s->kernel_w) s->kernel_w = s->kernel;
    if (!s->dilation) s->dilation = 1;
    if (!s->stride && s->kind != CVAE_LAYER_MAX_POOL2D && s->kind != CVAE_LAYER_AVG_POOL2D)
        s->stride = 1;
    CVAE_TRY(plan_kind(l, where));
    int64_t size;
    if (cvae_shape_check(l->out_ndim, l->out, &size) != CVAE_OK)
        return fail(CVAE_ERR_SHAPE, where, "the output shape overflows");
    return CVAE_OK;
}

static const char *const role_suffix[CVAE__ROLES] = {"weight",     "bias",         "table",
                                                     "table_bias", "running_mean", "running_var"};

bool cvae__layer_param_name(const cvae__layer *l, const char *stack, cvae__role role, char *buf,
                            size_t n)
{
    const bool table = role == CVAE__TABLE || role == CVAE__TABLE_BIAS;
    const char *name = table ? l->table : l->name;
    const int len =
        snprintf(buf, n, "%s%s%s.%s", stack, stack[0] ? "." : "", name, role_suffix[role]);
    return len > 0 && (size_t)len < n;
}

cvae_status cvae__layer_init_param(const cvae__layer *l, cvae__role role, cvae_tensor *t,
                                   const char *full_name, uint64_t seed)
{
    const cvae__param_decl *d = &l->decl[role];
    switch (d->fill) {
    case CVAE__FILL_ZEROS:
        return cvae_tensor_fill(t, 0.0f);
    case CVAE__FILL_ONES:
        return cvae_tensor_fill(t, 1.0f);
    case CVAE__FILL_GABOR:
        return cvae_table_fill_gabor(t, (float)l->spec.kernel / 3.0f, (float)l->spec.kernel);
    case CVAE__FILL_SCHEME:
        break;
    }
    return cvae_init_fill(t, d->scheme, d->fan_in, d->fan_out, seed, cvae__name_stream(full_name));
}

/* ---- summary words ---- */

static size_t append(char *buf, size_t n, size_t at, const char *fmt, ...) CVAE_PRINTF(4, 5);

static size_t append(char *buf, size_t n, size_t at, const char *fmt, ...)
{
    if (at >= n) return at;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + at, n - at, fmt, ap);
    va_end(ap);
    return k > 0 ? at + (size_t)k : at;
}

void cvae__layer_describe(const cvae__layer *l, char *type, size_t type_n, char *note,
                          size_t note_n)
{
    const cvae_layer *s = &l->spec;
    size_t t = append(type, type_n, 0, "%s", cvae_layer_kind_name(s->kind)), k = 0;
    note[0] = '\0';
    switch (s->kind) {
    case CVAE_LAYER_CONV2D:
    case CVAE_LAYER_CONV_TRANSPOSE2D:
    case CVAE_LAYER_MAX_POOL2D:
    case CVAE_LAYER_AVG_POOL2D:
        t = append(type, type_n, t, " %dx%d", s->kernel, s->kernel_w);
        if (s->stride != 1) t = append(type, type_n, t, " s%d", s->stride);
        if (s->dilation != 1) t = append(type, type_n, t, " d%d", s->dilation);
        break;
    case CVAE_LAYER_UPSAMPLE2D:
        append(type, type_n, t, " x%d", s->scale);
        break;
    case CVAE_LAYER_LABEL_CONCAT:
        k = append(note, note_n, k, "one-hot of K=%lld", (long long)s->labels);
        break;
    default:
        break;
    }
    if (s->activation != CVAE_ACT_NONE) {
        k = append(note, note_n, k, "%s%s", k ? "; " : "", cvae_activation_name(s->activation));
        if ((s->activation == CVAE_ACT_LEAKY_RELU || s->activation == CVAE_ACT_ELU) &&
            s->alpha > 0.0f)
            k = append(note, note_n, k, "(%g)", (double)s->alpha);
    }
    if (s->cond_out)
        k = append(note, note_n, k, "%s%lld learned + %lld label-indexed (K=%lld, %s table)",
                   k ? "; " : "", (long long)s->out, (long long)s->cond_out, (long long)s->labels,
                   s->frozen || s->frozen_table ? "frozen" : "trainable");
    if (s->frozen) k = append(note, note_n, k, "%sfrozen", k ? "; " : "");
}
