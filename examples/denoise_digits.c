/* denoise_digits: a network that is not a VAE, trained with the same trainer: a
 * label-conditioned denoiser of digits (examples/nets/denoiser.h), whose second layer looks
 * up 5x5 filters by the digit's label. Prints the test error of the noisy digits, of the
 * denoised ones with their labels and with wrong labels, and writes OUT_DIR/denoised.png
 * (rows: clean, noisy, denoised).
 *     denoise_digits [EPOCHS [DATA_DIR [OUT_DIR]]] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "denoiser.h"

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif
#define TRY(e)                                                                                     \
    do {                                                                                           \
        if ((e) != CVAE_OK) return fprintf(stderr, "%s\n", cvae_last_error()), 1;                  \
    } while (0)

enum { SHOW = 10 };

/* Writes clean, noisy and denoised versions of the first SHOW test digits as one picture. */
static cvae_status picture(const cvae_net *net, const cvae_dataset *test, float sigma,
                           const char *path)
{
    float rows[3 * SHOW * 784];
    int32_t labels[SHOW];
    int64_t idx[SHOW];
    for (int i = 0; i < SHOW; i++) idx[i] = i;
    cvae_tape *t;
    cvae_tensor *x, *y;
    cvae_status s = cvae_tape_new(&t);
    if (s) return s;
    cvae_tape_set_recording(t, 0);
    s = cvae_dataset_batch(test, idx, SHOW, CVAE_BINARIZE_NONE, 0, rows, labels);
    if (!s) s = cvae_tape_tensor(t, 4, (int64_t[]){SHOW, 1, 28, 28}, &x);
    if (!s) {
        cvae_rng_fill_normal(99, 0, 0.0f, sigma, x->data, x->size);
        for (int64_t i = 0; i < x->size; i++) rows[SHOW * 784 + i] = x->data[i] += rows[i];
        s = cvae_net_forward(net, 0, t, x, labels, &y);
    }
    for (int64_t i = 0; !s && i < y->size; i++)
        rows[2 * SHOW * 784 + i] = 1.0f / (1.0f + expf(-y->data[i]));
    if (!s) s = cvae_png_write_grid(path, rows, 3 * SHOW, 28, 28, SHOW, 2);
    cvae_tape_free(t);
    return s;
}

int main(int argc, char **argv)
{
    const int epochs = argc > 1 ? atoi(argv[1]) : 5;
    const char *data = argc > 2 ? argv[2] : CVAE_DEFAULT_DATA_DIR, *out = argc > 3 ? argv[3] : ".";
    float sigma = 1.0f;
    cvae_dataset *train, *test;
    TRY(cvae_dataset_load_dir(data, "train", &train));
    TRY(cvae_dataset_load_dir(data, "t10k", &test));
    cvae_net *net;
    cvae_trainer *tr;
    cvae_loader *ld;
    cvae_train_opts o = cvae_train_opts_default();
    o.lr = 2e-3f;
    TRY(dn_net_new(test->num_classes, 1, &net));
    TRY(cvae_trainer_new_net(net, &o, dn_loss, &sigma, &tr));
    TRY(cvae_loader_new(train, 64, CVAE_BINARIZE_NONE, 1, 1, &ld));
    for (int e = 1; e <= epochs; e++) {
        double loss;
        TRY(cvae_trainer_epoch(tr, ld, &loss));
        printf("epoch %d  loss %.2f nats/digit\n", e, loss);
    }
    double noisy, right, wrong;
    TRY(dn_evaluate(net, test, 1000, sigma, 7, &noisy, &right, &wrong));
    printf("test MSE per pixel: noisy %.4f, denoised %.4f (right labels), %.4f (wrong labels)\n",
           noisy, right, wrong);
    char path[4096];
    snprintf(path, sizeof path, "%s/denoised.png", out);
    TRY(picture(net, test, sigma, path));
    printf("wrote %s\n", path);
    cvae_loader_free(ld), cvae_trainer_free(tr), cvae_net_free(net);
    cvae_dataset_free(train), cvae_dataset_free(test);
    return 0;
}
