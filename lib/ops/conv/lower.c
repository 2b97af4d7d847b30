#include "ops/conv/lower.h"

#include <string.h>

#include "core/blas.h"
#include "core/gemm.h"
#include "ops/conv/lower_avx512.h"

/* For output column ox of kernel tap j, the input column is ox*s - pad + j*d.
 * Valid ox form one contiguous range [lo, hi); the rest read padding. */
static void valid_range(int64_t tap, int64_t stride, int64_t pad, int64_t dil, int64_t in,
                        int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t off = tap * dil - pad; /* input index = ox*stride + off */
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = in - off <= 0 ? 0 : (in - off + stride - 1) / stride;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static void im2col_rows(float *cols, const float *x, const int64_t *idx, int64_t n,
                        const cvae__conv_geom *g)
{
    const int64_t hw = g->ho * g->wo, ld = n * hw, img = g->c * g->h * g->w;
    const int64_t sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = cols + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t xlo, xhi;
                valid_range(j, sw, g->o.pad_left, g->o.dilation_w, g->w, g->wo, &xlo, &xhi);
                const int64_t offw = j * g->o.dilation_w - g->o.pad_left;
                for (int64_t s = 0; s < n; s++) {
                    const float *xs = x + (idx ? idx[s] : s) * img + c * g->h * g->w;
                    float *dst = row + s * hw;
                    for (int64_t oy = 0; oy < g->ho; oy++, dst += g->wo) {
                        int64_t iy = oy * sh - g->o.pad_top + i * g->o.dilation_h;
                        if (iy < 0 || iy >= g->h) {
                            memset(dst, 0, (size_t)g->wo * sizeof(float));
                            continue;
                        }
                        const float *src = xs + iy * g->w;
                        for (int64_t ox = 0; ox < xlo; ox++) dst[ox] = 0.0f;
                        if (sw == 1)
                            memcpy(dst + xlo, src + xlo + offw,
                                   (size_t)(xhi - xlo) * sizeof(float));
                        else
                            for (int64_t ox = xlo; ox < xhi; ox++) dst[ox] = src[ox * sw + offw];
                        for (int64_t ox = xhi; ox < g->wo; ox++) dst[ox] = 0.0f;
                    }
                }
            }
}

static void col2im_rows(float *x, const float *cols, const int64_t *idx, int64_t n,
                        const cvae__conv_geom *g)
{
    const int64_t hw = g->ho * g->wo, ld = n * hw, img = g->c * g->h * g->w;
    const int64_t sh = g->o.stride_h, sw = g->o.stride_w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = cols + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t xlo, xhi;
                valid_range(j, sw, g->o.pad_left, g->o.dilation_w, g->w, g->wo, &xlo, &xhi);
                const int64_t offw = j * g->o.dilation_w - g->o.pad_left;
                for (int64_t s = 0; s < n; s++) {
                    float *xs = x + (idx ? idx[s] : s) * img + c * g->h * g->w;
                    const float *src = row + s * hw;
                    for (int64_t oy = 0; oy < g->ho; oy++, src += g->wo) {
                        int64_t iy = oy * sh - g->o.pad_top + i * g->o.dilation_h;
                        if (iy < 0 || iy >= g->h) continue;
                        float *dst = xs + iy * g->w;
                        for (int64_t ox = xlo; ox < xhi; ox++) dst[ox * sw + offw] += src[ox];
                    }
                }
            }
}

/* Fast path for small planes: each input plane is copied once into a zero-padded
 * buffer on the stack, so that every kernel tap becomes one bounds-free gather
 * of Ho*Wo elements through a table of offsets, instead of Ho short rows. */
#define PLANE_MAX 2048 /* floats of the padded plane */
#define TAP_MAX 2048   /* output positions per plane */

typedef struct plane_plan {
    int64_t hp, wp; /* padded extents */
    int padded;     /* whether any padding is non-zero */
} plane_plan;

