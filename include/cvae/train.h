/** @file
 * cvae/train.h: training any network (cvae/net.h) with any loss: Adam steps on every core,
 * finite checks, clipping, learning-rate setting, checkpoints with the optimizer state and
 * bit-exact resume; and a loader that shuffles a dataset (seeded) and yields batches.
 *
 *     cvae_trainer *tr;
 *     cvae_train_opts o = cvae_train_opts_default();          // Adam, lr 1e-3
 *     cvae_trainer_new_net(net, &o, my_loss, NULL, &tr);
 *     cvae_loader *ld;
 *     cvae_loader_new(train_set, 128, CVAE_BINARIZE_NONE, seed, 1, &ld);
 *     for (int epoch = 0; epoch < 10; epoch++) {
 *         double loss;
 *         cvae_trainer_epoch(tr, ld, &loss);     // or, batch by batch:
 *         // while (cvae_loader_next(ld, &x, &y, &n) == CVAE_OK && n > 0)
 *         //     cvae_trainer_step(tr, x, y, n, &step_loss);
 *         cvae_trainer_save(tr, epoch + 1, "ckpt.safetensors");
 *     }
 *
 * A step allocates nothing once the first one has run. A trainer mutates its network: no
 * other thread may use the network while a step runs.
 */
#ifndef CVAE_TRAIN_H
#define CVAE_TRAIN_H

#include "cvae/net.h"
#include "cvae/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How the learning rate changes with the step t (cvae_train_lr_at). */
typedef enum cvae_lr_schedule {
    CVAE_LR_CONSTANT = 0, /**< lr */
    CVAE_LR_COSINE = 1,   /**< lr_min + (lr - lr_min) (1 + cos(pi s / decay_steps)) / 2 at step s
                               of the decay, lr_min from s = decay_steps on */
    CVAE_LR_STEP = 2      /**< lr gamma^floor(s / decay_steps) */
} cvae_lr_schedule;

/** Training options: Adam with decoupled weight decay, optional clipping, a learning-rate
 *  schedule. Zero-initialized schedule fields (schedule, warmup_steps, decay_steps, lr_min,
 *  gamma) give a constant learning rate. */
typedef struct cvae_train_opts {
    float lr;           /**< 1e-3 */
    float beta1;        /**< 0.9 */
    float beta2;        /**< 0.999 */
    float eps;          /**< 1e-8 */
    float weight_decay; /**< 0 */
    float clip_norm;    /**< global gradient norm limit; 0 = none */
    uint64_t seed;      /**< seed of the noise a loss draws (cvae_batch.seed) */
    int skip_nonfinite; /**< 1: a step whose loss or gradient is NaN/Inf is skipped
                             (counted) instead of failing with CVAE_ERR_NUMERIC */
    cvae_lr_schedule schedule; /**< CVAE_LR_CONSTANT */
    int64_t warmup_steps;      /**< linear warm-up: step t < warmup_steps takes lr (t + 1) /
                                    warmup_steps; the schedule starts after it (s = t -
                                    warmup_steps); 0: none */
    int64_t decay_steps;       /**< cosine: length of the decay (>= 1); step: the period (>= 1) */
    float lr_min;              /**< cosine: the final rate, in [0, lr] (0) */
    float gamma;               /**< step: the factor per period, in (0, 1] */
} cvae_train_opts;

/** lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay, no clipping, seed 1, constant
 *  learning rate. */
CVAE_API cvae_train_opts cvae_train_opts_default(void);

/** The learning rate of step t (0-based count of the optimizer's updates) under o's
 *  warm-up and schedule; 0 for NULL o or t < 0. */
CVAE_API float cvae_train_lr_at(const cvae_train_opts *o, int64_t t);

/** One slice of a training batch, as a loss sees it. With several threads a batch of
 *  `batch` rows is cut into contiguous slices, one per thread. */
