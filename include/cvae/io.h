/** @file
 * cvae/io.h: datasets in MNIST's IDX format, PNG pictures, safetensors files. */
#ifndef CVAE_IO_H
#define CVAE_IO_H

#include "cvae/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== IDX datasets ========================================================= */

/* (section owned by the optim-io branch) */

/** A labelled image set kept as bytes, as read from a pair of IDX files
 *  (MNIST, Fashion-MNIST). Made by cvae_dataset_load_*, freed by cvae_dataset_free. */
typedef struct cvae_dataset {
    int64_t n;        /**< number of samples */
    int rows;         /**< image height */
    int cols;         /**< image width */
    uint8_t *images;  /**< [n, rows, cols], 0 = background, 255 = ink */
    int32_t *labels;  /**< [n], each in [0, num_classes) */
    int num_classes;  /**< largest label + 1 */
} cvae_dataset;

/** How cvae_dataset_batch turns a byte b into a float. */
typedef enum cvae_binarize {
    CVAE_BINARIZE_NONE = 0,      /**< b / 255 (grey values in [0, 1]) */
    CVAE_BINARIZE_THRESHOLD = 1, /**< 1 if b / 255 > 0.5 else 0 */
    CVAE_BINARIZE_STOCHASTIC = 2 /**< 1 with probability b / 255 (Bernoulli), drawn from
                                      the RNG stream (seed, dataset index of the sample) */
} cvae_binarize;

/** Reads an IDX image file (magic 0x00000803: n x rows x cols bytes) and an IDX
 *  label file (magic 0x00000801: n bytes), each gzip-compressed or plain.
 *  Checks: magic, 1 <= n <= 2^31, 1 <= rows, cols <= 4096, equal counts, the
 *  gzip checksum, no missing bytes and no trailing bytes after the data
 *  (CVAE_ERR_FORMAT; CVAE_ERR_IO when a file cannot be opened). Messages name the file. */
CVAE_API cvae_status cvae_dataset_load_idx(const char *images_path, const char *labels_path,
                                           cvae_dataset **out);

/** Loads split `split` ("train" or "t10k") from dir: SPLIT-images-idx3-ubyte.gz
 *  (or without .gz when that is missing) and SPLIT-labels-idx1-ubyte[.gz]. */
CVAE_API cvae_status cvae_dataset_load_dir(const char *dir, const char *split, cvae_dataset **out);

/** Frees a dataset. NULL is a no-op. */
CVAE_API void cvae_dataset_free(cvae_dataset *ds);

/** Gathers samples idx[0..n) as floats: images: [n, 1, rows, cols] converted by
 *  `mode` (`seed` used only by CVAE_BINARIZE_STOCHASTIC: the same (seed, sample)
 *  always gives the same bits), labels: [n] (may be NULL). An index outside
 *  [0, ds->n) gives CVAE_ERR_RANGE before anything is written. */
CVAE_API cvae_status cvae_dataset_batch(const cvae_dataset *ds, const int64_t *idx, int64_t n,
                                        cvae_binarize mode, uint64_t seed, float *images,
                                        int32_t *labels);



/* ==== safetensors files ==================================================== */

/* (section owned by the safetensors-png branch) */

/* Model files in Hugging Face's safetensors format: an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON
 *     {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *      "__metadata__": {"key": "value", ...}}
 * padded with spaces so that 8 + N is a multiple of 8, then the data section:
 * the tensors packed back to back, offsets relative to its start. cvae writes
 * and reads float32 tensors only, and adds two reserved metadata entries that
 * a caller may not pass: "format_version" (CVAE_ST_FORMAT_VERSION) and
 * "crc32": 8 lowercase hex digits, zlib's CRC-32 of the whole file (header
 * included) computed with these 8 digits read as "00000000"; the header holds
 * the bytes "crc32":" once, the digits right after them. Files of format "1"
 * (crc32 of the data section only) still load (docs/model-format.md).
 * Data is stored little-endian; these functions return CVAE_ERR_UNSUPPORTED
 * on a big-endian host.
 *
 *     cvae_safetensors_save_params("model.safetensors", params, keys, values, 2);
 *     cvae_st_file *f;
 *     if (cvae_safetensors_open("model.safetensors", &f) == CVAE_OK) {
 *         cvae_safetensors_load_params(f, params, 1);
 *         cvae_safetensors_close(f);
 *     }
 */

/** The version of cvae's safetensors layout, stored as metadata "format_version"
 *  ("2": the checksum covers the header too; "1", still read, covered the data only). */
#define CVAE_ST_FORMAT_VERSION "2"

/** One tensor to write. name: non-empty UTF-8, unique in the file, not
 *  "__metadata__"; 1 <= ndim <= CVAE_MAX_DIMS, shape[0..ndim) >= 0;
 *  data: prod(shape) floats (may be NULL only when that product is 0). */
