/** @file
 * cvae/model.h: the conditional convolutional VAE and its host API.
 *
 * Default (reference) architecture, for 1x28x28 images and K = 10 labels:
 *   encoder: h1 = relu(conv 1->32, 3x3, s2, p1)(x)                    [32x14x14]
 *            c  = relu(conditional conv 1->8, 3x3, s2, p1, table over K labels, bias)(x)
 *            h  = concat(h1, c)                                       [40x14x14]
 *            h2 = relu(conv 40->64, 3x3, s2, p1)(h)                   [64x7x7]
 *            e  = concat(flatten(h2), onehot(y))                      [3146]
 *            (mu, logvar) = linear 3146 -> 2*16
 *   z = mu + exp(logvar / 2) eps
 *   decoder: d = relu(linear 26 -> 3136)(concat(z, onehot(y)))        [64x7x7]
 *            d = relu(conv-transpose 64->32, 4x4, s2, p1)(d)           [32x14x14]
 *            logits = conv-transpose 32->1, 4x4, s2, p1 (d)            [1x28x28]
 *   loss per image: BCE with logits summed over pixels + beta KL(q(z|x,y) || N(0, I)), nats.
 *   Weights: PyTorch's default initialization (CVAE_INIT_TORCH), biases included.
 *
 * Thread safety: a model is read-only during inference; cvae_model_forward,
 * _encode, _decode, _generate, _elbo and _iw_nll may run concurrently on one
 * model from many threads. Each thread keeps its own workspace, created on its
 * first call and reused (no allocation once warm); cvae_thread_workspace_release
 * frees it early. Training (cvae_trainer_*) mutates the model: one calling thread
 * at a time (a step may run on the trainer's own threads, see cvae_trainer_set_threads),
 * and no concurrent inference on the same model. */
#ifndef CVAE_MODEL_H
#define CVAE_MODEL_H

#include "cvae/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Model configuration. Start from cvae_model_config_default() and change fields. */
typedef struct cvae_model_config {
    int image_channels;  /**< C (1) */
    int image_h;         /**< H (28), a multiple of 4 */
    int image_w;         /**< W (28), a multiple of 4 */
    int num_labels;      /**< K (10) */
    int latent;          /**< latent size (16) */
    int enc_channels;    /**< learned filters of the first conv (32) */
    int cond_channels;   /**< label-indexed filters of the first conv (8); 0 disables */
    int enc2_channels;   /**< filters of the second conv, also the decoder's 7x7 depth (64) */
    int dec_channels;    /**< filters of the first conv-transpose (32) */
    int table_trainable; /**< 1: the conditional table is trained; 0: frozen at its init */
    cvae_table_init table_init; /**< initial table (CVAE_TABLE_RANDOM) */
    int cond_decoder;    /**< 1: the first conv-transpose also has cond_channels
                              label-indexed filters (a conditional decoder) */
    cvae_init init;      /**< initialization of every layer (CVAE_INIT_TORCH: PyTorch's,
                              biases included); CVAE_INIT_ZEROS is refused. A configuration
                              read without it (a file of an older cvae) has CVAE_INIT_DEFAULT,
                              the scheme those files were made with */
    float beta;          /**< weight of the KL term (1) */
    int kl_warmup;       /**< KL warm-up: training steps over which the KL weight rises
                              linearly from 0 to beta (0: none; see cvae_elbo_spec) */
    uint64_t seed;       /**< initialization seed */
} cvae_model_config;

/** The reference configuration above. */
CVAE_API cvae_model_config cvae_model_config_default(void);

/** Checks every field (positive sizes, H and W multiples of 4, finite beta >= 0, ...). */
CVAE_API cvae_status cvae_model_config_validate(const cvae_model_config *cfg);

/** Writes cfg as a JSON object into a new string (free with cvae_free_buffer). */
CVAE_API cvae_status cvae_model_config_to_json(const cvae_model_config *cfg, char **json);

/** Parses a JSON object written by cvae_model_config_to_json (absent keys keep
 *  their default, except "init": absent, it is CVAE_INIT_DEFAULT, the scheme of the
 *  files written before the key existed; an unknown or repeated key is CVAE_ERR_FORMAT
 *  naming it) and validates it. */
CVAE_API cvae_status cvae_model_config_from_json(const char *json, size_t len,
                                                 cvae_model_config *cfg);

/** A conditional VAE: configuration and parameters (opaque). */
typedef struct cvae_model cvae_model;

/** A new model with freshly initialized weights (seeded by cfg->seed). */
CVAE_API cvae_status cvae_model_new(const cvae_model_config *cfg, cvae_model **out);

/** Loads a model file (safetensors; see docs/model-format.md). Validates the
 *  checksum, the configuration and every tensor's shape. Checkpoints load too
 *  (their optimizer state is ignored). */
CVAE_API cvae_status cvae_model_load(const char *path, cvae_model **out);

/** Saves the weights and configuration atomically (temporary file + rename). */
CVAE_API cvae_status cvae_model_save(const cvae_model *m, const char *path);

/** Frees the model. NULL is a no-op. */
CVAE_API void cvae_model_free(cvae_model *m);

/** The model's configuration (owned by the model). */
CVAE_API const cvae_model_config *cvae_model_get_config(const cvae_model *m);

/** The model's parameter block (owned by the model). */
CVAE_API cvae_params *cvae_model_params(cvae_model *m);

/** Encodes, samples z with eps from `seed` (eps of sample i depends only on seed and i)
 *  and decodes.  images: [n, C, H, W] in [0, 1]; labels: int32[n] in [0, K).
 *  Outputs (each may be NULL): recon: [n, C, H, W] Bernoulli means (sigmoid of the
 *  logits); mu, logvar: [n, latent]. */
