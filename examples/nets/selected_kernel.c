#include "selected_kernel.h"

#include <stdlib.h>
#include <string.h>

static const char *const NAMES[SK_FILTERS] = {"blur", "Sobel x", "Sobel y", "Laplacian"};
static const float FILTERS[SK_FILTERS][9] = {
    {1 / 16.f, 2 / 16.f, 1 / 16.f, 2 / 16.f, 4 / 16.f, 2 / 16.f, 1 / 16.f, 2 / 16.f, 1 / 16.f},
    {-1, 0, 1, -2, 0, 2, -1, 0, 1},
    {-1, -2, -1, 0, 0, 0, 1, 2, 1},
    {0, 1, 0, 1, -4, 1, 0, 1, 0}};

const char *sk_filter_name(int k)
{
    return k >= 0 && k < SK_FILTERS ? NAMES[k] : "?";
}

/* Kernel of label k: FILTERS[k] from input channel c to output channel c, zero elsewhere. */
static void fill_filter(int label, int cout, int cin, int kh, int kw, float *kernel, void *user)
{
    (void)user;
    memset(kernel, 0, sizeof(float) * (size_t)(cout * cin * kh * kw));
    for (int c = 0; c < cout && c < cin; c++)
        memcpy(kernel + ((size_t)c * cin + c) * 9, FILTERS[label], sizeof(float) * 9);
}

cvae_status sk_net_new(int k, int hard, int64_t h, int64_t w, uint64_t seed, sk_net **out)
{
    if (!out || k < 1 || k > SK_FILTERS || h < 4 || w < 4 || h % 4 || w % 4)
        return CVAE_ERR_INVALID_ARG;
    sk_net *m = calloc(1, sizeof *m);
    if (!m) return CVAE_ERR_NOMEM;
    m->k = k;
    m->hard = hard != 0;
    m->h = h;
    m->w = w;
    const cvae_conv_opts same = cvae_conv_opts_make(1, 1);
    const int64_t st[5] = {k, SK_CH, SK_CH, 3, 3}, pooled = (h / 4) * (w / 4);
    cvae_status s = cvae_params_new(&m->params);
    cvae_params *p = m->params;
    if (!s)
        s = cvae_conv2d_new(p, "conv1", 1, SK_CH, 3, 3, same, 1, CVAE_INIT_HE_UNIFORM, seed,
                            &m->conv1);
    if (!s)
        s = cvae_linear_new(p, "head", SK_CH * pooled, k, 1, CVAE_INIT_GLOROT_UNIFORM, seed,
                            &m->head);
    if (!s) s = cvae_params_add(p, "selected.table", 5, st, 0, &m->table); /* frozen */
    if (!s) s = cvae_table_fill_callback(m->table, fill_filter, NULL);
    if (!s)
        s = cvae_conv2d_new(p, "conv2", SK_CH, SK_CH2, 3, 3, same, 1, CVAE_INIT_HE_UNIFORM, seed,
                            &m->conv2);
    if (!s)
        s = cvae_linear_new(p, "fc", SK_CH2 * pooled, SK_CLASSES, 1, CVAE_INIT_GLOROT_UNIFORM, seed,
                            &m->fc);
    if (s) {
        sk_net_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

void sk_net_free(sk_net *m)
{
    if (!m) return;
    cvae_conv2d_free(m->conv1);
    cvae_linear_free(m->head);
    cvae_conv2d_free(m->conv2);
    cvae_linear_free(m->fc);
    cvae_params_free(m->params);
    free(m);
}

/* alpha: [N, K] = softmax(8 tanh(l / 8)) of l: [N, K]. */
static cvae_status bounded_softmax(cvae_tape *t, cvae_tensor *l, cvae_tensor **alpha)
{
    const int64_t k = l->shape[1], sq[2] = {k, k};
    cvae_tensor *u, *e, *ones, *sums, *logs, *centred;
    cvae_status s = cvae_op_scale(t, l, 0.125f, &u);
    if (!s) s = cvae_op_tanh(t, u, &u);
    if (!s) s = cvae_op_scale(t, u, 8.0f, &u);
    if (!s) s = cvae_op_exp(t, u, &e);
    if (!s) s = cvae_tape_tensor(t, 2, sq, &ones);
    if (!s) s = cvae_tensor_fill(ones, 1.0f);
    if (!s) s = cvae_op_matmul(t, e, ones, 0, 0, &sums); /* every entry: its row's sum */
    if (!s) s = cvae_op_log(t, sums, &logs);
    if (!s) s = cvae_op_sub(t, u, logs, &centred);
    if (!s) s = cvae_op_exp(t, centred, alpha);
    return s;
}

cvae_status sk_forward(const sk_net *m, cvae_tape *t, cvae_tensor *x, int32_t *choice,
                       cvae_tensor **alpha, cvae_tensor **logits)
{
    const cvae_conv_opts same = cvae_conv_opts_make(1, 1);
    const int64_t n = x->shape[0];
    cvae_tensor *h, *g, *l, *a, *y;
    cvae_status s = cvae_conv2d_forward(m->conv1, t, x, &h);
    if (!s) s = cvae_op_elu(t, h, 1.0f, &h);
    if (!s) s = cvae_op_avg_pool2d(t, h, 4, 4, &g);
    if (!s) s = cvae_op_flatten(t, g, &g);
    if (!s) s = cvae_linear_forward(m->head, t, g, &l);
    if (!s) s = bounded_softmax(t, l, &a);
    if (s) return s;
    if (choice || m->hard) {
        if (!choice) return CVAE_ERR_INVALID_ARG; /* the hard op needs the labels */
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < m->k; k++)
                if (a->data[i * m->k + k] > a->data[i * m->k + best]) best = k;
            choice[i] = best;
        }
    }
    if (m->hard)
        s = cvae_op_conditional_conv2d(t, h, choice, m->table, NULL, &same, &y);
    else
        s = cvae_op_conditional_conv2d_soft(t, h, a, m->table, NULL, &same, &y);
    if (!s) s = cvae_op_elu(t, y, 1.0f, &y);
    if (!s) s = cvae_op_avg_pool2d(t, y, 2, 2, &y);
    if (!s) s = cvae_conv2d_forward(m->conv2, t, y, &y);
    if (!s) s = cvae_op_elu(t, y, 1.0f, &y);
    if (!s) s = cvae_op_avg_pool2d(t, y, 2, 2, &y);
    if (!s) s = cvae_op_flatten(t, y, &y);
    if (!s) s = cvae_linear_forward(m->fc, t, y, logits);
    if (!s && alpha) *alpha = a;
    return s;
}
