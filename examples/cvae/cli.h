/* Shared pieces of the `cvae` command-line program (public API only). */
#ifndef CVAE_CLI_H
#define CVAE_CLI_H

#include <stdio.h>

#include <cvae/cvae.h>

#include "options.h"

/* The commands (each in its own file). */
extern const cli_command cli_train, cli_eval, cli_sample, cli_info;

/* Prints "cvae: <what>: <status>: <message>" to stderr and returns 1 when s != CVAE_OK. */
int cli_fail(cvae_status s, const char *what);
/* The "cvae" of those messages ("cvae[rank 1 of 3]" in a process of an MPI job). */
extern char cli_who[48];

/* Seconds on a monotonic clock. */
double cli_now(void);

/* order[0..n) = a Fisher-Yates permutation of 0..n-1 from the counter RNG (seed, stream);
 * an epoch's order takes stream = a base of the caller's + epoch. */
void cli_shuffle(int64_t *order, int64_t n, uint64_t seed, uint64_t stream);

/* The bundled digits unless --data names another MNIST-format directory. */
const char *cli_default_data_dir(void);

/* Loads the "train" or "t10k" split of dir, printing an error on failure. */
int cli_load(const char *dir, const char *split, cvae_dataset **ds);

/* Batch of dataset samples idx[0..n) as floats (binarization as given). */
int cli_batch(const cvae_dataset *ds, const int64_t *idx, int64_t n, cvae_binarize mode,
              uint64_t seed, float *images, int32_t *labels);

/* mkdir -p of the directory part of path. */
int cli_make_parent_dir(const char *path);

/* Mean test -ELBO (nats/image) and its two terms over the whole dataset. */
int cli_test_elbo(const cvae_model *m, const cvae_dataset *ds, cvae_binarize mode, uint64_t seed,
                  double *elbo, double *rec, double *kl);

/* tile: [channels, h, w] = the decimal number `label` (label >= 0), white on grey, as large as
 * fits: the first column of a picture whose rows are labels. */
void cli_label_tile(float *tile, int64_t channels, int64_t h, int64_t w, int64_t label);

/* --binarize's choices (cvae_binarize values) and a phrase for each mode. */
extern const cli_choice cli_binarize_choices[];
const char *cli_binarize_name(cvae_binarize mode);

#endif
