/* cvae/io.h: datasets in MNIST's IDX format, PNG pictures, safetensors files. */
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
    int rows, cols;   /**< image height and width */
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

/** Loads split `split` ("train" or "t10k") from dir: <split>-images-idx3-ubyte.gz
 *  (or without .gz when that is missing) and <split>-labels-idx1-ubyte[.gz]. */
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



/* ==== PNG pictures ========================================================= */

/* (section owned by the safetensors-png branch) */



#ifdef __cplusplus
}
#endif
#endif
