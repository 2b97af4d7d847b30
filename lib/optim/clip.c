#include <math.h>

#include "optim/optim_internal.h"

/* Sum of the squares of every trainable gradient, in double. */
static double trainable_sum_sq(const cvae_params *p)
{
    double s = 0.0;
    for (int i = 0; i < cvae_params_count(p); i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        if (!cvae_params_is_trainable(t)) continue;
        for (int64_t k = 0; k < t->size; k++) s += (double)t->grad[k] * t->grad[k];
    }
    return s;
}

cvae_status cvae_clip_grad_norm(cvae_params *params, float max_norm, float *norm_before)
{
    static const char *fn = "cvae_clip_grad_norm";
    CVAE_CHECK_NULL(params, fn);
    if (!(isfinite(max_norm) && max_norm > 0.0f))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: max_norm %g must be finite and > 0", fn,
                           max_norm);
    double norm = sqrt(trainable_sum_sq(params));
    if (!isfinite(norm))
        return cvae__error(CVAE_ERR_NUMERIC, "%s: the gradient norm is not finite", fn);
    if (norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < cvae_params_count(params); i++) {
            cvae_tensor *t = cvae_params_at(params, i);
            if (!cvae_params_is_trainable(t)) continue;
            for (int64_t k = 0; k < t->size; k++) t->grad[k] *= scale;
        }
    }
    if (norm_before) *norm_before = (float)norm;
    return CVAE_OK;
}
