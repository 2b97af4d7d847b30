/* Several workers of one data-parallel job: the state broadcast that starts them alike, the
 * small sum that makes every decision of a step collective, and the parameter checksum. */
#include "optim/optim_internal.h"
#include "train/train_internal.h"

void cvae__dist_drop(cvae_trainer *tr)
{
    cvae__free(tr->extras);
    tr->extras = NULL;
    tr->n_extras = 0;
    tr->dist = (cvae_dist){0};
}

/* Elements of the parameters a training forward writes (batch norm statistics). */
static int64_t forward_written(const cvae_net *net)
{
    int64_t n = 0;
    for (int i = 0; i < net->n_p; i++)
        if (cvae__net_written_by_forward(net, i)) n += net->p[i]->size;
    return n;
}

/* Worker 0's parameters, Adam moments and step counters into every worker. */
static cvae_status broadcast_state(cvae_trainer *tr, const cvae_dist *d)
{
    float *m, *v;
    int64_t numel, step;
    CVAE_TRY(cvae_optim_state(tr->opt, &m, &v, &numel, &step));
    const cvae_params *p = tr->net->params;
    int64_t counters[2] = {step, tr->skipped};
    CVAE_TRY(d->broadcast(cvae_params_data(p), cvae_params_numel(p) * 4, d->user));
    if (m) CVAE_TRY(d->broadcast(m, numel * 4, d->user));
    if (v) CVAE_TRY(d->broadcast(v, numel * 4, d->user));
    CVAE_TRY(d->broadcast(counters, sizeof counters, d->user));
    if (counters[0] < 0 || counters[1] < 0)
        return cvae__error(CVAE_ERR_STATE,
                           "cvae_trainer_set_dist: worker 0 sent step counters "
                           "(%lld, %lld)",
                           (long long)counters[0], (long long)counters[1]);
    CVAE_TRY(cvae_optim_set_step(tr->opt, counters[0]));
    tr->skipped = counters[1];
    return CVAE_OK;
}

cvae_status cvae_trainer_set_dist(cvae_trainer *tr, const cvae_dist *d)
{
    static const char *fn = "cvae_trainer_set_dist";
    CVAE_CHECK_NULL(tr, fn);
    if (!d) {
        cvae__dist_drop(tr);
        return CVAE_OK;
    }
    if (d->ranks < 1 || d->ranks > 65536 || d->rank < 0 || d->rank >= d->ranks)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: worker %d of %d outside [0, ranks) or ranks "
                           "outside [1, 65536]",
                           fn, d->rank, d->ranks);
    if (!d->sum || !d->broadcast)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: the sum and broadcast callbacks are required",
                           fn);
    if (d->check_every < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: check_every %lld is negative", fn,
                           (long long)d->check_every);
    const int64_t n = 3 + forward_written(tr->net);
    float *extras = cvae__malloc((size_t)n * sizeof *extras);
    if (!extras) return cvae__nomem(fn, (size_t)n * sizeof *extras);
    cvae_status s = broadcast_state(tr, d);
    if (s) {
        cvae__free(extras);
        return s;
    }
    cvae__dist_drop(tr);
    tr->dist = *d;
    tr->extras = extras;
    tr->n_extras = n;
    return CVAE_OK;
}

/* FNV-1a-style on 32-bit words in four independent lanes (so about one word per cycle), then
 * the lanes folded: each word enters one lane bijectively, so one differing word always
 * changes the result. */
static uint64_t checksum(const cvae_trainer *tr)
{
    const uint64_t prime = 0x100000001b3ull;
    uint64_t h[4] = {0xcbf29ce484222325ull, 1, 2, 3};
    const float *p = cvae_params_data(tr->net->params);
    const int64_t n = cvae_params_numel(tr->net->params);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            uint32_t w;
            memcpy(&w, p + i + k, 4);
            h[k] = (h[k] ^ w) * prime;
        }
    for (; i < n; i++) {
        uint32_t w;
        memcpy(&w, p + i, 4);
        h[0] = (h[0] ^ w) * prime;
    }
    uint32_t lr;
    memcpy(&lr, &tr->opts.lr, 4);
    const uint64_t more[4] = {(uint64_t)cvae_trainer_steps(tr), (uint64_t)tr->skipped,
                              tr->opts.seed, lr};
    uint64_t r = h[0];
    for (int k = 1; k < 4; k++) r = (r ^ h[k]) * prime;
    for (int k = 0; k < 4; k++) r = (r ^ more[k]) * prime;
    return r;
}

