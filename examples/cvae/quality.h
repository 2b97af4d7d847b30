/* The parts of `cvae eval` that judge generated images: conditional fidelity and the
 * Fréchet distances, both in the eyes of the judge classifier (examples/nets/judge.h). */
#ifndef CVAE_CLI_QUALITY_H
#define CVAE_CLI_QUALITY_H

#include <cvae/cvae.h>

#include "judge.h"

/* Generates per_label images of each label (noise from seed) and prints the share the judge
 * gives their label: overall, per label, and the confusion matrix. 1 on success. */
int eval_fidelity(const cvae_model *m, const judge *j, long per_label, uint64_t seed);

/* Prints the Fréchet distances (FID, FJD, intra-class FID) between generated images and real
 * half B of the test set, against the floor of real half A and half B (docs/metrics.md).
 * real: [test->n, 1, H, W] the test images, labels: their labels; noise from seed.
 * 1 on success. */
int eval_frechet(const cvae_model *m, const judge *j, const float *real, const int32_t *labels,
                 int64_t n, uint64_t seed);

#endif
