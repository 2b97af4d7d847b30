/* optimizers: SGD and Adam(W) against plain double-precision reference loops,
 * frozen tensors skipped, weight decay, checkpoint resume, clipping, bad options. */
#include "testutil.h"
#include "optim/optim_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TENSORS 6
/* Trainable pattern: runs of trainable tensors separated by frozen ones. */
static const int trainable_pattern[N_TENSORS] = {1, 1, 0, 1, 0, 1};

/* A parameter block of N_TENSORS random tensors with random values. Frozen
 * entries get NaN in their (unused) slots of the gradient block, so touching
 * them in any way shows up. */
static cvae_params *make_params(test_rng *r)
{
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    for (int i = 0; i < N_TENSORS; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        int64_t shape[2] = {test_rand_int(r, 1, 9), test_rand_int(r, 1, 13)};
        cvae_tensor *t;
        CVAE_OK_OR_FAIL(cvae_params_add(p, name, 1 + i % 2, shape, trainable_pattern[i], &t));
    }
    for (int i = 0; i < N_TENSORS; i++) {
        cvae_tensor *t = cvae_params_at(p, i);
        test_fill(r, t->data, t->size, -1.0f, 1.0f, 0.05f);
    }
    return p;
}

/* Fills every trainable gradient with random values and every frozen slot with NaN. */
static void random_grads(test_rng *r, cvae_params *p)
{
    float *g = cvae_params_grad(p);
    for (int i = 0; i < cvae_params_count(p); i++) {
        cvae_tensor *t = cvae_params_at(p, i);
        float *gi = g + cvae_params_offset(p, i);
        if (cvae_params_is_trainable(t)) {
            assert_ptr_equal(t->grad, gi);
            test_fill(r, gi, t->size, -2.0f, 2.0f, 0.01f);
        } else {
            assert_null(t->grad);
            for (int64_t k = 0; k < t->size; k++) gi[k] = NAN;
        }
    }
}

/* Per-element reference state in double. */
typedef struct ref_state {
    double *p, *m, *v;
    int64_t step;
} ref_state;

static ref_state ref_new(const cvae_params *p)
{
    int64_t n = cvae_params_numel(p);
    ref_state s = {calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double)),
                   calloc((size_t)n, sizeof(double)), 0};
    for (int64_t i = 0; i < n; i++) s.p[i] = cvae_params_data(p)[i];
    return s;
}

static void ref_free(ref_state *s)
{
    free(s->p), free(s->m), free(s->v);
}

static void ref_sgd(ref_state *s, const cvae_params *p, const cvae_sgd_opts *o)
{
    const float *g = cvae_params_grad(p);
    for (int i = 0; i < cvae_params_count(p); i++) {
        if (!cvae_params_is_trainable(cvae_params_at(p, i))) continue;
        int64_t off = cvae_params_offset(p, i), n = cvae_params_at(p, i)->size;
        for (int64_t k = off; k < off + n; k++) {
            double d = g[k] + (double)o->weight_decay * s->p[k], upd = d;
            if (o->momentum > 0) {
                s->m[k] = o->momentum * s->m[k] + d;
                upd = o->nesterov ? d + o->momentum * s->m[k] : s->m[k];
            }
            s->p[k] -= o->lr * upd;
        }
    }
    s->step++;
}

static void ref_adam(ref_state *s, const cvae_params *p, const cvae_adam_opts *o)
{
    const float *g = cvae_params_grad(p);
    s->step++;
    double b1 = o->beta1, b2 = o->beta2;
    double bc1 = 1.0 - pow(b1, (double)s->step), bc2 = 1.0 - pow(b2, (double)s->step);
    for (int i = 0; i < cvae_params_count(p); i++) {
        if (!cvae_params_is_trainable(cvae_params_at(p, i))) continue;
        int64_t off = cvae_params_offset(p, i), n = cvae_params_at(p, i)->size;
        for (int64_t k = off; k < off + n; k++) {
            s->p[k] *= 1.0 - (double)o->lr * o->weight_decay;
            s->m[k] = b1 * s->m[k] + (1.0 - b1) * g[k];
            s->v[k] = b2 * s->v[k] + (1.0 - b2) * (double)g[k] * g[k];
            double mhat = s->m[k] / bc1, vhat = s->v[k] / bc2;
            s->p[k] -= o->lr * mhat / (sqrt(vhat) + o->eps);
        }
    }
}

