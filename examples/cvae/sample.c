/* cvae sample: PNG pictures of a trained model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct sample_args {
    const char *model, *data, *out;
    long seed;
} sample_args;

static const cli_option sample_options[] = {
    CLI_STRING(sample_args, model, "model", "PATH", "out/cvae.safetensors", "model file"),
    CLI_STRING(sample_args, data, "data", "DIR", NULL,
               "MNIST-format directory for test images (default: the bundled digits)"),
    CLI_STRING(sample_args, out, "out", "DIR", "out", "where the pictures go"),
    CLI_INT(sample_args, seed, "seed", "N", 0, 2147483647, "1", "seed of the samples and noise"),
    CLI_END};

static void sample_epilog(FILE *f)
{
    fprintf(
        f,
        "\nwrites samples.png (a row per label, the label first), class_swap.png, "
        "reconstructions.png,\n"
        "latent_scatter.png, interpolation.png and kernels.png (conditional kernels per label)\n");
}

static int run(int argc, char **argv);

const cli_command cli_sample = {.name = "sample",
                                .synopsis = "[options]",
                                .about = "write PNG pictures of a model",
                                .options = sample_options,
                                .epilog = sample_epilog,
                                .run = run};

typedef struct ctx {
    const cvae_model *m;
    const cvae_model_config *c;
    const cvae_dataset *test;
    const char *dir;
    uint64_t seed;
    int64_t per; /* floats per image */
} ctx;

static int write_grid(const ctx *x, const char *name, const float *images, int64_t n, int cols)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", x->dir, name);
    if (cli_fail(cvae_png_write_grid(path, images, n, x->c->image_h, x->c->image_w, cols, 2), path))
        return 0;
    printf("wrote %s\n", path);
    return 1;
}

/* The first test image of each label (or of the first K samples when a label is absent). */
static void one_per_label(const ctx *x, int64_t *idx)
{
    const int64_t K = x->c->num_labels;
    for (int64_t k = 0; k < K; k++) {
        idx[k] = k % x->test->n;
        for (int64_t i = 0; i < x->test->n; i++)
            if (x->test->labels[i] == k) {
                idx[k] = i;
                break;
            }
    }
}

/* Row k: the label k, then 10 samples generated under it. */
static int samples(const ctx *x, float *buf, int32_t *y)
{
    const int64_t K = x->c->num_labels, cols = 10, per = x->per;
    float *gen = buf + K * (cols + 1) * per;
    for (int64_t i = 0; i < K * cols; i++) y[i] = (int32_t)(i / cols);
    if (cli_fail(cvae_model_generate(x->m, y, K * cols, x->seed, gen), "generate")) return 0;
    for (int64_t k = 0; k < K; k++) {
        float *row = buf + k * (cols + 1) * per;
        cli_label_tile(row, x->c->image_channels, x->c->image_h, x->c->image_w, k);
        memcpy(row + per, gen + k * cols * per, sizeof(float) * (size_t)(cols * per));
    }
    return write_grid(x, "samples.png", buf, K * (cols + 1), (int)(cols + 1));
}

/* Row r: test image of label r, then its encoding decoded under every label. */
static int class_swap(const ctx *x, float *buf, int32_t *y, int64_t *idx)
{
    const int64_t K = x->c->num_labels, L = x->c->latent, cols = K + 1;
    float *img = malloc(sizeof(float) * (size_t)(K * x->per)), *mu = malloc(sizeof(float) * (size_t)(K * L)),
          *z = malloc(sizeof(float) * (size_t)(K * L));
    int32_t *yl = malloc(sizeof(int32_t) * (size_t)K);
    int ok = img && mu && z && yl;
    one_per_label(x, idx);
    ok = ok && cli_batch(x->test, idx, K, CVAE_BINARIZE_NONE, 0, img, y) &&
         !cli_fail(cvae_model_encode(x->m, img, y, K, mu, NULL), "encode");
    for (int64_t r = 0; ok && r < K; r++) {
        for (int64_t k = 0; k < K; k++) {
            memcpy(z + k * L, mu + r * L, sizeof(float) * (size_t)L);
            yl[k] = (int32_t)k;
        }
        memcpy(buf + r * cols * x->per, img + r * x->per, sizeof(float) * (size_t)x->per);
        ok = !cli_fail(cvae_model_decode(x->m, z, yl, K, buf + (r * cols + 1) * x->per), "decode");
    }
    ok = ok && write_grid(x, "class_swap.png", buf, K * cols, (int)cols);
    free(img), free(mu), free(z), free(yl);
    return ok;
}

