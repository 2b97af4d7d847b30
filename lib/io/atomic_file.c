/* Atomic replacement of a file: temporary file in the same directory, fsync, rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

static atomic_ulong tmp_counter;

cvae_status cvae__atomic_begin(cvae__atomic_file *af, const char *path, const char *fn)
{
    af->fp = NULL;
    af->tmp_path = NULL;
    af->path = path;
    af->fn = fn;
    unsigned long k = atomic_fetch_add(&tmp_counter, 1);
    size_t n = strlen(path) + 64;
    af->tmp_path = cvae__malloc(n);
    if (!af->tmp_path) return cvae__nomem(fn, n);
    snprintf(af->tmp_path, n, "%s.tmp-%ld-%lu", path, (long)getpid(), k);
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        cvae__free(af->tmp_path);
        af->tmp_path = NULL;
        return cvae__error(CVAE_ERR_IO, "%s: cannot create a temporary file next to '%s': %s", fn,
                           path, strerror(e));
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        cvae__atomic_abort(af);
        return cvae__error(CVAE_ERR_IO, "%s: cannot open a stream for '%s': %s", fn, path,
                           strerror(e));
    }
    return CVAE_OK;
}

cvae_status cvae__atomic_write(cvae__atomic_file *af, const void *buf, size_t n)
{
    if (n == 0) return CVAE_OK;
    if (fwrite(buf, 1, n, af->fp) != n) {
        int e = errno;
        return cvae__error(CVAE_ERR_IO, "%s: cannot write '%s': %s", af->fn, af->path,
                           strerror(e ? e : EIO));
    }
    return CVAE_OK;
}

/* Syncs the directory holding the file so that the rename survives a crash.
 * `buf` holds the temporary name (same directory as the target, and no '/'
 * in its suffix); it is cut down to the directory in place, so this step
 * allocates nothing. Filesystems that cannot sync a directory (EINVAL) pass. */
static int sync_dir(char *buf)
{
    char *slash = strrchr(buf, '/');
    const char *dir = ".";
    if (slash) {
        slash[slash == buf ? 1 : 0] = '\0';
        dir = buf;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int e = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
    close(fd);
    return e;
}

cvae_status cvae__atomic_commit(cvae__atomic_file *af)
{
    const char *what = "write";
    int e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp)) {
        e = errno ? errno : EIO;
    } else if (fsync(fileno(af->fp)) != 0) {
        e = errno;
        what = "sync";
    }
    int rc = fclose(af->fp);
    af->fp = NULL;
    if (!e && rc != 0) {
        e = errno ? errno : EIO;
        what = "close";
    }
    if (!e && rename(af->tmp_path, af->path) != 0) {
        e = errno;
        what = "rename a temporary file over";
    }
    if (e) {
        cvae__atomic_abort(af);
        return cvae__error(CVAE_ERR_IO, "%s: cannot %s '%s': %s", af->fn, what, af->path,
                           strerror(e));
    }
    e = sync_dir(af->tmp_path);
    cvae__free(af->tmp_path);
    af->tmp_path = NULL;
    if (e)
        return cvae__error(CVAE_ERR_IO,
                           "%s: '%s' was written but its directory could not be synced: %s", af->fn,
                           af->path, strerror(e));
    return CVAE_OK;
}

void cvae__atomic_abort(cvae__atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp_path) {
        remove(af->tmp_path);
        cvae__free(af->tmp_path);
        af->tmp_path = NULL;
    }
}
