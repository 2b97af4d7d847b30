#include "tape/tape_internal.h"

#define CHUNK_MIN ((size_t)1 << 20)
#define MAX_CHUNKS 64

typedef struct chunk {
    unsigned char *base;
    size_t cap, used;
} chunk;

struct cvae_tape {
    chunk chunks[MAX_CHUNKS];
    int n_chunks, cur;   /* chunks owned; index of the one being filled */
    size_t high_water;   /* bytes used in the largest pass so far */
    cvae_node *nodes;
    int n_nodes, cap_nodes;
    int recording;
};

cvae_status cvae_tape_new(cvae_tape **out)
{
    CVAE_CHECK_NULL(out, "cvae_tape_new");
    cvae_tape *t = cvae__calloc(1, sizeof *t);
    if (!t) return cvae__nomem("cvae_tape_new", sizeof *t);
    t->recording = 1;
    *out = t;
    return CVAE_OK;
}

static void free_chunks(cvae_tape *t)
{
    for (int i = 0; i < t->n_chunks; i++) cvae__aligned_free(t->chunks[i].base);
    t->n_chunks = t->cur = 0;
}

void cvae_tape_free(cvae_tape *t)
{
    if (!t) return;
    free_chunks(t);
    cvae__free(t->nodes);
    cvae__free(t);
}

static size_t bytes_used(const cvae_tape *t)
{
    size_t s = 0;
    for (int i = 0; i <= t->cur && i < t->n_chunks; i++) s += t->chunks[i].used;
    return s;
}

/* After a pass that needed several chunks, replace them with one chunk of the
 * high-water size, so the steady state is one chunk and no allocation. */
void cvae_tape_reset(cvae_tape *t)
{
    if (!t) return;
    size_t used = bytes_used(t);
    if (used > t->high_water) t->high_water = used;
    if (t->n_chunks > 1) {
        size_t want = t->high_water + t->high_water / 8;
        free_chunks(t);
        unsigned char *b = cvae__aligned_alloc(want);
        if (b) {
            t->chunks[0] = (chunk){b, want, 0};
            t->n_chunks = 1;
        }
    }
    for (int i = 0; i < t->n_chunks; i++) t->chunks[i].used = 0;
    t->cur = 0;
    t->n_nodes = 0;
}

void cvae_tape_set_recording(cvae_tape *t, int on)
{
    if (t) t->recording = on != 0;
}

int cvae_tape_recording(const cvae_tape *t) { return t && t->recording; }

size_t cvae_tape_capacity(const cvae_tape *t)
{
    size_t s = 0;
    for (int i = 0; t && i < t->n_chunks; i++) s += t->chunks[i].cap;
    return s;
}

void *cvae__tape_alloc(cvae_tape *t, size_t bytes, const char *what)
{
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) {
        cvae__nomem(what, bytes);
        return NULL;
    }
    while (t->cur < t->n_chunks) {
        chunk *c = &t->chunks[t->cur];
        if (c->cap - c->used >= need) {
            void *p = c->base + c->used;
            c->used += need;
            return p;
        }
        if (t->cur + 1 >= t->n_chunks) break;
        t->chunks[++t->cur].used = 0;
    }
    if (t->n_chunks == MAX_CHUNKS) {
        cvae__nomem(what, bytes);
        return NULL;
    }
    size_t cap = need > CHUNK_MIN ? need : CHUNK_MIN;
    if (t->n_chunks && cap < t->chunks[t->n_chunks - 1].cap * 2 && need <= SIZE_MAX / 2)
        cap = t->chunks[t->n_chunks - 1].cap * 2 > need ? t->chunks[t->n_chunks - 1].cap * 2 : need;
    unsigned char *b = cvae__aligned_alloc(cap);
    if (!b) {
        cvae__nomem(what, cap);
        return NULL;
    }
    t->chunks[t->n_chunks] = (chunk){b, cap, need};
    t->cur = t->n_chunks++;
    return b;
}

float *cvae__tape_floats(cvae_tape *t, int64_t n, const char *what)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(float)) {
        cvae__nomem(what, SIZE_MAX);
        return NULL;
    }
    return cvae__tape_alloc(t, (size_t)n * sizeof(float), what);
}

cvae_tape_mark cvae__tape_mark(const cvae_tape *t)
{
    cvae_tape_mark m = {t->cur, t->cur < t->n_chunks ? t->chunks[t->cur].used : 0};
    return m;
}

void cvae__tape_release(cvae_tape *t, cvae_tape_mark m)
{
    if (m.chunk >= t->n_chunks) return;
    size_t used = bytes_used(t); /* the peak of a pass is reached just before a release */
    if (used > t->high_water) t->high_water = used;
    t->cur = m.chunk;
    t->chunks[m.chunk].used = m.used;
}

static cvae_status new_header(cvae_tape *t, int ndim, const int64_t *shape, cvae_tensor **out)
{
    cvae_tensor h;
    CVAE_TRY(cvae__tensor_init(&h, ndim, shape));
    cvae_tensor *x = cvae__tape_alloc(t, sizeof *x, "tape tensor");
    if (!x) return CVAE_ERR_NOMEM;
    h.data = cvae__tape_floats(t, h.size, "tape tensor");
    if (!h.data) return CVAE_ERR_NOMEM;
    h.flags = CVAE_TENSOR_ON_TAPE;
    *x = h;
    *out = x;
    return CVAE_OK;
}

