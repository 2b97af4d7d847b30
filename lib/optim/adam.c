#include <math.h>

#include "optim/optim_internal.h"

void cvae__adam_run(float *p, const float *g, float *m, float *v, int64_t n,
                    const cvae_adam_opts *o, const cvae__optim_coef *c)
{
    const float decay = c->decay, step_size = c->step_size, bc2_sqrt = c->bc2_sqrt;
    const float b1 = o->beta1, b2 = o->beta2, c1 = 1.0f - o->beta1, c2 = 1.0f - o->beta2;
    const float eps = o->eps, inv_bc2 = 1.0f / bc2_sqrt;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_bc2 + eps);
    }
}
