/* Model replicas for data-parallel training: shared values, private gradients. */
#include <stddef.h>

#include "model/model_internal.h"

/* Every parameter field of struct cvae_model. */
static const size_t fields[] = {
    offsetof(cvae_model, conv1_w),   offsetof(cvae_model, conv1_b),   offsetof(cvae_model, table),
    offsetof(cvae_model, table_b),   offsetof(cvae_model, conv2_w),   offsetof(cvae_model, conv2_b),
    offsetof(cvae_model, enc_fc_w),  offsetof(cvae_model, enc_fc_b),  offsetof(cvae_model, dec_fc_w),
    offsetof(cvae_model, dec_fc_b),  offsetof(cvae_model, deconv1_w), offsetof(cvae_model, deconv1_b),
    offsetof(cvae_model, dtable),    offsetof(cvae_model, dtable_b),  offsetof(cvae_model, deconv2_w),
    offsetof(cvae_model, deconv2_b)};

static cvae_tensor **field(cvae_model *m, size_t offset) { return (cvae_tensor **)((char *)m + offset); }

cvae_status cvae__replica_init(cvae_model_replica *r, const cvae_model *src)
{
    const cvae_params *p = src->params;
    const int n = cvae_params_count(p);
    memset(r, 0, sizeof *r);
    r->m = *src;
    r->m.params = NULL;
    r->heads = cvae__calloc((size_t)n, sizeof *r->heads);
    r->grad = cvae__aligned_alloc((size_t)cvae_params_numel(p) * sizeof(float));
    if (!r->heads || !r->grad) {
        cvae__replica_free(r);
        return cvae__nomem("model replica", (size_t)cvae_params_numel(p) * sizeof(float));
    }
    int mapped = 0;
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        cvae_tensor **slot = field(&r->m, fields[f]);
        if (!*slot) continue;
        int i = 0;
        while (i < n && cvae_params_at(p, i) != *slot) i++;
        *slot = i < n ? &r->heads[i] : NULL;
        mapped += i < n;
    }
    if (mapped != n) { /* a parameter field missing from `fields` would share src's gradients */
        cvae__replica_free(r);
        return cvae__error(CVAE_ERR_STATE, "model replica: %d of %d parameters mapped", mapped, n);
    }
    cvae__replica_refresh(r, src);
    return CVAE_OK;
}

void cvae__replica_refresh(cvae_model_replica *r, const cvae_model *src)
{
    const cvae_params *p = src->params;
    for (int i = 0, n = cvae_params_count(p); i < n; i++) {
        r->heads[i] = *cvae_params_at(p, i);
        if (r->heads[i].grad) r->heads[i].grad = r->grad + cvae_params_offset(p, i);
    }
    memset(r->grad, 0, (size_t)cvae_params_numel(p) * sizeof(float));
}

void cvae__replica_free(cvae_model_replica *r)
{
    cvae__free(r->heads);
    cvae__aligned_free(r->grad);
    memset(r, 0, sizeof *r);
}