/* Rows alternate: 10 test images, then their reconstructions (z = mu + sigma eps). */
static int reconstructions(const ctx *x, float *buf, int32_t *y, int64_t *idx)
{
    const int64_t n = 40, cols = 10;
    for (int64_t i = 0; i < n; i++) idx[i] = i % x->test->n;
    float *img = malloc(sizeof(float) * (size_t)(n * x->per)), *rec = malloc(sizeof(float) * (size_t)(n * x->per));
    int ok = img && rec && cli_batch(x->test, idx, n, CVAE_BINARIZE_NONE, 0, img, y) &&
             !cli_fail(cvae_model_forward(x->m, img, y, n, x->seed, rec, NULL, NULL), "forward");
    for (int64_t r = 0; ok && r < n / cols; r++) {
        memcpy(buf + 2 * r * cols * x->per, img + r * cols * x->per, sizeof(float) * (size_t)(cols * x->per));
        memcpy(buf + (2 * r + 1) * cols * x->per, rec + r * cols * x->per, sizeof(float) * (size_t)(cols * x->per));
    }
    ok = ok && write_grid(x, "reconstructions.png", buf, 2 * n, (int)cols);
    free(img), free(rec);
    return ok;
}

static const uint8_t palette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                       {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                       {188, 189, 34}, {23, 190, 207}};

/* Top two principal directions of mu: [n, L] by power iteration on its covariance. */
static void principal_axes(const float *mu, int64_t n, int64_t L, double *mean, double *axes)
{
    double *cov = calloc((size_t)(L * L), sizeof(double));
    if (!cov) return;
    for (int64_t j = 0; j < L; j++) {
        mean[j] = 0;
        for (int64_t i = 0; i < n; i++) mean[j] += mu[i * L + j];
        mean[j] /= (double)n;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < L; a++)
            for (int64_t b = 0; b < L; b++)
                cov[a * L + b] += (mu[i * L + a] - mean[a]) * (mu[i * L + b] - mean[b]);
    for (int p = 0; p < 2; p++) {
        double *v = axes + p * L;
        for (int64_t j = 0; j < L; j++) v[j] = 1.0 + 0.01 * (double)j;
        for (int it = 0; it < 200; it++) {
            double w[4096] = {0}, norm = 0;
            for (int64_t a = 0; a < L; a++)
                for (int64_t b = 0; b < L; b++) w[a] += cov[a * L + b] * v[b];
            if (p == 1) { /* deflate: remove the first axis */
                double d = 0;
                for (int64_t j = 0; j < L; j++) d += w[j] * axes[j];
                for (int64_t j = 0; j < L; j++) w[j] -= d * axes[j];
            }
            for (int64_t j = 0; j < L; j++) norm += w[j] * w[j];
            norm = sqrt(norm) + 1e-30;
            for (int64_t j = 0; j < L; j++) v[j] = w[j] / norm;
        }
    }
    free(cov);
}

