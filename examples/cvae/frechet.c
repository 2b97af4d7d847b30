/* cvae eval: Fréchet distances in the judge's features (docs/metrics.md).
 *
 * The test set is split per label into halves A and B (a label's 1st, 3rd, ... image in
 * file order go to A, its 2nd, 4th, ... to B). The model generates as many images of each
 * label as A has; the generated set and A are each compared with B, so the model's distance
 * and the floor (A against B: two samples of the real distribution) have the same sample
 * sizes and the same reference, and the bias of a Fréchet distance estimated from finite
 * samples is the same in both. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "quality.h"

/* Rows of one set: features f: [n, d] and labels y: [n]. */
typedef struct set {
    float *f;
    int32_t *y;
    int64_t n;
} set;

/* out: [n, d + k] = the rows of s with alpha * onehot(label) appended. */
static float *joint(const set *s, int64_t d, int64_t k, double alpha)
{
    float *out = calloc((size_t)(s->n * (d + k)), sizeof(float));
    for (int64_t i = 0; out && i < s->n; i++) {
        memcpy(out + i * (d + k), s->f + i * d, sizeof(float) * (size_t)d);
        out[i * (d + k) + d + s->y[i]] = (float)alpha;
    }
    return out;
}

/* out: [count, d] = the rows of s whose label is `label`; *count receives their number. */
static void rows_of(const set *s, int64_t d, int32_t label, float *out, int64_t *count)
{
    int64_t c = 0;
    for (int64_t i = 0; i < s->n; i++)
        if (s->y[i] == label) memcpy(out + (c++) * d, s->f + i * d, sizeof(float) * (size_t)d);
    *count = c;
}

/* FD(g, b) into *model and FD(a, b) into *floor, for rows of dimension d. */
static int pair(const float *g, int64_t ng, const float *a, int64_t na, const float *b, int64_t nb,
                int64_t d, double *model, double *floor_)
{
    return !cli_fail(cvae_frechet_distance_samples(g, ng, b, nb, d, model), "Fréchet distance") &&
           !cli_fail(cvae_frechet_distance_samples(a, na, b, nb, d, floor_), "Fréchet distance");
}

static int report(const set *gen, const set *a, const set *b, int64_t d, int64_t k)
{
    double model, floor_, alpha = 0;
    if (!pair(gen->f, gen->n, a->f, a->n, b->f, b->n, d, &model, &floor_)) return 0;
    printf("  %-34s %10.3f %10.3f\n", "FID (all labels)", model, floor_);
    /* FJD: the label as a one-hot scaled to the mean norm of the real image features */
    for (int64_t i = 0; i < b->n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)b->f[i * d + j] * b->f[i * d + j];
        alpha += sqrt(s) / (double)b->n;
    }
    float *jg = joint(gen, d, k, alpha), *ja = joint(a, d, k, alpha), *jb = joint(b, d, k, alpha);
    int ok = jg && ja && jb && pair(jg, gen->n, ja, a->n, jb, b->n, d + k, &model, &floor_);
    free(jg), free(ja), free(jb);
    if (!ok) return 0;
    char what[64];
    snprintf(what, sizeof what, "FJD (image + %.2f one-hot label)", alpha);
    printf("  %-34s %10.3f %10.3f\n", what, model, floor_);
    /* intra-class FID: each label on its own */
    float *rg = malloc(sizeof(float) * (size_t)(gen->n * d)),
          *ra = malloc(sizeof(float) * (size_t)(a->n * d)),
          *rb = malloc(sizeof(float) * (size_t)(b->n * d));
    double *fm = calloc((size_t)k, sizeof(double)), *ff = calloc((size_t)k, sizeof(double));
    double sum_m = 0, sum_f = 0;
    int64_t used = 0;
    ok = rg && ra && rb && fm && ff;
    for (int32_t l = 0; ok && l < k; l++) {
        int64_t ng, na, nb;
        rows_of(gen, d, l, rg, &ng), rows_of(a, d, l, ra, &na), rows_of(b, d, l, rb, &nb);
        fm[l] = ff[l] = NAN;
        if (ng < 2 || na < 2 || nb < 2) continue; /* too few images of this label */
        ok = pair(rg, ng, ra, na, rb, nb, d, &fm[l], &ff[l]);
        sum_m += fm[l], sum_f += ff[l], used++;
    }
    if (ok) {
        snprintf(what, sizeof what, "intra-class FID, mean of %lld labels", (long long)used);
        if (used)
            printf("  %-34s %10.3f %10.3f\n", what, sum_m / (double)used, sum_f / (double)used);
        else
            printf("  %-34s %10s %10s\n", what, "n/a", "n/a");
        for (int32_t l = 0; l < k; l++) {
            snprintf(what, sizeof what, "  label %d", l);
            if (isnan(fm[l]))
                printf("  %-34s %10s %10s  (fewer than 2 images in a set)\n", what, "n/a", "n/a");
            else
                printf("  %-34s %10.3f %10.3f\n", what, fm[l], ff[l]);
        }
    }
    free(rg), free(ra), free(rb), free(fm), free(ff);
    return ok;
}

