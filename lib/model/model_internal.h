/* Private interface of the model layer: the graph shared by inference and training. */
#ifndef CVAE_MODEL_INTERNAL_H
#define CVAE_MODEL_INTERNAL_H

#include "cvae/model.h"
#include "core/team.h"
#include "tape/tape_internal.h"

struct cvae_model {
    cvae_model_config cfg;
    cvae_params *params;
    /* encoder */
    cvae_tensor *conv1_w, *conv1_b;    /* [E1, C, 3, 3], [E1] (absent when E1 = 0) */
    cvae_tensor *table, *table_b;      /* [K, Cc, C, 3, 3], [K, Cc] (absent when Cc = 0) */
    cvae_tensor *conv2_w, *conv2_b;    /* [E2, E1 + Cc, 3, 3], [E2] */
    cvae_tensor *enc_fc_w, *enc_fc_b;  /* [2 L, E2 H/4 W/4 + K], [2 L] */
    /* decoder */
    cvae_tensor *dec_fc_w, *dec_fc_b;  /* [E2 H/4 W/4, L + K], [E2 H/4 W/4] */
    cvae_tensor *deconv1_w, *deconv1_b; /* [E2, D, 4, 4], [D] */
    cvae_tensor *dtable, *dtable_b;    /* [K, E2, Cc, 4, 4], [K, Cc] (cond_decoder only) */
    cvae_tensor *deconv2_w, *deconv2_b; /* [D (+ Cc), C, 4, 4], [C] */
    /* batch inference: slices of a batch run on `threads` threads (see infer.c); the
     * team is created on first use */
    int threads;
    cvae_team *team;
};

/* Validates a batch from the host API: pointers, n >= 1, labels in range, finite images. */
cvae_status cvae__model_check_batch(const cvae_model *m, const char *fn, const float *images,
                                    const int32_t *labels, int64_t n);

/* x: [N, C, H, W] -> mu, logvar: [N, L]. */
cvae_status cvae__model_encode(const cvae_model *m, cvae_tape *t, cvae_tensor *x,
                               const int32_t *labels, cvae_tensor **mu, cvae_tensor **logvar);

/* z: [N, L] -> logits: [N, C, H, W]. */
cvae_status cvae__model_decode(const cvae_model *m, cvae_tape *t, cvae_tensor *z,
                               const int32_t *labels, cvae_tensor **logits);

/* The per-image loss terms with eps from (seed, stream), x being rows first_row.. of
 * a batch (eps of a row depends on its row in the batch only):
 * rec: [N] BCE sums, kl: [N]; mu/logvar/logits optional outputs. */
typedef struct cvae_model_pass {
    cvae_tensor *mu, *logvar, *z, *logits, *rec, *kl;
} cvae_model_pass;
cvae_status cvae__model_pass(const cvae_model *m, cvae_tape *t, cvae_tensor *x,
                             const int32_t *labels, uint64_t seed, uint64_t stream, int64_t first_row,
                             cvae_model_pass *out);

/* A model whose parameter tensors share m's values but gather gradients into a block
 * of their own, for one member of a data-parallel step (see train.c). */
typedef struct cvae_model_replica {
    cvae_model m;        /* m->cfg; every parameter field points into heads */
    cvae_tensor *heads;  /* one header per parameter of the source model */
    float *grad;         /* cvae_params_numel floats */
} cvae_model_replica;
cvae_status cvae__replica_init(cvae_model_replica *r, const cvae_model *src);
/* Re-reads the source's parameter headers (trainable or frozen may have changed) and
 * zeroes the replica's gradients. */
void cvae__replica_refresh(cvae_model_replica *r, const cvae_model *src);
void cvae__replica_free(cvae_model_replica *r);

/* Element counts of a config's parameters without allocating anything:
 * *total over all of them, *largest of the biggest one (INT64_MAX on overflow). */
void cvae__model_size(const cvae_model_config *cfg, int64_t *total, int64_t *largest);

/* Builds parameters for a validated config (no initialization of values). */
cvae_status cvae__model_alloc(const cvae_model_config *cfg, cvae_model **out);

/* The thread count a new model or trainer takes: OpenBLAS's, within [1, 64]. */
int cvae__default_threads(void);

/* The calling thread's inference tape (recording off), reset and ready. */
cvae_status cvae__thread_tape(cvae_tape **t);

#endif
