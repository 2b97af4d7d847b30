/* The judge of `cvae eval`: a CNN classifier of 1-channel images, built on the public network
 * API (a layer table in a cvae_net, the trainer of any network with a softmax cross-entropy
 * loss of its own, a cvae_loader), trained on a dataset's training split with random shifts
 * of a few pixels. It says which label a generated image shows (conditional fidelity), and
 * its penultimate layer gives the features of the Fréchet distances (docs/metrics.md).
 *
 *   stack "features": x [1, H, W] --conv 32 3x3, relu--> max pool 2 --conv 64 3x3, relu-->
 *                     max pool 2 --flatten, linear 128, relu--> f [128]
 *   stack "head":     f [128] --linear--> logits [K]
 *
 * Deterministic for a seed and a thread count: the weights, the order of each epoch and each
 * sample's shift come from the library's counter-based RNG. */
#ifndef CVAE_EXAMPLE_NETS_JUDGE_H
#define CVAE_EXAMPLE_NETS_JUDGE_H

#include <cvae/cvae.h>

typedef struct judge_opts {
    int epochs;    /* passes over the training set; 0 (the default): judge_auto_epochs */
    int shift;     /* largest shift in pixels along each axis, 0..4 (default 2) */
    float lr;      /* Adam's first learning rate, cosine-decayed over the epochs (2e-3) */
    uint64_t seed; /* weights, order and shifts (default 1) */
    int threads;   /* threads of a training step; 0: the trainer's default */
} judge_opts;

/* The defaults above. */
judge_opts judge_opts_default(void);

/* The epochs a judge trains on n images unless told: 15 on small sets (the bundled 4,000
 * digits: 98% of the test digits), fewer on large ones so that it sees about 240,000 images
 * (Fashion-MNIST's 60,000: 4): ceil(240000 / n) clamped to [1, 15]. */
int judge_auto_epochs(int64_t n);

typedef struct judge judge;

/* Trains a judge on ds (grey values, ds->num_classes labels). */
cvae_status judge_train(const cvae_dataset *ds, const judge_opts *o, judge **out);
void judge_free(judge *j);

/* Width of the features (the penultimate layer). */
int64_t judge_feature_dim(const judge *j);

/* images: [n, 1, H, W] (H, W of the training set) -> pred: int32[n], the most likely label
 * (may be NULL); features: [n, judge_feature_dim] (may be NULL). */
cvae_status judge_apply(const judge *j, const float *images, int64_t n, int32_t *pred,
                        float *features);

/* The network's summary table (cvae_net_summary) into buf. */
cvae_status judge_summary(const judge *j, char *buf, size_t size);

#endif
