/* cvae_layer's forward: each kind is one public op (or two, joined by a concat). */
#include "nn/layer.h"

/* p[l->param[role]], or NULL when the layer has no such parameter. */
static cvae_tensor *param(const cvae__layer *l, cvae_tensor *const *p, cvae__role role)
{
    return l->param[role] >= 0 ? p[l->param[role]] : NULL;
}

/* Conv2D: learned filters, label-indexed ones, or both on one lowering of x. */
static cvae_status conv2d(const cvae__layer *l, cvae_tensor *const *p, cvae_tape *t, cvae_tensor *x,
                          const int32_t *labels, cvae_tensor **y)
{
    cvae_tensor *w = param(l, p, CVAE__WEIGHT), *b = param(l, p, CVAE__BIAS);
    cvae_tensor *table = param(l, p, CVAE__TABLE), *tb = param(l, p, CVAE__TABLE_BIAS);
    if (!table) return cvae_op_conv2d(t, x, w, b, &l->conv, y);
    if (!w) return cvae_op_conditional_conv2d(t, x, labels, table, tb, &l->conv, y);
    return cvae_op_conditional_conv2d_concat(t, x, labels, w, b, table, tb, &l->conv, y);
}

/* ConvTranspose2D: learned filters, label-indexed ones, or both, concatenated. */
static cvae_status conv_transpose2d(const cvae__layer *l, cvae_tensor *const *p, cvae_tape *t,
                                    cvae_tensor *x, const int32_t *labels, cvae_tensor **y)
{
    cvae_tensor *w = param(l, p, CVAE__WEIGHT), *b = param(l, p, CVAE__BIAS);
    cvae_tensor *table = param(l, p, CVAE__TABLE), *tb = param(l, p, CVAE__TABLE_BIAS);
    if (!table) return cvae_op_conv_transpose2d(t, x, w, b, &l->conv, y);
    cvae_tensor *parts[2];
    if (!w) return cvae_op_conditional_conv_transpose2d(t, x, labels, table, tb, &l->conv, y);
    CVAE_TRY(cvae_op_conv_transpose2d(t, x, w, b, &l->conv, &parts[0]));
    CVAE_TRY(cvae_op_conditional_conv_transpose2d(t, x, labels, table, tb, &l->conv, &parts[1]));
    return cvae_op_concat(t, parts, 2, 1, y);
}

static cvae_status batch_norm(const cvae__layer *l, cvae_tensor *const *p, cvae_tape *t,
                              cvae_tensor *x, cvae_tensor **y)
{
    const cvae_layer *s = &l->spec;
    cvae_tensor *h;
    CVAE_TRY(cvae_op_batch_norm2d(t, x, param(l, p, CVAE__WEIGHT), param(l, p, CVAE__BIAS),
                                  param(l, p, CVAE__RUNNING_MEAN), param(l, p, CVAE__RUNNING_VAR),
                                  s->momentum, s->eps, cvae_tape_recording(t), &h));
    if (s->activation == CVAE_ACT_NONE) {
        *y = h;
        return CVAE_OK;
    }
    return cvae_op_activation(t, h, s->activation, s->alpha, y);
}

static cvae_status label_concat(const cvae__layer *l, cvae_tape *t, cvae_tensor *x,
                                const int32_t *labels, cvae_tensor **y)
{
    cvae_tensor *parts[2] = {x, NULL};
    CVAE_TRY(cvae_op_one_hot(t, labels, x->shape[0], l->spec.labels, &parts[1]));
    return cvae_op_concat(t, parts, 2, 1, y);
}

cvae_status cvae__layer_forward(const cvae__layer *l, cvae_tensor *const *p, cvae_tape *t,
                                cvae_tensor *x, const int32_t *labels, cvae_tensor **y)
{
    const cvae_layer *s = &l->spec;
    switch (s->kind) {
    case CVAE_LAYER_LINEAR:
        return cvae_op_linear_act(t, x, param(l, p, CVAE__WEIGHT), param(l, p, CVAE__BIAS),
                                  s->activation, s->alpha, y);
    case CVAE_LAYER_CONV2D:
        return conv2d(l, p, t, x, labels, y);
    case CVAE_LAYER_CONV_TRANSPOSE2D:
        return conv_transpose2d(l, p, t, x, labels, y);
    case CVAE_LAYER_BATCH_NORM2D:
        return batch_norm(l, p, t, x, y);
    case CVAE_LAYER_ACTIVATION:
        return cvae_op_activation(t, x, s->activation, s->alpha, y);
    case CVAE_LAYER_FLATTEN:
        return cvae_op_flatten(t, x, y);
    case CVAE_LAYER_RESHAPE: {
        int64_t shape[5] = {x->shape[0], 1, 1, 1, 1};
        memcpy(shape + 1, l->out, (size_t)l->out_ndim * sizeof *shape);
        return cvae_op_reshape(t, x, l->out_ndim + 1, shape, y);
    }
    case CVAE_LAYER_LABEL_CONCAT:
        return label_concat(l, t, x, labels, y);
    case CVAE_LAYER_MAX_POOL2D:
        return cvae_op_max_pool2d(t, x, s->kernel, s->stride, y);
    case CVAE_LAYER_AVG_POOL2D:
        return cvae_op_avg_pool2d(t, x, s->kernel, s->stride, y);
    case CVAE_LAYER_UPSAMPLE2D:
        return cvae_op_upsample_nearest2d(t, x, s->scale, y);
    case CVAE_LAYER_NONE:
        break;
    }
    return cvae__error(CVAE_ERR_STATE, "layer of unknown kind %d", (int)s->kind);
}
