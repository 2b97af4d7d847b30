/* cvae_cond_conv2d: learned filters concatenated with label-indexed ones, both
 * computed by one fused op that lowers each label group of the batch once. */
#include <math.h>
#include <stdio.h>

#include "cvae/nn.h"
#include "nn/layer.h"
#include "ops/conv/cond.h"
#include "ops/conv/core.h"

#define MAX_NAME 200

cvae_cond_conv2d_config cvae_cond_conv2d_config_make(int64_t in_channels, int64_t learned_channels,
                                                     int64_t cond_channels, int64_t num_labels,
                                                     int64_t kernel, int stride, int pad)
{
    cvae_cond_conv2d_config c = {.in_channels = in_channels,
                                 .learned_channels = learned_channels,
                                 .cond_channels = cond_channels,
                                 .num_labels = num_labels,
                                 .kernel_h = kernel,
                                 .kernel_w = kernel,
                                 .conv = cvae_conv_opts_make(stride, pad),
                                 .bias = 1,
                                 .table_trainable = 1,
                                 .init = CVAE_INIT_HE_UNIFORM,
                                 .seed = 0};
    return c;
}

static cvae_status check_config(const cvae_cond_conv2d_config *c, const char *fn, const char *name)
{
    int64_t sz;
    if (c->in_channels < 1 || c->learned_channels < 0 || c->cond_channels < 1 ||
        c->num_labels < 1 || c->kernel_h < 1 || c->kernel_w < 1 || c->in_channels > INT32_MAX ||
        c->learned_channels > INT32_MAX || c->cond_channels > INT32_MAX ||
        c->kernel_h > INT32_MAX || c->kernel_w > INT32_MAX ||
        !cvae__mul_ok(c->num_labels, c->cond_channels, &sz) ||
        !cvae__mul_ok(sz, c->in_channels, &sz) || !cvae__mul_ok(sz, c->kernel_h, &sz) ||
        !cvae__mul_ok(sz, c->kernel_w, &sz))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: '%s': bad extents Cin %lld, C_learned %lld, C_cond %lld, K %lld, "
                           "kernel %lldx%lld",
                           fn, name, (long long)c->in_channels, (long long)c->learned_channels,
                           (long long)c->cond_channels, (long long)c->num_labels,
                           (long long)c->kernel_h, (long long)c->kernel_w);
    if ((int)c->init < CVAE_INIT_DEFAULT || c->init > CVAE_INIT_TORCH)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: '%s': unknown init scheme %d", fn, name,
                           (int)c->init);
    return cvae__conv_check_opts(fn, &c->conv, false);
}