typedef struct cvae_batch {
    cvae_tensor *x;        /**< [n, in_shape...]: the slice's inputs, on the loss's tape */
    const int32_t *labels; /**< [n]: their labels (NULL when the step was given none) */
    int64_t n;             /**< rows of the slice */
    int64_t first;         /**< row of the slice's first sample in the batch */
    int64_t batch;         /**< rows of the whole batch */
    uint64_t seed;         /**< the trainer's seed (cvae_train_opts.seed) */
    uint64_t step;         /**< this step's noise stream (steps taken + steps skipped) */
} cvae_batch;

/** A loss: on tape t, the loss of slice b computed through `net`, written to *loss as
 *  per-sample values [n] or their sum [1]. The trainer adds the slices' sums and divides by
 *  the batch's rows, so a step minimizes the batch mean. Use the `net` passed in, not your
 *  own pointer: each thread runs a replica of the trainer's network that gathers its own
 *  gradients. Draw noise so that a sample's noise depends on its row in the batch (first +
 *  i) and not on the slicing, e.g. cvae_op_reparameterize_from(t, mu, lv, b->seed, b->step,
 *  b->first * D, &z): then results do not depend on the thread count beyond rounding. */
typedef cvae_status (*cvae_loss_fn)(const cvae_net *net, cvae_tape *t, const cvae_batch *b,
                                    void *user, cvae_tensor **loss);

/** A training session: optimizer state, step counter, workspaces (opaque). */
typedef struct cvae_trainer cvae_trainer;

/** A trainer of `net` (which must outlive it and gets no more stacks) minimizing `loss`
 *  (called with `user`). The inputs a step takes have the per-sample input shape of the
 *  network's first stack. */
CVAE_API cvae_status cvae_trainer_new_net(cvae_net *net, const cvae_train_opts *opts,
                                          cvae_loss_fn loss, void *user, cvae_trainer **out);

/** Frees the trainer (not its network or model). NULL is a no-op. */
CVAE_API void cvae_trainer_free(cvae_trainer *tr);

/** One optimizer step on a batch.  inputs: [n, in_shape...] (for a model: [n, C, H, W]
 *  images); labels: int32[n] (may be NULL for a network without label-indexed layers whose
 *  loss needs none). *out_loss (may be NULL): the batch's mean loss. Non-finite loss or
 *  gradients: CVAE_ERR_NUMERIC and the parameters are left unchanged (or the step is
 *  skipped and counted, see skip_nonfinite). */
CVAE_API cvae_status cvae_trainer_step(cvae_trainer *tr, const float *inputs, const int32_t *labels,
                                       int64_t n, float *out_loss);

/** The mean loss of a batch without a step (validation): the loss runs with the tape not
 *  recording (batch norm on its running statistics), sliced over the trainer's threads like a
 *  step, drawing its noise from (seed, 0) at each sample's row of the batch. */
CVAE_API cvae_status cvae_trainer_eval(cvae_trainer *tr, const float *inputs, const int32_t *labels,
                                       int64_t n, uint64_t seed, float *out_loss);

/** Threads of a training step (1..64). With t > 1 the batch is split into t contiguous
 *  slices (sizes differing by at most one); each runs forward and backward on its own
 *  thread, calling BLAS single-threaded, and the gradients are summed in slice order.
 *  So both cores do all the work, not only the GEMMs. A new trainer takes OpenBLAS's
 *  thread count (OPENBLAS_NUM_THREADS, else the number of cores); 1 runs the step on the
 *  calling thread with BLAS as configured. Results are bitwise reproducible for a given
 *  thread count; between counts they differ by rounding only. Batch norm layers update
 *  their running statistics from the first slice only (as PyTorch's DistributedDataParallel
 *  keeps the first replica's). On failure (no memory, no thread) the trainer is left with
 *  1 thread. */
