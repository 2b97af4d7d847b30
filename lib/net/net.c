/* Networks: stacks of planned layers over one parameter block; building and forward. */
#include <stdio.h>

#include "net/net_internal.h"
#include "tape/tape_internal.h"

#define MAX_LAYERS 4096
#define MAX_STACKS 64

cvae_status cvae_net_new(uint64_t seed, cvae_net **out)
{
    CVAE_CHECK_NULL(out, "cvae_net_new");
    cvae_net *net = cvae__calloc(1, sizeof *net);
    if (!net) return cvae__nomem("cvae_net_new", sizeof *net);
    cvae_status s = cvae_params_new(&net->params);
    if (s) {
        cvae__free(net);
        return s;
    }
    net->seed = seed;
    *out = net;
    return CVAE_OK;
}

void cvae_net_free(cvae_net *net)
{
    if (!net) return;
    if (net->source) {
        cvae__free(net->heads);
        cvae__aligned_free(net->grad);
        cvae__free(net->buffers);
    } else {
        for (int i = 0; i < net->n_stacks; i++) cvae__free(net->stacks[i].layers);
        cvae__free(net->stacks);
        cvae_params_free(net->params);
    }
    cvae__free(net->p);
    cvae__free(net);
}

/* The stack's name (unique, at most CVAE__NAME_MAX bytes) and input shape. */
static cvae_status check_stack(const cvae_net *net, const char *name, int in_ndim,
                               const int64_t *in_shape, int n)
{
    static const char *fn = "cvae_net_add";
    if (net->source) return cvae__error(CVAE_ERR_STATE, "%s: a replica gets no stacks", fn);
    if (net->n_stacks == MAX_STACKS)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: a network holds at most %d stacks", fn,
                           MAX_STACKS);
    if (strlen(name) > CVAE__NAME_MAX)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stack name longer than %d bytes", fn,
                           CVAE__NAME_MAX);
    if (cvae_net_find(net, name) >= 0)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: a stack '%s' exists already", fn, name);
    if (n < 1 || n > MAX_LAYERS)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stack '%s': %d layers outside [1, %d]", fn,
                           name, n, MAX_LAYERS);
    if (in_ndim < 1 || in_ndim > 4)
        return cvae__error(CVAE_ERR_SHAPE, "%s: stack '%s': input of %d dims per sample (1..4)", fn,
                           name, in_ndim);
    for (int i = 0; i < in_ndim; i++)
        if (in_shape[i] < 1 || in_shape[i] > ((int64_t)1 << 31))
            return cvae__error(CVAE_ERR_SHAPE,
                               "%s: stack '%s': input extent %lld outside [1, 2^31]", fn, name,
                               (long long)in_shape[i]);
    return CVAE_OK;
}

/* Plans layers[0..n) from the stack's input; every parameter name must be new. */
static cvae_status plan_stack(const cvae_net *net, cvae__stack *st, const cvae_layer *layers)
{
    int nd = st->in_ndim;
    const int64_t *shape = st->in;
    for (int i = 0; i < st->n_layers; i++) {
        cvae__layer *l = &st->layers[i];
        char where[160], name[256];
        snprintf(where, sizeof where, "cvae_net_add: stack '%s', layer %d%s%s%s", st->name, i,
                 layers[i].name ? " '" : "", layers[i].name ? layers[i].name : "",
                 layers[i].name ? "'" : "");
        CVAE_TRY(cvae__layer_plan(l, &layers[i], nd, shape, where));
        for (int r = 0; r < CVAE__ROLES; r++) {
            if (!l->decl[r].present) continue;
            if (!cvae__layer_param_name(l, st->name, r, name, sizeof name))
                return cvae__error(CVAE_ERR_INVALID_ARG, "%s: parameter name too long", where);
            bool taken = cvae_params_find(net->params, name) != NULL;
            for (int j = 0; j < i && !taken; j++)
                for (int q = 0; q < CVAE__ROLES && !taken; q++) {
                    char other[256];
                    taken =
                        st->layers[j].decl[q].present &&
                        cvae__layer_param_name(&st->layers[j], st->name, q, other, sizeof other) &&
                        !strcmp(other, name);
                }
            if (taken)
                return cvae__error(CVAE_ERR_INVALID_ARG, "%s: parameter '%s' exists already", where,
                                   name);
        }
        st->uses_labels |= l->spec.cond_out > 0 || l->spec.kind == CVAE_LAYER_LABEL_CONCAT;
        nd = l->out_ndim;
        shape = l->out;
    }
    st->out_ndim = nd;
    memcpy(st->out, shape, sizeof st->out);
    return CVAE_OK;
}

