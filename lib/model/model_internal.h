/* Private interface of the model layer: the model object and the ELBO's terms. */
#ifndef CVAE_MODEL_INTERNAL_H
#define CVAE_MODEL_INTERNAL_H

#include "core/internal.h"
#include "core/team.h"
#include "cvae/model.h"

struct cvae_model {
    cvae_model_config cfg;
    cvae_net *net;       /* stacks "enc" and "dec" of cvae__model_arch(&cfg) */
    cvae_elbo_spec elbo; /* the model's loss: its stacks and beta */
    /* batch inference: slices of a batch run on `threads` threads of `team` (see infer.c);
     * the team exists from creation or cvae_model_set_threads on (NULL for 1 thread) */
    int threads;
    cvae__team *team;
};

/* A model of a validated config with freshly initialized weights (seeded by cfg->seed). */
cvae_status cvae__model_build(const cvae_model_config *cfg, cvae_model **out);

/* Validates a batch from the host API: pointers, n >= 1, labels in range, finite images. */
cvae_status cvae__model_check_batch(const cvae_model *m, const char *fn, const float *images,
                                    const int32_t *labels, int64_t n);

/* The terms of the negative ELBO of b->x: [N, C, H, W] (rows b->first.. of a batch: the eps of
 * a row depend on its row in the batch only) with eps from (b->seed, b->step):
 * mu, logvar, z: [N, L], logits: [N, C, H, W], rec, kl: [N]. */
typedef struct cvae__elbo_terms {
    cvae_tensor *mu, *logvar, *z, *logits, *rec, *kl;
} cvae__elbo_terms;
cvae_status cvae__elbo_terms_of(const cvae_net *net, const cvae_elbo_spec *spec, cvae_tape *t,
                                const cvae_batch *b, cvae__elbo_terms *out);

/* mu, logvar: [N, L] of x: [N, C, H, W] through the encoder. */
cvae_status cvae__elbo_encode(const cvae_net *net, const cvae_elbo_spec *spec, cvae_tape *t,
                              cvae_tensor *x, const int32_t *labels, cvae_tensor **mu,
                              cvae_tensor **logvar);

#endif
