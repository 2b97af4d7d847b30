/* Private state of a trainer (shared by train.c and the checkpoint code). */
#ifndef CVAE_TRAIN_INTERNAL_H
#define CVAE_TRAIN_INTERNAL_H

#include "model/model_internal.h"

struct cvae_trainer {
    cvae_model *m;
    cvae_optim *opt;
    cvae_tape *tape;
    cvae_train_opts opts;
    int64_t skipped;
};

#endif
