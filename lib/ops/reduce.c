#include "ops/reduce.h"
#include "cvae/ops.h"
#include "ops/names.h"
#include "tape/tape_internal.h"

void cvae__sum_rows_forward(float *y, const float *x, int64_t n, int64_t d)
{
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) s += x[i * d + j];
        y[i] = (float)s;
    }
}

void cvae__sum_rows_backward(float *dx, const float *dy, int64_t stride, float s, int64_t n,
                             int64_t d)
{
    for (int64_t i = 0; i < n; i++) {
        float g = s * dy[i * stride];
        for (int64_t j = 0; j < d; j++) dx[i * d + j] += g;
    }
}

double cvae__sum(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

typedef enum red_kind { SUM, MEAN, ROWS } red_kind;

static cvae_status reduce_backward(cvae_tape *t, const cvae__node *nd)
{
    red_kind kind = *(const red_kind *)nd->ctx;
    cvae_tensor *x = nd->in[0];
    float *dx = cvae__tape_grad(t, x);
    if (!dx) return CVAE_ERR_NOMEM;
    const float *dy = nd->out->grad;
    if (kind == ROWS)
        cvae__sum_rows_backward(dx, dy, 1, 1.0f, x->shape[0], x->size / x->shape[0]);
    else
        cvae__sum_rows_backward(dx, dy, 0, kind == MEAN ? (float)(1.0 / (double)x->size) : 1.0f, 1,
                                x->size);
    return CVAE_OK;
}

static cvae_status reduce_op(cvae_tape *t, cvae_tensor *x, red_kind kind, cvae_tensor **y,
                             const char *fn)
{
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    int64_t rows = kind == ROWS ? x->shape[0] : 1, shape[1] = {rows};
    cvae__op_alloc al = cvae__op_begin(t, fn);
    cvae_tensor *out = cvae__op_output(&al, 1, shape, &x, 1);
    CVAE_TRY(cvae__op_ready(&al));
    if (kind == ROWS)
        cvae__sum_rows_forward(out->data, x->data, rows, x->size / rows);
    else
        out->data[0] =
            (float)(cvae__sum(x->data, x->size) / (kind == MEAN ? (double)x->size : 1.0));
    red_kind *c;
    CVAE_TRY(cvae__op_record(&al, reduce_backward, out, &x, 1, sizeof *c, (void **)&c));
    if (c) *c = kind;
    *y = out;
    return CVAE_OK;
}

cvae_status cvae_op_sum(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return reduce_op(t, x, SUM, y, CVAE__OP_SUM);
}

cvae_status cvae_op_mean(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return reduce_op(t, x, MEAN, y, CVAE__OP_MEAN);
}

cvae_status cvae_op_sum_rows(cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    return reduce_op(t, x, ROWS, y, CVAE__OP_SUM_ROWS);
}