static int plane_fits(const cvae__conv_geom *g, plane_plan *pp)
{
    if (g->h > PLANE_MAX || g->w > PLANE_MAX || g->ho * g->wo > TAP_MAX) return 0;
    pp->hp = g->h + g->o.pad_top + g->o.pad_bottom;
    pp->wp = g->w + g->o.pad_left + g->o.pad_right;
    pp->padded = pp->hp != g->h || pp->wp != g->w;
    return pp->hp * pp->wp <= PLANE_MAX;
}

/* off[oy*Wo + ox] = offset of tap (0, 0) of output (oy, ox) in a plane of row length wp. */
static void tap_offsets(int32_t *off, const cvae__conv_geom *g, int64_t wp)
{
    for (int64_t oy = 0; oy < g->ho; oy++)
        for (int64_t ox = 0; ox < g->wo; ox++)
            off[oy * g->wo + ox] = (int32_t)(oy * g->o.stride_h * wp + ox * g->o.stride_w);
}

/* Stride phases (dilation 1): split the zero-padded plane into sh*sw phase planes,
 * ph[a][b][y][x] = padded[y*sh + a][x*sw + b], each hq x wq. Tap (i, j) then reads phase
 * (i % sh, j % sw) at row offset i / sh and column offset j / sw, so every output row is a
 * contiguous run of Wo inputs (a vectorizable copy) instead of Wo strided gathers. */
#define PHASE_MAX 4096 /* floats of all phase planes together */

typedef struct phase_plan {
    int64_t sh, sw, hq, wq, plane; /* strides, phase extents, floats per phase */
} phase_plan;

static int phase_fits(const cvae__conv_geom *g, phase_plan *q)
{
    if (g->o.dilation_h != 1 || g->o.dilation_w != 1 || g->h > PHASE_MAX || g->w > PHASE_MAX ||
        g->o.stride_h > 8 || g->o.stride_w > 8)
        return 0;
    q->sh = g->o.stride_h, q->sw = g->o.stride_w;
    const int64_t hp = g->h + g->o.pad_top + g->o.pad_bottom,
                  wp = g->w + g->o.pad_left + g->o.pad_right;
    if (hp > PHASE_MAX || wp > PHASE_MAX) return 0;
    q->hq = (hp + q->sh - 1) / q->sh;
    q->wq = (wp + q->sw - 1) / q->sw;
    q->plane = q->hq * q->wq;
    return q->sh * q->sw * q->plane <= PHASE_MAX;
}

/* Element ix of padded row py lives in phase (py % sh, px % sw) at (py / sh, px / sw),
 * px = ix + pad_left; both walked with counters (no division per element). */
#define PHASE_WALK(BODY)                                                                           \
    int64_t a = g->o.pad_top % q->sh, y = g->o.pad_top / q->sh;                                    \
    const int64_t b0 = g->o.pad_left % q->sw, x0 = g->o.pad_left / q->sw;                          \
    for (int64_t iy = 0; iy < g->h; iy++) {                                                        \
        const int64_t row = a * q->sw * q->plane + y * q->wq;                                      \
        for (int64_t ix = 0, bb = b0, xq = x0; ix < g->w; ix++) {                                  \
            const int64_t k = row + bb * q->plane + xq, e = iy * g->w + ix;                        \
            BODY;                                                                                  \
            if (++bb == q->sw) bb = 0, xq++;                                                       \
        }                                                                                          \
        if (++a == q->sh) a = 0, y++;                                                              \
    }

/* Calls BODY(W) with W a compile-time constant for the common extents, so that the
 * compiler emits straight vector code for the short rows instead of a loop with a tail. */
#define BY_WIDTH_CASE(W, BODY)                                                                     \
    case W:                                                                                        \
        BODY(W);                                                                                   \
        break;