static void assert_matches_ref(const float *x, const double *ref, int64_t n, const char *what)
{
    float *rf = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) rf[i] = (float)ref[i];
    test_assert_close(x, rf, n, 1e-6, 1e-7, what);
    free(rf);
}

/* Frozen tensors: values bitwise equal to `before`, state slots still holding `sentinel`. */
static void assert_frozen_untouched(const cvae_params *p, const float *before, const float *m,
                                    const float *v, float sentinel)
{
    const float *d = cvae_params_data(p);
    for (int i = 0; i < cvae_params_count(p); i++) {
        if (cvae_params_is_trainable(cvae_params_at(p, i))) continue;
        int64_t off = cvae_params_offset(p, i), n = cvae_params_at(p, i)->size;
        assert_memory_equal(d + off, before + off, (size_t)n * sizeof(float));
        for (int64_t k = off; k < off + n; k++) {
            if (m) assert_true(m[k] == sentinel);
            if (v) assert_true(v[k] == sentinel);
        }
    }
}

/* Writes `sentinel` into the frozen slots of the state buffers. */
static void mark_frozen_state(const cvae_params *p, float *m, float *v, float sentinel)
{
    for (int i = 0; i < cvae_params_count(p); i++) {
        if (cvae_params_is_trainable(cvae_params_at(p, i))) continue;
        int64_t off = cvae_params_offset(p, i), n = cvae_params_at(p, i)->size;
        for (int64_t k = off; k < off + n; k++) {
            if (m) m[k] = sentinel;
            if (v) v[k] = sentinel;
        }
    }
}

static void test_sgd_matches_reference(void **state)
{
    (void)state;
    const cvae_sgd_opts cases[] = {
        {0.1f, 0.0f, 0.0f, 0},   {0.05f, 0.9f, 0.0f, 0}, {0.05f, 0.8f, 0.01f, 0},
        {0.02f, 0.9f, 0.03f, 1}, {0.3f, 0.0f, 0.1f, 0},
    };
    test_rng r = {11};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cvae_params *p = make_params(&r);
        int64_t n = cvae_params_numel(p);
        float *before = malloc((size_t)n * sizeof(float));
        memcpy(before, cvae_params_data(p), (size_t)n * sizeof(float));
        ref_state ref = ref_new(p);
        cvae_optim *opt;
        CVAE_OK_OR_FAIL(cvae_optim_new_sgd(p, &cases[c], &opt));
        float *m, *v;
        int64_t numel, step;
        CVAE_OK_OR_FAIL(cvae_optim_state(opt, &m, &v, &numel, &step));
        assert_int_equal(numel, n);
        assert_int_equal(step, 0);
        assert_null(v);
        assert_true(cases[c].momentum > 0 ? m != NULL : m == NULL);
        mark_frozen_state(p, m, NULL, 7.0f);
        for (int s = 0; s < 4; s++) {
            random_grads(&r, p);
            ref_sgd(&ref, p, &cases[c]);
            CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        }
        assert_int_equal(cvae_optim_step_count(opt), 4);
        assert_matches_ref(cvae_params_data(p), ref.p, n, "sgd params");
        if (m) {
            for (int i = 0; i < cvae_params_count(p); i++) {
                if (!cvae_params_is_trainable(cvae_params_at(p, i))) continue;
                int64_t off = cvae_params_offset(p, i);
                assert_matches_ref(m + off, ref.m + off, cvae_params_at(p, i)->size,
                                   "sgd momentum");
            }
        }
        assert_frozen_untouched(p, before, m, NULL, 7.0f);
        cvae_optim_free(opt);
        ref_free(&ref);
        free(before);
        cvae_params_free(p);
    }
}

