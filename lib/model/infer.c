/* The reentrant inference entry points: each thread runs on its own tape. */
#include <math.h>
#include <pthread.h>

#include "model/model_internal.h"
#include "ops/activation.h"
#include "tape/tape_internal.h"

static pthread_key_t tape_key;
static pthread_once_t tape_once = PTHREAD_ONCE_INIT;
static int tape_key_ok;

static void free_tape(void *p) { cvae_tape_free(p); }
static void make_key(void) { tape_key_ok = pthread_key_create(&tape_key, free_tape) == 0; }

/* The calling thread's inference tape (recording off), reset and ready. */
static cvae_status thread_tape(cvae_tape **out)
{
    pthread_once(&tape_once, make_key);
    if (!tape_key_ok) return cvae__error(CVAE_ERR_NOMEM, "cannot create the thread workspace key");
    cvae_tape *t = pthread_getspecific(tape_key);
    if (!t) {
        CVAE_TRY(cvae_tape_new(&t));
        if (pthread_setspecific(tape_key, t) != 0) {
            cvae_tape_free(t);
            return cvae__error(CVAE_ERR_NOMEM, "cannot store the thread workspace");
        }
    }
    cvae_tape_reset(t);
    cvae_tape_set_recording(t, 0);
    *out = t;
    return CVAE_OK;
}

void cvae_thread_workspace_release(void)
{
    pthread_once(&tape_once, make_key);
    if (!tape_key_ok) return;
    cvae_tape *t = pthread_getspecific(tape_key);
    if (t) {
        cvae_tape_free(t);
        pthread_setspecific(tape_key, NULL);
    }
}

/* ---- row slices: every entry point runs rows [r0, r1) of its batch per member ---- */

typedef struct rows_job rows_job;
typedef cvae_status (*rows_fn)(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1);

struct rows_job {
    const cvae_model *m;
    int64_t n;
    int members;
    rows_fn run;
    const float *images, *z;
    const int32_t *labels;
    uint64_t seed;
    int k;
    float *out_a, *out_b, *out_c; /* the entry point's outputs, whole batch */
};

static cvae_status rows_member(void *ctx, int i)
{
    const rows_job *j = ctx;
    int64_t r0, r1;
    cvae__team_slice(j->n, i, j->members, &r0, &r1);
    cvae_tape *t = NULL;
    CVAE_TRY(thread_tape(&t));
    return j->run(j, t, r0, r1);
}

/* Splits the batch into min(threads, n) slices, a function of the model's thread count
 * and n only, so results never depend on which thread ran what. */
static cvae_status run_rows(rows_job *j)
{
    j->members = j->n < j->m->threads ? (int)j->n : j->m->threads;
    return cvae__team_run(j->m->team, j->members, rows_member, j);
}

/* A tape tensor holding images r0..r1. */
static cvae_status images_in(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1, cvae_tensor **x)
{
    const cvae_model_config *c = &j->m->cfg;
    const int64_t shape[4] = {r1 - r0, c->image_channels, c->image_h, c->image_w};
    CVAE_TRY(cvae_tape_tensor(t, 4, shape, x));
    memcpy((*x)->data, j->images + r0 * shape[1] * shape[2] * shape[3], (size_t)(*x)->size * sizeof(float));
    return CVAE_OK;
}

/* dst rows r0.. (row length src->size / rows) = src. */
static void copy_rows(float *dst, const cvae_tensor *src, int64_t r0)
{
    if (dst) memcpy(dst + r0 * (src->size / src->shape[0]), src->data, (size_t)src->size * sizeof(float));
}

static void sigmoid_rows(float *dst, const cvae_tensor *logits, int64_t r0)
{
    cvae__sigmoid_forward(dst + r0 * (logits->size / logits->shape[0]), logits->data, logits->size);
}

