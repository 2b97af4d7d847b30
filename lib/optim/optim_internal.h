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


/* cvae_optim_step in parts, so that threads can update disjoint ranges:
 * _begin validates and computes the step's coefficients, _range updates the trainable
 * elements in [lo, hi) of the parameter block (elementwise: any split gives the bits of
 * one whole step), _end counts the step. */
typedef struct cvae__optim_coef {
    float decay, step_size, bc2_sqrt;
} cvae__optim_coef;

/* p, g, m, v: [n].  p *= c->decay; m, v updated;
 * p -= c->step_size m / (sqrt(v) / c->bc2_sqrt + eps). */
void cvae__adam_run(float *p, const float *g, float *m, float *v, int64_t n,
                    const cvae_adam_opts *o, const cvae__optim_coef *c);
cvae_status cvae__optim_begin(const cvae_optim *opt, cvae__optim_coef *c);
void cvae__optim_range(cvae_optim *opt, const cvae__optim_coef *c, int64_t lo, int64_t hi);
void cvae__optim_end(cvae_optim *opt);

#endif
