/* Network replicas for data-parallel steps: shared values, private gradients (and private
 * running statistics, which a forward in training writes). */
#include "net/net_internal.h"

bool cvae__net_written_by_forward(const cvae_net *net, int i)
{
    for (int s = 0; s < net->n_stacks; s++)
        for (int k = 0; k < net->stacks[s].n_layers; k++) {
            const cvae__layer *l = &net->stacks[s].layers[k];
            if (l->param[CVAE__RUNNING_MEAN] == i || l->param[CVAE__RUNNING_VAR] == i) return true;
        }
    return false;
}

cvae_status cvae__net_replica_new(const cvae_net *src, cvae_net **out)
{
    const int n = src->n_p;
    const int64_t numel = cvae__net_numel(src);
    int64_t buffered = 0;
    for (int i = 0; i < n; i++)
        if (cvae__net_written_by_forward(src, i)) buffered += src->p[i]->size;
    cvae_net *r = cvae__calloc(1, sizeof *r);
    if (!r) return cvae__nomem("network replica", sizeof *r);
    *r = (cvae_net){.seed = src->seed,
                    .params = src->params,
                    .n_p = n,
                    .stacks = src->stacks,
                    .n_stacks = src->n_stacks,
                    .source = src};
    r->p = cvae__calloc((size_t)(n ? n : 1), sizeof *r->p);
    r->heads = cvae__calloc((size_t)(n ? n : 1), sizeof *r->heads);
    r->grad = cvae__aligned_alloc((size_t)(numel ? numel : 1) * sizeof(float));
    r->buffers = buffered ? cvae__malloc((size_t)buffered * sizeof(float)) : NULL;
    if (!r->p || !r->heads || !r->grad || (buffered && !r->buffers)) {
        cvae_net_free(r);
        return cvae__nomem("network replica", (size_t)numel * sizeof(float));
    }
    for (int i = 0; i < n; i++) r->p[i] = &r->heads[i];
    cvae__net_replica_refresh(r);
    *out = r;
    return CVAE_OK;
}

void cvae__net_replica_refresh(cvae_net *r)
{
    const cvae_net *src = r->source;
    float *buf = r->buffers;
    for (int i = 0; i < r->n_p; i++) {
        cvae_tensor *h = &r->heads[i];
        *h = *src->p[i];
        if (h->grad) h->grad = r->grad + cvae_params_offset(src->params, i);
        if (cvae__net_written_by_forward(src, i)) {
            memcpy(buf, h->data, (size_t)h->size * sizeof(float));
            h->data = buf;
            buf += h->size;
        }
    }
    memset(r->grad, 0, (size_t)cvae__net_numel(src) * sizeof(float));
}