CVAE_API cvae_status cvae_model_forward(const cvae_model *m, const float *images,
                                        const int32_t *labels, int64_t n, uint64_t seed,
                                        float *out_recon, float *out_mu, float *out_logvar);

/** mu, logvar: [n, latent] of q(z | x, y). Either output may be NULL. */
CVAE_API cvae_status cvae_model_encode(const cvae_model *m, const float *images,
                                       const int32_t *labels, int64_t n, float *out_mu,
                                       float *out_logvar);

/** Decodes z: [n, latent] under labels into out_images: [n, C, H, W] (Bernoulli means). */
CVAE_API cvae_status cvae_model_decode(const cvae_model *m, const float *z, const int32_t *labels,
                                       int64_t n, float *out_images);

/** Samples z ~ N(0, I) from `seed` and decodes under labels.  out_images: [n, C, H, W]. */
CVAE_API cvae_status cvae_model_generate(const cvae_model *m, const int32_t *labels, int64_t n,
                                         uint64_t seed, float *out_images);

/** Per-image terms of the negative ELBO with one z sample from `seed`:
 *  out_rec[i] = BCE summed over pixels, out_kl[i] = KL(q || N(0, I)) (nats; -ELBO = rec + kl).
 *  Either output may be NULL. */
CVAE_API cvae_status cvae_model_elbo(const cvae_model *m, const float *images, const int32_t *labels,
                                     int64_t n, uint64_t seed, float *out_rec, float *out_kl);

/** Importance-weighted estimate of -log p(x | y) with k samples per image (nats):
 *  -log (1/k sum_j p(x|z_j,y) p(z_j) / q(z_j|x,y)).  out_nll: [n]. */
CVAE_API cvae_status cvae_model_iw_nll(const cvae_model *m, const float *images,
                                       const int32_t *labels, int64_t n, int k, uint64_t seed,
                                       float *out_nll);

/** Writes a Keras-like table of layers, output shapes and parameter counts into
 *  buf (always NUL-terminated when size > 0); *needed (may be NULL) receives the
 *  full length + 1. */
CVAE_API cvae_status cvae_model_summary(const cvae_model *m, char *buf, size_t size, size_t *needed);

/** Threads of the batch entry points above (1..64): a batch of n images is split into
 *  min(threads, n) contiguous slices that run at once on a team of threads the model
 *  starts on first use, each calling BLAS single-threaded (so batch 1 never pays for
 *  OpenBLAS's threads either). The slicing depends on `threads` and n only: results are
 *  the same whoever runs the slices, and when the team is busy with another caller's
 *  batch the slices run one after another on the calling thread. A new or loaded model
 *  takes OpenBLAS's thread count (OPENBLAS_NUM_THREADS, else the number of cores); 1
 *  runs everything on the calling thread with BLAS as configured (the right choice when
 *  the host already runs one inference per core). Not while other threads use m. */
CVAE_API cvae_status cvae_model_set_threads(cvae_model *m, int threads);
/** Threads of the batch entry points (see cvae_model_set_threads); 0 for NULL. */
CVAE_API int cvae_model_threads(const cvae_model *m);

/** Frees the calling thread's inference workspace (it is recreated on demand). */
CVAE_API void cvae_thread_workspace_release(void);

/** The model's network: stacks "enc" (images -> [2 latent]: mu, then logvar) and "dec"
 *  ([latent] -> logits [C, H, W]), built from the layer tables above (owned by the model). */
CVAE_API cvae_net *cvae_model_net(const cvae_model *m);

/* ---- training (the generic trainer of cvae/train.h, with the ELBO as its loss) ---- */

/** Which stacks of a network form a conditional VAE, for cvae_elbo_loss. */
typedef struct cvae_elbo_spec {
    int encoder;   /**< stack: inputs x -> [2 L] (mu, then logvar) */
    int decoder;   /**< stack: [L] -> logits of x's shape */
    float beta;    /**< weight of the KL term */
    int kl_warmup; /**< KL warm-up steps W (0: none): while training (the tape records),
                        step t weighs the KL term by beta min(1, t / W) */
} cvae_elbo_spec;

/** The conditional VAE's loss as a cvae_loss_fn (user: a cvae_elbo_spec): per sample
 *  BCE(logits, x) summed over x's elements + beta_t KL(N(mu, e^logvar) || N(0, I)), with
 *  z = mu + e^(logvar/2) eps and eps drawn from (b->seed, b->step) at the sample's row of
 *  the batch. x in [0, 1]. beta_t = beta min(1, b->step / kl_warmup) on a recording tape
 *  (a training step) with kl_warmup > 0, else beta (an evaluation: the ELBO itself). */
CVAE_API cvae_status cvae_elbo_loss(const cvae_net *net, cvae_tape *t, const cvae_batch *b,
                                    void *spec, cvae_tensor **loss);

/** A trainer of model m (which must outlive it) with the ELBO of m's configuration as its
 *  loss: cvae_trainer_new_net(cvae_model_net(m), opts, cvae_elbo_loss, ...). */
CVAE_API cvae_status cvae_trainer_new(cvae_model *m, const cvae_train_opts *opts,
                                      cvae_trainer **out);

/** Loads a checkpoint of a model trainer into a new model and trainer (training options
 *  from the file). *epoch (may be NULL) receives the epoch saved with it. */
CVAE_API cvae_status cvae_trainer_load(const char *path, cvae_model **model, cvae_trainer **tr,
                                       int64_t *epoch);

#ifdef __cplusplus
}
#endif
#endif