static void test_adam_matches_reference(void **state)
{
    (void)state;
    const cvae_adam_opts cases[] = {
        {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f},
        {0.05f, 0.8f, 0.99f, 1e-6f, 0.0f},
        {0.01f, 0.9f, 0.999f, 1e-8f, 0.1f},
        {0.02f, 0.0f, 0.5f, 1e-3f, 0.01f},
    };
    test_rng r = {12};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cvae_params *p = make_params(&r);
        int64_t n = cvae_params_numel(p);
        float *before = malloc((size_t)n * sizeof(float));
        memcpy(before, cvae_params_data(p), (size_t)n * sizeof(float));
        ref_state ref = ref_new(p);
        cvae_optim *opt;
        CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &cases[c], &opt));
        float *m, *v;
        CVAE_OK_OR_FAIL(cvae_optim_state(opt, &m, &v, NULL, NULL));
        assert_non_null(m);
        assert_non_null(v);
        mark_frozen_state(p, m, v, -3.0f);
        for (int s = 0; s < 5; s++) {
            random_grads(&r, p);
            ref_adam(&ref, p, &cases[c]);
            CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        }
        assert_int_equal(cvae_optim_step_count(opt), 5);
        assert_matches_ref(cvae_params_data(p), ref.p, n, "adam params");
        for (int i = 0; i < cvae_params_count(p); i++) {
            if (!cvae_params_is_trainable(cvae_params_at(p, i))) continue;
            int64_t off = cvae_params_offset(p, i), sz = cvae_params_at(p, i)->size;
            assert_matches_ref(m + off, ref.m + off, sz, "adam m");
            assert_matches_ref(v + off, ref.v + off, sz, "adam v");
        }
        assert_frozen_untouched(p, before, m, v, -3.0f);
        cvae_optim_free(opt);
        ref_free(&ref);
        free(before);
        cvae_params_free(p);
    }
}

/* An update applied in ranges (as the trainer's threads do) equals one whole step,
 * bit for bit, for ranges that cut through parameters and frozen tensors. */
static void test_step_in_ranges_is_bitwise_whole(void **state)
{
    (void)state;
    const cvae_adam_opts a = {0.01f, 0.9f, 0.999f, 1e-8f, 0.1f};
    test_rng r = {21}, same = {21};
    cvae_params *p = make_params(&r), *q = make_params(&same); /* equal shapes and values */
    const int64_t n = cvae_params_numel(p);
    assert_memory_equal(cvae_params_data(q), cvae_params_data(p), (size_t)n * sizeof(float));
    cvae_optim *op, *oq;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &a, &op));
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(q, &a, &oq));
    for (int s = 0; s < 4; s++) {
        random_grads(&r, p);
        memcpy(cvae_params_grad(q), cvae_params_grad(p), (size_t)n * sizeof(float));
        CVAE_OK_OR_FAIL(cvae_optim_step(op));
        cvae__optim_coef c;
        CVAE_OK_OR_FAIL(cvae__optim_begin(oq, &c));
        const int64_t cuts[] = {0, 1, n / 3, n / 3 + 7, n - 2, n};
        for (int k = 5; k > 0; k--) cvae__optim_range(oq, &c, cuts[k - 1], cuts[k]); /* any order */
        cvae__optim_end(oq);
    }
    assert_int_equal(cvae_optim_step_count(oq), 4);
    assert_memory_equal(cvae_params_data(p), cvae_params_data(q), (size_t)n * sizeof(float));
    cvae_optim_free(op);
    cvae_optim_free(oq);
    cvae_params_free(p);
    cvae_params_free(q);
}

