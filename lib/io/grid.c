/* Tiling a batch of gray images into one picture, and the buffer it returns. */
#include "cvae/io.h"
#include "io/io_internal.h"

#define MAX_SIDE 1000000

static uint8_t to_byte(float v)
{
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* side = cells * (extent + pad) + pad, or -1 when above MAX_SIDE. */
static int64_t side(int64_t cells, int64_t extent, int64_t pad)
{
    if (extent > MAX_SIDE || pad > MAX_SIDE || cells > MAX_SIDE) return -1;
    int64_t s = cells * (extent + pad) + pad;
    return s > MAX_SIDE ? -1 : s;
}

cvae_status cvae_image_grid(const float *images, int64_t n, int64_t h, int64_t w, int cols, int pad,
                            uint8_t **out, int *out_w, int *out_h)
{
    const char *fn = "cvae_image_grid";
    CVAE_CHECK_NULL(images, fn);
    CVAE_CHECK_NULL(out, fn);
    CVAE_CHECK_NULL(out_w, fn);
    CVAE_CHECK_NULL(out_h, fn);
    if (n < 1 || h < 1 || w < 1 || cols < 1 || pad < 0)
        return cvae__error(
            CVAE_ERR_INVALID_ARG,
            "%s: n = %lld, h = %lld, w = %lld, cols = %d must be >= 1 and pad = %d >= 0", fn,
            (long long)n, (long long)h, (long long)w, cols, pad);
    int64_t c = cols < n ? cols : n, rows = (n + c - 1) / c;
    int64_t gw = side(c, w, pad), gh = side(rows, h, pad);
    if (gw < 0 || gh < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: the grid would exceed %d pixels on a side",
                           fn, MAX_SIDE);
    size_t bytes = (size_t)gw * (size_t)gh;
    uint8_t *g = cvae__malloc(bytes);
    if (!g) return cvae__nomem(fn, bytes);
    memset(g, CVAE_GRID_PAD_VALUE, bytes);
    for (int64_t i = 0; i < n; i++) {
        const float *img = images + i * h * w;
        uint8_t *cell = g + (size_t)(pad + (i / c) * (h + pad)) * (size_t)gw +
                        (size_t)(pad + (i % c) * (w + pad));
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) cell[y * gw + x] = to_byte(img[y * w + x]);
    }
    *out = g;
    *out_w = (int)gw;
    *out_h = (int)gh;
    return CVAE_OK;
}

cvae_status cvae_png_write_grid(const char *path, const float *images, int64_t n, int64_t h,
                                int64_t w, int cols, int pad)
{
    CVAE_CHECK_NULL(path, "cvae_png_write_grid");
    uint8_t *g;
    int gw, gh;
    CVAE_TRY(cvae_image_grid(images, n, h, w, cols, pad, &g, &gw, &gh));
    cvae_status s = cvae_png_write_gray(path, gw, gh, g);
    cvae_free_buffer(g);
    return s;
}