cvae_status cvae_tape_tensor(cvae_tape *t, int ndim, const int64_t *shape, cvae_tensor **out)
{
    CVAE_CHECK_NULL(t, "cvae_tape_tensor");
    CVAE_CHECK_NULL(shape, "cvae_tape_tensor");
    CVAE_CHECK_NULL(out, "cvae_tape_tensor");
    cvae_tensor *x;
    CVAE_TRY(new_header(t, ndim, shape, &x));
    memset(x->data, 0, (size_t)x->size * sizeof(float));
    *out = x;
    return CVAE_OK;
}

cvae_status cvae_tape_require_grad(cvae_tape *t, cvae_tensor *x)
{
    CVAE_CHECK_NULL(t, "cvae_tape_require_grad");
    CVAE_CHECK_NULL(x, "cvae_tape_require_grad");
    if (!(x->flags & CVAE_TENSOR_ON_TAPE))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "cvae_tape_require_grad: only tape tensors (parameters use cvae_params)");
    x->flags |= CVAE_TENSOR_REQUIRES_GRAD;
    return CVAE_OK;
}

cvae_status cvae__tape_output(cvae_tape *t, int ndim, const int64_t *shape, cvae_tensor *const *in,
                              int n_in, cvae_tensor **out)
{
    cvae_tensor *x;
    CVAE_TRY(new_header(t, ndim, shape, &x));
    if (t->recording)
        for (int i = 0; i < n_in; i++)
            if (cvae__needs_grad(in[i])) x->flags |= CVAE_TENSOR_REQUIRES_GRAD;
    *out = x;
    return CVAE_OK;
}

cvae_status cvae__tape_record(cvae_tape *t, cvae__backward_fn fn, cvae_tensor *out,
                              cvae_tensor *const *in, int n_in, size_t ctx_bytes, void **ctx)
{
    if (ctx) *ctx = NULL;
    if (!t->recording || !cvae__needs_grad(out)) return CVAE_OK;
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? 2 * t->cap_nodes : 64;
        cvae_node *nodes = cvae__realloc(t->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return cvae__nomem("tape record", (size_t)cap * sizeof *nodes);
        t->nodes = nodes;
        t->cap_nodes = cap;
    }
    cvae_tensor **ins = cvae__tape_alloc(t, (size_t)(n_in > 0 ? n_in : 1) * sizeof *ins, "tape record");
    if (!ins) return CVAE_ERR_NOMEM;
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    void *c = NULL;
    if (ctx_bytes) {
        c = cvae__tape_alloc(t, ctx_bytes, "tape record");
        if (!c) return CVAE_ERR_NOMEM;
        memset(c, 0, ctx_bytes);
    }
    t->nodes[t->n_nodes++] = (cvae_node){fn, out, ins, n_in, c};
    if (ctx) *ctx = c;
    return CVAE_OK;
}

float *cvae__tape_grad(cvae_tape *t, cvae_tensor *x)
{
    if (x->grad) return x->grad;
    float *g = cvae__tape_floats(t, x->size, "gradient buffer");
    if (!g) return NULL;
    memset(g, 0, (size_t)x->size * sizeof(float));
    x->grad = g;
    return g;
}

static cvae_status run_backward(cvae_tape *t)
{
    for (int i = t->n_nodes - 1; i >= 0; i--) {
        const cvae_node *n = &t->nodes[i];
        if (!n->out->grad) continue; /* no gradient reached this op */
        CVAE_TRY(n->backward(t, n));
    }
    return CVAE_OK;
}

cvae_status cvae_tape_backward(cvae_tape *t, cvae_tensor *loss)
{
    CVAE_CHECK_NULL(t, "cvae_tape_backward");
    CVAE_CHECK_NULL(loss, "cvae_tape_backward");
    if (loss->size != 1)
        return cvae__error(CVAE_ERR_SHAPE, "cvae_tape_backward: loss has %lld elements, want 1",
                           (long long)loss->size);
    float one = 1.0f;
    return cvae_tape_backward_with(t, loss, &one);
}

cvae_status cvae_tape_backward_with(cvae_tape *t, cvae_tensor *y, const float *dy)
{
    CVAE_CHECK_NULL(t, "cvae_tape_backward_with");
    CVAE_CHECK_NULL(y, "cvae_tape_backward_with");
    CVAE_CHECK_NULL(dy, "cvae_tape_backward_with");
    if (!t->recording || !cvae__needs_grad(y) || !(y->flags & CVAE_TENSOR_ON_TAPE))
        return cvae__error(CVAE_ERR_STATE,
                           "cvae_tape_backward: the tensor was not computed by a recording tape "
                           "from anything that requires a gradient");
    /* intermediate gradients belong to one pass; only leaves and parameters accumulate */
    for (int i = 0; i < t->n_nodes; i++) {
        cvae_tensor *o = t->nodes[i].out;
        if (o->grad) memset(o->grad, 0, (size_t)o->size * sizeof(float));
    }
    float *g = cvae__tape_grad(t, y);
    if (!g) return CVAE_ERR_NOMEM;
    for (int64_t i = 0; i < y->size; i++) g[i] += dy[i];
    return run_backward(t);
}