/* With zero gradients only the decay acts: SGD p -= lr wd p, AdamW p *= 1 - lr wd. */
static void test_weight_decay(void **state)
{
    (void)state;
    test_rng r = {13};
    for (int method = 0; method < 2; method++) {
        cvae_params *p = make_params(&r);
        int64_t n = cvae_params_numel(p);
        float *before = malloc((size_t)n * sizeof(float));
        memcpy(before, cvae_params_data(p), (size_t)n * sizeof(float));
        cvae_params_zero_grad(p);
        cvae_optim *opt;
        float lr = 0.1f, wd = 0.5f;
        if (method == 0) {
            cvae_sgd_opts o = {lr, 0.0f, wd, 0};
            CVAE_OK_OR_FAIL(cvae_optim_new_sgd(p, &o, &opt));
        } else {
            cvae_adam_opts o = {lr, 0.9f, 0.999f, 1e-8f, wd};
            CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &o, &opt));
        }
        CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        CVAE_OK_OR_FAIL(cvae_optim_step(opt));
        const float *d = cvae_params_data(p);
        for (int i = 0; i < cvae_params_count(p); i++) {
            int trainable = cvae_params_is_trainable(cvae_params_at(p, i));
            int64_t off = cvae_params_offset(p, i);
            for (int64_t k = off; k < off + cvae_params_at(p, i)->size; k++) {
                double want = trainable ? before[k] * (1.0 - lr * wd) * (1.0 - lr * wd) : before[k];
                assert_true(fabs(d[k] - want) <= 1e-6 * fabs(want) + 1e-7);
            }
        }
        cvae_optim_free(opt);
        free(before);
        cvae_params_free(p);
    }
}

/* A run restored from (params, m, v, step) continues bit for bit. */
static void test_resume_bitwise(void **state)
{
    (void)state;
    test_rng r = {14};
    cvae_params *a = make_params(&r);
    test_rng r2 = {14};
    cvae_params *b = make_params(&r2);
    int64_t n = cvae_params_numel(a);
    cvae_adam_opts o = {0.01f, 0.9f, 0.99f, 1e-8f, 0.01f};
    cvae_optim *oa, *ob;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(a, &o, &oa));
    test_rng g = {99};
    for (int s = 0; s < 3; s++) {
        random_grads(&g, a);
        CVAE_OK_OR_FAIL(cvae_optim_step(oa));
    }
    /* checkpoint a -> b */
    float *ma, *va, *mb, *vb;
    int64_t step;
    CVAE_OK_OR_FAIL(cvae_optim_state(oa, &ma, &va, NULL, &step));
    memcpy(cvae_params_data(b), cvae_params_data(a), (size_t)n * sizeof(float));
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(b, &o, &ob));
    CVAE_OK_OR_FAIL(cvae_optim_state(ob, &mb, &vb, NULL, NULL));
    memcpy(mb, ma, (size_t)n * sizeof(float));
    memcpy(vb, va, (size_t)n * sizeof(float));
    CVAE_OK_OR_FAIL(cvae_optim_set_step(ob, step));
    assert_int_equal(cvae_optim_step_count(ob), 3);
    for (int s = 0; s < 4; s++) {
        test_rng gs = g;
        random_grads(&g, a);
        random_grads(&gs, b);
        CVAE_OK_OR_FAIL(cvae_optim_step(oa));
        CVAE_OK_OR_FAIL(cvae_optim_step(ob));
    }
    assert_memory_equal(cvae_params_data(a), cvae_params_data(b), (size_t)n * sizeof(float));
    assert_memory_equal(ma, mb, (size_t)n * sizeof(float));
    assert_memory_equal(va, vb, (size_t)n * sizeof(float));
    /* a wrong step count changes the bias correction, hence the result */
    CVAE_OK_OR_FAIL(cvae_optim_set_step(ob, 0));
    random_grads(&g, a);
    memcpy(cvae_params_grad(b), cvae_params_grad(a), (size_t)n * sizeof(float));
    CVAE_OK_OR_FAIL(cvae_optim_step(oa));
    CVAE_OK_OR_FAIL(cvae_optim_step(ob));
    assert_true(memcmp(cvae_params_data(a), cvae_params_data(b), (size_t)n * sizeof(float)) != 0);
    cvae_optim_free(oa), cvae_optim_free(ob);
    cvae_params_free(a), cvae_params_free(b);
}