typedef struct cvae_st_entry {
    const char *name;             /**< tensor name */
    int ndim;                     /**< rank, 1..CVAE_MAX_DIMS */
    int64_t shape[CVAE_MAX_DIMS]; /**< extents shape[0..ndim) */
    const float *data;            /**< prod(shape) floats, row-major */
} cvae_st_entry;

/** Writes entries[0..n) (n >= 0, in that order) and the metadata pairs
 *  meta_keys[i] = meta_values[i], i < n_meta (non-NULL UTF-8 strings, unique
 *  keys, neither "format_version" nor "crc32"; both arrays may be NULL when
 *  n_meta == 0) to `path`. Atomic: the file is written to a temporary file in
 *  the same directory, synced and renamed over `path`; on any failure the
 *  temporary file is removed and a previous file at `path` is left intact.
 *  Nothing is retained from the arguments.
 *  Errors: CVAE_ERR_INVALID_ARG (bad argument, reserved or duplicate key or
 *  name), CVAE_ERR_NOMEM, CVAE_ERR_IO (message with path and system error). */
CVAE_API cvae_status cvae_safetensors_save(const char *path, const cvae_st_entry *entries, int n,
                                           const char *const *meta_keys,
                                           const char *const *meta_values, int n_meta);

/** cvae_safetensors_save of every parameter of p under its name, in the
 *  block's order (trainable or frozen alike; gradients are not saved). */
CVAE_API cvae_status cvae_safetensors_save_params(const char *path, const cvae_params *p,
                                                  const char *const *meta_keys,
                                                  const char *const *meta_values, int n_meta);

/** An opened, fully validated safetensors file (read-only; may be shared by
 *  threads). Owns copies of everything it returns pointers to. */
typedef struct cvae_st_file cvae_st_file;

/** Reads the whole file at `path` and parses it with the same checks as
 *  cvae_safetensors_open_memory (peak memory about twice the file size while
 *  opening, then the data section plus names). On success *out is a new file object the
 *  caller frees with cvae_safetensors_close; on failure *out is untouched.
 *  Errors: CVAE_ERR_INVALID_ARG, CVAE_ERR_IO (cannot open or read; message
 *  with path and system error), CVAE_ERR_FORMAT, CVAE_ERR_UNSUPPORTED,
 *  CVAE_ERR_NOMEM. */
CVAE_API cvae_status cvae_safetensors_open(const char *path, cvae_st_file **out);

/** Parses the n bytes at buf (copied; buf may be freed afterwards) and
 *  validates everything before succeeding: n >= 8; header length <= 100 MB
 *  and <= n - 8; the header is UTF-8 JSON starting with '{', one object whose
 *  members are tensors and at most one "__metadata__" object of strings;
 *  each tensor has exactly dtype, shape and data_offsets; names are non-empty
 *  and unique; shapes hold 1..CVAE_MAX_DIMS integers >= 0 whose byte size
 *  4 * prod(shape) neither overflows nor differs from end - begin; the
 *  tensors tile the data section exactly (no gap, overlap or trailing byte);
 *  "crc32" is present and matches (checked before the tensors are read): the
 *  whole file for format_version CVAE_ST_FORMAT_VERSION, the data section for
 *  "1" or no format_version.
 *  Errors: CVAE_ERR_FORMAT (naming what is wrong); CVAE_ERR_UNSUPPORTED for
 *  a valid safetensors file cvae cannot represent (a dtype other than F32,
 *  rank 0 or above CVAE_MAX_DIMS, a "format_version" other than "1" and
 *  CVAE_ST_FORMAT_VERSION); CVAE_ERR_INVALID_ARG (NULL buf or out);
 *  CVAE_ERR_NOMEM. *out is untouched on failure. */
CVAE_API cvae_status cvae_safetensors_open_memory(const void *buf, size_t n, cvae_st_file **out);

/** Frees f and everything it returned. NULL is a no-op. */
CVAE_API void cvae_safetensors_close(cvae_st_file *f);

/** Number of tensors in f (0 when f is NULL). */
CVAE_API int cvae_st_count(const cvae_st_file *f);

/** Name of the i-th tensor in header order, or NULL when f is NULL or i is
 *  out of range. Owned by f. */
CVAE_API const char *cvae_st_name(const cvae_st_file *f, int i);

/** Looks up the tensor `name`. Each of ndim, shape (CVAE_MAX_DIMS entries;
 *  unused trailing ones set to 1) and data may be NULL when not wanted.
 *  *data points to prod(shape) floats owned by f (float-aligned; the data
 *  section starts 64-byte aligned), valid until
 *  cvae_safetensors_close (NULL for a tensor with no elements).
 *  Errors: CVAE_ERR_INVALID_ARG (NULL f or name), CVAE_ERR_RANGE (no tensor
 *  of that name); outputs untouched on failure. */
