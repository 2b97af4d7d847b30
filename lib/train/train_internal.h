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

/* The Adam options of training options. */
cvae_adam_opts cvae__adam_opts_of(const cvae_train_opts *o);

#endif
