/* Raw kernels of the label ops (no tape). Labels must already be checked against [0, K). */
#ifndef CVAE_OPS_LABEL_H
#define CVAE_OPS_LABEL_H

#include <stdint.h>

/* y[i, j] = [j == labels[i]].  y: [N, K]. */
void cvae__one_hot_forward(float *y, const int32_t *labels, int64_t n, int64_t k);
/* y[i] = table[labels[i]].  table: [K, D], y: [N, D]. */
void cvae__embedding_forward(float *y, const float *table, const int32_t *labels, int64_t n,
                             int64_t d);
/* dtable[labels[i]] += dy[i]: touches only rows of labels present.  dy: [N, D]. */
void cvae__embedding_backward(float *dtable, const float *dy, const int32_t *labels, int64_t n,
                              int64_t d);

#endif
