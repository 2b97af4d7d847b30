/* A small CNN digit classifier built with the library, used to measure how
 * well generated samples match their requested labels. */
#ifndef CVAE_CLI_CLASSIFIER_H
#define CVAE_CLI_CLASSIFIER_H

#include <cvae/cvae.h>

typedef struct classifier classifier;

/* Trains on ds (grey values) for `epochs` epochs with Adam. */
cvae_status classifier_train(const cvae_dataset *ds, int epochs, uint64_t seed, classifier **out);
void classifier_free(classifier *c);

/* pred: int32[n] = argmax class of images: [n, 1, H, W]. */
cvae_status classifier_predict(const classifier *c, const float *images, int64_t n, int32_t *pred);

#endif
