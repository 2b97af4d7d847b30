/* Helpers shared by the example networks and their programs: batches of
 * digits, shuffling, timing, output directories. Public headers only. */
#ifndef CVAE_EXAMPLES_COMMON_H
#define CVAE_EXAMPLES_COMMON_H

#include <cvae/cvae.h>

/* Fisher-Yates shuffle of 0..n-1 from the counter RNG (seed, stream). */
void ex_shuffle(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream);

/* x: [n, 1, rows, cols] on tape t (grey values in [0, 1]) and labels[0..n) of
 * samples idx[0..n) of ds. */
cvae_status ex_batch(const cvae_dataset *ds, cvae_tape *t, const int64_t *idx, int64_t n,
                     cvae_tensor **x, int32_t *labels);

/* Seconds on a monotonic clock. */
double ex_now(void);

/* mkdir -p dir; 0 on success, -1 (with a message on stderr) otherwise. */
int ex_make_dir(const char *dir);

/* max_i |a[i] - b[i]| / max_i |b[i]| (0 when both are all zero): the
 * difference relative to the tensor's scale. */
double ex_rel_diff(const float *a, const float *b, int64_t n);

#endif
