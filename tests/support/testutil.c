#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t test_rand_u32(test_rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull; /* splitmix64 */
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

double test_rand_unit(test_rng *r) { return test_rand_u32(r) / 4294967296.0; }

int64_t test_rand_int(test_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(test_rand_unit(r) * (double)(hi - lo + 1));
}

void test_fill(test_rng *r, float *x, int64_t n, float lo, float hi, float min_abs)
{
    for (int64_t i = 0; i < n; i++) {
        float v;
        do v = (float)(lo + (hi - lo) * test_rand_unit(r));
        while (fabsf(v) < min_abs);
        x[i] = v;
    }
}

cvae_tensor *test_tensor(test_rng *r, int ndim, const int64_t *shape)
{
    cvae_tensor *t = NULL;
    CVAE_OK_OR_FAIL(cvae_tensor_new(ndim, shape, &t));
    test_fill(r, t->data, t->size, -1.0f, 1.0f, 0.05f);
    return t;
}

void test_assert_close(const float *a, const float *b, int64_t n, double rtol, double atol,
                       const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double m = fmax(fabs(a[i]), fabs(b[i]));
        if (!(d <= atol + rtol * m))
            fail_msg("%s: element %lld differs: %.9g vs %.9g (|d| = %.3g, rtol %.1g, atol %.1g)",
                     what, (long long)i, a[i], b[i], d, rtol, atol);
    }
}

#define MAX_IN 8

typedef struct gc_state {
    test_fn fn;
    void *ctx;
    cvae_tensor **inputs;
    const int *check;
    int n_in;
    double *r; /* projection weights, grown to the output size */
    int64_t r_size;
} gc_state;

/* Runs fn on tape copies of the inputs; returns the output (on the tape). */
static cvae_tensor *run(gc_state *g, cvae_tape *t, cvae_tensor **copies)
{
    cvae_tape_reset(t);
    for (int i = 0; i < g->n_in; i++) {
        CVAE_OK_OR_FAIL(cvae_tape_tensor(t, g->inputs[i]->ndim, g->inputs[i]->shape, &copies[i]));
        CVAE_OK_OR_FAIL(cvae_tensor_copy(copies[i], g->inputs[i]));
        if (g->check[i]) CVAE_OK_OR_FAIL(cvae_tape_require_grad(t, copies[i]));
    }
    cvae_tensor *out = NULL;
    CVAE_OK_OR_FAIL(g->fn(t, copies, g->ctx, &out));
    if (g->r_size != out->size) {
        free(g->r);
        g->r = malloc((size_t)out->size * sizeof(double));
        test_rng rr = {12345};
        for (int64_t j = 0; j < out->size; j++) g->r[j] = 2.0 * test_rand_unit(&rr) - 1.0;
        g->r_size = out->size;
    }
    return out;
}

static double project(gc_state *g, const cvae_tensor *out)
{
    double s = 0.0;
    for (int64_t j = 0; j < out->size; j++) s += g->r[j] * out->data[j];
    return s;
}

void test_gradcheck(test_fn fn, void *ctx, cvae_tensor **inputs, const int *check, int n_in,
                    const gradcheck_opts *opts, const char *what)
{
    gradcheck_opts o = {1e-2, 1e-3, 1e-3, 48};
    if (opts) {
        if (opts->h > 0) o.h = opts->h;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->max_points > 0) o.max_points = opts->max_points;
    }
    assert_true(n_in <= MAX_IN);
    gc_state g = {fn, ctx, inputs, check, n_in, NULL, 0};
    cvae_tape *t = NULL;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tensor *copies[MAX_IN];

    /* analytic gradients */
    cvae_tensor *out = run(&g, t, copies);
    float *dy = malloc((size_t)out->size * sizeof(float));
    for (int64_t j = 0; j < out->size; j++) dy[j] = (float)g.r[j];
    CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, out, dy));
    free(dy);
    float *analytic[MAX_IN] = {0};
    for (int i = 0; i < n_in; i++) {
        if (!check[i]) continue;
        analytic[i] = calloc((size_t)inputs[i]->size, sizeof(float));
        if (copies[i]->grad)
            memcpy(analytic[i], copies[i]->grad, (size_t)inputs[i]->size * sizeof(float));
    }

    test_rng pick = {777};
    int probed = 0;
    for (int i = 0; i < n_in; i++) {
        if (!check[i]) continue;
        cvae_tensor *x = inputs[i];
        int64_t npts = x->size < o.max_points ? x->size : o.max_points;
        for (int64_t p = 0; p < npts; p++) {
            int64_t k = x->size <= o.max_points ? p : test_rand_int(&pick, 0, x->size - 1);
            float x0 = x->data[k];
            double f[4];
            const double steps[4] = {2, 1, -1, -2};
            for (int s = 0; s < 4; s++) {
                x->data[k] = (float)(x0 + steps[s] * o.h);
                f[s] = project(&g, run(&g, t, copies));
            }
            x->data[k] = x0;
            double fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * o.h);
            double a = analytic[i][k];
            double d = fabs(a - fd), m = fmax(fabs(a), fabs(fd));
            if (!(d <= o.atol + o.rtol * m))
                fail_msg("%s: gradient of input %d at element %lld: tape %.7g, finite difference %.7g "
                         "(|d| = %.3g, rtol %.1g, atol %.1g)",
                         what, i, (long long)k, a, fd, d, o.rtol, o.atol);
            probed++;
        }
        free(analytic[i]);
    }
    assert_true(probed > 0);
    free(g.r);
    cvae_tape_free(t);
}

const char *test_data_path(const char *file)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", CVAE_TEST_DATA_DIR, file);
    return buf;
}

void test_resave_with_meta(const char *from, const char *to, const char *key, const char *value)
{
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(from, &f));
    const int n = cvae_st_count(f), nm = cvae_st_meta_count(f);
    cvae_st_entry *e = calloc((size_t)n, sizeof *e);
    const char *keys[8], *vals[8];
    int k = 0;
    for (int i = 0; i < n; i++) {
        e[i].name = cvae_st_name(f, i);
        const float *data;
        CVAE_OK_OR_FAIL(cvae_st_find(f, e[i].name, &e[i].ndim, e[i].shape, &data));
        e[i].data = data;
    }
    for (int i = 0; i < nm; i++) {
        const char *mk = cvae_st_meta_key(f, i);
        if (!strcmp(mk, "format_version") || !strcmp(mk, "crc32")) continue;
        assert_true(k < 8);
        keys[k] = mk, vals[k++] = strcmp(mk, key) ? cvae_st_meta(f, mk) : value;
    }
    CVAE_OK_OR_FAIL(cvae_safetensors_save(to, e, n, keys, vals, k));
    free(e);
    cvae_safetensors_close(f);
}

cvae_model_config test_tiny_model_config(int channels)
{
    cvae_model_config c = cvae_model_config_default();
    c.image_h = c.image_w = 8;
    c.num_labels = 3;
    c.latent = 2;
    c.enc_channels = c.cond_channels = c.enc2_channels = c.dec_channels = channels;
    return c;
}
