/* cvae_net_summary: a Keras-like table derived from the layer declarations. */
#include <stdarg.h>
#include <stdio.h>

#include "net/net_internal.h"

typedef struct text {
    char *buf;
    size_t size, len;
} text;

static void put(text *t, const char *fmt, ...) CVAE_PRINTF(2, 3);

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = t->len < t->size ? t->buf + t->len : NULL;
    int n = vsnprintf(dst, dst ? t->size - t->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
}

static const char *shape_str(int ndim, const int64_t *s, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (at < n) snprintf(buf + at, n - at, ")");
    return buf;
}

static int64_t layer_params(const cvae__layer *l)
{
    int64_t n = 0;
    for (int r = 0; r < CVAE__ROLES; r++) {
        const cvae__param_decl *d = &l->decl[r];
        if (!d->present) continue;
        int64_t k = 1;
        for (int i = 0; i < d->ndim; i++) k *= d->shape[i];
        n += k;
    }
    return n;
}

static const char rule[] = "=============================================================="
                           "==========================";

cvae_status cvae_net_summary(const cvae_net *net, char *buf, size_t size, size_t *needed)
{
    CVAE_CHECK_NULL(net, "cvae_net_summary");
    if (!buf && size) return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_net_summary: buf is NULL");
    text t = {buf, size, 0};
    char shape[64], type[64], note[160], layer[256];
    put(&t, "%-40s %-16s %10s  %s\n%.*s\n", "Layer (type)", "Output shape", "Param #", "Notes", 86,
        rule);
    for (int s = 0; s < net->n_stacks; s++) {
        const cvae__stack *st = &net->stacks[s];
        snprintf(layer, sizeof layer, "%s%sinput", st->name, st->name[0] ? "." : "");
        put(&t, "%-40s %-16s %10d\n", layer, shape_str(st->in_ndim, st->in, shape, sizeof shape),
            0);
        for (int i = 0; i < st->n_layers; i++) {
            const cvae__layer *l = &st->layers[i];
            cvae__layer_describe(l, type, sizeof type, note, sizeof note);
            const char *name = l->name[0] ? l->name : cvae_layer_kind_name(l->spec.kind);
            snprintf(layer, sizeof layer, "%s%s%s (%s)", st->name, st->name[0] ? "." : "", name,
                     type);
            put(&t, "%-40s %-16s %10lld%s%s\n", layer,
                shape_str(l->out_ndim, l->out, shape, sizeof shape), (long long)layer_params(l),
                note[0] ? "  " : "", note);
        }
    }
    const int64_t total = cvae_params_numel(net->params),
                  train = cvae_params_trainable_numel(net->params);
    put(&t, "%.*s\nTotal params: %lld (trainable %lld, frozen %lld)\n", 86, rule, (long long)total,
        (long long)train, (long long)(total - train));
    if (needed) *needed = t.len + 1;
    if (size) buf[t.len < size ? t.len : size - 1] = '\0';
    return CVAE_OK;
}
