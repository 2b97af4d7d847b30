#include "optim/optim_internal.h"

void cvae__sgd_run(float *p, const float *g, float *buf, int64_t n, const cvae_sgd_opts *o)
{
    const float lr = o->lr, mu = o->momentum, wd = o->weight_decay;
    if (!buf) {
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    if (o->nesterov) {
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            buf[i] = mu * buf[i] + d;
            p[i] -= lr * (d + mu * buf[i]);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        buf[i] = mu * buf[i] + (g[i] + wd * p[i]);
        p[i] -= lr * buf[i];
    }
}