static double trainable_norm(const cvae_params *p)
{
    double s = 0;
    for (int i = 0; i < cvae_params_count(p); i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        if (!cvae_params_is_trainable(t)) continue;
        for (int64_t k = 0; k < t->size; k++) s += (double)t->grad[k] * t->grad[k];
    }
    return sqrt(s);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    test_rng r = {15};
    cvae_params *p = make_params(&r);
    int64_t n = cvae_params_numel(p);
    size_t bytes = (size_t)n * sizeof(float);
    float *g0 = malloc(bytes);
    random_grads(&r, p); /* frozen slots hold NaN: they must be ignored */
    memcpy(g0, cvae_params_grad(p), bytes);
    double norm = trainable_norm(p);
    assert_true(isfinite(norm) && norm > 1.0);

    /* above the norm: nothing changes */
    float before = -1.0f;
    CVAE_OK_OR_FAIL(cvae_clip_grad_norm(p, (float)(norm * 1.5), &before));
    assert_true(fabs(before - norm) <= 1e-6 * norm);
    assert_memory_equal(cvae_params_grad(p), g0, bytes);
    CVAE_OK_OR_FAIL(cvae_clip_grad_norm(p, (float)(norm * 1.5), NULL));

    /* below: scaled to max_norm, directions kept */
    float max_norm = (float)(norm / 3.0);
    CVAE_OK_OR_FAIL(cvae_clip_grad_norm(p, max_norm, &before));
    assert_true(fabs(before - norm) <= 1e-6 * norm);
    assert_true(fabs(trainable_norm(p) - max_norm) <= 1e-5 * max_norm);
    for (int i = 0; i < cvae_params_count(p); i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        int64_t off = cvae_params_offset(p, i);
        for (int64_t k = 0; k < t->size; k++) {
            float got = cvae_params_grad(p)[off + k];
            if (!cvae_params_is_trainable(t)) {
                assert_true(isnan(got));
                continue;
            }
            double want = g0[off + k] * (max_norm / norm);
            assert_true(fabs(got - want) <= 1e-5 * fabs(want) + 1e-7);
        }
    }

    /* NaN or Inf in a trainable gradient: CVAE_ERR_NUMERIC, nothing written */
    cvae_tensor *t0 = cvae_params_at(p, 0);
    float bad[2] = {NAN, INFINITY};
    for (int b = 0; b < 2; b++) {
        memcpy(cvae_params_grad(p), g0, bytes);
        t0->grad[t0->size - 1] = bad[b];
        memcpy(g0, cvae_params_grad(p), bytes);
        before = 42.0f;
        CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_clip_grad_norm(p, 0.5f, &before));
        assert_true(before == 42.0f);
        assert_memory_equal(cvae_params_grad(p), g0, bytes);
    }
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_clip_grad_norm(p, 0.0f, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_clip_grad_norm(p, NAN, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_clip_grad_norm(NULL, 1.0f, NULL));
    free(g0);
    cvae_params_free(p);
}

