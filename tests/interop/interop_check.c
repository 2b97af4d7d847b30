/* interop_check: the C half of the PyTorch interop test (public API only).
 *
 *   interop_check check MODEL CASES RESAVED
 *       Loads MODEL (written by tests/tools/torch_cvae.py), runs cvae_model_encode on
 *       CASES' "images"/"labels" and cvae_model_decode on its "z", and compares with
 *       PyTorch's "mu", "logvar", "probs" (sigmoid of the logits) and "logits" (on the
 *       pixels whose probability lies in [0.01, 0.99], recovered from cvae's
 *       probabilities as log(p / (1 - p))). Error of a tensor: max|cvae - torch| /
 *       max|torch|, which must stay below TOL. Then saves the model again with
 *       cvae_model_save to RESAVED, which must equal MODEL byte for byte.
 *   interop_check export MODEL CASES RESULTS
 *       Creates a default-configuration model (seed 7), saves it to MODEL, and writes
 *       cvae's "mu", "logvar" and "probs" for CASES' inputs to RESULTS for the Python
 *       side to compare against PyTorch running the same file.
 *
 * CASES holds images: [n, C, H, W], labels: [n] (integers stored as F32), z: [n, latent]
 * and, for check, mu, logvar: [n, latent], probs, logits: [n, C, H, W]. Exit status 0
 * when everything agrees, 1 otherwise (messages on stderr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cvae/cvae.h>

#define TOL 1e-4

static int failed(const char *what, cvae_status s)
{
    fprintf(stderr, "interop_check: %s: %s: %s\n", what, cvae_status_str(s), cvae_last_error());
    return 1;
}

/* Looks up `name` in f and checks it holds `numel` values. */
static const float *tensor(const cvae_st_file *f, const char *name, int64_t numel)
{
    int ndim;
    int64_t shape[CVAE_MAX_DIMS], count = 1;
    const float *data;
    if (cvae_st_find(f, name, &ndim, shape, &data)) {
        fprintf(stderr, "interop_check: cases file: %s\n", cvae_last_error());
        return NULL;
    }
    for (int d = 0; d < ndim; d++) count *= shape[d];
    if (count != numel) {
        fprintf(stderr, "interop_check: tensor %s has %lld values, expected %lld\n", name,
                (long long)count, (long long)numel);
        return NULL;
    }
    return data;
}

/* max|got - want| / max|want| over the entries with mask[i] (all when mask is NULL). */
static double rel_err(const float *got, const float *want, const unsigned char *mask, int64_t n)
{
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        double d = fabs((double)got[i] - want[i]);
        if (isnan(d)) return NAN;
        if (d > diff) diff = d;
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    return scale > 0 ? diff / scale : diff;
}

static int report(const char *name, double err, int64_t count)
{
    int ok = err < TOL;
    printf("%-7s rel_err %.3e over %lld values (tolerance %.0e) %s\n", name, err, (long long)count, TOL,
           ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}

static int same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

typedef struct batch {
    int64_t n, per, lat;
    const float *images, *z;
    int32_t *labels;
} batch;

/* Reads the inputs of CASES for model m into b (labels converted to int32). */
static int read_inputs(const cvae_model *m, const cvae_st_file *f, batch *b)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    int64_t shape[CVAE_MAX_DIMS];
    const float *lab;
    if (cvae_st_find(f, "labels", NULL, shape, &lab)) return failed("cases file", CVAE_ERR_FORMAT);
    b->n = shape[0];
    b->per = (int64_t)c->image_channels * c->image_h * c->image_w;
    b->lat = c->latent;
    b->images = tensor(f, "images", b->n * b->per);
    b->z = tensor(f, "z", b->n * b->lat);
    b->labels = malloc(sizeof(int32_t) * (size_t)b->n);
    if (!b->images || !b->z || !b->labels) return 1;
    for (int64_t i = 0; i < b->n; i++) b->labels[i] = (int32_t)lab[i];
    return 0;
}

/* mu, logvar: [n, lat], probs: [n, per] from cvae. */
static int run(const cvae_model *m, const batch *b, float *mu, float *logvar, float *probs)
{
    cvae_status s = cvae_model_encode(m, b->images, b->labels, b->n, mu, logvar);
    if (s) return failed("cvae_model_encode", s);
    s = cvae_model_decode(m, b->z, b->labels, b->n, probs);
    if (s) return failed("cvae_model_decode", s);
    return 0;
}