/* Registers and fills the planned stack's parameters in the block. */
static cvae_status register_params(cvae_net *net, cvae__stack *st)
{
    for (int i = 0; i < st->n_layers; i++) {
        cvae__layer *l = &st->layers[i];
        for (int r = 0; r < CVAE__ROLES; r++) {
            const cvae__param_decl *d = &l->decl[r];
            if (!d->present) continue;
            char name[256];
            cvae_tensor *t;
            cvae__layer_param_name(l, st->name, r, name, sizeof name);
            CVAE_TRY(cvae_params_add(net->params, name, d->ndim, d->shape, d->trainable, &t));
            CVAE_TRY(cvae__layer_init_param(l, r, t, name, net->seed));
            l->param[r] = cvae_params_count(net->params) - 1;
        }
    }
    return CVAE_OK;
}

cvae_status cvae_net_add(cvae_net *net, const char *name, int in_ndim, const int64_t *in_shape,
                         const cvae_layer *layers, int n, int *index)
{
    static const char *fn = "cvae_net_add";
    CVAE_CHECK_NULL(net, fn);
    CVAE_CHECK_NULL(name, fn);
    CVAE_CHECK_NULL(in_shape, fn);
    CVAE_CHECK_NULL(layers, fn);
    CVAE_TRY(check_stack(net, name, in_ndim, in_shape, n));
    cvae__stack st = {.in_ndim = in_ndim, .n_layers = n};
    snprintf(st.name, sizeof st.name, "%s", name);
    for (int i = 0; i < 4; i++) st.in[i] = i < in_ndim ? in_shape[i] : 1;
    st.layers = cvae__calloc((size_t)n, sizeof *st.layers);
    cvae__stack *stacks = cvae__realloc(net->stacks, (size_t)(net->n_stacks + 1) * sizeof *stacks);
    if (stacks) net->stacks = stacks;
    if (!st.layers || !stacks) {
        cvae__free(st.layers);
        return cvae__nomem(fn, (size_t)n * sizeof *st.layers);
    }
    const int before = cvae_params_count(net->params);
    cvae_status s = plan_stack(net, &st, layers);
    if (!s) s = register_params(net, &st);
    cvae_tensor **p = NULL;
    const int n_p = cvae_params_count(net->params);
    if (!s && !(p = cvae__realloc(net->p, (size_t)(n_p ? n_p : 1) * sizeof *p)))
        s = cvae__nomem(fn, (size_t)n_p * sizeof *p);
    if (s) {
        cvae__params_truncate(net->params, before);
        cvae__free(st.layers);
        return s;
    }
    for (int i = 0; i < n_p; i++) p[i] = cvae_params_at(net->params, i);
    net->p = p;
    net->n_p = n_p;
    net->stacks[net->n_stacks] = st;
    if (index) *index = net->n_stacks;
    net->n_stacks++;
    return CVAE_OK;
}

