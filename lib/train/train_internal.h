/* Private state of a trainer (shared by the step, the checkpoint code and the model layer). */
#ifndef CVAE_TRAIN_INTERNAL_H
#define CVAE_TRAIN_INTERNAL_H

#include "core/team.h"
#include "cvae/train.h"
#include "net/net_internal.h"

/* Whether a checkpoint's metadata value suits the trainer (an error saying why if not). */
typedef cvae_status (*cvae__meta_check_fn)(const void *owner, const char *value);

struct cvae_trainer {
    cvae_net *net;
    cvae_loss_fn loss;
    void *user;
    cvae_optim *opt;
    cvae_train_opts opts;
    int64_t skipped;
    int in_ndim;        /* per-sample input shape: the first stack's */
    int64_t in[4], per; /* per: elements per sample */
    cvae_tape *tape;    /* member 0's workspace */
    /* data parallelism: member i > 0 of the team runs replicas[i - 1] on tapes[i - 1] */
    cvae__team *team;
    cvae_net **replicas;
    cvae_tape **tapes;
    /* several workers (cvae_trainer_set_dist; dist.ranks 0: none) and the block a step sums
     * over them besides the gradients: [loss, failed, differs, batch norm statistics...] */
    cvae_dist dist;
    float *extras;
    int64_t n_extras;
    uint64_t checksums[2]; /* of the last comparison: this worker's, worker 0's */
    /* one more metadata entry checkpoints carry (a model trainer: its configuration), and how
     * a restore checks the file's value of it (NULL: equal strings) */
    char *meta_key, *meta_value;
    cvae__meta_check_fn meta_check;
    const void *meta_owner;
};

/* Sets the extra metadata entry of the trainer's checkpoints (copied) and the check of a
 * restored file's value (check(owner, value), NULL for string equality). */
cvae_status cvae__trainer_set_meta(cvae_trainer *tr, const char *key, const char *value,
                                   cvae__meta_check_fn check, const void *owner);

/* Checks training options (lr > 0, betas in [0, 1), eps > 0, weight decay and clip_norm
 * >= 0, all finite); messages name fn. */
cvae_status cvae__train_opts_check(const cvae_train_opts *o, const char *fn);

/* cvae_trainer_restore from an open file (messages without the path). */
cvae_status cvae__trainer_restore_from(cvae_trainer *tr, const cvae_st_file *f, int64_t *epoch);

/* Rows [*first, *end) of a batch of n rows that worker `rank` of `ranks` computes: the
 * slices of min(n, ranks) workers, as a thread team cuts a batch (none beyond them). */
static inline void cvae__worker_rows(int64_t n, int rank, int ranks, int64_t *first, int64_t *end)
{
    const int active = n < ranks ? (int)n : ranks;
    *first = *end = 0;
    if (rank < active) cvae__team_slice(n, rank, active, first, end);
}

/* Several workers (lib/train/dist.c). Whether the step before which the trainer stands is
 * one whose parameter checksums are compared. */
bool cvae__dist_check_due(const cvae_trainer *tr);
/* Broadcasts worker 0's checksum; *differs: whether this worker's is another. */
cvae_status cvae__dist_compare(cvae_trainer *tr, bool *differs);
/* Sums over the workers this worker's *loss (replaced by the total), whether it failed
 * (local, its status) and whether its parameters differ, and (stats) gives every worker
 * worker 0's batch norm statistics. Returns local, or an error if another worker failed or
 * some parameters differ: the same outcome on every worker. */
cvae_status cvae__dist_gather(cvae_trainer *tr, float *loss, cvae_status local, bool differs,
                              bool stats, const char *fn);
/* Releases what cvae_trainer_set_dist allocated. */
void cvae__dist_drop(cvae_trainer *tr);

/* The Adam options of training options. */
cvae_adam_opts cvae__adam_opts_of(const cvae_train_opts *o);

#endif
