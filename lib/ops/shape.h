/* Raw kernels of the shape ops (no tape). A tensor split at `axis` is viewed as
 * [outer, extent, inner]: outer = product of the extents before axis, inner = after it. */
#ifndef CVAE_OPS_SHAPE_H
#define CVAE_OPS_SHAPE_H

#include <stdint.h>

/* y[o, off_i + a, j] = xs[i][o, a, j] for a < ext[i], off_i = ext[0] + ... + ext[i-1].
 * y: [outer, sum ext, inner]; xs[i]: [outer, ext[i], inner]. */
void cvae__concat_forward(float *y, const float *const *xs, const int64_t *ext, int n,
                          int64_t outer, int64_t inner);
void cvae__concat_forward_ref(float *y, const float *const *xs, const int64_t *ext, int n,
                              int64_t outer, int64_t inner);

/* Slice add: dst[o, a, j] += src[o, off + a, j] for a < ext.  src: [outer, total, inner],
 * dst: [outer, ext, inner].  The backward of concat (per input) and the forward of split
 * (into zeroed outputs) both use it. */
void cvae__slice_add(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                     int64_t ext, int64_t inner);
/* Inverse direction: dst[o, off + a, j] += src[o, a, j].  The backward of split. */
void cvae__slice_add_into(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                          int64_t ext, int64_t inner);
/* Plain element-by-element references of the two above. */
void cvae__slice_add_ref(float *dst, const float *src, int64_t outer, int64_t total, int64_t off,
                         int64_t ext, int64_t inner);
void cvae__slice_add_into_ref(float *dst, const float *src, int64_t outer, int64_t total,
                              int64_t off, int64_t ext, int64_t inner);

#endif
