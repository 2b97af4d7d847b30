/* host_forward: embed a trained conditional VAE in a C program.
 *   host_forward MODEL [DATA_DIR]
 * Loads a model file, encodes and reconstructs the first few test digits and
 * prints their latent means and reconstruction errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cvae/cvae.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "/usr/local/share/cvae/data/mnist-digits-5k"
#endif
#define N 4

static int fail(cvae_status s) { return fprintf(stderr, "error: %s: %s\n", cvae_status_str(s), cvae_last_error()), 1; }

int main(int argc, char **argv)
{
    if (argc < 2) return fprintf(stderr, "usage: host_forward MODEL [DATA_DIR]\n"), 2;
    cvae_model *model;
    cvae_dataset *test;
    cvae_status s = cvae_model_load(argv[1], &model);
    if (s) return fail(s);
    if ((s = cvae_dataset_load_dir(argc > 2 ? argv[2] : CVAE_DEFAULT_DATA_DIR, "t10k", &test)))
        return cvae_model_free(model), fail(s);
    const cvae_model_config *c = cvae_model_get_config(model);
    const int64_t per = (int64_t)c->image_channels * c->image_h * c->image_w, idx[N] = {0, 1, 2, 3};
    float *images = malloc(sizeof(float) * N * per), *recon = malloc(sizeof(float) * N * per);
    float *mu = malloc(sizeof(float) * N * c->latent), *logvar = malloc(sizeof(float) * N * c->latent);
    int32_t labels[N];
    if (!images || !recon || !mu || !logvar) s = CVAE_ERR_NOMEM;
    if (!s) s = cvae_dataset_batch(test, idx, N, CVAE_BINARIZE_NONE, 0, images, labels);
    /* x: [N, C, H, W] in [0, 1], labels: [N] -> recon: [N, C, H, W], mu, logvar: [N, latent] */
    if (!s) s = cvae_model_forward(model, images, labels, N, 42, recon, mu, logvar);
    for (int i = 0; !s && i < N; i++) {
        double err = 0;
        for (int64_t j = 0; j < per; j++) err += fabs(recon[i * per + j] - images[i * per + j]);
        printf("digit %d: mean |x - recon| = %.4f, mu =", labels[i], err / (double)per);
        for (int j = 0; j < c->latent && j < 4; j++) printf(" %+.3f", mu[i * c->latent + j]);
        printf("%s, sigma[0] = %.3f\n", c->latent > 4 ? " ..." : "", exp(0.5 * logvar[i * c->latent]));
    }
    free(images), free(recon), free(mu), free(logvar);
    cvae_dataset_free(test);
    cvae_model_free(model);
    return s ? fail(s) : 0;
}