static cvae_status forward_rows(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1)
{
    const cvae_model *m = j->m;
    cvae_tensor *x, *mu, *logvar, *z, *logits;
    CVAE_TRY(images_in(j, t, r0, r1, &x));
    CVAE_TRY(cvae__elbo_encode(m->net, &m->elbo, t, x, j->labels + r0, &mu, &logvar));
    if (j->out_a) {
        CVAE_TRY(cvae_op_reparameterize_from(t, mu, logvar, j->seed, 0, r0 * m->cfg.latent, &z));
        CVAE_TRY(cvae_net_forward(m->net, m->elbo.decoder, t, z, j->labels + r0, &logits));
        sigmoid_rows(j->out_a, logits, r0);
    }
    copy_rows(j->out_b, mu, r0);
    copy_rows(j->out_c, logvar, r0);
    return CVAE_OK;
}

cvae_status cvae_model_forward(const cvae_model *m, const float *images, const int32_t *labels,
                               int64_t n, uint64_t seed, float *out_recon, float *out_mu,
                               float *out_logvar)
{
    static const char *fn = "cvae_model_forward";
    CVAE_CHECK_NULL(images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    rows_job j = {.m = m, .n = n, .run = forward_rows, .images = images, .labels = labels,
                  .seed = seed, .out_a = out_recon, .out_b = out_mu, .out_c = out_logvar};
    return run_rows(&j);
}

cvae_status cvae_model_encode(const cvae_model *m, const float *images, const int32_t *labels,
                              int64_t n, float *out_mu, float *out_logvar)
{
    return cvae_model_forward(m, images, labels, n, 0, NULL, out_mu, out_logvar);
}

/* Decodes z = j->z rows, or fresh N(0, I) codes from j->seed when j->z is NULL. */
static cvae_status decode_rows(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1)
{
    const int64_t L = j->m->cfg.latent, shape[2] = {r1 - r0, L};
    cvae_tensor *z, *logits;
    CVAE_TRY(cvae_tape_tensor(t, 2, shape, &z));
    if (j->z) memcpy(z->data, j->z + r0 * L, (size_t)z->size * sizeof(float));
    else cvae__rng_fill_normal_from(j->seed, 0, r0 * L, 0.0f, 1.0f, z->data, z->size);
    CVAE_TRY(cvae_net_forward(j->m->net, j->m->elbo.decoder, t, z, j->labels + r0, &logits));
    sigmoid_rows(j->out_a, logits, r0);
    return CVAE_OK;
}

cvae_status cvae_model_decode(const cvae_model *m, const float *z, const int32_t *labels, int64_t n,
                              float *out_images)
{
    static const char *fn = "cvae_model_decode";
    CVAE_CHECK_NULL(z, fn);
    CVAE_CHECK_NULL(out_images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, NULL, labels, n));
    for (int64_t i = 0; i < n * m->cfg.latent; i++)
        if (!isfinite(z[i])) return cvae__error(CVAE_ERR_NUMERIC, "%s: z of sample %lld is not finite", fn, (long long)(i / m->cfg.latent));
    rows_job j = {.m = m, .n = n, .run = decode_rows, .z = z, .labels = labels, .out_a = out_images};
    return run_rows(&j);
}

cvae_status cvae_model_generate(const cvae_model *m, const int32_t *labels, int64_t n, uint64_t seed,
                                float *out_images)
{
    static const char *fn = "cvae_model_generate";
    CVAE_CHECK_NULL(out_images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, NULL, labels, n));
    rows_job j = {.m = m, .n = n, .run = decode_rows, .labels = labels, .seed = seed, .out_a = out_images};
    return run_rows(&j);
}

static cvae_status elbo_rows(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1)
{
    cvae_tensor *x;
    cvae__elbo_terms p;
    CVAE_TRY(images_in(j, t, r0, r1, &x));
    const cvae_batch b = {.x = x, .labels = j->labels + r0, .n = r1 - r0, .first = r0, .batch = j->n,
                          .seed = j->seed, .step = 0};
    CVAE_TRY(cvae__elbo_terms_of(j->m->net, &j->m->elbo, t, &b, &p));
    copy_rows(j->out_a, p.rec, r0);
    copy_rows(j->out_b, p.kl, r0);
    return CVAE_OK;
}

