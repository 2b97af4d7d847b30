/* Private state of a trainer (shared by train.c and the checkpoint code). */
#ifndef CVAE_TRAIN_INTERNAL_H
#define CVAE_TRAIN_INTERNAL_H

#include "model/model_internal.h"

#include "core/team.h"

struct cvae_trainer {
    cvae_model *m;
    cvae_optim *opt;
    cvae_tape *tape; /* member 0's workspace */
    cvae_train_opts opts;
    int64_t skipped;
    /* data parallelism: member i > 0 of the team runs replicas[i - 1] on tapes[i - 1] */
    cvae_team *team;
    cvae_model_replica *replicas;
    cvae_tape **tapes;
};

#endif