CVAE_API cvae_status cvae_trainer_set_threads(cvae_trainer *tr, int threads);
/** Threads of a training step (see cvae_trainer_set_threads). */
CVAE_API int cvae_trainer_threads(const cvae_trainer *tr);

/** Steps taken (optimizer updates applied). */
CVAE_API int64_t cvae_trainer_steps(const cvae_trainer *tr);
/** Steps skipped because of non-finite values. */
CVAE_API int64_t cvae_trainer_skipped(const cvae_trainer *tr);
/** Sets the learning rate for the next steps (> 0, finite): the base rate `lr` of the
 *  options, which the warm-up and the schedule scale (a cosine schedule's lr_min must not
 *  exceed it). */
CVAE_API cvae_status cvae_trainer_set_lr(cvae_trainer *tr, float lr);
/** The learning rate of the next step, warm-up and schedule applied (0 for NULL). */
CVAE_API float cvae_trainer_lr(const cvae_trainer *tr);
/** The network being trained. */
CVAE_API cvae_net *cvae_trainer_net(const cvae_trainer *tr);

/** Saves the network's parameters, the optimizer state, the step counters, the training
 *  options and `epoch` atomically (a model trainer also saves the model's configuration,
 *  so cvae_trainer_load can rebuild it). */
CVAE_API cvae_status cvae_trainer_save(const cvae_trainer *tr, int64_t epoch, const char *path);

/** Restores a checkpoint of cvae_trainer_save into a trainer of a network built the same
 *  way (every parameter present with its shape: strict): parameters, optimizer state, step
 *  counters and training options, so that the next steps are bit for bit those of the run
 *  that saved it. *epoch (may be NULL) receives the epoch saved with it. Everything is
 *  checked first; on an error the trainer and its network are unchanged. */
CVAE_API cvae_status cvae_trainer_restore(cvae_trainer *tr, const char *path, int64_t *epoch);

/* ---- several workers: data parallelism across processes or machines ------ */

/** How a worker of a data-parallel job talks to the others: an engine fills it in (cvae/mpi.h
 *  does, for MPI; the library itself uses no engine). Every worker runs a trainer of the same
 *  network with the same options and calls cvae_trainer_step (and _eval) with the same global
 *  batch; worker `rank` computes rows [rank n / w, (rank + 1) n / w) of it, w = min(n, ranks)
 *  (none when rank >= n), on its own thread team, and the step sums what the workers computed
 *  through `sum`. The callbacks are collective: every worker calls them in the same order with
 *  the same sizes, from the thread that calls the trainer (never from its helper threads). A
 *  callback's error fails that worker's call: an engine should fail on every worker or end the
 *  job (MPI does), never leave the others waiting. */
typedef struct cvae_dist {
    int rank;  /**< this worker, in [0, ranks) */
    int ranks; /**< workers, 1..65536 */
    /** Sums data[0..n) elementwise over the workers, in place. Every worker must receive
     *  bitwise the same result. */
    cvae_status (*sum)(float *data, int64_t n, void *user);
    /** Copies worker 0's `bytes` bytes at data into every worker's data. */
    cvae_status (*broadcast)(void *data, int64_t bytes, void *user);
    void *user;          /**< passed to both callbacks */
    int64_t check_every; /**< compare a checksum of the parameters across the workers before
                              every check_every-th step (0: only cvae_trainer_check_sync) */
} cvae_dist;

/** Makes tr one worker of a data-parallel job (NULL: a job of its own again). Collective:
 *  broadcasts worker 0's parameters, Adam state and step counters, so every worker starts
 *  from the same state (create or restore first, then call this). A step then:
 *    1. runs forward and backward on this worker's rows on its thread team, and sums the team's
 *       gradients in slice order;
 *    2. sums over the workers the loss, whether each worker failed (a worker's error fails
 *       every worker's step) and, when a checksum is due, whether its parameters differ from
 *       worker 0's; batch norm statistics are worker 0's (others add -0.0);
 *    3. sums the gradient block (cvae_params_numel floats: 4 bytes each) over the workers;
 *    4. then checks, clips and applies Adam as one process would: a NaN/Inf anywhere is seen by
 *       every worker, which all skip the step or all fail.
 *  Bytes summed per step: 4 (numel + 3 + batch norm statistics). With a sum that adds the
 *  workers in rank order, w workers of 1 thread give bitwise the results of one process of w
 *  threads. A step allocates nothing more. d is copied; its callbacks must stay valid. */
