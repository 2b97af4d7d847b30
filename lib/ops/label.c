#include "ops/label.h"
#include "cvae/ops.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

void cvae__one_hot_forward(float *y, const int32_t *labels, int64_t n, int64_t k)
{
    memset(y, 0, (size_t)(n * k) * sizeof(float));
    for (int64_t i = 0; i < n; i++) y[i * k + labels[i]] = 1.0f;
}

void cvae__embedding_forward(float *y, const float *table, const int32_t *labels, int64_t n,
                             int64_t d)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * d, table + (int64_t)labels[i] * d, (size_t)d * sizeof(float));
}

void cvae__embedding_backward(float *dtable, const float *dy, const int32_t *labels, int64_t n,
                              int64_t d)
{
    for (int64_t i = 0; i < n; i++) {
        float *row = dtable + (int64_t)labels[i] * d;
        const float *g = dy + i * d;
        for (int64_t j = 0; j < d; j++) row[j] += g[j];
    }
}

cvae_status cvae_op_one_hot(cvae_tape *t, const int32_t *labels, int64_t n, int64_t k,
                            cvae_tensor **y)
{
    const char *fn = CVAE__OP_ONE_HOT;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(y, fn);
    if (n < 1 || k < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: n = %lld and k = %lld must be positive", fn,
                           (long long)n, (long long)k);
    if (k > INT32_MAX)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: k = %lld exceeds the label range", fn,
                           (long long)k);
    CVAE_TRY(cvae__check_labels(labels, n, k, fn));
    int64_t shape[2] = {n, k};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 2, shape, NULL, 0);
    CVAE_TRY(cvae__op_ready(&al));
    cvae__one_hot_forward(out->data, labels, n, k);
    *y = out;
    return CVAE_OK;
}

static cvae_status embedding_backward(cvae_tape *t, const cvae__node *nd)
{
    const int32_t *labels = nd->ctx;
    cvae_tensor *table = nd->in[0], *y = nd->out;
    float *dt = cvae__tape_grad(t, table);
    if (!dt) return CVAE_ERR_NOMEM;
    int64_t n = y->shape[0];
    cvae__embedding_backward(dt, y->grad, labels, n, y->size / n);
    return CVAE_OK;
}

cvae_status cvae_op_embedding(cvae_tape *t, cvae_tensor *table, const int32_t *labels, int64_t n,
                              cvae_tensor **y)
{
    const char *fn = CVAE__OP_EMBEDDING;
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(table, fn);
    CVAE_CHECK_NULL(labels, fn);
    CVAE_CHECK_NULL(y, fn);
    if (n < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: n = %lld must be positive", fn, (long long)n);
    int64_t k = table->shape[0];
    CVAE_TRY(cvae__check_labels(labels, n, k, fn));
    int64_t shape[CVAE_MAX_DIMS];
    int ndim = table->ndim > 1 ? table->ndim : 2; /* a [K] table gives [N, 1] */
    memcpy(shape, table->shape, sizeof shape);
    shape[0] = n;
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, ndim, shape, &table, 1);
    CVAE_TRY(cvae__op_ready(&al));
    int64_t d = table->size / k;
    cvae__embedding_forward(out->data, table->data, labels, n, d);
    int32_t *saved;
    CVAE_TRY(cvae__op_record(&al, embedding_backward, out, &table, 1, (size_t)n * sizeof(int32_t),
                             (void **)&saved));
    if (saved) memcpy(saved, labels, (size_t)n * sizeof(int32_t));
    *y = out;
    return CVAE_OK;
}
