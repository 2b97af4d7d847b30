/* Layout copies of the conv family between NCHW tensors and CN matrices, with the fused
 * activation's epilogue and its derivative (conv/core.h). */
#include "ops/conv/core.h"

/* Offset of channel r of the s-th mapped sample in the tensor. */
static int64_t at(const cvae__cn_map *m, int64_t s, int64_t r)
{
    return ((m->idx ? m->idx[s] : s) * m->ctot + m->c0 + r) * m->hw;
}

void cvae__cn_gather(float *cn, const float *x, const cvae__cn_map *m)
{
    for (int64_t s = 0; s < m->n; s++)
        for (int64_t r = 0; r < m->c; r++)
            memcpy(cn + r * m->ld + s * m->hw, x + at(m, s, r), (size_t)m->hw * sizeof(float));
}

void cvae__cn_gather_grad(float *cn, const float *dy, const float *y, const cvae__act *act,
                          float *csum, double *dsum, const cvae__cn_map *m)
{
    const bool grad = act && act->kind != CVAE_ACT_NONE, sums = csum || dsum;
    for (int64_t s = 0; s < m->n; s++)
        for (int64_t r = 0; r < m->c; r++) {
            const int64_t off = at(m, s, r);
            float *dst = cn ? cn + r * m->ld + s * m->hw : NULL, sum = 0.0f;
            if (dst && grad)
                cvae__act_backward(dst, dy + off, y + off, m->hw, act);
            else if (dst)
                memcpy(dst, dy + off, (size_t)m->hw * sizeof(float));
            if (!sums) continue;
            if (dst)
                sum = cvae__sum_floats(dst, m->hw);
            else
                sum = grad ? cvae__act_backward_sum(dy + off, y + off, m->hw, act)
                           : cvae__sum_floats(dy + off, m->hw);
            if (csum) csum[r] += sum;
            if (dsum) dsum[r] += sum;
        }
}

void cvae__cn_scatter(float *y, const float *cn, const float *bias, const cvae__act *act,
                      const cvae__cn_map *m)
{
    static const cvae__act none = {CVAE_ACT_NONE, 0.0f};
    for (int64_t s = 0; s < m->n; s++)
        for (int64_t r = 0; r < m->c; r++)
            cvae__act_bias_forward(y + at(m, s, r), cn + r * m->ld + s * m->hw,
                                   bias ? bias[r] : 0.0f, m->hw, act ? act : &none);
}

void cvae__cn_scatter_add(float *x, const float *cn, const cvae__cn_map *m)
{
    for (int64_t s = 0; s < m->n; s++)
        for (int64_t r = 0; r < m->c; r++) {
            float *dst = x + at(m, s, r);
            const float *src = cn + r * m->ld + s * m->hw;
            for (int64_t p = 0; p < m->hw; p++) dst[p] += src[p];
        }
}