bool cvae__dist_check_due(const cvae_trainer *tr)
{
    const int64_t every = tr->dist.check_every;
    return every > 0 && (cvae_trainer_steps(tr) + tr->skipped) % every == 0;
}

cvae_status cvae__dist_compare(cvae_trainer *tr, bool *differs)
{
    tr->checksums[0] = tr->checksums[1] = checksum(tr);
    CVAE_TRY(tr->dist.broadcast(&tr->checksums[1], sizeof tr->checksums[1], tr->dist.user));
    *differs = tr->checksums[0] != tr->checksums[1];
    return CVAE_OK;
}

static cvae_status differ_error(const cvae_trainer *tr, const char *fn, float count)
{
    return cvae__error(CVAE_ERR_STATE,
                       "%s: parameters differ across workers before step %lld: %.0f of %d "
                       "workers differ from worker 0 (checksums: this worker %016llx, worker 0 "
                       "%016llx); the job cannot go on",
                       fn, (long long)(cvae_trainer_steps(tr) + tr->skipped), (double)count,
                       tr->dist.ranks, (unsigned long long)tr->checksums[0],
                       (unsigned long long)tr->checksums[1]);
}

cvae_status cvae__dist_gather(cvae_trainer *tr, float *loss, cvae_status local, bool differs,
                              bool stats, const char *fn)
{
    float *e = tr->extras;
    e[0] = local ? 0.0f : *loss;
    e[1] = local ? 1.0f : 0.0f;
    e[2] = differs ? 1.0f : 0.0f;
    const cvae_net *net = tr->net;
    int64_t k = 3;
    for (int i = 0; stats && i < net->n_p; i++) {
        if (!cvae__net_written_by_forward(net, i)) continue;
        const cvae_tensor *t = net->p[i];
        /* x + (-0) is x for every x, -0 included: the sum is worker 0's values exactly */
        for (int64_t j = 0; j < t->size; j++) e[k++] = tr->dist.rank == 0 ? t->data[j] : -0.0f;
    }
    CVAE_TRY(tr->dist.sum(e, k, tr->dist.user));
    k = 3;
    for (int i = 0; stats && i < net->n_p; i++) {
        if (!cvae__net_written_by_forward(net, i)) continue;
        cvae_tensor *t = net->p[i];
        memcpy(t->data, e + k, (size_t)t->size * sizeof(float));
        k += t->size;
    }
    if (local) return local;
    if (e[1] > 0.0f)
        return cvae__error(CVAE_ERR_STATE,
                           "%s: %.0f of %d workers failed at step %lld (this one did not: see "
                           "their messages); parameters unchanged",
                           fn, (double)e[1], tr->dist.ranks,
                           (long long)(cvae_trainer_steps(tr) + tr->skipped));
    if (e[2] > 0.0f) return differ_error(tr, fn, e[2]);
    *loss = e[0];
    return CVAE_OK;
}

cvae_status cvae_trainer_check_sync(cvae_trainer *tr, uint64_t *out)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_check_sync");
    if (tr->dist.ranks == 0) {
        if (out) *out = checksum(tr);
        return CVAE_OK;
    }
    bool differs;
    CVAE_TRY(cvae__dist_compare(tr, &differs));
    float count = differs ? 1.0f : 0.0f;
    CVAE_TRY(tr->dist.sum(&count, 1, tr->dist.user));
    if (count > 0.0f) return differ_error(tr, "cvae_trainer_check_sync", count);
    if (out) *out = tr->checksums[0];
    return CVAE_OK;
}
