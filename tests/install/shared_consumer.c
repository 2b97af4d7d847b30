/* A program linked against libcvae.so only (no libcvae.a, no private header), calling
 * functions of every public header and checking what they return. A function declared
 * CVAE_API but not exported makes this program fail to link.
 * Usage: shared_consumer DIR (a writable folder for the PNG and model files). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cvae/cvae.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s failed (last error: %s)\n", __FILE__, __LINE__, #cond,      \
                    cvae_last_error());                                                            \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define OK(expr) CHECK((expr) == CVAE_OK)

static int starts_with_png_signature(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char got[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(got, 1, sizeof got, f);
    fclose(f);
    return n == sizeof got && memcmp(got, sig, sizeof sig) == 0;
}

/* core.h, rng.h, tensor.h */
static void core_rng_tensor(void)
{
    CHECK(strcmp(cvae_version(), CVAE_VERSION_STRING) == 0);
    CHECK(cvae_status_str(CVAE_ERR_SHAPE)[0] != '\0');
    const int64_t bad[1] = {0};
    cvae_tensor *t = NULL;
    CHECK(cvae_tensor_new(1, bad, &t) == CVAE_ERR_SHAPE && t == NULL);
    CHECK(cvae_last_error()[0] != '\0');
    cvae_clear_error();

    cvae_rng r = cvae_rng_make(7, 0);
    for (int i = 0; i < 100; i++) {
        float u = cvae_rng_uniform(&r);
        CHECK(u >= 0.0f && u < 1.0f);
    }

    const int64_t shape[2] = {2, 3};
    OK(cvae_tensor_new(2, shape, &t));
    if (!t) return;
    OK(cvae_tensor_fill(t, 1.5f));
    const int64_t idx[2] = {1, 2};
    CHECK(cvae_tensor_get(t, idx) == 1.5f && t->size == 6);
    cvae_tensor_free(t);
}

/* metrics.h: two sets of 2-D points 3 apart along x: moments, and a Fréchet distance of 9. */
static void metrics(void)
{
    const float a[8] = {0, 0, 1, 0, 0, 1, 1, 1}, b[8] = {3, 0, 4, 0, 3, 1, 4, 1};
    double mu[2], cov[4], fd = -1;
    OK(cvae_moments(a, 4, 2, mu, cov));
    CHECK(mu[0] == 0.5 && mu[1] == 0.5 && fabs(cov[0] - 1.0 / 3) < 1e-15 && cov[1] == 0);
    OK(cvae_frechet_distance_samples(a, 4, b, 4, 2, &fd));
    CHECK(fabs(fd - 9.0) < 1e-12);
    CHECK(cvae_moments(a, 1, 2, mu, cov) == CVAE_ERR_INVALID_ARG);
}

/* tape.h, ops.h, conv.h: y = sum(avg_pool(upsample(x))) + sum(max_pool(x)) + ..., and its
 * gradient through the tape. */
static void tape_ops_conv(void)
{
    cvae_tape *t = NULL;
    OK(cvae_tape_new(&t));
    if (!t) return;
    const int64_t shape[4] = {1, 1, 2, 2};
    cvae_tensor *x = NULL, *up = NULL, *avg = NULL, *mx = NULL, *bn = NULL, *s = NULL;
    OK(cvae_tape_tensor(t, 4, shape, &x));
    if (!x) goto done;
    const float v[4] = {1.0f, 4.0f, 2.0f, 3.0f};
    OK(cvae_tensor_set_data(x, v, 4));
    OK(cvae_tape_require_grad(t, x));

    OK(cvae_op_upsample_nearest2d(t, x, 2, &up)); /* [1, 1, 4, 4] */
    if (up) {
        CHECK(up->shape[2] == 4 && up->shape[3] == 4);
        OK(cvae_op_avg_pool2d(t, up, 2, 2, &avg)); /* back to x */
    }
    if (avg) CHECK(memcmp(avg->data, v, sizeof v) == 0);
    OK(cvae_op_max_pool2d(t, x, 2, 2, &mx));
    if (mx) CHECK(mx->size == 1 && mx->data[0] == 4.0f);
    OK(cvae_op_batch_norm2d(t, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1, &bn));
    if (bn) { /* mean 2.5, biased variance 1.25 */
        CHECK(fabsf(bn->data[1] - 1.5f / sqrtf(1.25f + 1e-5f)) < 1e-5f);
    }
    OK(cvae_op_sum(t, mx, &s));
    if (!s) goto done;
    OK(cvae_tape_backward(t, s));
    /* d max / dx is 1 at the maximum only */
    CHECK(x->grad && x->grad[0] == 0.0f && x->grad[1] == 1.0f && x->grad[2] == 0.0f);
done:
    cvae_tape_free(t);
}

