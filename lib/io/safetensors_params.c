/* Saving and loading a whole parameter block through safetensors files. */
#include <math.h>
#include <stdio.h>

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

/* Checkpoint optimizer state: stored beside the parameters, never one of them. */
static bool optimizer_state(const char *name) { return strncmp(name, "optim.", 6) == 0; }

static void note_first(char *dst, size_t n, int count, const char *name)
{
    if (count == 1) snprintf(dst, n, "%s", name);
}

cvae_status cvae__st_params_match(const cvae_st_file *f, const cvae_params *p, cvae_load_mode mode,
                                  cvae_load_report *report)
{
    const char *fn = "cvae_safetensors_load_params";
    if (mode != CVAE_LOAD_STRICT && mode != CVAE_LOAD_NONSTRICT)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: unknown load mode %d", fn, (int)mode);
    cvae_load_report r;
    memset(&r, 0, sizeof r);
    const int n = cvae_params_count(p);
    for (int i = 0; i < n; i++) {
        const char *name = cvae_params_name(p, i);
        const cvae_tensor *t = cvae_params_at(p, i);
        int ndim;
        int64_t shape[CVAE_MAX_DIMS];
        const float *src;
        if (cvae_st_find(f, name, &ndim, shape, &src) != CVAE_OK) {
            note_first(r.first_missing, sizeof r.first_missing, ++r.missing, name);
            if (mode == CVAE_LOAD_STRICT)
                return cvae__error(CVAE_ERR_FORMAT, "%s: the file has no tensor '%s' (strict)", fn,
                                   name);
            continue;
        }
        bool same = ndim == t->ndim;
        for (int d = 0; d < ndim && same; d++) same = shape[d] == t->shape[d];
        if (!same) {
            char want[96], got[96];
            cvae_tensor h = {.ndim = ndim};
            memcpy(h.shape, shape, sizeof h.shape);
            return cvae__error(
                CVAE_ERR_SHAPE, "%s: tensor '%s' has shape %s in the file, %s in the network", fn,
                name, cvae__shape_str(&h, got, sizeof got), cvae__shape_str(t, want, sizeof want));
        }
        for (int64_t k = 0; k < t->size; k++)
            if (!isfinite(src[k]))
                return cvae__error(CVAE_ERR_NUMERIC, "%s: tensor '%s': element %lld is not finite",
                                   fn, name, (long long)k);
        r.loaded++;
    }
    for (int i = 0; i < cvae_st_count(f); i++) {
        const char *name = cvae_st_name(f, i);
        if (optimizer_state(name) || cvae_params_find(p, name)) continue;
        note_first(r.first_unexpected, sizeof r.first_unexpected, ++r.unexpected, name);
        if (mode == CVAE_LOAD_STRICT)
            return cvae__error(CVAE_ERR_FORMAT, "%s: the file's tensor '%s' is no parameter (strict)",
                               fn, name);
    }
    if (report) *report = r;
    return CVAE_OK;
}

cvae_status cvae_safetensors_load_params(const cvae_st_file *f, cvae_params *p, cvae_load_mode mode,
                                         cvae_load_report *report)
{
    CVAE_CHECK_NULL(f, "cvae_safetensors_load_params");
    CVAE_CHECK_NULL(p, "cvae_safetensors_load_params");
    cvae_load_report r;
    CVAE_TRY(cvae__st_params_match(f, p, mode, &r));
    for (int i = 0; i < cvae_params_count(p); i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        const float *src;
        if (cvae_st_find(f, cvae_params_name(p, i), NULL, NULL, &src) == CVAE_OK && t->size > 0)
            memcpy(t->data, src, (size_t)t->size * sizeof(float));
    }
    if (report) *report = r;
    return CVAE_OK;
}