#define BY_WIDTH(w, BODY)                                                                          \
    switch (w) {                                                                                   \
        BY_WIDTH_CASE(4, BODY)                                                                     \
        BY_WIDTH_CASE(7, BODY)                                                                     \
        BY_WIDTH_CASE(8, BODY)                                                                     \
        BY_WIDTH_CASE(14, BODY)                                                                    \
        BY_WIDTH_CASE(16, BODY)                                                                    \
        BY_WIDTH_CASE(28, BODY)                                                                    \
    default:                                                                                       \
        BODY(w);                                                                                   \
        break;                                                                                     \
    }

/* Stride 2 across: column ix = 2x + e of an input row lives in phase column (ix + pad_left) / 2
 * of phase (ix + pad_left) % 2. For input row iy, *o0 and *o1 are the offsets in the phases of
 * the rows of its even (e = 0) and odd (e = 1) columns; the odd-width tail column W - 1 is
 * element W / 2 of the even row. */
static void phase_rows2(int64_t *o0, int64_t *o1, const cvae__conv_geom *g, const phase_plan *q,
                        int64_t iy)
{
    const int64_t pl = g->o.pad_left, py = iy + g->o.pad_top;
    const int64_t row = (py % q->sh) * 2 * q->plane + (py / q->sh) * q->wq;
    *o0 = row + (pl % 2) * q->plane + pl / 2;
    *o1 = row + ((1 + pl) % 2) * q->plane + (1 + pl) / 2;
}

/* One row, stride 2: p0[x] = s[2x], p1[x] = s[2x + 1] for x < half (restrict parameters: the
 * compiler then deinterleaves with vector shuffles), and the reverse, accumulating. */
#define SPLIT2(H)                                                                                  \
    for (int64_t x = 0; x < (H); x++) p0[x] = s[2 * x], p1[x] = s[2 * x + 1]
#define MERGE2(H)                                                                                  \
    for (int64_t x = 0; x < (H); x++) d[2 * x] += p0[x], d[2 * x + 1] += p1[x]

static void split_row2(float *restrict p0, float *restrict p1, const float *restrict s,
                       int64_t half)
{
    BY_WIDTH(half, SPLIT2);
}

static void merge_row2(float *restrict d, const float *restrict p0, const float *restrict p1,
                       int64_t half)
{
    BY_WIDTH(half, MERGE2);
}

/* Scatters the interior of plane src: [H, W] into the phases (padding entries untouched). */
static void split_phases(float *restrict ph, const float *restrict src, const cvae__conv_geom *g,
                         const phase_plan *q)
{
    if (q->sw != 2) {
        PHASE_WALK(ph[k] = src[e])
        return;
    }
    const int64_t w = g->w, half = w / 2;
    for (int64_t iy = 0; iy < g->h; iy++) {
        int64_t o0, o1;
        phase_rows2(&o0, &o1, g, q, iy);
        const float *sr = src + iy * w;
        split_row2(ph + o0, ph + o1, sr, half);
        if (w % 2) ph[o0 + half] = sr[w - 1];
    }
}

/* dst: [H, W] += the interior of the phases. */
static void merge_phases(float *restrict dst, const float *restrict ph, const cvae__conv_geom *g,
                         const phase_plan *q)
{
    if (q->sw != 2) {
        PHASE_WALK(dst[e] += ph[k])
        return;
    }
    const int64_t w = g->w, half = w / 2;
    for (int64_t iy = 0; iy < g->h; iy++) {
        int64_t o0, o1;
        phase_rows2(&o0, &o1, g, q, iy);
        float *d = dst + iy * w;
        merge_row2(d, ph + o0, ph + o1, half);
        if (w % 2) d[w - 1] += ph[o0 + half];
    }
}

/* Start of tap (i, j) in the phases: row i / sh, column j / sw of phase (i % sh, j % sw). */
static int64_t phase_tap(const phase_plan *q, int64_t i, int64_t j)
{
    return ((i % q->sh) * q->sw + j % q->sw) * q->plane + (i / q->sh) * q->wq + j / q->sw;
}

