#include <stdio.h>

#include "core/internal.h"
#include "cvae/nn.h"
#include "nn/layer.h"

#define MAX_NAME 200

cvae_status cvae_linear_new(cvae_params *p, const char *name, int64_t in, int64_t out, int bias,
                            cvae_init init, uint64_t seed, cvae_linear **l)
{
    static const char *fn = "cvae_linear_new";
    CVAE_CHECK_NULL(p, fn);
    CVAE_CHECK_NULL(name, fn);
    CVAE_CHECK_NULL(l, fn);
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: name length %zu outside [1, %d]", fn, len,
                           MAX_NAME);
    int64_t size;
    if (in < 1 || out < 1 || !cvae__mul_ok(in, out, &size))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: '%s': bad extents in %lld, out %lld", fn,
                           name, (long long)in, (long long)out);
    if ((int)init < CVAE_INIT_DEFAULT || init > CVAE_INIT_TORCH)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: '%s': unknown init scheme %d", fn, name,
                           (int)init);
    char wname[MAX_NAME + 8], bname[MAX_NAME + 8];
    snprintf(wname, sizeof wname, "%s.weight", name);
    snprintf(bname, sizeof bname, "%s.bias", name);
    if (cvae_params_find(p, wname) || (bias && cvae_params_find(p, bname)))
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: parameter '%s' already exists", fn,
                           cvae_params_find(p, wname) ? wname : bname);

    cvae_linear *layer = cvae__calloc(1, sizeof *layer);
    if (!layer) return cvae__nomem(fn, sizeof *layer);
    int64_t wshape[2] = {out, in}, bshape[1] = {out};
    cvae_status s = cvae_params_add(p, wname, 2, wshape, 1, &layer->weight);
    if (!s && bias) s = cvae_params_add(p, bname, 1, bshape, 1, &layer->bias);
    if (!s) s = cvae_init_fill(layer->weight, init, in, out, seed, cvae__name_stream(wname));
    if (!s) s = cvae__init_bias(layer->bias, init, in, seed, bname);
    if (s) {
        cvae__free(layer);
        return s;
    }
    layer->in_features = in;
    layer->out_features = out;
    *l = layer;
    return CVAE_OK;
}

cvae_status cvae_linear_forward(const cvae_linear *l, cvae_tape *t, cvae_tensor *x, cvae_tensor **y)
{
    static const char *fn = "cvae_linear_forward";
    CVAE_CHECK_NULL(l, fn);
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    if (x->ndim != 2 || x->shape[1] != l->in_features) {
        char sx[64];
        return cvae__error(CVAE_ERR_SHAPE, "%s: layer '%s' takes [N, %lld], got x %s", fn,
                           l->weight->name ? l->weight->name : "?", (long long)l->in_features,
                           cvae__shape_str(x, sx, sizeof sx));
    }
    return cvae_op_linear(t, x, l->weight, l->bias, y);
}

void cvae_linear_free(cvae_linear *l)
{
    cvae__free(l);
}
