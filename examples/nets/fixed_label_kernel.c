#include "fixed_label_kernel.h"

#include <stdlib.h>

cvae_status flk_net_new(int64_t learned, int64_t hidden, int64_t classes, uint64_t seed, flk_net **out)
{
    flk_net *m = calloc(1, sizeof *m);
    if (!m) return CVAE_ERR_NOMEM;
    cvae_cond_conv2d_config cc = cvae_cond_conv2d_config_make(1, learned, 1, classes, 3, 2, 1);
    cc.seed = seed;
    cc.table_trainable = 0; /* the per-label kernels are fixed */
    cvae_status s = cvae_params_new(&m->params);
    if (!s) s = cvae_cond_conv2d_new(m->params, "conv1", &cc, &m->conv);
    if (!s) s = cvae_table_fill_gabor(m->conv->table, 1.0f, 3.0f);
    if (!s)
        s = cvae_linear_new(m->params, "fc1", (learned + 1) * 14 * 14, hidden, 1, CVAE_INIT_HE_UNIFORM,
                            seed, &m->fc1);
    if (!s)
        s = cvae_linear_new(m->params, "fc2", hidden, 28 * 28, 1, CVAE_INIT_GLOROT_UNIFORM, seed, &m->fc2);
    if (s) {
        flk_net_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

void flk_net_free(flk_net *m)
{
    if (!m) return;
    cvae_cond_conv2d_free(m->conv);
    cvae_linear_free(m->fc1);
    cvae_linear_free(m->fc2);
    cvae_params_free(m->params);
    free(m);
}

cvae_status flk_forward(const flk_net *m, cvae_tape *t, cvae_tensor *x, const int32_t *labels,
                        cvae_tensor **logits)
{
    cvae_tensor *h, *f, *z;
    cvae_status s = cvae_cond_conv2d_forward(m->conv, t, x, labels, &h);
    if (!s) s = cvae_op_relu(t, h, &h);
    if (!s) s = cvae_op_flatten(t, h, &f);
    if (!s) s = cvae_linear_forward(m->fc1, t, f, &z);
    if (!s) s = cvae_op_relu(t, z, &z);
    if (!s) s = cvae_linear_forward(m->fc2, t, z, logits);
    return s;
}