cvae_status cvae_model_elbo(const cvae_model *m, const float *images, const int32_t *labels,
                            int64_t n, uint64_t seed, float *out_rec, float *out_kl)
{
    static const char *fn = "cvae_model_elbo";
    CVAE_CHECK_NULL(images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    rows_job j = {.m = m, .n = n, .run = elbo_rows, .images = images, .labels = labels, .seed = seed,
                  .out_a = out_rec, .out_b = out_kl};
    return run_rows(&j);
}

/* log N(v; mean, e^logvar) summed over d entries. */
static double log_normal(const float *v, const float *mean, const float *logvar, int64_t d)
{
    const double log2pi = 1.8378770664093453;
    double s = 0.0;
    for (int64_t j = 0; j < d; j++) {
        double m = mean ? mean[j] : 0.0, lv = logvar ? logvar[j] : 0.0, e = v[j] - m;
        s += -0.5 * (log2pi + lv + e * e / exp(lv));
    }
    return s;
}

/* One encoder pass, then k decoder passes of the slice with fresh z;
 * a running log-sum-exp per image keeps memory at O(n). */
static cvae_status iw_rows(const rows_job *j, cvae_tape *t, int64_t r0, int64_t r1)
{
    const cvae_model *m = j->m;
    const int64_t n = r1 - r0, L = m->cfg.latent;
    cvae_tensor *x, *mu, *logvar;
    CVAE_TRY(images_in(j, t, r0, r1, &x));
    CVAE_TRY(cvae__elbo_encode(m->net, &m->elbo, t, x, j->labels + r0, &mu, &logvar));
    double *lse_max = cvae__tape_alloc(t, (size_t)n * 2 * sizeof(double), "cvae_model_iw_nll");
    if (!lse_max) return CVAE_ERR_NOMEM;
    double *lse_sum = lse_max + n;
    for (int64_t i = 0; i < n; i++) lse_max[i] = -INFINITY, lse_sum[i] = 0.0;
    for (int s = 0; s < j->k; s++) {
        cvae__arena_mark mark = cvae__tape_mark(t);
        cvae_tensor *z, *logits, *rec;
        CVAE_TRY(cvae_op_reparameterize_from(t, mu, logvar, j->seed, (uint64_t)s, r0 * L, &z));
        CVAE_TRY(cvae_net_forward(m->net, m->elbo.decoder, t, z, j->labels + r0, &logits));
        CVAE_TRY(cvae_op_bce_with_logits(t, logits, x, CVAE_REDUCE_ROWS, &rec));
        for (int64_t i = 0; i < n; i++) {
            const float *zi = z->data + i * L;
            double lw = -(double)rec->data[i] + log_normal(zi, NULL, NULL, L) -
                        log_normal(zi, mu->data + i * L, logvar->data + i * L, L);
            if (lw > lse_max[i]) {
                lse_sum[i] = lse_sum[i] * exp(lse_max[i] - lw) + 1.0;
                lse_max[i] = lw;
            } else {
                lse_sum[i] += exp(lw - lse_max[i]);
            }
        }
        cvae__tape_release(t, mark);
    }
    for (int64_t i = 0; i < n; i++)
        j->out_a[r0 + i] = (float)-(lse_max[i] + log(lse_sum[i]) - log((double)j->k));
    return CVAE_OK;
}

cvae_status cvae_model_iw_nll(const cvae_model *m, const float *images, const int32_t *labels,
                              int64_t n, int k, uint64_t seed, float *out_nll)
{
    static const char *fn = "cvae_model_iw_nll";
    CVAE_CHECK_NULL(images, fn);
    CVAE_CHECK_NULL(out_nll, fn);
    if (k < 1 || k > 1000000) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: k = %d outside [1, 10^6]", fn, k);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    rows_job j = {.m = m, .n = n, .run = iw_rows, .images = images, .labels = labels, .seed = seed,
                  .k = k, .out_a = out_nll};
    return run_rows(&j);
}
