#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void ex_shuffle(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    cvae_rng r = cvae_rng_make(seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(cvae_rng_u32(&r) % (uint32_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

cvae_status ex_batch(const cvae_dataset *ds, cvae_tape *t, const int64_t *idx, int64_t n,
                     cvae_tensor **x, int32_t *labels)
{
    const int64_t shape[4] = {n, 1, ds->rows, ds->cols};
    cvae_tensor *out;
    cvae_status s = cvae_tape_tensor(t, 4, shape, &out);
    if (!s) s = cvae_dataset_batch(ds, idx, n, CVAE_BINARIZE_NONE, 0, out->data, labels);
    if (!s) *x = out;
    return s;
}

double ex_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ex_make_dir(const char *dir)
{
    char buf[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof buf) {
        fprintf(stderr, "bad output directory name\n");
        return -1;
    }
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        const char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "cannot create directory %s: %s\n", buf, strerror(errno));
            return -1;
        }
        if (c == '\0') return 0;
        *p = c;
    }
}

double ex_rel_diff(const float *a, const float *b, int64_t n)
{
    double d = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return d == 0 ? 0 : d / scale;
}
