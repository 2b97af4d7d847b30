#include <cblas.h>

#include "ops/linear.h"
#include "tape/tape_internal.h"

void cvae__linear_forward(float *y, const float *x, const float *w, const float *b, int64_t n,
                          int64_t in, int64_t out)
{
    for (int64_t i = 0; i < n; i++)
        if (b) memcpy(y + i * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, x, (int)in,
                w, (int)in, b ? 1.0f : 0.0f, y, (int)out);
}

void cvae__linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, int64_t n, int64_t in, int64_t out)
{
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, 1.0f, dy,
                    (int)out, w, (int)in, 1.0f, dx, (int)in);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, 1.0f, dy,
                    (int)out, x, (int)in, 1.0f, dw, (int)in);
    if (db)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++) db[o] += dy[i * out + o];
}

void cvae__linear_forward_ref(float *y, const float *x, const float *w, const float *b, int64_t n,
                              int64_t in, int64_t out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t k = 0; k < in; k++) s += (double)x[i * in + k] * w[o * in + k];
            y[i * out + o] = (float)s;
        }
}

void cvae__linear_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x,
                               const float *w, int64_t n, int64_t in, int64_t out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            float g = dy[i * out + o];
            if (db) db[o] += g;
            for (int64_t k = 0; k < in; k++) {
                if (dx) dx[i * in + k] += g * w[o * in + k];
                if (dw) dw[o * in + k] += g * x[i * in + k];
            }
        }
}

static cvae_status linear_backward(cvae_tape *t, const cvae_node *nd)
{
    cvae_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->n_in > 2 ? nd->in[2] : NULL;
    float *dx = NULL, *dw = NULL, *db = NULL;
    if (cvae__needs_grad(x) && !(dx = cvae__tape_grad(t, x))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(w) && !(dw = cvae__tape_grad(t, w))) return CVAE_ERR_NOMEM;
    if (cvae__needs_grad(b) && !(db = cvae__tape_grad(t, b))) return CVAE_ERR_NOMEM;
    cvae__linear_backward(dx, dw, db, nd->out->grad, x->data, w->data, x->shape[0], x->shape[1],
                          w->shape[0]);
    return CVAE_OK;
}

cvae_status cvae_op_linear(cvae_tape *t, cvae_tensor *x, cvae_tensor *w, cvae_tensor *b, cvae_tensor **y)
{
    static const char *fn = "cvae_op_linear";
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(w, fn);
    CVAE_CHECK_NULL(y, fn);
    char sx[64], sw[64];
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1])
        return cvae__error(CVAE_ERR_SHAPE, "%s: x %s and w %s do not fit (want [N, I] and [O, I])", fn,
                           cvae__shape_str(x, sx, sizeof sx), cvae__shape_str(w, sw, sizeof sw));
    if (x->shape[0] > INT32_MAX || x->shape[1] > INT32_MAX || w->shape[0] > INT32_MAX)
        return cvae__error(CVAE_ERR_SHAPE, "%s: extents exceed the BLAS int range", fn);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return cvae__error(CVAE_ERR_SHAPE, "%s: bias %s does not match %lld outputs", fn,
                           cvae__shape_str(b, sx, sizeof sx), (long long)w->shape[0]);
    cvae_tensor *in[3] = {x, w, b};
    int n_in = b ? 3 : 2;
    int64_t shape[2] = {x->shape[0], w->shape[0]};
    cvae_tensor *out;
    CVAE_TRY(cvae__tape_output(t, 2, shape, in, n_in, &out));
    cvae__linear_forward(out->data, x->data, w->data, b ? b->data : NULL, x->shape[0], x->shape[1],
                         w->shape[0]);
    CVAE_TRY(cvae__tape_record(t, linear_backward, out, in, n_in, 0, NULL));
    *y = out;
    return CVAE_OK;
}