/* tape.h (parameters), nn.h, optim.h: one SGD step on a linear layer moves its bias by
 * -lr * dL/db with L = sum(y), dL/db = 1 per row. */
static void nn_optim(void)
{
    cvae_params *p = NULL;
    cvae_linear *l = NULL;
    cvae_optim *opt = NULL;
    cvae_tape *t = NULL;
    OK(cvae_params_new(&p));
    if (!p) return;
    OK(cvae_linear_new(p, "fc", 3, 2, 1, CVAE_INIT_GLOROT_UNIFORM, 5, &l));
    cvae_sgd_opts so = cvae_sgd_opts_default();
    so.lr = 0.5f;
    OK(cvae_optim_new_sgd(p, &so, &opt));
    OK(cvae_tape_new(&t));
    if (!l || !opt || !t) goto done;
    CHECK(cvae_params_count(p) == 2 && cvae_params_numel(p) == 8);
    const int64_t shape[2] = {4, 3};
    cvae_tensor *x = NULL, *y = NULL, *s = NULL;
    OK(cvae_tape_tensor(t, 2, shape, &x));
    if (!x) goto done;
    OK(cvae_tensor_randn(x, 3, 0, 0.0f, 1.0f));
    OK(cvae_linear_forward(l, t, x, &y));
    if (y) OK(cvae_op_sum(t, y, &s));
    if (!s) goto done;
    cvae_params_zero_grad(p);
    OK(cvae_tape_backward(t, s));
    const float b0 = l->bias->data[0];
    OK(cvae_optim_step(opt));
    CHECK(fabsf(l->bias->data[0] - (b0 - 0.5f * 4.0f)) < 1e-6f);
done:
    cvae_tape_free(t);
    cvae_optim_free(opt);
    cvae_linear_free(l);
    cvae_params_free(p);
}

/* io.h, model.h: PNG files, and a small model saved and loaded back. */
static void io_model(const char *dir)
{
    char path[4096];
    const uint8_t gray[6] = {0, 50, 100, 150, 200, 250};
    const uint8_t rgb[18] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 1, 2, 3, 4, 5, 6};
    snprintf(path, sizeof path, "%s/shared_consumer_gray.png", dir);
    OK(cvae_png_write_gray(path, 3, 2, gray));
    CHECK(starts_with_png_signature(path));
    remove(path);
    snprintf(path, sizeof path, "%s/shared_consumer_rgb.png", dir);
    OK(cvae_png_write_rgb(path, 3, 2, rgb));
    CHECK(starts_with_png_signature(path));
    remove(path);

    cvae_model_config cfg = cvae_model_config_default();
    cfg.image_h = cfg.image_w = 8;
    cfg.num_labels = 3, cfg.latent = 2;
    cfg.enc_channels = cfg.cond_channels = cfg.enc2_channels = cfg.dec_channels = 2;
    cvae_model *m = NULL, *back = NULL;
    OK(cvae_model_new(&cfg, &m));
    if (!m) return;
    snprintf(path, sizeof path, "%s/shared_consumer.safetensors", dir);
    OK(cvae_model_save(m, path));
    OK(cvae_model_load(path, &back));
    remove(path);
    if (back) {
        cvae_params *a = cvae_model_params(m), *b = cvae_model_params(back);
        CHECK(cvae_params_numel(a) == cvae_params_numel(b) &&
              memcmp(cvae_params_data(a), cvae_params_data(b),
                     (size_t)cvae_params_numel(a) * sizeof(float)) == 0);
        float img[64];
        const int32_t label = 2;
        OK(cvae_model_generate(back, &label, 1, 11, img));
        for (int i = 0; i < 64; i++) CHECK(img[i] >= 0.0f && img[i] <= 1.0f);
    }
    cvae_model_free(back);
    cvae_model_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    core_rng_tensor();
    metrics();
    tape_ops_conv();
    nn_optim();
    io_model(argv[1]);
    if (failures) {
        fprintf(stderr, "shared_consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("shared_consumer: every public header used through libcvae.so %s\n", cvae_version());
    return 0;
}
