/* Saving and loading a whole parameter block through safetensors files. */
#include "io/safetensors_internal.h"

cvae_status cvae_safetensors_save_params(const char *path, const cvae_params *p,
                                         const char *const *meta_keys,
                                         const char *const *meta_values, int n_meta)
{
    CVAE_CHECK_NULL(p, "cvae_safetensors_save_params");
    int n = cvae_params_count(p);
    cvae_st_entry *e = NULL;
    if (n > 0) {
        e = cvae__calloc((size_t)n, sizeof *e);
        if (!e) return cvae__nomem("cvae_safetensors_save_params", (size_t)n * sizeof *e);
    }
    for (int i = 0; i < n; i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        e[i].name = cvae_params_name(p, i);
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        e[i].data = t->data;
    }
    cvae_status s = cvae_safetensors_save(path, e, n, meta_keys, meta_values, n_meta);
    cvae__free(e);
    return s;
}

cvae_status cvae_safetensors_load_params(const cvae_st_file *f, cvae_params *p, int strict)
{
    const char *fn = "cvae_safetensors_load_params";
    CVAE_CHECK_NULL(f, fn);
    CVAE_CHECK_NULL(p, fn);
    int n = cvae_params_count(p);
    for (int i = 0; i < n; i++) {
        const char *name = cvae_params_name(p, i);
        const cvae_tensor *t = cvae_params_at(p, i);
        int ndim;
        int64_t shape[CVAE_MAX_DIMS];
        if (cvae_st_find(f, name, &ndim, shape, NULL) != CVAE_OK)
            return cvae__error(CVAE_ERR_FORMAT, "%s: the file has no tensor '%s'", fn, name);
        bool same = ndim == t->ndim;
        for (int d = 0; d < ndim && same; d++) same = shape[d] == t->shape[d];
        if (!same) {
            char want[96], got[96];
            cvae_tensor h = {.ndim = ndim};
            memcpy(h.shape, shape, sizeof h.shape);
            return cvae__error(
                CVAE_ERR_SHAPE, "%s: tensor '%s' has shape %s in the file, %s in the model", fn,
                name, cvae__shape_str(&h, got, sizeof got), cvae__shape_str(t, want, sizeof want));
        }
    }
    if (strict)
        for (int i = 0; i < cvae_st_count(f); i++)
            if (!cvae_params_find(p, cvae_st_name(f, i)))
                return cvae__error(CVAE_ERR_FORMAT,
                                   "%s: the file has a tensor '%s' that is no parameter (strict)",
                                   fn, cvae_st_name(f, i));
    for (int i = 0; i < n; i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        const float *src;
        cvae_st_find(f, cvae_params_name(p, i), NULL, NULL, &src);
        if (t->size > 0) memcpy(t->data, src, (size_t)t->size * sizeof(float));
    }
    return CVAE_OK;
}
