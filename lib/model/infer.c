/* The reentrant inference entry points: each thread runs on its own tape. */
#include <math.h>
#include <pthread.h>

#include "model/model_internal.h"

static pthread_key_t tape_key;
static pthread_once_t tape_once = PTHREAD_ONCE_INIT;
static int tape_key_ok;

static void free_tape(void *p) { cvae_tape_free(p); }
static void make_key(void) { tape_key_ok = pthread_key_create(&tape_key, free_tape) == 0; }

cvae_status cvae__thread_tape(cvae_tape **out)
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

/* A tape tensor holding n images. */
static cvae_status images_in(const cvae_model *m, cvae_tape *t, const float *images, int64_t n,
                             cvae_tensor **x)
{
    const int64_t shape[4] = {n, m->cfg.image_channels, m->cfg.image_h, m->cfg.image_w};
    CVAE_TRY(cvae_tape_tensor(t, 4, shape, x));
    memcpy((*x)->data, images, (size_t)(*x)->size * sizeof(float));
    return CVAE_OK;
}

static void copy_out(float *dst, const cvae_tensor *src)
{
    if (dst) memcpy(dst, src->data, (size_t)src->size * sizeof(float));
}

static void sigmoid_out(float *dst, const cvae_tensor *logits)
{
    for (int64_t i = 0; i < logits->size; i++) dst[i] = 1.0f / (1.0f + expf(-logits->data[i]));
}

cvae_status cvae_model_forward(const cvae_model *m, const float *images, const int32_t *labels,
                               int64_t n, uint64_t seed, float *out_recon, float *out_mu,
                               float *out_logvar)
{
    static const char *fn = "cvae_model_forward";
    CVAE_CHECK_NULL(images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    cvae_tape *t;
    cvae_tensor *x, *mu, *logvar, *z, *logits;
    CVAE_TRY(cvae__thread_tape(&t));
    CVAE_TRY(images_in(m, t, images, n, &x));
    CVAE_TRY(cvae__model_encode(m, t, x, labels, &mu, &logvar));
    if (out_recon) {
        CVAE_TRY(cvae_op_reparameterize(t, mu, logvar, seed, 0, &z));
        CVAE_TRY(cvae__model_decode(m, t, z, labels, &logits));
        sigmoid_out(out_recon, logits);
    }
    copy_out(out_mu, mu);
    copy_out(out_logvar, logvar);
    return CVAE_OK;
}

cvae_status cvae_model_encode(const cvae_model *m, const float *images, const int32_t *labels,
                              int64_t n, float *out_mu, float *out_logvar)
{
    return cvae_model_forward(m, images, labels, n, 0, NULL, out_mu, out_logvar);
}

static cvae_status decode_into(const cvae_model *m, cvae_tape *t, cvae_tensor *z,
                               const int32_t *labels, float *out_images)
{
    cvae_tensor *logits;
    CVAE_TRY(cvae__model_decode(m, t, z, labels, &logits));
    sigmoid_out(out_images, logits);
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
    cvae_tape *t;
    cvae_tensor *zt;
    CVAE_TRY(cvae__thread_tape(&t));
    const int64_t shape[2] = {n, m->cfg.latent};
    CVAE_TRY(cvae_tape_tensor(t, 2, shape, &zt));
    memcpy(zt->data, z, (size_t)zt->size * sizeof(float));
    return decode_into(m, t, zt, labels, out_images);
}

cvae_status cvae_model_generate(const cvae_model *m, const int32_t *labels, int64_t n, uint64_t seed,
                                float *out_images)
{
    static const char *fn = "cvae_model_generate";
    CVAE_CHECK_NULL(out_images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, NULL, labels, n));
    cvae_tape *t;
    cvae_tensor *zt;
    CVAE_TRY(cvae__thread_tape(&t));
    const int64_t shape[2] = {n, m->cfg.latent};
    CVAE_TRY(cvae_tape_tensor(t, 2, shape, &zt));
    cvae_rng_fill_normal(seed, 0, 0.0f, 1.0f, zt->data, zt->size);
    return decode_into(m, t, zt, labels, out_images);
}

cvae_status cvae_model_elbo(const cvae_model *m, const float *images, const int32_t *labels,
                            int64_t n, uint64_t seed, float *out_rec, float *out_kl)
{
    static const char *fn = "cvae_model_elbo";
    CVAE_CHECK_NULL(images, fn);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    cvae_tape *t;
    cvae_tensor *x;
    cvae_model_pass p;
    CVAE_TRY(cvae__thread_tape(&t));
    CVAE_TRY(images_in(m, t, images, n, &x));
    CVAE_TRY(cvae__model_pass(m, t, x, labels, seed, 0, 0, &p));
    copy_out(out_rec, p.rec);
    copy_out(out_kl, p.kl);
    return CVAE_OK;
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

/* One encoder pass, then k decoder passes of the whole batch with fresh z;
 * a running log-sum-exp per image keeps memory at O(n). */
cvae_status cvae_model_iw_nll(const cvae_model *m, const float *images, const int32_t *labels,
                              int64_t n, int k, uint64_t seed, float *out_nll)
{
    static const char *fn = "cvae_model_iw_nll";
    CVAE_CHECK_NULL(images, fn);
    CVAE_CHECK_NULL(out_nll, fn);
    if (k < 1 || k > 1000000) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: k = %d outside [1, 10^6]", fn, k);
    CVAE_TRY(cvae__model_check_batch(m, fn, images, labels, n));
    cvae_tape *t;
    cvae_tensor *x, *mu, *logvar;
    CVAE_TRY(cvae__thread_tape(&t));
    CVAE_TRY(images_in(m, t, images, n, &x));
    CVAE_TRY(cvae__model_encode(m, t, x, labels, &mu, &logvar));
    const int64_t L = m->cfg.latent;
    double *lse_max = cvae__tape_alloc(t, (size_t)n * 2 * sizeof(double), fn);
    if (!lse_max) return CVAE_ERR_NOMEM;
    double *lse_sum = lse_max + n;
    for (int64_t i = 0; i < n; i++) lse_max[i] = -INFINITY, lse_sum[i] = 0.0;
    for (int j = 0; j < k; j++) {
        cvae_tape_mark mark = cvae__tape_mark(t);
        cvae_tensor *z, *logits, *rec;
        CVAE_TRY(cvae_op_reparameterize(t, mu, logvar, seed, (uint64_t)j, &z));
        CVAE_TRY(cvae__model_decode(m, t, z, labels, &logits));
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
    for (int64_t i = 0; i < n; i++) out_nll[i] = (float)-(lse_max[i] + log(lse_sum[i]) - log((double)k));
    return CVAE_OK;
}