cvae_status cvae_cond_conv2d_new(cvae_params *p, const char *name,
                                 const cvae_cond_conv2d_config *config, cvae_cond_conv2d **out)
{
    static const char *fn = "cvae_cond_conv2d_new";
    CVAE_CHECK_NULL(p, fn);
    CVAE_CHECK_NULL(name, fn);
    CVAE_CHECK_NULL(config, fn);
    CVAE_CHECK_NULL(out, fn);
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: name length %zu outside [1, %d]", fn, len,
                           MAX_NAME);
    const cvae_cond_conv2d_config c = *config;
    CVAE_TRY(check_config(&c, fn, name));
    const bool learned = c.learned_channels > 0;
    char names[4][MAX_NAME + 16];
    const char *suffix[4] = {"weight", "bias", "table", "table_bias"};
    const bool wanted[4] = {learned, learned && c.bias, true, c.bias != 0};
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "%s.%s", name, suffix[i]);
        if (wanted[i] && cvae_params_find(p, names[i]))
            return cvae__error(CVAE_ERR_INVALID_ARG, "%s: parameter '%s' already exists", fn,
                               names[i]);
    }

    cvae_cond_conv2d *l = cvae__calloc(1, sizeof *l);
    if (!l) return cvae__nomem(fn, sizeof *l);
    const int64_t cin = c.in_channels, kh = c.kernel_h, kw = c.kernel_w, fan_in = cin * kh * kw;
    const int64_t sw[4] = {c.learned_channels, cin, kh, kw}, sb[1] = {c.learned_channels};
    const int64_t st[5] = {c.num_labels, c.cond_channels, cin, kh, kw};
    const int64_t stb[2] = {c.num_labels, c.cond_channels};
    const int tt = c.table_trainable != 0;
    cvae_status s = CVAE_OK;
    if (learned) s = cvae_params_add(p, names[0], 4, sw, 1, &l->weight);
    if (!s && wanted[1]) s = cvae_params_add(p, names[1], 1, sb, 1, &l->bias);
    if (!s) s = cvae_params_add(p, names[2], 5, st, tt, &l->table);
    if (!s && wanted[3]) s = cvae_params_add(p, names[3], 2, stb, tt, &l->table_bias);
    if (!s && learned)
        s = cvae_init_fill(l->weight, c.init, fan_in, c.learned_channels * kh * kw, c.seed,
                           cvae__name_stream(names[0]));
    if (!s) s = cvae__init_bias(l->bias, c.init, fan_in, c.seed, names[1]);
    if (!s) s = cvae_table_fill_random(l->table, c.seed ^ cvae__name_stream(names[2]));
    if (s) {
        cvae__free(l);
        return s;
    }
    l->params = p;
    l->config = c;
    *out = l;
    return CVAE_OK;
}

cvae_status cvae_cond_conv2d_forward(const cvae_cond_conv2d *l, cvae_tape *t, cvae_tensor *x,
                                     const int32_t *labels, cvae_tensor **y)
{
    static const char *fn = "cvae_cond_conv2d_forward";
    CVAE_CHECK_NULL(l, fn);
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(y, fn);
    if (x->ndim != 4 || x->shape[1] != l->config.in_channels) {
        char sx[80];
        return cvae__error(CVAE_ERR_SHAPE, "%s: layer '%s' takes [N, %lld, H, W], got x %s", fn,
                           l->table->name ? l->table->name : "?", (long long)l->config.in_channels,
                           cvae__shape_str(x, sx, sizeof sx));
    }
    return cvae_op_conditional_conv2d_concat(t, x, labels, l->weight, l->bias, l->table,
                                             l->table_bias, &l->config.conv, y);
}

cvae_status cvae_cond_conv2d_set_table_trainable(cvae_cond_conv2d *l, int trainable)
{
    CVAE_CHECK_NULL(l, "cvae_cond_conv2d_set_table_trainable");
    CVAE_TRY(cvae_params_set_trainable(l->params, l->table, trainable));
    if (l->table_bias) CVAE_TRY(cvae_params_set_trainable(l->params, l->table_bias, trainable));
    l->config.table_trainable = trainable != 0;
    return CVAE_OK;
}

cvae_status cvae_cond_conv2d_set_kernel(cvae_cond_conv2d *l, int label, const float *k)
{
    static const char *fn = "cvae_cond_conv2d_set_kernel";
    CVAE_CHECK_NULL(l, fn);
    CVAE_CHECK_NULL(k, fn);
    if (label < 0 || label >= l->config.num_labels)
        return cvae__error(CVAE_ERR_RANGE, "%s: label %d out of range [0, %lld)", fn, label,
                           (long long)l->config.num_labels);
    const int64_t per = l->table->size / l->config.num_labels;
    for (int64_t i = 0; i < per; i++)
        if (!isfinite(k[i]))
            return cvae__error(CVAE_ERR_NUMERIC, "%s: kernel value %lld of label %d is not finite",
                               fn, (long long)i, label);
    memcpy(l->table->data + (int64_t)label * per, k, (size_t)per * sizeof(float));
    return CVAE_OK;
}

void cvae_cond_conv2d_free(cvae_cond_conv2d *l)
{
    cvae__free(l);
}
