/* The conditional VAE's loss on any network with an encoder and a decoder stack, and the
 * trainer of a model (the generic trainer with this loss). */
#include "model/model_internal.h"
#include "train/train_internal.h"

cvae_status cvae__elbo_encode(const cvae_net *net, const cvae_elbo_spec *spec, cvae_tape *t,
                              cvae_tensor *x, const int32_t *labels, cvae_tensor **mu,
                              cvae_tensor **logvar)
{
    cvae_tensor *stats, *halves[2];
    CVAE_TRY(cvae_net_forward(net, spec->encoder, t, x, labels, &stats));
    if (stats->ndim != 2 || stats->shape[1] % 2)
        return cvae__error(CVAE_ERR_SHAPE,
                           "cvae_elbo_loss: the encoder gives %lld values per "
                           "sample, not [2 L] (mu, then logvar)",
                           (long long)(stats->size / stats->shape[0]));
    const int64_t sizes[2] = {stats->shape[1] / 2, stats->shape[1] / 2};
    CVAE_TRY(cvae_op_split(t, stats, 1, sizes, 2, halves));
    *mu = halves[0];
    *logvar = halves[1];
    return CVAE_OK;
}

cvae_status cvae__elbo_terms_of(const cvae_net *net, const cvae_elbo_spec *spec, cvae_tape *t,
                                const cvae_batch *b, cvae__elbo_terms *p)
{
    cvae_tensor *x = b->x;
    const int32_t *labels = b->labels;
    CVAE_TRY(cvae__elbo_encode(net, spec, t, x, labels, &p->mu, &p->logvar));
    CVAE_TRY(cvae_op_reparameterize_from(t, p->mu, p->logvar, b->seed, b->step,
                                         b->first * p->mu->shape[1], &p->z));
    CVAE_TRY(cvae_net_forward(net, spec->decoder, t, p->z, labels, &p->logits));
    if (!cvae_tensor_same_shape(p->logits, x))
        return cvae__error(CVAE_ERR_SHAPE, "cvae_elbo_loss: the decoder's output does not have the "
                                           "input's shape");
    CVAE_TRY(cvae_op_bce_with_logits(t, p->logits, x, CVAE_REDUCE_ROWS, &p->rec));
    return cvae_op_kl_normal(t, p->mu, p->logvar, CVAE_REDUCE_ROWS, &p->kl);
}

cvae_status cvae_elbo_loss(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *spec,
                           cvae_tensor **loss)
{
    static const char *fn = "cvae_elbo_loss";
    CVAE_CHECK_NULL(net, fn);
    CVAE_CHECK_NULL(b, fn);
    CVAE_CHECK_NULL(spec, fn);
    CVAE_CHECK_NULL(loss, fn);
    const cvae_elbo_spec *s = spec;
    if (s->kl_warmup < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: kl_warmup %d is negative", fn, s->kl_warmup);
    cvae__elbo_terms p;
    cvae_tensor *kl;
    CVAE_TRY(cvae__elbo_terms_of(net, s, t, b, &p));
    float beta = s->beta;
    if (s->kl_warmup > 0 && cvae_tape_recording(t) && b->step < (uint64_t)s->kl_warmup)
        beta = (float)((double)s->beta * (double)b->step / (double)s->kl_warmup);
    CVAE_TRY(cvae_op_scale(t, p.kl, beta, &kl));
    return cvae_op_add(t, p.rec, kl, loss);
}

/* A checkpoint's configuration must be the model's (compared as configurations: a file
 * written before a configuration key existed holds its default). */
static cvae_status same_config(const void *model, const char *json)
{
    const cvae_model *m = model;
    cvae_model_config c;
    char *theirs = NULL, *mine = NULL;
    cvae_status s = cvae_model_config_from_json(json, strlen(json), &c);
    if (s) return s == CVAE_ERR_NOMEM ? s : CVAE_ERR_FORMAT;
    if (!(s = cvae_model_config_to_json(&c, &theirs)) &&
        !(s = cvae_model_config_to_json(&m->cfg, &mine)) && strcmp(theirs, mine))
        s = cvae__error(CVAE_ERR_FORMAT, "the checkpoint's model configuration is not this model's");
    cvae__free(theirs);
    cvae__free(mine);
    return s;
}

cvae_status cvae_trainer_new(cvae_model *m, const cvae_train_opts *opts, cvae_trainer **out)
{
    static const char *fn = "cvae_trainer_new";
    CVAE_CHECK_NULL(m, fn);
    CVAE_CHECK_NULL(opts, fn);
    CVAE_CHECK_NULL(out, fn);
    char *config = NULL;
    cvae_trainer *tr = NULL;
    cvae_status s = cvae_model_config_to_json(&m->cfg, &config);
    if (!s) s = cvae_trainer_new_net(m->net, opts, cvae_elbo_loss, &m->elbo, &tr);
    if (!s) s = cvae__trainer_set_meta(tr, "cvae.config", config, same_config, m);
    cvae__free(config);
    if (s) {
        cvae_trainer_free(tr);
        return s;
    }
    *out = tr;
    return CVAE_OK;
}
