/* 8-bit gray and RGB PNG writers on libpng, atomic like every cvae file write.
 * libpng allocates through the library allocator (png_create_write_struct_2),
 * and its errors longjmp back to write_png, which frees everything. */
#include <png.h>

#include "cvae/io.h"
#include "io/io_internal.h"

#define MAX_SIDE 1000000

/* Both libpng's error and memory context. */
typedef struct png_ctx {
    const char *fn, *path;
    volatile int oom; /* an allocation failed (set between setjmp and longjmp) */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    const png_ctx *c = png_get_error_ptr(png);
    cvae__error(c->oom ? CVAE_ERR_NOMEM : CVAE_ERR_IO, "%s: libpng failed writing '%s': %s", c->fn,
                c->path, msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    void *p = cvae__malloc(n);
    if (!p) ((png_ctx *)png_get_mem_ptr(png))->oom = 1;
    return p;
}

static void on_free(png_structp png, png_voidp p)
{
    (void)png;
    cvae__free(p);
}

/* Everything that may longjmp, kept out of write_png's frame. */
static void write_rows(png_structp png, png_infop info, FILE *fp, int width, int height,
                       const uint8_t *px, int channels)
{
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(png, px + (size_t)y * stride);
    png_write_end(png, info);
}

static cvae_status write_png(const char *path, int width, int height, const uint8_t *px,
                             int channels, const char *fn)
{
    CVAE_CHECK_NULL(path, fn);
    CVAE_CHECK_NULL(px, fn);
    if (path[0] == '\0') return cvae__error(CVAE_ERR_INVALID_ARG, "%s: empty path", fn);
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: size %d x %d outside [1, %d]", fn, width,
                           height, MAX_SIDE);
    cvae__atomic_file af;
    CVAE_TRY(cvae__atomic_begin(&af, path, fn));
    png_ctx ctx = {fn, path, 0};
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning,
                                                &ctx, on_malloc, on_free);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        cvae__atomic_abort(&af);
        return cvae__error(CVAE_ERR_NOMEM, "%s: cannot create the libpng writer", fn);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        cvae__atomic_abort(&af);
        return ctx.oom ? CVAE_ERR_NOMEM : CVAE_ERR_IO; /* message set by on_error */
    }
    write_rows(png, info, af.fp, width, height, px, channels);
    png_destroy_write_struct(&png, &info);
    return cvae__atomic_commit(&af);
}

cvae_status cvae_png_write_gray(const char *path, int width, int height, const uint8_t *pixels)
{
    return write_png(path, width, height, pixels, 1, "cvae_png_write_gray");
}

cvae_status cvae_png_write_rgb(const char *path, int width, int height, const uint8_t *rgb)
{
    return write_png(path, width, height, rgb, 3, "cvae_png_write_rgb");
}