/* rows rows of length wo from src (row pitch sp) to dst (pitch dp): copied, or added. */
#define COPY_ROWS(W)                                                                               \
    for (int64_t r = 0; r < rows; r++, dst += dp, src += sp) /* a few overlapping vector moves */  \
    memcpy(dst, src, sizeof(float) * (size_t)(W))
#define ADD_ROWS(W)                                                                                \
    for (int64_t r = 0; r < rows; r++, dst += dp, src += sp)                                       \
        for (int64_t k = 0; k < (W); k++) dst[k] += src[k]

static void copy_rows(float *restrict dst, int64_t dp, const float *restrict src, int64_t sp,
                      int64_t rows, int64_t wo)
{
    BY_WIDTH(wo, COPY_ROWS);
}

static void add_rows(float *restrict dst, int64_t dp, const float *restrict src, int64_t sp,
                     int64_t rows, int64_t wo)
{
    BY_WIDTH(wo, ADD_ROWS);
}

/* Samples are taken in blocks of SBLOCK per channel, so that the kH kW rows of cols a
 * channel writes (ld floats apart) are filled in runs of SBLOCK Ho Wo floats: a few pages
 * at a time instead of one page per tap and sample (TLB and write-allocate bound). */
#define SBLOCK 16

#ifdef CVAE_LOWER_AVX512
/* Whether the AVX-512 path (lower_avx512.h) takes g, with its geometry in *p. */
static bool phases2_fits(const cvae__conv_geom *g, const phase_plan *q, cvae__phases2 *p)
{
    if (q->sw != 2 || q->wq > 16 || q->sh * 2 * q->hq * 16 > CVAE__PHASES2_FLOATS ||
        !cvae__lower_avx512())
        return false;
    *p = (cvae__phases2){g->c,  g->h,  g->w,         g->kh,         g->kw, g->ho,
                         g->wo, q->sh, g->o.pad_top, g->o.pad_left, q->hq};
    return true;
}
#endif

static void im2col_phases(float *cols, const float *x, const int64_t *idx, int64_t n,
                          const cvae__conv_geom *g, const phase_plan *q)
{
#ifdef CVAE_LOWER_AVX512
    cvae__phases2 p;
    if (phases2_fits(g, q, &p)) {
        cvae__im2col2_avx512(cols, x, idx, n, &p);
        return;
    }
#endif
    float ph[PHASE_MAX];
    const int64_t hw = g->ho * g->wo, ld = n * hw, chw = g->h * g->w, wo = g->wo;
    memset(ph, 0, (size_t)(q->sh * q->sw * q->plane) * sizeof(float)); /* padding stays 0 */
    for (int64_t s0 = 0; s0 < n; s0 += SBLOCK) {
        const int64_t s1 = s0 + SBLOCK < n ? s0 + SBLOCK : n;
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t s = s0; s < s1; s++) {
                split_phases(ph, x + ((idx ? idx[s] : s) * g->c + c) * chw, g, q);
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        float *dst = cols + ((c * g->kh + i) * g->kw + j) * ld + s * hw;
                        copy_rows(dst, wo, ph + phase_tap(q, i, j), q->wq, g->ho, wo);
                    }
            }
    }
}

static void col2im_phases(float *x, const float *cols, const int64_t *idx, int64_t n,
                          const cvae__conv_geom *g, const phase_plan *q)
{
#ifdef CVAE_LOWER_AVX512
    cvae__phases2 p;
    if (phases2_fits(g, q, &p)) {
        cvae__col2im2_avx512(x, cols, idx, n, &p);
        return;
    }
#endif
    float ph[PHASE_MAX];
    const int64_t hw = g->ho * g->wo, ld = n * hw, chw = g->h * g->w, wo = g->wo;
    const size_t bytes = (size_t)(q->sh * q->sw * q->plane) * sizeof(float);
    for (int64_t s0 = 0; s0 < n; s0 += SBLOCK) {
        const int64_t s1 = s0 + SBLOCK < n ? s0 + SBLOCK : n;
        for (int64_t c = 0; c < g->c; c++)
            for (int64_t s = s0; s < s1; s++) {
                memset(ph, 0, bytes);
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++) {
                        const float *src = cols + ((c * g->kh + i) * g->kw + j) * ld + s * hw;
                        add_rows(ph + phase_tap(q, i, j), q->wq, src, wo, g->ho, wo);
                    }
                merge_phases(x + ((idx ? idx[s] : s) * g->c + c) * chw, ph, g, q);
            }
    }
}

