/* The conditional VAE: a network built from the layer tables of its configuration. */
#include <math.h>
#include <stdio.h>

#include "model/arch.h"
#include "model/model_internal.h"

cvae_status cvae__model_build(const cvae_model_config *cfg, cvae_model **out)
{
    cvae_model *m = cvae__calloc(1, sizeof *m);
    if (!m) return cvae__nomem("cvae_model_new", sizeof *m);
    m->cfg = *cfg;
    cvae__arch a;
    cvae__model_arch(cfg, &a);
    cvae_status s = cvae_net_new(cfg->seed, &m->net);
    if (!s) s = cvae_net_add(m->net, "enc", 3, a.enc_in, a.enc, CVAE__ENC_LAYERS, &m->elbo.encoder);
    if (!s) s = cvae_net_add(m->net, "dec", 1, a.dec_in, a.dec, CVAE__DEC_LAYERS, &m->elbo.decoder);
    m->elbo.beta = cfg->beta;
    m->elbo.kl_warmup = cfg->kl_warmup;
    m->threads = 1;
    if (!s) s = cvae_model_set_threads(m, cvae__team_default_size());
    if (s) {
        cvae_model_free(m);
        return s;
    }
    *out = m;
    return CVAE_OK;
}

cvae_status cvae_model_new(const cvae_model_config *cfg, cvae_model **out)
{
    CVAE_CHECK_NULL(cfg, "cvae_model_new");
    CVAE_CHECK_NULL(out, "cvae_model_new");
    CVAE_TRY(cvae_model_config_validate(cfg));
    return cvae__model_build(cfg, out);
}

void cvae_model_free(cvae_model *m)
{
    if (!m) return;
    cvae__team_free(m->team);
    cvae_net_free(m->net);
    cvae__free(m);
}

const cvae_model_config *cvae_model_get_config(const cvae_model *m)
{
    return m ? &m->cfg : NULL;
}

cvae_params *cvae_model_params(cvae_model *m)
{
    return m ? cvae_net_params(m->net) : NULL;
}

cvae_net *cvae_model_net(const cvae_model *m)
{
    return m ? m->net : NULL;
}

cvae_status cvae_model_set_threads(cvae_model *m, int threads)
{
    static const char *fn = "cvae_model_set_threads";
    CVAE_CHECK_NULL(m, fn);
    if (threads < 1 || threads > 64)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: %d threads outside [1, 64]", fn, threads);
    cvae__team *team = NULL;
    if (threads > 1) CVAE_TRY(cvae__team_new(threads, &team));
    cvae__team_free(m->team);
    m->team = team;
    m->threads = threads;
    return CVAE_OK;
}

int cvae_model_threads(const cvae_model *m)
{
    return m ? m->threads : 0;
}

cvae_status cvae__model_check_batch(const cvae_model *m, const char *fn, const float *images,
                                    const int32_t *labels, int64_t n)
{
    if (!m) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: model is NULL", fn);
    if (!labels) return cvae__error(CVAE_ERR_INVALID_ARG, "%s: labels is NULL", fn);
    if (n < 1 || n > (1 << 24))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: batch size %lld outside [1, 2^24]", fn,
                           (long long)n);
    CVAE_TRY(cvae__check_labels(labels, n, m->cfg.num_labels, fn));
    if (images) {
        const int64_t per = (int64_t)m->cfg.image_channels * m->cfg.image_h * m->cfg.image_w;
        for (int64_t i = 0; i < n * per; i++)
            if (!isfinite(images[i]))
                return cvae__error(CVAE_ERR_NUMERIC, "%s: image %lld has a non-finite pixel", fn,
                                   (long long)(i / per));
    }
    return CVAE_OK;
}

cvae_status cvae_model_summary(const cvae_model *m, char *buf, size_t size, size_t *needed)
{
    CVAE_CHECK_NULL(m, "cvae_model_summary");
    if (!buf && size) return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_model_summary: buf is NULL");
    size_t len = 0;
    CVAE_TRY(cvae_net_summary(m->net, buf, size, &len));
    len--; /* without the NUL */
    char tail[300], warm[80] = "";
    if (m->cfg.kl_warmup)
        snprintf(warm, sizeof warm, " (weight rising from 0 over %d training steps)",
                 m->cfg.kl_warmup);
    const int k =
        snprintf(tail, sizeof tail,
                 "z = mu + exp(logvar / 2) eps between the stacks (latent %d)\n"
                 "Loss: BCE(logits, x) summed over pixels + %g * KL(q(z|x,y) || N(0, I))%s, "
                 "nats/image\n",
                 m->cfg.latent, (double)m->cfg.beta, warm);
    if (size > len) snprintf(buf + len, size - len, "%s", tail);
    if (needed) *needed = len + (size_t)k + 1;
    return CVAE_OK;
}