static int scatter(const ctx *x, int32_t *y, int64_t *idx)
{
    const int64_t n = x->test->n, L = x->c->latent, size = 512;
    float *img = malloc(sizeof(float) * (size_t)(n * x->per)), *mu = malloc(sizeof(float) * (size_t)(n * L));
    double *mean = calloc((size_t)L, sizeof(double)), *axes = calloc((size_t)(2 * L), sizeof(double));
    double *px = malloc(sizeof(double) * (size_t)(2 * n));
    uint8_t *rgb = malloc((size_t)(size * size * 3));
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *all = malloc(sizeof(int64_t) * (size_t)n);
    int ok = img && mu && mean && axes && px && rgb && labels && all && L <= 4096;
    (void)y, (void)idx;
    for (int64_t i = 0; ok && i < n; i++) all[i] = i;
    ok = ok && cli_batch(x->test, all, n, CVAE_BINARIZE_NONE, 0, img, labels) &&
         !cli_fail(cvae_model_encode(x->m, img, labels, n, mu, NULL), "encode");
    if (ok) {
        if (L == 2) {
            for (int64_t i = 0; i < 2 * n; i++) px[i] = mu[i];
        } else {
            principal_axes(mu, n, L, mean, axes);
            for (int64_t i = 0; i < n; i++)
                for (int p = 0; p < 2; p++) {
                    double s = 0;
                    for (int64_t j = 0; j < L; j++) s += (mu[i * L + j] - mean[j]) * axes[p * L + j];
                    px[2 * i + p] = s;
                }
        }
        double lo[2] = {1e30, 1e30}, hi[2] = {-1e30, -1e30};
        for (int64_t i = 0; i < n; i++)
            for (int p = 0; p < 2; p++) {
                lo[p] = fmin(lo[p], px[2 * i + p]);
                hi[p] = fmax(hi[p], px[2 * i + p]);
            }
        memset(rgb, 255, (size_t)(size * size * 3));
        for (int64_t i = 0; i < n; i++) {
            int64_t cx = (int64_t)(8 + (size - 16) * (px[2 * i] - lo[0]) / (hi[0] - lo[0] + 1e-12));
            int64_t cy = (int64_t)(8 + (size - 16) * (1.0 - (px[2 * i + 1] - lo[1]) / (hi[1] - lo[1] + 1e-12)));
            const uint8_t *col = palette[labels[i] % 10];
            for (int64_t dy = -2; dy <= 2; dy++)
                for (int64_t dx = -2; dx <= 2; dx++) {
                    int64_t yy = cy + dy, xx = cx + dx;
                    if (yy < 0 || yy >= size || xx < 0 || xx >= size || dx * dx + dy * dy > 5) continue;
                    memcpy(rgb + (yy * size + xx) * 3, col, 3);
                }
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/latent_scatter.png", x->dir);
        ok = !cli_fail(cvae_png_write_rgb(path, (int)size, (int)size, rgb), path);
        if (ok)
            printf("wrote %s (%s, colours: labels 0-9 in the Tableau-10 order)\n", path,
                   L == 2 ? "the 2-D latent means" : "the first two principal components of the latent means");
    }
    free(img), free(mu), free(mean), free(axes), free(px), free(rgb), free(labels), free(all);
    return ok;
}

/* Between the latent means of two test images of different labels, 10 steps,
 * decoded under every label (a row per label). */
static int interpolation(const ctx *x, float *buf, int32_t *y, int64_t *idx)
{
    const int64_t K = x->c->num_labels, L = x->c->latent, steps = 10;
    float *img = malloc(sizeof(float) * (size_t)(2 * x->per)), *mu = malloc(sizeof(float) * (size_t)(2 * L)),
          *z = malloc(sizeof(float) * (size_t)(steps * L));
    int32_t *yl = malloc(sizeof(int32_t) * (size_t)steps);
    one_per_label(x, idx);
    int64_t pair[2] = {idx[0], idx[K > 1 ? 1 : 0]};
    int ok = img && mu && z && yl && cli_batch(x->test, pair, 2, CVAE_BINARIZE_NONE, 0, img, y) &&
             !cli_fail(cvae_model_encode(x->m, img, y, 2, mu, NULL), "encode");
    for (int64_t k = 0; ok && k < K; k++) {
        for (int64_t s = 0; s < steps; s++) {
            float a = (float)s / (float)(steps - 1);
            for (int64_t j = 0; j < L; j++) z[s * L + j] = (1 - a) * mu[j] + a * mu[L + j];
            yl[s] = (int32_t)k;
        }
        ok = !cli_fail(cvae_model_decode(x->m, z, yl, steps, buf + k * steps * x->per), "decode");
    }
    ok = ok && write_grid(x, "interpolation.png", buf, K * steps, (int)steps);
    free(img), free(mu), free(z), free(yl);
    return ok;
}

/* The label-indexed kernels of the first layer: a row per label, a kernel per
 * filter (and input channel), each scaled to [0, 1] and enlarged 8x. */
static int kernels(const ctx *x, cvae_model *m)
{
    cvae_tensor *table = cvae_params_find(cvae_model_params(m), "enc.cond.table");
    if (!table) {
        printf("no conditional kernels in this model (cond_channels = 0)\n");
        return 1;
    }
    const int64_t K = table->shape[0], per_label = table->shape[1] * table->shape[2], kh = table->shape[3],
                  kw = table->shape[4], zoom = 8, side_h = kh * zoom, side_w = kw * zoom;
    float *img = malloc(sizeof(float) * (size_t)(K * per_label * side_h * side_w));
    if (!img) return 0;
    for (int64_t i = 0; i < K * per_label; i++) {
        const float *k = table->data + i * kh * kw;
        float lo = k[0], hi = k[0];
        for (int64_t j = 1; j < kh * kw; j++) lo = fminf(lo, k[j]), hi = fmaxf(hi, k[j]);
        for (int64_t r = 0; r < side_h; r++)
            for (int64_t c = 0; c < side_w; c++)
                img[(i * side_h + r) * side_w + c] = (k[(r / zoom) * kw + c / zoom] - lo) / (hi - lo + 1e-12f);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/kernels.png", x->dir);
    int ok = !cli_fail(cvae_png_write_grid(path, img, K * per_label, side_h, side_w, (int)per_label, 4), path);
    if (ok) printf("wrote %s (%lld labels x %lld kernels)\n", path, (long long)K, (long long)per_label);
    free(img);
    return ok;
}

static int run(int argc, char **argv)
{
    sample_args a = {.data = cli_default_data_dir()};
    int p = cli_parse(&cli_sample, argc, argv, &a, NULL);
    if (p >= 0) return p;
    cvae_model *m = NULL;
    cvae_dataset *test = NULL;
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/x", a.out);
    if (cli_fail(cvae_model_load(a.model, &m), a.model) || !cli_load(a.data, "t10k", &test) ||
        !cli_make_parent_dir(probe)) {
        cvae_model_free(m);
        cvae_dataset_free(test);
        return 1;
    }
    const cvae_model_config *c = cvae_model_get_config(m);
    ctx x = {
        m, c, test, a.out, (uint64_t)a.seed, (int64_t)c->image_channels * c->image_h * c->image_w};
    const int64_t K = c->num_labels, cap = (K + 1) * (K + 21) + 100;
    float *buf = malloc(sizeof(float) * (size_t)(cap * x.per));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)cap);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)cap);
    int ok = buf && y && idx && samples(&x, buf, y) && class_swap(&x, buf, y, idx) &&
             reconstructions(&x, buf, y, idx) && scatter(&x, y, idx) &&
             interpolation(&x, buf, y, idx) && kernels(&x, m);
    free(buf), free(y), free(idx);
    cvae_model_free(m);
    cvae_dataset_free(test);
    return ok ? 0 : 1;
}