static void im2col_plane(float *cols, const float *x, const int64_t *idx, int64_t n,
                         const cvae__conv_geom *g, const plane_plan *pp)
{
    float plane[PLANE_MAX];
    int32_t off[TAP_MAX];
    const int64_t hw = g->ho * g->wo, ld = n * hw, chw = g->h * g->w;
    const int64_t wp = pp->padded ? pp->wp : g->w;
    tap_offsets(off, g, wp);
    if (pp->padded) memset(plane, 0, (size_t)(pp->hp * pp->wp) * sizeof(float));
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + (idx ? idx[s] : s) * g->c * chw;
        for (int64_t c = 0; c < g->c; c++) {
            const float *src = xs + c * chw;
            if (pp->padded) {
                for (int64_t y = 0; y < g->h; y++)
                    memcpy(plane + (y + g->o.pad_top) * wp + g->o.pad_left, src + y * g->w,
                           (size_t)g->w * sizeof(float));
                src = plane;
            }
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    const float *base = src + i * g->o.dilation_h * wp + j * g->o.dilation_w;
                    float *dst = cols + ((c * g->kh + i) * g->kw + j) * ld + s * hw;
                    for (int64_t q = 0; q < hw; q++) dst[q] = base[off[q]];
                }
        }
    }
}

static void col2im_plane(float *x, const float *cols, const int64_t *idx, int64_t n,
                         const cvae__conv_geom *g, const plane_plan *pp)
{
    float plane[PLANE_MAX];
    int32_t off[TAP_MAX];
    const int64_t hw = g->ho * g->wo, ld = n * hw, chw = g->h * g->w, wp = pp->wp;
    const int64_t np = pp->hp * pp->wp;
    tap_offsets(off, g, wp);
    for (int64_t s = 0; s < n; s++) {
        float *xs = x + (idx ? idx[s] : s) * g->c * chw;
        for (int64_t c = 0; c < g->c; c++) {
            for (int64_t k = 0; k < np; k++) plane[k] = 0.0f;
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    float *base = plane + i * g->o.dilation_h * wp + j * g->o.dilation_w;
                    const float *src = cols + ((c * g->kh + i) * g->kw + j) * ld + s * hw;
                    for (int64_t q = 0; q < hw; q++) base[off[q]] += src[q];
                }
            float *dst = xs + c * chw;
            for (int64_t y = 0; y < g->h; y++) {
                const float *row = plane + (y + g->o.pad_top) * wp + g->o.pad_left;
                float *d = dst + y * g->w;
                for (int64_t xx = 0; xx < g->w; xx++) d[xx] += row[xx];
            }
        }
    }
}

/* The fastest way to lower that fits g: stride phases, a plane with tap offsets, or row
 * runs. */
void cvae__im2col(float *cols, const float *x, const int64_t *idx, int64_t n,
                  const cvae__conv_geom *g)
{
    phase_plan ph;
    plane_plan pp;
    if (phase_fits(g, &ph))
        im2col_phases(cols, x, idx, n, g, &ph);
    else if (plane_fits(g, &pp))
        im2col_plane(cols, x, idx, n, g, &pp);
    else
        im2col_rows(cols, x, idx, n, g);
}

void cvae__col2im(float *x, const float *cols, const int64_t *idx, int64_t n,
                  const cvae__conv_geom *g)
{
    phase_plan ph;
    plane_plan pp;
    if (phase_fits(g, &ph))
        col2im_phases(x, cols, idx, n, g, &ph);
    else if (plane_fits(g, &pp))
        col2im_plane(x, cols, idx, n, g, &pp);
    else
        col2im_rows(x, cols, idx, n, g);
}

/* ---- the implicit lowering: the GEMM's B panels packed straight from the images ---- */

#define IMPLICIT_TAPS 64 /* most kernel taps kH kW (the packer's table of tap offsets) */

/* Fewest lowered rows C kH kW for which cvae__lowered_gemm packs implicitly. bench_implicit
 * (AVX-512): 40 x 360 rows, 64 x 576 and 32 x 288 run 6-13% faster implicit; one channel of 3x3
 * (9 rows) is even (0.98-1.06): the packer's fixed costs per block (its tables, samples split
 * again where a block cuts them) match the copy it saves, so such layers keep im2col. */
#define IMPLICIT_MIN_ROWS 32

bool cvae__lowered_fits(const cvae__conv_geom *g)
{
    phase_plan q;
    return g->kh * g->kw <= IMPLICIT_TAPS && phase_fits(g, &q);
}

/* d[t nr + [0, W)] = s[toff[t] + [0, W)] for the nt taps t (nt consecutive rows of a panel). */
#define TAP_COPY(W)                                                                                \
    for (int64_t t = 0; t < nt; t++) memcpy(d + t * nr, s + toff[t], sizeof(float) * (size_t)(W))
#define TAP_CASE(W)                                                                                \
    case W:                                                                                        \
        TAP_COPY(W);                                                                               \
        break;

static void copy_taps(float *restrict d, int64_t nr, const float *restrict s, const int64_t *toff,
                      int64_t nt, int64_t len)
{
    switch (len) {
        TAP_CASE(1)
        TAP_CASE(2)
        TAP_CASE(3)
        TAP_CASE(4)
        TAP_CASE(5)
        TAP_CASE(6)
        TAP_CASE(7)
        TAP_CASE(8)
        TAP_CASE(14)
        TAP_CASE(16)
    default:
        TAP_COPY(len);
    }
}

/* Each (sample, channel) plane of the block is split into stride phases once (as im2col does),
 * then every output row's run of Wo columns is copied for all the channel's taps of the block:
 * the run lands at the same place of consecutive panel rows, cut where it crosses a panel. */
void cvae__pack_lowered(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                        float *dst)
{
    const cvae__lowered *L = ctx;
    const cvae__conv_geom *g = L->g;
    phase_plan q;
    phase_fits(g, &q);
    _Alignas(64) float ph[PHASE_MAX];
    int64_t toff[IMPLICIT_TAPS], pitch = q.wq, floats = q.sh * q.sw * q.plane;
    const int64_t kk = g->kh * g->kw, hw = g->ho * g->wo, wo = g->wo, chw = g->h * g->w;
    const int64_t panel = kc * nr, tail = nc % nr;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) toff[i * g->kw + j] = phase_tap(&q, i, j);
#ifdef CVAE_LOWER_AVX512
    cvae__phases2 p2; /* the AVX-512 split into phase rows of 16 floats (lower_avx512.h) */
    int32_t rows2[256];
    const bool wide = phases2_fits(g, &q, &p2);
    if (wide) {
        cvae__phases2_rows(rows2, &p2);
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++)
                toff[i * g->kw + j] = rows2[128 + i] + (j % 2) * q.hq * 16 + j / 2;
        pitch = 16, floats = q.sh * 2 * q.hq * 16;
    }