static int check(const char *model_path, const cvae_st_file *cases, const char *resaved)
{
    cvae_model *m;
    cvae_status s = cvae_model_load(model_path, &m);
    if (s) return failed("cvae_model_load", s);
    batch b = {0};
    int bad = read_inputs(m, cases, &b);
    const int64_t nl = b.n * b.lat, np = b.n * b.per;
    float *mu = malloc(sizeof(float) * (size_t)(2 * nl + 2 * np));
    unsigned char *mask = malloc((size_t)np);
    const float *w_mu = NULL, *w_lv = NULL, *w_p = NULL, *w_lg = NULL;
    if (!bad && (!mu || !mask)) bad = failed("allocation", CVAE_ERR_NOMEM);
    if (!bad) {
        w_mu = tensor(cases, "mu", nl);
        w_lv = tensor(cases, "logvar", nl);
        w_p = tensor(cases, "probs", np);
        w_lg = tensor(cases, "logits", np);
        bad = !w_mu || !w_lv || !w_p || !w_lg;
    }
    if (!bad) bad = run(m, &b, mu, mu + nl, mu + 2 * nl);
    if (!bad) {
        float *probs = mu + 2 * nl, *logits = probs + np;
        int64_t used = 0;
        for (int64_t i = 0; i < np; i++) {
            mask[i] = w_p[i] >= 0.01f && w_p[i] <= 0.99f;
            used += mask[i];
            double p = probs[i];
            logits[i] = p > 0 && p < 1 ? (float)log(p / (1.0 - p)) : (float)NAN;
        }
        printf("%lld images, latent %lld, %lld pixels each\n", (long long)b.n, (long long)b.lat,
               (long long)b.per);
        bad |= report("mu", rel_err(mu, w_mu, NULL, nl), nl);
        bad |= report("logvar", rel_err(mu + nl, w_lv, NULL, nl), nl);
        bad |= report("probs", rel_err(probs, w_p, NULL, np), np);
        bad |= used ? report("logits", rel_err(logits, w_lg, mask, np), used) : 0;
    }
    if (!bad && (s = cvae_model_save(m, resaved))) bad = failed("cvae_model_save", s);
    if (!bad) {
        int same = same_bytes(model_path, resaved);
        printf("resaved file identical to PyTorch's: %s\n", same ? "yes" : "NO");
        bad = !same;
    }
    free(mu);
    free(mask);
    free(b.labels);
    cvae_model_free(m);
    return bad;
}

static int export(const char *model_path, const cvae_st_file *cases, const char *results)
{
    cvae_model_config cfg = cvae_model_config_default();
    cfg.seed = 7;
    cvae_model *m;
    cvae_status s = cvae_model_new(&cfg, &m);
    if (s) return failed("cvae_model_new", s);
    batch b = {0};
    int bad = read_inputs(m, cases, &b);
    const int64_t nl = b.n * b.lat, np = b.n * b.per;
    float *out = bad ? NULL : malloc(sizeof(float) * (size_t)(2 * nl + np));
    if (!bad && !out) bad = failed("allocation", CVAE_ERR_NOMEM);
    if (!bad) bad = run(m, &b, out, out + nl, out + 2 * nl);
    if (!bad && (s = cvae_model_save(m, model_path))) bad = failed("cvae_model_save", s);
    if (!bad) {
        const cvae_model_config *c = cvae_model_get_config(m);
        cvae_st_entry e[3] = {{"mu", 2, {b.n, b.lat, 1, 1, 1}, out},
                              {"logvar", 2, {b.n, b.lat, 1, 1, 1}, out + nl},
                              {"probs", 4, {b.n, c->image_channels, c->image_h, c->image_w, 1}, out + 2 * nl}};
        if ((s = cvae_safetensors_save(results, e, 3, NULL, NULL, 0))) bad = failed("saving results", s);
    }
    free(out);
    free(b.labels);
    cvae_model_free(m);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "check") && strcmp(argv[1], "export"))) {
        fprintf(stderr, "usage: interop_check check MODEL CASES RESAVED\n"
                        "       interop_check export MODEL CASES RESULTS\n");
        return 2;
    }
    cvae_st_file *cases;
    cvae_status s = cvae_safetensors_open(argv[3], &cases);
    if (s) return failed("opening the cases file", s);
    int bad = strcmp(argv[1], "check") == 0 ? check(argv[2], cases, argv[4])
                                            : export(argv[2], cases, argv[4]);
    cvae_safetensors_close(cases);
    cvae_thread_workspace_release();
    return bad;
}
