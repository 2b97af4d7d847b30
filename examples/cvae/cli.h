/* Shared pieces of the `cvae` command-line program (public API only). */
#ifndef CVAE_CLI_H
#define CVAE_CLI_H

#include <stdio.h>

#include <cvae/cvae.h>

/* Prints "cvae: <what>: <status>: <message>" to stderr and returns 1 when s != CVAE_OK. */
int cli_fail(cvae_status s, const char *what);

/* Option scanning: argv[*i] is "--name"; returns its value and advances *i, or NULL (with a message). */
const char *cli_value(int argc, char **argv, int *i);
int cli_int(const char *s, long lo, long hi, long *out);
int cli_float(const char *s, double lo, double hi, double *out);

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

const char *cli_binarize_name(cvae_binarize mode);
int cli_parse_binarize(const char *s, cvae_binarize *mode);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif
