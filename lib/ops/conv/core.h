/* The core of the conv family (lib/ops/conv/, docs/conv_core.md): what every convolution op
 * shares, so that each op file holds only its own arithmetic.
 *  - geometry (geom.c): one validation of cvae_conv_opts, the output extents of a convolution
 *    and of a transposed one, the BLAS int-range check of the lowered matrices, the chunking
 *    of a batch, the argument checks common to the ops;
 *  - label groups (groups.c): the batch sorted by label, the largest group;
 *  - layout copies (layout.c) between NCHW tensors and CN matrices, with the fused activation:
 *    applied where a scatter writes y, differentiated where a gather reads dy;
 *  - the argument and workspace structs the kernels take.
 * Notation: n images, P = n Ho Wo columns of a lowering, CKK = C kH kW; "CN layout" is
 * [C, n*HW]: channel-major over a list of images, the shape of the GEMM operands. */
#ifndef CVAE_OPS_CONV_CORE_H
#define CVAE_OPS_CONV_CORE_H

#include <stdint.h>

#include "cvae/conv.h"
#include "ops/activation.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

/* ---- geometry ---- */

/* One lowering: input [C, H, W] per image, kernel kH x kW, output Ho x Wo; the op's options
 * with their activation resolved. */
typedef struct cvae__conv_geom {
    int64_t c, h, w;  /* input channels and extents */
    int64_t kh, kw;   /* kernel extents */
    int64_t ho, wo;   /* output extents */
    cvae_conv_opts o; /* stride, padding, dilation, activation */
    cvae__act act;    /* o's activation with its parameter resolved */
} cvae__conv_geom;

/* Checks o (NULL, stride, dilation, padding, output_pad: 0 unless transposed, in [0, stride)
 * if transposed; the activation): CVAE_ERR_INVALID_ARG naming fn. */
cvae_status cvae__conv_check_opts(const char *fn, const cvae_conv_opts *o, bool transposed);

/* g for a convolution of images [C, H, W] by a kH x kW kernel: options checked
 * (cvae__conv_check_opts), kernel extents in [1, 2^31), the output not empty, C kH kW and
 * Ho Wo within range; CVAE_ERR_INVALID_ARG / CVAE_ERR_SHAPE naming fn, g untouched then. */
cvae_status cvae__conv_geom_init(cvae__conv_geom *g, const char *fn, int64_t c, int64_t h,
                                 int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o);

/* g for a transposed convolution of images [Cin, H, W] into Cout channels: the geometry of its
 * adjoint convolution, whose input is the output y (g->c = Cout; g->h, g->w = the transposed
 * extents Ho, Wo of cvae_conv_opts) and whose output is x (g->ho = H, g->wo = W). Checks and
 * errors as cvae__conv_geom_init. */
cvae_status cvae__conv_geom_transposed(cvae__conv_geom *g, const char *fn, int64_t cout, int64_t h,
                                       int64_t w, int64_t kh, int64_t kw, const cvae_conv_opts *o);

/* The GEMM operands of a lowering fit the BLAS int range and int64 sizes: `rows` x cols and
 * `other` x cols with cols = n hw (rows: the lowered rows; other: the other operand's or the
 * result's rows). CVAE_ERR_SHAPE naming fn otherwise. */
cvae_status cvae__conv_check_gemm(const char *fn, int64_t rows, int64_t n, int64_t hw,
                                  int64_t other);

/* x is [N, C, H, W] (CVAE_ERR_SHAPE naming fn otherwise). */
cvae_status cvae__conv_check_image(const char *fn, const cvae_tensor *x);

/* The arguments of cvae_op_conv2d (cin_dim 1, w [Cout, C, kH, kW]) and
 * cvae_op_conv_transpose2d (cin_dim 0, w [C, Cout, kH, kW]): t, x, w, o, y not NULL; x
 * [N, C, H, W]; w 4-D with x's C at dimension cin_dim; b NULL or [Cout]. Errors name fn. */
cvae_status cvae__conv_check_args(const char *fn, const cvae_tape *t, const cvae_tensor *x,
                                  const cvae_tensor *w, const cvae_tensor *b,
                                  const cvae_conv_opts *o, cvae_tensor *const *y, int cin_dim);

/* The checks of the conditional ops' inputs (x checked [N, Cin, H, W]): table
 * [K, Cout, Cin, kH, kW] (cin_dim 2, the convolutions) or [K, Cin, Cout, kH, kW] (cin_dim 1, the
 * transposed one); labels (NULL: none, the soft op) in [0, K); tbias NULL or [K, Cout].
 * CVAE_ERR_SHAPE / CVAE_ERR_RANGE naming fn. */
cvae_status cvae__cconv_check_inputs(const char *fn, const cvae_tensor *x, const int32_t *labels,
                                     const cvae_tensor *table, const cvae_tensor *tbias,
                                     int cin_dim);

/* Samples per chunk for a lowering of `rows` rows and hw columns per sample (1..n): small
 * enough for the lowered chunk to stay in L2 until its GEMM consumes it. Workspaces of the
 * chunked kernels are sized for one chunk: S = cvae__conv_chunk(rows, hw, n), Pc = S hw. */
int64_t cvae__conv_chunk(int64_t rows, int64_t hw, int64_t n);

/* ---- kernel arguments ---- */

/* The arrays of one kernel call (NULL where unused or not wanted); shapes per kernel. */
typedef struct cvae__conv_args {
    int64_t n;             /* samples */
    int64_t ch;            /* the channel count g does not hold: Cout of a convolution, Cin of a
                              transposed one */
    int64_t k;             /* table entries (conditional kernels) */
    const int32_t *labels; /* [n] in [0, k) (hard conditional kernels) */
    const float *x;        /* input */
    const float *w;        /* weight, or the table of the conditional kernels */
    const float *b;        /* bias, or bias table; NULL: none */
    const float *alpha;    /* [n, k]: soft labels */
    float *y;              /* output; backward: the saved output (the activation's derivative) */
    const float *dy;       /* gradient of y */
    float *dx, *dw, *db;   /* gradients accumulated (+=) into; NULL: not wanted */
    float *dalpha;         /* [n, k], likewise */
} cvae__conv_args;

/* The arguments of the backward kernel of a node with inputs x, w (and b): its saved output and
 * gradient, and d[0..2], the gradients of the inputs (cvae__node_grads); ch from the caller. */
static inline cvae__conv_args cvae__conv_node_args(const cvae__node *nd, int64_t ch,
                                                   float *const *d)
{
    return (cvae__conv_args){.n = nd->in[0]->shape[0],
                             .ch = ch,
                             .x = nd->in[0]->data,
                             .w = nd->in[1]->data,
                             .y = nd->out->data,
                             .dy = nd->out->grad,
                             .dx = d[0],
                             .dw = d[1],
                             .db = d[2]};
}

/* Scratch of the chunked kernels, each sized for one chunk (see cvae__conv_chunk). */
typedef struct cvae__conv_ws {
    float *cols; /* a lowered chunk [rows, Pc] */
    float *cn;   /* a chunk in CN layout [C, Pc] (C: the other side's channels) */
    float *dy;   /* dY of a chunk, NCHW (transposed backward with an activation) */
    float *wp;   /* the weights as every chunk's product takes them, packed once
                    (cvae__sgemm_pack_a), or NULL: packed by each product */
} cvae__conv_ws;

/* ---- label groups ---- */

/* Samples grouped by label: order[start[g] .. start[g+1]) are the samples (in their original
 * relative order) whose label is label[g]; groups by increasing label. */
typedef struct cvae__label_groups {
    int64_t *order; /* [N] */
    int64_t *start; /* [n_groups + 1] */
    int32_t *label; /* [n_groups] */
    int64_t n_groups;
} cvae__label_groups;

/* Stable counting sort of labels[0..n) (checked to lie in [0, k)) into memory the op keeps for
 * its backward (cvae__op_keep: call it after the op's other kept memory); failure in a. */
void cvae__group_labels(cvae__op_alloc *a, const int32_t *labels, int64_t n, int64_t k,
                        cvae__label_groups *gr);

/* Samples in the largest group. */
int64_t cvae__groups_max(const cvae__label_groups *gr);

/* ---- layout copies ---- */

/* Samples idx[0..n) (idx NULL: 0..n-1) of a batch tensor [*, ctot, hw], channels c0 .. c0 + c,
 * against a CN matrix [c, ld] holding sample s in columns s hw .. (s + 1) hw. */
typedef struct cvae__cn_map {
    const int64_t *idx;
    int64_t n, c, hw;
    int64_t c0, ctot; /* the channel range within the tensor */
    int64_t ld;       /* the matrix's leading dimension (n hw: compact) */
} cvae__cn_map;

/* The map of samples idx[0..n) with all c channels to a compact matrix. */
static inline cvae__cn_map cvae__cn_all(const int64_t *idx, int64_t n, int64_t c, int64_t hw)
{
    return (cvae__cn_map){idx, n, c, hw, 0, c, n * hw};
}

/* cn = the mapped part of x. */
void cvae__cn_gather(float *cn, const float *x, const cvae__cn_map *m);

/* The gather of an op's incoming gradient: cn = dY = dy f'(y) over the mapped part (act NULL or
 * NONE: dY = dy, y unread), y laid out like dy; cn may be NULL (nothing stored). The sum of each
 * mapped channel's dY over a sample's hw entries (cvae__sum_floats' order) is added to csum[r]
 * (float) and dsum[r] (double), samples in order, where these are not NULL. */
void cvae__cn_gather_grad(float *cn, const float *dy, const float *y, const cvae__act *act,
                          float *csum, double *dsum, const cvae__cn_map *m);

/* The mapped part of y = act(cn + bias[r]) (bias [c] or NULL; act NULL: none). */
void cvae__cn_scatter(float *y, const float *cn, const float *bias, const cvae__act *act,
                      const cvae__cn_map *m);

/* The mapped part of x += cn. */
void cvae__cn_scatter_add(float *x, const float *cn, const cvae__cn_map *m);

#endif
