#include "tape/tape_internal.h"

typedef struct param_entry {
    cvae_tensor *t;
    char *name;
    int64_t offset;
} param_entry;

struct cvae_params {
    param_entry *entries;
    int n, cap;
    float *data, *grad; /* numel floats each, one allocation apiece */
    int64_t numel;
};

cvae_status cvae_params_new(cvae_params **out)
{
    CVAE_CHECK_NULL(out, "cvae_params_new");
    cvae_params *p = cvae__calloc(1, sizeof *p);
    if (!p) return cvae__nomem("cvae_params_new", sizeof *p);
    *out = p;
    return CVAE_OK;
}

void cvae_params_free(cvae_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        cvae__free(p->entries[i].name);
        cvae__free(p->entries[i].t);
    }
    cvae__free(p->entries);
    cvae__aligned_free(p->data);
    cvae__aligned_free(p->grad);
    cvae__free(p);
}

static void repoint(cvae_params *p)
{
    for (int i = 0; i < p->n; i++) {
        cvae_tensor *t = p->entries[i].t;
        t->data = p->data + p->entries[i].offset;
        t->grad = (t->flags & CVAE_TENSOR_REQUIRES_GRAD) ? p->grad + p->entries[i].offset : NULL;
    }
}

/* Grows both blocks to hold `numel` floats, keeping existing values. */
static cvae_status grow(cvae_params *p, int64_t numel)
{
    size_t bytes = (size_t)numel * sizeof(float);
    float *d = cvae__aligned_alloc(bytes), *g = cvae__aligned_alloc(bytes);
    if (!d || !g) {
        cvae__aligned_free(d);
        cvae__aligned_free(g);
        return cvae__nomem("cvae_params_add", bytes);
    }
    memset(d, 0, bytes);
    memset(g, 0, bytes);
    if (p->numel) {
        memcpy(d, p->data, (size_t)p->numel * sizeof(float));
        memcpy(g, p->grad, (size_t)p->numel * sizeof(float));
    }
    cvae__aligned_free(p->data);
    cvae__aligned_free(p->grad);
    p->data = d;
    p->grad = g;
    return CVAE_OK;
}

cvae_status cvae_params_add(cvae_params *p, const char *name, int ndim, const int64_t *shape,
                            int trainable, cvae_tensor **out)
{
    CVAE_CHECK_NULL(p, "cvae_params_add");
    CVAE_CHECK_NULL(name, "cvae_params_add");
    CVAE_CHECK_NULL(shape, "cvae_params_add");
    CVAE_CHECK_NULL(out, "cvae_params_add");
    if (cvae_params_find(p, name))
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_params_add: duplicate name '%s'", name);
    cvae_tensor h;
    CVAE_TRY(cvae__tensor_init(&h, ndim, shape));
    int64_t numel;
    if (__builtin_add_overflow(p->numel, h.size, &numel) || numel > INT64_MAX / 8)
        return cvae__error(CVAE_ERR_NOMEM, "cvae_params_add: parameter count overflows");
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        param_entry *e = cvae__realloc(p->entries, (size_t)cap * sizeof *e);
        if (!e) return cvae__nomem("cvae_params_add", (size_t)cap * sizeof *e);
        p->entries = e;
        p->cap = cap;
    }
    size_t len = strlen(name) + 1;
    char *nm = cvae__malloc(len);
    cvae_tensor *t = cvae__malloc(sizeof *t);
    if (!nm || !t) {
        cvae__free(nm);
        cvae__free(t);
        return cvae__nomem("cvae_params_add", len + sizeof *t);
    }
    cvae_status s = grow(p, numel);
    if (s) {
        cvae__free(nm);
        cvae__free(t);
        return s;
    }
    memcpy(nm, name, len);
    h.flags = CVAE_TENSOR_PARAM | (trainable ? CVAE_TENSOR_REQUIRES_GRAD : 0);
    h.name = nm;
    *t = h;
    p->entries[p->n++] = (param_entry){t, nm, p->numel};
    p->numel = numel;
    repoint(p);
    *out = t;
    return CVAE_OK;
}

void cvae__params_truncate(cvae_params *p, int n)
{
    if (!p || n < 0 || n >= p->n) return;
    for (int i = n; i < p->n; i++) {
        cvae__free(p->entries[i].name);
        cvae__free(p->entries[i].t);
    }
    p->numel = p->entries[n].offset;
    p->n = n;
}

static int index_of(const cvae_params *p, const cvae_tensor *t)
{
    for (int i = 0; p && i < p->n; i++)
        if (p->entries[i].t == t) return i;
    return -1;
}

cvae_status cvae_params_set_trainable(cvae_params *p, cvae_tensor *param, int trainable)
{
    CVAE_CHECK_NULL(p, "cvae_params_set_trainable");
    CVAE_CHECK_NULL(param, "cvae_params_set_trainable");
    int i = index_of(p, param);
    if (i < 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_params_set_trainable: not a parameter of this set");
    if (trainable) {
        param->flags |= CVAE_TENSOR_REQUIRES_GRAD;
        param->grad = p->grad + p->entries[i].offset;
    } else {
        param->flags &= ~(uint32_t)CVAE_TENSOR_REQUIRES_GRAD;
        memset(p->grad + p->entries[i].offset, 0, (size_t)param->size * sizeof(float));
        param->grad = NULL;
    }
    return CVAE_OK;
}

int cvae_params_is_trainable(const cvae_tensor *param)
{
    return param && (param->flags & CVAE_TENSOR_PARAM) && (param->flags & CVAE_TENSOR_REQUIRES_GRAD);
}

void cvae_params_zero_grad(cvae_params *p)
{
    if (p && p->numel) memset(p->grad, 0, (size_t)p->numel * sizeof(float));
}

int cvae_params_count(const cvae_params *p) { return p ? p->n : 0; }
int64_t cvae_params_numel(const cvae_params *p) { return p ? p->numel : 0; }

int64_t cvae_params_trainable_numel(const cvae_params *p)
{
    int64_t n = 0;
    for (int i = 0; p && i < p->n; i++)
        if (cvae_params_is_trainable(p->entries[i].t)) n += p->entries[i].t->size;
    return n;
}

cvae_tensor *cvae_params_at(const cvae_params *p, int i)
{
    return p && i >= 0 && i < p->n ? p->entries[i].t : NULL;
}

const char *cvae_params_name(const cvae_params *p, int i)
{
    return p && i >= 0 && i < p->n ? p->entries[i].name : NULL;
}

cvae_tensor *cvae_params_find(const cvae_params *p, const char *name)
{
    for (int i = 0; p && name && i < p->n; i++)
        if (strcmp(p->entries[i].name, name) == 0) return p->entries[i].t;
    return NULL;
}

float *cvae_params_data(const cvae_params *p) { return p ? p->data : NULL; }
float *cvae_params_grad(const cvae_params *p) { return p ? p->grad : NULL; }

int64_t cvae_params_offset(const cvae_params *p, int i)
{
    return p && i >= 0 && i < p->n ? p->entries[i].offset : -1;
}
