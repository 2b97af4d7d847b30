/* Private helpers of the io layer: atomic file replacement, UTF-8 checks, host byte order. */
#ifndef CVAE_IO_INTERNAL_H
#define CVAE_IO_INTERNAL_H

#include <stdio.h>

#include "core/internal.h"

/* A file being written to a temporary name next to its target. Usage:
 *     cvae__atomic_file af;
 *     CVAE_TRY(cvae__atomic_begin(&af, path, fn));
 *     s = cvae__atomic_write(&af, buf, n);       // any number of times
 *     s = s ? (cvae__atomic_abort(&af), s) : cvae__atomic_commit(&af);
 * commit and abort release everything; after a failed commit nothing is left
 * to abort. A previous file at path is replaced only by a successful commit. */
typedef struct cvae__atomic_file {
    FILE *fp;
    char *tmp_path;   /* path + ".tmp-<pid>-<counter>" */
    const char *path; /* the caller's target, borrowed */
    const char *fn;   /* function name for messages */
} cvae__atomic_file;

/* Creates the temporary file (O_EXCL, mode 0666 & ~umask). CVAE_ERR_IO / NOMEM. */
cvae_status cvae__atomic_begin(cvae__atomic_file *af, const char *path, const char *fn);
/* fwrite of n bytes, checked. On failure the file stays open: call abort. */
cvae_status cvae__atomic_write(cvae__atomic_file *af, const void *buf, size_t n);
/* fflush + fsync + fclose (checked), rename over path, fsync of the directory.
 * On failure the temporary file is removed. */
cvae_status cvae__atomic_commit(cvae__atomic_file *af);
/* Closes and removes the temporary file. Safe to call twice. */
void cvae__atomic_abort(cvae__atomic_file *af);

/* True when s[0..n) is valid UTF-8 with no control character other than
 * tab, line feed and carriage return (what JSON text may hold raw). */
bool cvae__utf8_ok(const char *s, size_t n);

/* True on a little-endian host (the byte order of safetensors data). */
static inline bool cvae__host_le(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

#endif
