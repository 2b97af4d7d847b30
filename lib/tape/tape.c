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
    cvae__node *nodes;
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

cvae__arena_mark cvae__tape_mark(const cvae_tape *t)
{
    cvae__arena_mark m = {t->cur, t->cur < t->n_chunks ? t->chunks[t->cur].used : 0};
    return m;
}

/* The peak before a release counts toward the high-water mark, so that a pass
 * whose temporaries were released still fits one chunk after the next reset. */
void cvae__tape_release(cvae_tape *t, cvae__arena_mark m)
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
        cvae__node *nodes = cvae__realloc(t->nodes, (size_t)cap * sizeof *nodes);
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
    t->nodes[t->n_nodes++] = (cvae__node){fn, out, ins, n_in, c};
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

cvae_status cvae__node_grads(cvae_tape *t, const cvae__node *n, float **d)
{
    for (int i = 0; i < n->n_in; i++) {
        d[i] = NULL;
        if (cvae__needs_grad(n->in[i]) && !(d[i] = cvae__tape_grad(t, n->in[i])))
            return CVAE_ERR_NOMEM;
    }
    return CVAE_OK;
}

static cvae_status run_backward(cvae_tape *t)
{
    for (int i = t->n_nodes - 1; i >= 0; i--) {
        const cvae__node *n = &t->nodes[i];
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

/* ---- the allocation idiom of every op (tape_internal.h) ---- */

enum { OUTPUTS, KEPT, SCRATCH, RECORDING };

cvae__op_alloc cvae__op_begin(cvae_tape *t, const char *what)
{
    cvae__arena_mark m = cvae__tape_mark(t);
    return (cvae__op_alloc){t, what, m, m, m, t->n_nodes, OUTPUTS, CVAE_OK};
}

/* Moves a to phase p (marking where the kept memory and the scratch begin); false, with a failure
 * recorded, for a request out of order (a bug in the op). */
static bool enter(cvae__op_alloc *a, int p)
{
    if (a->status) return false;
    if (a->phase > p) {
        a->status = cvae__error(CVAE_ERR_STATE, "%s: tape memory requested out of order", a->what);
        return false;
    }
    if (a->phase < KEPT && p >= KEPT) a->kept = cvae__tape_mark(a->t);
    if (a->phase < SCRATCH && p >= SCRATCH) a->scratch = cvae__tape_mark(a->t);
    a->phase = p;
    return true;
}

static void *take(cvae__op_alloc *a, int p, size_t bytes)
{
    if (!enter(a, p)) return NULL;
    void *m = cvae__tape_alloc(a->t, bytes, a->what);
    if (!m) a->status = CVAE_ERR_NOMEM;
    return m;
}

static bool floats_ok(cvae__op_alloc *a, int64_t n)
{
    if (n >= 0 && (uint64_t)n <= SIZE_MAX / sizeof(float)) return true;
    if (!a->status) a->status = cvae__nomem(a->what, SIZE_MAX);
    return false;
}

cvae_tensor *cvae__op_output(cvae__op_alloc *a, int ndim, const int64_t *shape,
                             cvae_tensor *const *in, int n_in)
{
    cvae_tensor *out = NULL;
    if (enter(a, OUTPUTS)) a->status = cvae__tape_output(a->t, ndim, shape, in, n_in, &out);
    return a->status ? NULL : out;
}

void *cvae__op_bytes(cvae__op_alloc *a, size_t bytes)
{
    return take(a, OUTPUTS, bytes);
}

void *cvae__op_keep(cvae__op_alloc *a, size_t bytes)
{
    return bytes ? take(a, KEPT, bytes) : (enter(a, KEPT), NULL);
}

float *cvae__op_keep_floats(cvae__op_alloc *a, int64_t n)
{
    return floats_ok(a, n) ? cvae__op_keep(a, (size_t)n * sizeof(float)) : NULL;
}

void *cvae__op_scratch(cvae__op_alloc *a, size_t bytes)
{
    return bytes ? take(a, SCRATCH, bytes) : (enter(a, SCRATCH), NULL);
}

float *cvae__op_scratch_floats(cvae__op_alloc *a, int64_t n)
{
    return floats_ok(a, n) ? cvae__op_scratch(a, (size_t)n * sizeof(float)) : NULL;
}

/* Rolls the tape back to cvae__op_begin: the arena and the nodes recorded since. */
static cvae_status fail(cvae__op_alloc *a)
{
    cvae__tape_release(a->t, a->start);
    a->t->n_nodes = a->n_nodes;
    return a->status;
}

cvae_status cvae__op_ready(cvae__op_alloc *a)
{
    if (a->phase < SCRATCH) enter(a, SCRATCH);
    return a->status ? fail(a) : CVAE_OK;
}

cvae_status cvae__op_record(cvae__op_alloc *a, cvae__backward_fn fn, cvae_tensor *out,
                            cvae_tensor *const *in, int n_in, size_t ctx_bytes, void **ctx)
{
    if (ctx) *ctx = NULL;
    if (a->status) return fail(a);
    if (a->phase < RECORDING) {
        cvae__tape_release(a->t, a->scratch);
        if (!a->t->recording || !cvae__needs_grad(out)) cvae__tape_release(a->t, a->kept);
        a->phase = RECORDING;
    }
    a->status = cvae__tape_record(a->t, fn, out, in, n_in, ctx_bytes, ctx);
    return a->status ? fail(a) : CVAE_OK;
}

void cvae__op_end(cvae__op_alloc *a)
{
    cvae__tape_release(a->t, a->start);
}

int cvae__tape_node_count(const cvae_tape *t)
{
    return t->n_nodes;
}
