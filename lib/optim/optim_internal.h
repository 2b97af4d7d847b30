/* Private parts of the optimizers: the object and the flat per-run kernels. */
#ifndef CVAE_OPTIM_INTERNAL_H
#define CVAE_OPTIM_INTERNAL_H

#include "core/internal.h"
#include "cvae/optim.h"

typedef enum { CVAE__OPTIM_SGD, CVAE__OPTIM_ADAM } cvae__optim_kind;

struct cvae_optim {
    cvae__optim_kind kind;
    cvae_params *params;
    int64_t numel; /* size of the parameter block at creation */
    float *m, *v;  /* numel floats each, or NULL when the method keeps none */
    int64_t step;
    cvae_sgd_opts sgd;
    cvae_adam_opts adam;
};

/* p, g, buf: [n].  g' = g + wd p; buf = momentum buf + g' (buf may be NULL when
 * momentum is 0); p -= lr (nesterov ? g' + momentum buf : buf). */
void cvae__sgd_run(float *p, const float *g, float *buf, int64_t n, const cvae_sgd_opts *o);

/* p, g, m, v: [n].  p *= decay; m, v updated; p -= step_size m / (sqrt(v) / bc2_sqrt + eps). */
void cvae__adam_run(float *p, const float *g, float *m, float *v, int64_t n,
                    const cvae_adam_opts *o, float decay, float step_size, float bc2_sqrt);

#endif