cvae_status cvae__net_plan_size(int in_ndim, const int64_t *in, const cvae_layer *layers, int n,
                                int64_t *total, int64_t *largest)
{
    cvae__layer l;
    int64_t shape[4];
    memcpy(shape, in, (size_t)in_ndim * sizeof *shape);
    *total = *largest = 0;
    for (int i = 0; i < n; i++) {
        char where[96];
        snprintf(where, sizeof where, "layer %d%s%s%s", i, layers[i].name ? " '" : "",
                 layers[i].name ? layers[i].name : "", layers[i].name ? "'" : "");
        CVAE_TRY(cvae__layer_plan(&l, &layers[i], in_ndim, shape, where));
        for (int r = 0; r < CVAE__ROLES; r++) {
            if (!l.decl[r].present) continue;
            int64_t k = 1;
            for (int d = 0; d < l.decl[r].ndim; d++) k *= l.decl[r].shape[d];
            *total += k;
            if (k > *largest) *largest = k;
        }
        in_ndim = l.out_ndim;
        memcpy(shape, l.out, sizeof shape);
    }
    return CVAE_OK;
}

int cvae_net_stacks(const cvae_net *net)
{
    return net ? net->n_stacks : 0;
}

int cvae_net_find(const cvae_net *net, const char *name)
{
    for (int i = 0; net && name && i < net->n_stacks; i++)
        if (!strcmp(net->stacks[i].name, name)) return i;
    return -1;
}

int cvae_net_shape(const cvae_net *net, int stack, int in, int64_t shape[4])
{
    if (!net || !shape || stack < 0 || stack >= net->n_stacks) return 0;
    const cvae__stack *st = &net->stacks[stack];
    memcpy(shape, in ? st->in : st->out, 4 * sizeof *shape);
    return in ? st->in_ndim : st->out_ndim;
}

cvae_params *cvae_net_params(const cvae_net *net)
{
    return net ? net->params : NULL;
}

uint64_t cvae_net_seed(const cvae_net *net)
{
    return net ? net->seed : 0;
}

int64_t cvae__net_numel(const cvae_net *net)
{
    return cvae_params_numel(net->params);
}

float *cvae__net_grad(const cvae_net *net)
{
    return net->source ? net->grad : cvae_params_grad(net->params);
}

/* Adds "(stack 's', layer i 'name')" to the message of a failed op. */
static cvae_status in_layer(cvae_status s, const cvae__stack *st, int i)
{
    const cvae__layer *l = &st->layers[i];
    return cvae__error(s, "%s (stack '%s', layer %d%s%s%s)", cvae_last_error(), st->name, i,
                       l->name[0] ? " '" : "", l->name, l->name[0] ? "'" : "");
}

cvae_status cvae_net_forward(const cvae_net *net, int stack, cvae_tape *t, cvae_tensor *x,
                             const int32_t *labels, cvae_tensor **y)
{
    static const char *fn = "cvae_net_forward";
    CVAE_CHECK_NULL(net, fn);
    CVAE_CHECK_NULL(t, fn);
    CVAE_CHECK_NULL(x, fn);
    CVAE_CHECK_NULL(y, fn);
    if (stack < 0 || stack >= net->n_stacks)
        return cvae__error(CVAE_ERR_RANGE, "%s: stack %d outside [0, %d)", fn, stack,
                           net->n_stacks);
    const cvae__stack *st = &net->stacks[stack];
    bool fits = x->ndim == st->in_ndim + 1;
    for (int i = 0; fits && i < st->in_ndim; i++) fits = x->shape[i + 1] == st->in[i];
    if (!fits) {
        char got[96], want[96];
        cvae_tensor w = {.ndim = st->in_ndim + 1, .shape = {x->shape[0]}};
        memcpy(w.shape + 1, st->in, (size_t)st->in_ndim * sizeof *st->in);
        return cvae__error(CVAE_ERR_SHAPE, "%s: stack '%s' takes %s, got x %s", fn, st->name,
                           cvae__shape_str(&w, want, sizeof want),
                           cvae__shape_str(x, got, sizeof got));
    }
    if (st->uses_labels && !labels)
        return cvae__error(CVAE_ERR_INVALID_ARG, "%s: stack '%s' is label-indexed: labels is NULL",
                           fn, st->name);
    cvae_tensor *h = x;
    for (int i = 0; i < st->n_layers; i++) {
        cvae_status s = cvae__layer_forward(&st->layers[i], net->p, t, h, labels, &h);
        if (s) return in_layer(s, st, i);
    }
    *y = h;
    return CVAE_OK;
}