CVAE_API cvae_status cvae_trainer_set_dist(cvae_trainer *tr, const cvae_dist *d);

/** Compares a checksum of the parameters (and the step counters, seed and learning rate)
 *  across the workers now. Collective. CVAE_ERR_STATE on every worker if any differs from
 *  worker 0 ("parameters differ across workers ..."); CVAE_OK on a trainer without workers.
 *  *checksum (may be NULL): this worker's checksum. */
CVAE_API cvae_status cvae_trainer_check_sync(cvae_trainer *tr, uint64_t *checksum);

/* ---- batches from a dataset ---------------------------------------------- */

/** Yields the batches of a dataset (cvae/io.h), epoch after epoch (opaque). */
typedef struct cvae_loader cvae_loader;

/** A loader of `batch` samples per batch (the last one of an epoch may be smaller) from
 *  ds (which must outlive it), converted by `mode` (CVAE_BINARIZE_STOCHASTIC draws from
 *  seed + epoch). With shuffle, each epoch visits the samples in a Fisher-Yates order keyed
 *  by (seed, epoch) (the same for any thread or process count); without, in file order. */
CVAE_API cvae_status cvae_loader_new(const cvae_dataset *ds, int64_t batch, cvae_binarize mode,
                                     uint64_t seed, int shuffle, cvae_loader **out);

/** Frees the loader. NULL is a no-op. */
CVAE_API void cvae_loader_free(cvae_loader *l);

/** The next batch of the current epoch: *images: [*n, 1, rows, cols], *labels: [*n] (both
 *  owned by the loader, valid until the next call). At the end of an epoch *n = 0 (and the
 *  pointers are NULL); the call after it starts the next epoch. */
CVAE_API cvae_status cvae_loader_next(cvae_loader *l, const float **images, const int32_t **labels,
                                      int64_t *n);

/** The epoch the next batch belongs to (from 0). */
CVAE_API int64_t cvae_loader_epoch(const cvae_loader *l);

/** Batches per epoch. */
CVAE_API int64_t cvae_loader_batches(const cvae_loader *l);

/** Steps through the rest of ld's current epoch (until it yields n = 0), one step per batch.
 *  *mean_loss (may be NULL) receives the mean of the steps' losses over the samples seen. */
CVAE_API cvae_status cvae_trainer_epoch(cvae_trainer *tr, cvae_loader *ld, double *mean_loss);

/** The mean loss over the rest of ld's current epoch without a step (cvae_trainer_eval of
 *  every batch with noise seed `seed`), e.g. on a test set: *mean_loss over its samples. */
CVAE_API cvae_status cvae_trainer_evaluate(cvae_trainer *tr, cvae_loader *ld, uint64_t seed,
                                           double *mean_loss);

/** Continues at batch `index` (0..batches) of `epoch` (>= 0), e.g. after a restore. */
CVAE_API cvae_status cvae_loader_seek(cvae_loader *l, int64_t epoch, int64_t index);

/** A loader for worker `rank` of `ranks` (cvae_trainer_set_dist): each batch is the same as
 *  without, but only the rows that worker computes (see cvae_dist) are read and converted; the
 * others are not written (finite: zeros at first, then rows of earlier batches). So a worker's
 * input work is its share of the batch. (0, 1) reads every row again. */
CVAE_API cvae_status cvae_loader_shard(cvae_loader *l, int rank, int ranks);

#ifdef __cplusplus
}
#endif
#endif
