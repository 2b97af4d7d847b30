#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"

char cli_who[48] = "cvae";

int cli_fail(cvae_status s, const char *what)
{
    if (s == CVAE_OK) return 0;
    fprintf(stderr, "%s: %s: %s: %s\n", cli_who, what, cvae_status_str(s), cvae_last_error());
    return 1;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_shuffle(int64_t *order, int64_t n, uint64_t seed, uint64_t stream)
{
    cvae_rng r = cvae_rng_make(seed, stream);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(((uint64_t)cvae_rng_u32(&r) * (uint64_t)(i + 1)) >> 32);
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* CVAE_DATA_DIR, else the digits installed beside the program
 * (PREFIX/bin/cvae -> PREFIX/share/cvae/data/mnist-digits-5k), else the source tree's. */
const char *cli_default_data_dir(void)
{
    static char installed[4096];
    const char *env = getenv("CVAE_DATA_DIR");
    if (env && *env) return env;
    ssize_t n = readlink("/proc/self/exe", installed, sizeof installed - 64);
    if (n > 0) {
        installed[n] = '\0';
        char *slash = strrchr(installed, '/');
        if (slash) {
            strcpy(slash, "/../share/cvae/data/mnist-digits-5k");
            if (access(installed, R_OK) == 0) return installed;
        }
    }
    return CVAE_DEFAULT_DATA_DIR;
}

int cli_load(const char *dir, const char *split, cvae_dataset **ds)
{
    return cli_fail(cvae_dataset_load_dir(dir, split, ds), "loading data") ? 0 : 1;
}

int cli_batch(const cvae_dataset *ds, const int64_t *idx, int64_t n, cvae_binarize mode,
              uint64_t seed, float *images, int32_t *labels)
{
    return !cli_fail(cvae_dataset_batch(ds, idx, n, mode, seed, images, labels), "batch");
}

int cli_make_parent_dir(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "cvae: cannot create directory %s: %s\n", buf, strerror(errno));
            return 0;
        }
        *p = '/';
    }
    return 1;
}

int cli_test_elbo(const cvae_model *m, const cvae_dataset *ds, cvae_binarize mode, uint64_t seed,
                  double *elbo, double *rec, double *kl)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    const int64_t per = (int64_t)c->image_channels * c->image_h * c->image_w, bs = 250;
    float *x = malloc(sizeof(float) * (size_t)(bs * per)), *r = malloc(sizeof(float) * bs),
          *k = malloc(sizeof(float) * bs);
    int64_t *idx = malloc(sizeof(int64_t) * bs);
    int32_t *y = malloc(sizeof(int32_t) * bs);
    double sr = 0, sk = 0;
    int ok = x && r && k && idx && y;
    for (int64_t s = 0; ok && s < ds->n; s += bs) {
        int64_t n = ds->n - s < bs ? ds->n - s : bs;
        for (int64_t i = 0; i < n; i++) idx[i] = s + i;
        ok = cli_batch(ds, idx, n, mode, seed, x, y) &&
             !cli_fail(cvae_model_elbo(m, x, y, n, seed + (uint64_t)s, r, k), "elbo");
        for (int64_t i = 0; ok && i < n; i++) sr += r[i], sk += k[i];
    }
    free(x), free(r), free(k), free(idx), free(y);
    if (!ok) return 0;
    *rec = sr / (double)ds->n;
    *kl = sk / (double)ds->n;
    *elbo = *rec + *kl;
    return 1;
}

const cli_choice cli_binarize_choices[] = {{"none", CVAE_BINARIZE_NONE},
                                           {"threshold", CVAE_BINARIZE_THRESHOLD},
                                           {"stochastic", CVAE_BINARIZE_STOCHASTIC},
                                           {NULL, 0}};

const char *cli_binarize_name(cvae_binarize mode)
{
    switch (mode) {
    case CVAE_BINARIZE_NONE:
        return "grey values";
    case CVAE_BINARIZE_THRESHOLD:
        return "binarized at 0.5";
    case CVAE_BINARIZE_STOCHASTIC:
        return "stochastically binarized";
    }
    return "?";
}

/* The launchers' variables: Open MPI's mpirun, MPICH's and Intel MPI's Hydra (PMI), and Slurm's
 * srun (its job steps only: the batch script itself is one process). */
int cli_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    long n = 1;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (i == 2) { /* a step of srun: SLURM_STEP_ID is below the batch/extern step ids */
            const char *step = getenv("SLURM_STEP_ID");
            if (!step || strtoul(step, NULL, 10) >= 0xfffffff0ul) v = NULL;
        }
        long k = v ? strtol(v, NULL, 10) : 1;
        if (k > n && k < 1L << 30) n = k;
    }
    return (int)n;
}
