/* Convolution, transposed convolution and batch-norm layers: parameter
 * registration and initialization; the work is done by the ops. */
#include <math.h>
#include <stdio.h>

#include "core/internal.h"
#include "cvae/nn.h"
#include "nn/layer.h"
#include "ops/conv/core.h"

#define NAME_MAX_LEN 256

/* "<name>.<suffix>" into buf; an error if it does not fit or already exists in p. */
static cvae_status param_name(char *buf, const char *fn, const cvae_params *p, const char *name,
                              const char *suffix)
{
    int len = snprintf(buf, NAME_MAX_LEN, "%s.%s", name, suffix);
    if (len < 0 || len >= NAME_MAX_LEN)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: name '%s' is too long", fn, name);
    if (cvae_params_find(p, buf))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: parameter '%s' already exists", fn, buf);
    return CVAE_OK;
}

/* What conv_new registers: a weight of shape w ([Cout, Cin, .] or, transposed, [Cin, Cout, .]:
 * either way fan_in = w[1] kH kW, fan_out = w[0] kH kW), and a bias [cout] when `bias`. */
typedef struct conv_decl {
    const char *fn, *name;
    int64_t w[4], cout;
    const cvae_conv_opts *opts;
    bool transposed, bias;
    cvae_init init;
    uint64_t seed;
} conv_decl;

static cvae_status conv_new(cvae_params *p, const conv_decl *d, cvae_tensor **w, cvae_tensor **b)
{
    const char *fn = d->fn;
    CVAE_CHECK_NULL(p, fn);
    CVAE_CHECK_NULL(d->name, fn);
    for (int i = 0; i < 4; i++)
        if (d->w[i] < 1 || d->w[i] > INT32_MAX)
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: channels and kernel extents must be in [1, 2^31)", fn);
    if ((int)d->init < CVAE_INIT_DEFAULT || d->init > CVAE_INIT_TORCH)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown init scheme %d", fn, (int)d->init);
    CVAE_TRY(cvae__conv_check_opts(fn, d->opts, d->transposed));
    char wname[NAME_MAX_LEN], bname[NAME_MAX_LEN];
    CVAE_TRY(param_name(wname, fn, p, d->name, "weight"));
    if (d->bias) CVAE_TRY(param_name(bname, fn, p, d->name, "bias"));
    int64_t size;
    CVAE_TRY(cvae_shape_check(4, d->w, &size));
    CVAE_TRY(cvae_params_add(p, wname, 4, d->w, 1, w));
    const int64_t kk = d->w[2] * d->w[3];
    CVAE_TRY(cvae_init_fill(*w, d->init, d->w[1] * kk, d->w[0] * kk, d->seed, cvae__name_stream(wname)));
    *b = NULL;
    if (d->bias) CVAE_TRY(cvae_params_add(p, bname, 1, &d->cout, 1, b));
    return cvae__init_bias(*b, d->init, d->w[1] * kk, d->seed, bname);
}

/* *out = a new copy of the size bytes at layer (the caller's struct, filled). */
static cvae_status copy_out(const char *fn, const void *layer, size_t size, void **out)
{
    void *l = cvae__malloc(size);
    if (!l) return cvae__nomem(fn, size);
    memcpy(l, layer, size);
    *out = l;
    return CVAE_OK;
}

cvae_status cvae_conv2d_new(cvae_params *p, const char *name, int64_t cin, int64_t cout, int kh, int kw,
                            cvae_conv_opts opts, int bias, cvae_init init, uint64_t seed, cvae_conv2d **out)
{
    static const char *fn = "cvae_conv2d_new";
    CVAE_CHECK_NULL(out, fn);
    const conv_decl d = {fn, name, {cout, cin, kh, kw}, cout, &opts, false, bias != 0, init, seed};
    cvae_conv2d l = {.opts = opts};
    CVAE_TRY(conv_new(p, &d, &l.weight, &l.bias));
    return copy_out(fn, &l, sizeof l, (void **)out);
}

cvae_status cvae_conv2d_forward(const cvae_conv2d *layer, cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    CVAE_CHECK_NULL(layer, "cvae_conv2d_forward");
    return cvae_op_conv2d(t, x, layer->weight, layer->bias, &layer->opts, y);
}

void cvae_conv2d_free(cvae_conv2d *layer) { cvae__free(layer); }

cvae_status cvae_conv_transpose2d_new(cvae_params *p, const char *name, int64_t cin, int64_t cout, int kh,
                                      int kw, cvae_conv_opts opts, int bias, cvae_init init, uint64_t seed,
                                      cvae_conv_transpose2d **out)
{
    static const char *fn = "cvae_conv_transpose2d_new";
    CVAE_CHECK_NULL(out, fn);
    const conv_decl d = {fn, name, {cin, cout, kh, kw}, cout, &opts, true, bias != 0, init, seed};
    cvae_conv_transpose2d l = {.opts = opts};
    CVAE_TRY(conv_new(p, &d, &l.weight, &l.bias));
    return copy_out(fn, &l, sizeof l, (void **)out);
}

cvae_status cvae_conv_transpose2d_forward(const cvae_conv_transpose2d *layer, cvae_tape *t, cvae_tensor *x,
                                          cvae_tensor **y)
{
    CVAE_CHECK_NULL(layer, "cvae_conv_transpose2d_forward");
    return cvae_op_conv_transpose2d(t, x, layer->weight, layer->bias, &layer->opts, y);
}

void cvae_conv_transpose2d_free(cvae_conv_transpose2d *layer) { cvae__free(layer); }

cvae_status cvae_batch_norm2d_new(cvae_params *p, const char *name, int64_t c, float momentum, float eps,
                                  cvae_batch_norm2d **out)
{
    static const char *fn = "cvae_batch_norm2d_new";
    CVAE_CHECK_NULL(p, fn);
    CVAE_CHECK_NULL(name, fn);
    CVAE_CHECK_NULL(out, fn);
    if (c < 1) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %lld channels", fn, (long long)c);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: momentum %g must be in [0, 1]", fn, (double)momentum);
    if (!(eps > 0.0f) || !isfinite(eps))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: eps %g must be finite and > 0", fn, (double)eps);
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    char names[4][NAME_MAX_LEN];
    for (int i = 0; i < 4; i++) CVAE_TRY(param_name(names[i], fn, p, name, suffix[i]));
    cvae_batch_norm2d *l = cvae__calloc(1, sizeof *l);
    if (!l) return cvae__nomem(fn, sizeof *l);
    cvae_tensor **slot[4] = {&l->weight, &l->bias, &l->running_mean, &l->running_var};
    for (int i = 0; i < 4; i++) {
        cvae_status s = cvae_params_add(p, names[i], 1, &c, i < 2, slot[i]);
        if (s) {
            cvae__free(l);
            return s;
        }
    }
    CVAE_TRY(cvae_tensor_fill(l->weight, 1.0f));
    CVAE_TRY(cvae_tensor_fill(l->running_var, 1.0f));
    l->momentum = momentum, l->eps = eps;
    *out = l;
    return CVAE_OK;
}

cvae_status cvae_batch_norm2d_forward(const cvae_batch_norm2d *layer, cvae_tape *t, cvae_tensor *x, int training,
                                      cvae_tensor **y)
{
    CVAE_CHECK_NULL(layer, "cvae_batch_norm2d_forward");
    return cvae_op_batch_norm2d(t, x, layer->weight, layer->bias, layer->running_mean, layer->running_var,
                                layer->momentum, layer->eps, training, y);
}

void cvae_batch_norm2d_free(cvae_batch_norm2d *layer) { cvae__free(layer); }
