/* Shared by the libFuzzer targets: an oracle that aborts, and anonymous memory
 * files, so readers that take a path (through zlib or stdio) run unchanged. */
#ifndef CVAE_FUZZ_UTIL_H
#define CVAE_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) abort();                                                                    \
    } while (0)

/* A memory file (memfd) holding buf[0..n), reachable as `path`
 * ("/proc/self/fd/N"); returns its descriptor (close it), or -1. */
static inline int fuzz_mem_file(const uint8_t *buf, size_t n, char *path, size_t path_size)
{
    int fd = memfd_create("cvae-fuzz", 0);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