int eval_frechet(const cvae_model *m, const judge *j, const float *real, const int32_t *labels,
                 int64_t n, uint64_t seed)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    const int64_t k = c->num_labels, d = judge_feature_dim(j),
                  per = (int64_t)c->image_h * c->image_w;
    float *feat = malloc(sizeof(float) * (size_t)(n * d)),
          *fa = malloc(sizeof(float) * (size_t)(n * d)),
          *fb = malloc(sizeof(float) * (size_t)(n * d)),
          *fg = malloc(sizeof(float) * (size_t)(n * d)),
          *img = malloc(sizeof(float) * (size_t)(n * per));
    int32_t *ya = malloc(sizeof(int32_t) * (size_t)n), *yb = malloc(sizeof(int32_t) * (size_t)n);
    int64_t *seen = calloc((size_t)k, sizeof(int64_t));
    set a = {fa, ya, 0}, b = {fb, yb, 0}, gen = {fg, ya, 0};
    int ok = feat && fa && fb && fg && img && ya && yb && seen;
    if (!ok) fprintf(stderr, "cvae: Fréchet distances: out of memory\n");
    ok = ok && !cli_fail(judge_apply(j, real, n, NULL, feat), "judging");
    for (int64_t i = 0; ok && i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) {
            fprintf(stderr, "cvae: test label %d outside the model's [0, %lld)\n", labels[i],
                    (long long)k);
            ok = 0;
            break;
        }
        set *s = seen[labels[i]]++ % 2 ? &b : &a;
        memcpy(s->f + s->n * d, feat + i * d, sizeof(float) * (size_t)d);
        s->y[s->n++] = labels[i];
    }
    if (ok && (a.n < 2 || b.n < 2)) {
        printf("Fréchet distances: skipped (fewer than 4 test images)\n");
    } else if (ok) {
        /* generated: one image per image of half A, with its label (noise from seed + 1, so
         * not the images of the fidelity test) */
        gen.n = a.n;
        ok = !cli_fail(cvae_model_generate(m, ya, a.n, seed + 1, img), "generating") &&
             !cli_fail(judge_apply(j, img, a.n, NULL, fg), "judging");
        if (ok) {
            printf("Fréchet distances in the judge's %lld features (lower is better): generated "
                   "images\n(as many per label as half A) and real half A (the floor), each "
                   "against real half B\n(%lld and %lld test images):\n",
                   (long long)d, (long long)a.n, (long long)b.n);
            printf("  %-34s %10s %10s\n", "", "model", "floor");
            ok = report(&gen, &a, &b, d, k);
        }
    }
    free(feat), free(fa), free(fb), free(fg), free(img), free(ya), free(yb), free(seen);
    return ok;
}
