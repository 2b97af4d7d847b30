/* Private pieces shared by the safetensors writer and reader. */
#ifndef CVAE_SAFETENSORS_INTERNAL_H
#define CVAE_SAFETENSORS_INTERNAL_H

#include "cvae/io.h"
#include "io/io_internal.h"

#define CVAE__ST_MAX_HEADER 100000000u      /* bytes of JSON header accepted */
#define CVAE__ST_MAX_INT ((int64_t)1 << 53) /* JSON integers stay exact below this */
#define CVAE__ST_KEY_VERSION "format_version"
#define CVAE__ST_KEY_CRC "crc32"
#define CVAE__ST_META "__metadata__"

#define CVAE__ST_VERSION_DATA_CRC "1" /* files whose crc32 covers the data section only */
/* In format 2 the crc32 value is located in the header by these bytes, which must occur
 * exactly once; its 8 digits follow them. */
#define CVAE__ST_CRC_MARK "\"crc32\":\""
#define CVAE__ST_CRC_ZEROS "00000000"

/* zlib's CRC-32 continued over n bytes (any size). */
uint32_t cvae__crc32(uint32_t crc, const void *buf, size_t n);

/* Offset in hdr[0..n) of the 8 digits after CVAE__ST_CRC_MARK, or -1 unless the mark occurs
 * exactly once with 8 bytes and a '"' after it. */
int64_t cvae__st_crc_digits(const char *hdr, size_t n);

/* Sets *dup to a string occurring twice in names[0..n), or NULL if none.
 * CVAE_ERR_NOMEM (reported as `fn`) when the scratch copy cannot be allocated. */
cvae_status cvae__find_duplicate(const char *const *names, size_t n, const char **dup,
                                 const char *fn);

/* The checks of cvae_safetensors_load_params (names, shapes, finite values) without copying. */
cvae_status cvae__st_params_match(const cvae_st_file *f, const cvae_params *p, cvae_load_mode mode,
                                  cvae_load_report *report);

#endif