CVAE_API cvae_status cvae_st_find(const cvae_st_file *f, const char *name, int *ndim,
                                  int64_t *shape, const float **data);

/** Value of metadata entry `key` (owned by f), or NULL when absent or when f
 *  or key is NULL. The reserved "format_version" and "crc32" are included. */
CVAE_API const char *cvae_st_meta(const cvae_st_file *f, const char *key);

/** Number of metadata entries (0 when f is NULL). */
CVAE_API int cvae_st_meta_count(const cvae_st_file *f);
/** Key of the i-th metadata entry in header order (owned by f), NULL when out of range. */
CVAE_API const char *cvae_st_meta_key(const cvae_st_file *f, int i);

/** How cvae_net_load matches the file's tensors with the network's parameters; the names
 *  and meaning are PyTorch's load_state_dict(strict=...). */
typedef enum cvae_load_mode {
    CVAE_LOAD_STRICT = 0,    /**< the file holds exactly the network's parameters */
    CVAE_LOAD_NONSTRICT = 1  /**< parameters missing from the file keep their values and
                                  file tensors that are no parameter are ignored (both
                                  counted in the report); a tensor whose name matches but
                                  whose shape does not is still an error */
} cvae_load_mode;

/** What a load matched (PyTorch's missing_keys / unexpected_keys, counted). */
typedef struct cvae_load_report {
    int loaded;                  /**< parameters copied from the file */
    int missing;                 /**< parameters the file lacks (kept as they were) */
    int unexpected;              /**< file tensors that are no parameter (ignored) */
    char first_missing[128];     /**< the first of them ("" if none) */
    char first_unexpected[128];  /**< the first of them ("" if none) */
} cvae_load_report;

/** Copies the parameters of p from the file tensors of the same names, matched as `mode`
 *  says (checkpoint optimizer state, tensors named "optim.*", is never a parameter and is
 *  skipped). Checks everything before copying anything: on failure p is unchanged. report
 *  may be NULL. Errors: CVAE_ERR_INVALID_ARG, CVAE_ERR_FORMAT (strict: a parameter missing
 *  from the file or a file tensor that is no parameter, named), CVAE_ERR_SHAPE (a name
 *  matches but the shape does not), CVAE_ERR_NUMERIC (a non-finite value to be loaded). */
CVAE_API cvae_status cvae_safetensors_load_params(const cvae_st_file *f, cvae_params *p,
                                                  cvae_load_mode mode, cvae_load_report *report);

/* ==== PNG pictures ========================================================= */

/* (section owned by the safetensors-png branch) */

/* 8-bit PNG output through libpng. Writing is atomic like cvae_safetensors_save
 * (temporary file, sync, rename; a previous file is left intact on failure).
 * Width and height are 1..1000000 (libpng's default limit). Errors:
 * CVAE_ERR_INVALID_ARG (NULL, bad size), CVAE_ERR_NOMEM, CVAE_ERR_IO
 * (message with path and system error or libpng's message). */

/** pixels: [height, width] gray levels, row-major. */
CVAE_API cvae_status cvae_png_write_gray(const char *path, int width, int height,
                                         const uint8_t *pixels);

/** rgb: [height, width, 3] interleaved R, G, B, row-major. */
CVAE_API cvae_status cvae_png_write_rgb(const char *path, int width, int height,
                                        const uint8_t *rgb);

/** Gray level of the border between the cells of cvae_image_grid. */
#define CVAE_GRID_PAD_VALUE 128

/** Tiles n gray images into one picture of cols columns and ceil(n / cols)
 *  rows (cols is capped at n), with a border of `pad` pixels of gray level
 *  CVAE_GRID_PAD_VALUE around and between the cells:
 *      out_w = cols * (w + pad) + pad,  out_h = rows * (h + pad) + pad.
 *  images: [n, 1, h, w] values in [0, 1] (clamped; NaN -> 0), each mapped to
 *  round(255 * v). On success *out is a new [out_h, out_w] buffer from the
 *  library allocator that the caller frees with cvae_free_buffer.
 *  Errors: CVAE_ERR_INVALID_ARG (NULL, n, h, w or cols < 1, pad < 0, a side
 *  above 1000000); outputs untouched on failure. */
CVAE_API cvae_status cvae_image_grid(const float *images, int64_t n, int64_t h, int64_t w,
                                     int cols, int pad, uint8_t **out, int *out_w, int *out_h);

/** cvae_image_grid written as a gray PNG at path. */
CVAE_API cvae_status cvae_png_write_grid(const char *path, const float *images, int64_t n,
                                         int64_t h, int64_t w, int cols, int pad);

#ifdef __cplusplus
}
#endif
#endif
