/* cvae_loader: a dataset's batches, epoch after epoch, in a seeded shuffled order. */
#include "train/train_internal.h"

struct cvae_loader {
    const cvae_dataset *ds;
    int64_t batch, epoch, next; /* next: index of the next batch in the epoch */
    cvae_binarize mode;
    uint64_t seed;
    int shuffle;
    int rank, ranks;  /* the rows this loader fills (cvae_loader_shard) */
    int64_t *order;   /* [ds->n]: the epoch's sample order */
    int64_t order_of; /* the epoch `order` holds, -1 before the first */
    float *images;    /* [batch, 1, rows, cols] */
    int32_t *labels;  /* [batch] */
};

cvae_status cvae_loader_new(const cvae_dataset *ds, int64_t batch, cvae_binarize mode,
                            uint64_t seed, int shuffle, cvae_loader **out)
{
    static const char *fn = "cvae_loader_new";
    CVAE_CHECK_NULL(ds, fn);
    CVAE_CHECK_NULL(out, fn);
    if (ds->n < 1 || ds->rows < 1 || ds->cols < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: an empty dataset", fn);
    if (batch < 1 || batch > (1 << 24))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: batch %lld outside [1, 2^24]", fn,
                           (long long)batch);
    if ((int)mode < CVAE_BINARIZE_NONE || mode > CVAE_BINARIZE_STOCHASTIC)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown binarization %d", fn, (int)mode);
    if (batch > ds->n) batch = ds->n;
    const size_t per = (size_t)ds->rows * (size_t)ds->cols;
    cvae_loader *l = cvae__calloc(1, sizeof *l);
    if (!l) return cvae__nomem(fn, sizeof *l);
    *l = (cvae_loader){ds, batch, 0, 0, mode, seed, shuffle != 0, 0, 1, NULL, -1, NULL, NULL};
    l->order = cvae__malloc((size_t)ds->n * sizeof *l->order);
    l->images = cvae__calloc((size_t)batch * per, sizeof *l->images);
    l->labels = cvae__calloc((size_t)batch, sizeof *l->labels);
    if (!l->order || !l->images || !l->labels) {
        cvae_loader_free(l);
        return cvae__nomem(fn, (size_t)batch * per * sizeof(float));
    }
    *out = l;
    return CVAE_OK;
}

void cvae_loader_free(cvae_loader *l)
{
    if (!l) return;
    cvae__free(l->order);
    cvae__free(l->images);
    cvae__free(l->labels);
    cvae__free(l);
}

/* The epoch's order: a Fisher-Yates shuffle keyed by (seed, epoch), or file order. */
static void make_order(cvae_loader *l)
{
    const int64_t n = l->ds->n;
    for (int64_t i = 0; i < n; i++) l->order[i] = i;
    if (l->shuffle) {
        cvae_rng r = cvae_rng_make(l->seed, 0x5348554646ull + (uint64_t)l->epoch);
        for (int64_t i = n - 1; i > 0; i--) {
            const int64_t j = (int64_t)(((uint64_t)cvae_rng_u32(&r) * (uint64_t)(i + 1)) >> 32);
            const int64_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->order_of = l->epoch;
}

int64_t cvae_loader_batches(const cvae_loader *l)
{
    return l ? (l->ds->n + l->batch - 1) / l->batch : 0;
}

int64_t cvae_loader_epoch(const cvae_loader *l)
{
    return l ? l->epoch : 0;
}

cvae_status cvae_loader_next(cvae_loader *l, const float **images, const int32_t **labels,
                             int64_t *n)
{
    static const char *fn = "cvae_loader_next";
    CVAE_CHECK_NULL(l, fn);
    CVAE_CHECK_NULL(images, fn);
    CVAE_CHECK_NULL(n, fn);
    if (l->next == cvae_loader_batches(l)) { /* the end of an epoch, then the next one */
        l->epoch++;
        l->next = 0;
        *images = NULL;
        if (labels) *labels = NULL;
        *n = 0;
        return CVAE_OK;
    }
    if (l->order_of != l->epoch) make_order(l);
    const int64_t first = l->next * l->batch, rest = l->ds->n - first;
    const int64_t count = rest < l->batch ? rest : l->batch;
    int64_t r0, r1; /* the rows this loader fills */
    cvae__worker_rows(count, l->rank, l->ranks, &r0, &r1);
    const int64_t per = l->ds->rows * l->ds->cols;
    if (r1 > r0)
        CVAE_TRY(cvae_dataset_batch(l->ds, l->order + first + r0, r1 - r0, l->mode,
                                    l->seed + (uint64_t)l->epoch, l->images + r0 * per,
                                    l->labels + r0));
    l->next++;
    *images = l->images;
    if (labels) *labels = l->labels;
    *n = count;
    return CVAE_OK;
}

cvae_status cvae_loader_seek(cvae_loader *l, int64_t epoch, int64_t index)
{
    CVAE_CHECK_NULL(l, "cvae_loader_seek");
    if (epoch < 0 || index < 0 || index > cvae_loader_batches(l))
        return cvae__error(CVAE_ERR_RANGE,
                           "cvae_loader_seek: epoch %lld, batch %lld outside the "
                           "epoch's [0, %lld]",
                           (long long)epoch, (long long)index, (long long)cvae_loader_batches(l));
    l->epoch = epoch;
    l->next = index;
    return CVAE_OK;
}

cvae_status cvae_loader_shard(cvae_loader *l, int rank, int ranks)
{
    CVAE_CHECK_NULL(l, "cvae_loader_shard");
    if (ranks < 1 || ranks > 65536 || rank < 0 || rank >= ranks)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "cvae_loader_shard: worker %d of %d outside [0, ranks) or ranks "
                           "outside [1, 65536]",
                           rank, ranks);
    l->rank = rank;
    l->ranks = ranks;
    return CVAE_OK;
}

/* One pass over the rest of ld's epoch: steps (train) or evaluations. */
static cvae_status pass(cvae_trainer *tr, cvae_loader *ld, bool train, uint64_t seed,
                        double *mean_loss)
{
    const float *x;
    const int32_t *y;
    int64_t n, seen = 0;
    double mean = 0.0;
    for (;;) {
        CVAE_TRY(cvae_loader_next(ld, &x, &y, &n));
        if (n == 0) break;
        float loss;
        CVAE_TRY(train ? cvae_trainer_step(tr, x, y, n, &loss)
                       : cvae_trainer_eval(tr, x, y, n, seed, &loss));
        seen += n;
        mean += ((double)loss - mean) * (double)n / (double)seen;
    }
    if (mean_loss) *mean_loss = mean;
    return CVAE_OK;
}

cvae_status cvae_trainer_epoch(cvae_trainer *tr, cvae_loader *ld, double *mean_loss)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_epoch");
    CVAE_CHECK_NULL(ld, "cvae_trainer_epoch");
    return pass(tr, ld, true, 0, mean_loss);
}

cvae_status cvae_trainer_evaluate(cvae_trainer *tr, cvae_loader *ld, uint64_t seed,
                                  double *mean_loss)
{
    CVAE_CHECK_NULL(tr, "cvae_trainer_evaluate");
    CVAE_CHECK_NULL(ld, "cvae_trainer_evaluate");
    return pass(tr, ld, false, seed, mean_loss);
}