static void test_bad_options(void **state)
{
    (void)state;
    test_rng r = {16};
    cvae_params *p = make_params(&r), *empty;
    CVAE_OK_OR_FAIL(cvae_params_new(&empty));
    cvae_optim *const sentinel = (cvae_optim *)0x1;
    cvae_optim *opt = sentinel;

    const cvae_sgd_opts bad_sgd[] = {
        {0.0f, 0.0f, 0.0f, 0}, {-0.1f, 0.0f, 0.0f, 0},  {NAN, 0.0f, 0.0f, 0},
        {INFINITY, 0, 0, 0},   {0.1f, 1.0f, 0.0f, 0},   {0.1f, -0.5f, 0.0f, 0},
        {0.1f, NAN, 0.0f, 0},  {0.1f, 0.5f, -1e-3f, 0}, {0.1f, 0.0f, 0.0f, 1},
    };
    for (size_t i = 0; i < sizeof bad_sgd / sizeof bad_sgd[0]; i++) {
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_sgd(p, &bad_sgd[i], &opt));
        assert_ptr_equal(opt, sentinel);
    }
    const cvae_adam_opts bad_adam[] = {
        {0.0f, 0.9f, 0.999f, 1e-8f, 0.0f},   {-1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f},
        {1e-3f, 1.0f, 0.999f, 1e-8f, 0.0f},  {1e-3f, -0.1f, 0.999f, 1e-8f, 0.0f},
        {1e-3f, 0.9f, 1.0f, 1e-8f, 0.0f},    {1e-3f, 0.9f, 1.5f, 1e-8f, 0.0f},
        {1e-3f, NAN, 0.999f, 1e-8f, 0.0f},   {1e-3f, 0.9f, 0.999f, 0.0f, 0.0f},
        {1e-3f, 0.9f, 0.999f, 1e-8f, -1.0f}, {NAN, 0.9f, 0.999f, 1e-8f, 0.0f},
    };
    for (size_t i = 0; i < sizeof bad_adam / sizeof bad_adam[0]; i++) {
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_adam(p, &bad_adam[i], &opt));
        assert_ptr_equal(opt, sentinel);
    }
    cvae_adam_opts ao = cvae_adam_opts_default();
    cvae_sgd_opts so = cvae_sgd_opts_default();
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_adam(NULL, &ao, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_adam(p, NULL, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_adam(p, &ao, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_adam(empty, &ao, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_sgd(NULL, &so, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_sgd(p, NULL, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_sgd(p, &so, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_new_sgd(empty, &so, &opt));
    assert_ptr_equal(opt, sentinel);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_step(NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_state(NULL, NULL, NULL, NULL, NULL));

    CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &ao, &opt));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_set_lr(opt, 0.0f));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_set_lr(opt, NAN));
    assert_true(cvae_optim_lr(opt) == ao.lr);
    CVAE_OK_OR_FAIL(cvae_optim_set_lr(opt, 0.5f));
    assert_true(cvae_optim_lr(opt) == 0.5f);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_optim_set_step(opt, -1));
    assert_int_equal(cvae_optim_step_count(opt), 0);
    /* the block grows after creation: the state no longer fits */
    int64_t shape[1] = {3};
    cvae_tensor *extra;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "extra", 1, shape, 1, &extra));
    CVAE_EXPECT_ERR(CVAE_ERR_STATE, cvae_optim_step(opt));
    assert_int_equal(cvae_optim_step_count(opt), 0);
    cvae_optim_free(opt);
    cvae_optim_free(NULL);
    cvae_params_free(empty);
    cvae_params_free(p);
}

/* Adam drives f(p) = 0.5 sum a_i (p_i - c_i)^2 (a_i from 0.1 to 10) to its minimum. */
static void test_adam_minimizes_quadratic(void **state)
{
    (void)state;
    test_rng r = {17};
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    int64_t shape[1] = {50};
    cvae_tensor *x;
    CVAE_OK_OR_FAIL(cvae_params_add(p, "x", 1, shape, 1, &x));
    float a[50], c[50];
    test_fill(&r, x->data, 50, -3.0f, 3.0f, 0.0f);
    test_fill(&r, c, 50, -2.0f, 2.0f, 0.0f);
    for (int i = 0; i < 50; i++) a[i] = 0.1f + 9.9f * (float)i / 49.0f;
    cvae_adam_opts o = cvae_adam_opts_default();
    o.lr = 0.05f;
    cvae_optim *opt;
    CVAE_OK_OR_FAIL(cvae_optim_new_adam(p, &o, &opt));
    double f0 = 0, f = 0;
    for (int i = 0; i < 50; i++) f0 += 0.5 * a[i] * (x->data[i] - c[i]) * (x->data[i] - c[i]);
    for (int s = 0; s < 2000; s++) {
        if (s == 1000) CVAE_OK_OR_FAIL(cvae_optim_set_lr(opt, 0.005f));
        for (int i = 0; i < 50; i++) x->grad[i] = a[i] * (x->data[i] - c[i]);
        CVAE_OK_OR_FAIL(cvae_optim_step(opt));
    }
    double maxdev = 0;
    for (int i = 0; i < 50; i++) {
        f += 0.5 * a[i] * (x->data[i] - c[i]) * (x->data[i] - c[i]);
        maxdev = fmax(maxdev, fabs(x->data[i] - c[i]));
    }
    printf("quadratic: f %.3g -> %.3g, max |x - c| = %.3g\n", f0, f, maxdev);
    assert_true(f0 > 1.0);
    assert_true(maxdev < 1e-2);
    cvae_optim_free(opt);
    cvae_params_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_matches_reference),
        cmocka_unit_test(test_adam_matches_reference),
        cmocka_unit_test(test_step_in_ranges_is_bitwise_whole),
        cmocka_unit_test(test_weight_decay),
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_adam_minimizes_quadratic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