#endif
    memset(ph, 0, (size_t)floats * sizeof(float)); /* padding stays 0 */
    if (tail)
        for (int64_t p = 0; p < kc; p++)
            memset(dst + (nc / nr) * panel + p * nr + tail, 0, sizeof(float) * (size_t)(nr - tail));
    const int64_t c0 = p0 / kk, c1 = (p0 + kc - 1) / kk;
    for (int64_t s = j0 / hw; s * hw < j0 + nc; s++) {
        const int64_t first = s * hw - j0; /* block column of the sample's output (0, 0) */
        const int64_t oy0 = first < 0 ? -first / wo : 0;
        const int64_t left = j0 + nc - s * hw,
                      oy1 = (left + wo - 1) / wo < g->ho ? (left + wo - 1) / wo : g->ho;
        const float *xs = L->x + (L->idx ? L->idx[s] : s) * g->c * chw;
        for (int64_t c = c0; c <= c1; c++) {
#ifdef CVAE_LOWER_AVX512
            if (wide)
                cvae__split2_avx512(ph, xs + c * chw, &p2, rows2);
            else
#endif
                split_phases(ph, xs + c * chw, g, &q);
            const int64_t t0 = p0 > c * kk ? p0 - c * kk : 0;
            const int64_t t1 = p0 + kc - c * kk < kk ? p0 + kc - c * kk : kk;
            float *rows = dst + (c * kk + t0 - p0) * nr;
            for (int64_t oy = oy0; oy < oy1; oy++) {
                const int64_t a = first + oy * wo;
                int64_t lo = a > 0 ? a : 0;
                const int64_t hi = a + wo < nc ? a + wo : nc;
                while (lo < hi) {
                    const int64_t off = lo % nr, len = hi - lo < nr - off ? hi - lo : nr - off;
                    copy_taps(rows + lo / nr * panel + off, nr, ph + oy * pitch + (lo - a),
                              toff + t0, t1 - t0, len);
                    lo += len;
                }
            }
        }
    }
}

/* Runs of a sample's pixels, copied for the kc channel rows of the block: each run lands at the
 * same place of consecutive panel rows, cut where it crosses a panel or the sample. */
void cvae__pack_cn(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                   float *dst)
{
    const cvae__cn_view *v = ctx;
    const int64_t panel = kc * nr, tail = nc % nr;
    if (tail)
        for (int64_t p = 0; p < kc; p++)
            memset(dst + (nc / nr) * panel + p * nr + tail, 0, sizeof(float) * (size_t)(nr - tail));
    for (int64_t col = 0; col < nc;) {
        const int64_t s = (j0 + col) / v->hw, px = (j0 + col) % v->hw, off = col % nr;
        int64_t len = v->hw - px < nr - off ? v->hw - px : nr - off;
        if (len > nc - col) len = nc - col;
        const float *src = v->x + (s * v->c + p0) * v->hw + px;
        float *d = dst + col / nr * panel + off;
        for (int64_t p = 0; p < kc; p++)
            memcpy(d + p * nr, src + p * v->hw, sizeof(float) * (size_t)len);
        col += len;
    }
}

void cvae__lowered_gemm(float *c, const float *w, const float *wp, int64_t m, const float *x,
                        const int64_t *idx, int64_t n, const cvae__conv_geom *g, float *cols)
{
    const int64_t ckk = g->c * g->kh * g->kw, pc = n * g->ho * g->wo;
    if (ckk >= IMPLICIT_MIN_ROWS && cvae__sgemm_is_builtin() && cvae__lowered_fits(g)) {
        const cvae__lowered L = {x, idx, n, g};
        const cvae__gemm_opts o = {0, 0, 0, CVAE__GEMM_AUTO, wp};
        cvae__gemm_run_packer(cvae__gemm_kernel_best(), &o, false, m, pc, ckk, 1.0f, w, ckk,
                              cvae__pack_lowered, &L, 0.0f, c, pc);
        return;
    }
    cvae__im2col(cols, x, idx, n, g);
    cvae__sgemm_packed(false, false, m, pc, ckk, 1.0f, w, ckk, wp, cols, pc, 0.0f, c, pc);
}
