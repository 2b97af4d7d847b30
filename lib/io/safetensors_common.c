/* CRC-32, locating the crc32 value, and duplicate detection for safetensors files. */
#include <stdlib.h>
#include <zlib.h>

#include "io/safetensors_internal.h"

uint32_t cvae__crc32(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}

int64_t cvae__st_crc_digits(const char *hdr, size_t n)
{
    const size_t mark = sizeof CVAE__ST_CRC_MARK - 1;
    int64_t at = -1;
    for (size_t i = 0; i + mark <= n; i++)
        if (hdr[i] == '"' && memcmp(hdr + i, CVAE__ST_CRC_MARK, mark) == 0) {
            if (at >= 0) return -1;
            at = (int64_t)(i + mark);
        }
    if (at < 0 || (size_t)at + 9 > n || hdr[at + 8] != '"') return -1;
    return at;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

cvae_status cvae__find_duplicate(const char *const *names, size_t n, const char **dup,
                                 const char *fn)
{
    *dup = NULL;
    if (n < 2) return CVAE_OK;
    const char **sorted = cvae__malloc(n * sizeof *sorted);
    if (!sorted) return cvae__nomem(fn, n * sizeof *sorted);
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) *dup = sorted[i];
    cvae__free(sorted);
    return CVAE_OK;
}
