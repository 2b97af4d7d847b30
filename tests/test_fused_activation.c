/* Fused activations (cvae_activation): every op that takes one (cvae_op_conv2d,
 * cvae_op_conv_transpose2d, cvae_op_linear_act, the conditional convs: hard, concat, soft,
 * transposed) equals the same op without activation followed by cvae_op_activation BIT FOR BIT
 * (memcmp): the output, with and without recording, and every input gradient for a random
 * upstream gradient (with some -0.0 entries), under every set of inputs needing a gradient,
 * with and without the optional inputs, for relu, leaky relu (slope 0.2 and the default),
 * elu (alpha 0.6 and the default), sigmoid and tanh; on random shapes and the model's.
 * The composition is checked against plain references in each op's own test; here, in
 * addition, finite differences of each fused op with each activation, the kernels' -0.0 and
 * summation-order promises, the defaults, and bad activations (code, message, output untouched). */
#include "conv_cases.h"
#include "ops/activation.h"
#include "ops/conv/cond.h"
#include "ops/conv/conv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_CONV, OP_CONVT, OP_LINEAR, OP_COND, OP_CONCAT, OP_SOFT, OP_CONDT, N_OP };
static const char *op_names[N_OP] = {"conv2d",
                                     "conv_transpose2d",
                                     "linear_act",
                                     "conditional_conv2d",
                                     "conditional_conv2d_concat",
                                     "conditional_conv2d_soft",
                                     "conditional_conv_transpose2d"};

typedef struct act_case {
    cvae_activation act;
    float alpha;
} act_case;

/* The activations checked bit for bit: non-default parameters, then the defaults (alpha 0). */
static const act_case acts[] = {{CVAE_ACT_RELU, 0.0f}, {CVAE_ACT_LEAKY_RELU, 0.2f},
                                {CVAE_ACT_ELU, 0.6f},  {CVAE_ACT_SIGMOID, 0.0f},
                                {CVAE_ACT_TANH, 0.0f}, {CVAE_ACT_LEAKY_RELU, 0.0f},
                                {CVAE_ACT_ELU, 0.0f}};
#define N_ACTS ((int)(sizeof acts / sizeof acts[0]))
#define N_GRADCHECK_ACTS 5 /* the first five: each kind once */

#define MAX_IN 5

typedef struct fcase {
    int op;
    int64_t n, cin, cout, h, w, kh, kw; /* linear: x [n, cin] -> [n, cout] */
    cvae_conv_opts o;                   /* activation NONE: set per run */
    int64_t k, cl;                      /* labels in [0, k); concat: cl learned channels */
    cvae__cconv_algo algo;              /* hard and concat: forced forward algorithm */
    int32_t labels[64];
} fcase;

/* Input shapes (and how many inputs): conv, convT, linear: x, w, b; cond: x, table, bias table;
 * concat: x, table, bias table, w, b; soft: x, alpha, table, bias table; condT: x, table, bias
 * table. */
static int input_shapes(const fcase *f, int64_t shapes[MAX_IN][5], int nd[MAX_IN])
{
    const int64_t x4[4] = {f->n, f->cin, f->h, f->w},
                  tab[5] = {f->k, f->cout, f->cin, f->kh, f->kw};
    memcpy(shapes[0], x4, sizeof x4), nd[0] = 4;
    switch (f->op) {
    case OP_CONV:
    case OP_CONVT: {
        const int conv = f->op == OP_CONV;
        const int64_t w[4] = {conv ? f->cout : f->cin, conv ? f->cin : f->cout, f->kh, f->kw};
        memcpy(shapes[1], w, sizeof w), nd[1] = 4;
        shapes[2][0] = f->cout, nd[2] = 1;
        return 3;
    }
    case OP_LINEAR:
        shapes[0][0] = f->n, shapes[0][1] = f->cin, nd[0] = 2;
        shapes[1][0] = f->cout, shapes[1][1] = f->cin, nd[1] = 2;
        shapes[2][0] = f->cout, nd[2] = 1;
        return 3;
    case OP_SOFT:
        shapes[1][0] = f->n, shapes[1][1] = f->k, nd[1] = 2;
        memcpy(shapes[2], tab, sizeof tab), nd[2] = 5;
        shapes[3][0] = f->k, shapes[3][1] = f->cout, nd[3] = 2;
        return 4;
    default: {
        memcpy(shapes[1], tab, sizeof tab), nd[1] = 5;
        if (f->op == OP_CONDT) shapes[1][1] = f->cin, shapes[1][2] = f->cout;
        shapes[2][0] = f->k, shapes[2][1] = f->cout, nd[2] = 2;
        if (f->op != OP_CONCAT) return 3;
        const int64_t w[4] = {f->cl, f->cin, f->kh, f->kw};
        memcpy(shapes[3], w, sizeof w), nd[3] = 4;
        shapes[4][0] = f->cl, nd[4] = 1;
        return 5;
    }
    }
}

/* Index of the optional inputs (NULL allowed): the bias (table) and, for concat, the learned bias.
 */
static int optional_input(const fcase *f, int i)
{
    if (f->op == OP_SOFT) return i == 3;
    return i == 2 || (f->op == OP_CONCAT && i == 4);
}

/* The op of f with activation a: fused (in the op) or composed (op, then cvae_op_activation). */
static cvae_status build(cvae_tape *t, cvae_tensor **in, const fcase *f, act_case a, int fused,
                         cvae_tensor **y)
{
    cvae_conv_opts o = f->o;
    if (fused) o.activation = a.act, o.alpha = a.alpha;
    cvae_tensor *pre = NULL, **dst = fused ? y : &pre;
    switch (f->op) {
    case OP_CONV:
        CVAE_TRY(cvae_op_conv2d(t, in[0], in[1], in[2], &o, dst));
        break;
    case OP_CONVT:
        CVAE_TRY(cvae_op_conv_transpose2d(t, in[0], in[1], in[2], &o, dst));
        break;
    case OP_LINEAR:
        if (fused)
            CVAE_TRY(cvae_op_linear_act(t, in[0], in[1], in[2], a.act, a.alpha, dst));
        else
            CVAE_TRY(cvae_op_linear(t, in[0], in[1], in[2], dst));
        break;
    case OP_COND:
        if (f->algo == CVAE__CCONV_AUTO)
            CVAE_TRY(cvae_op_conditional_conv2d(t, in[0], f->labels, in[1], in[2], &o, dst));
        else
            CVAE_TRY(cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){in[0], f->labels, NULL, NULL, in[1], in[2]}, &o, f->algo, dst, NULL));
        break;
    case OP_CONCAT:
        if (f->algo == CVAE__CCONV_AUTO)
            CVAE_TRY(cvae_op_conditional_conv2d_concat(t, in[0], f->labels, in[3], in[4], in[1],
                                                       in[2], &o, dst));
        else
            CVAE_TRY(cvae__op_conditional_conv2d_algo(t, &(cvae__cconv_in){in[0], f->labels, in[3], in[4], in[1], in[2]}, &o, f->algo, dst, NULL));
        break;
    case OP_SOFT:
        CVAE_TRY(cvae_op_conditional_conv2d_soft(t, in[0], in[1], in[2], in[3], &o, dst));
        break;
    default:
        CVAE_TRY(cvae_op_conditional_conv_transpose2d(t, in[0], f->labels, in[1], in[2], &o, dst));
        break;
    }
    return fused ? CVAE_OK : cvae_op_activation(t, pre, a.act, a.alpha, y);
}

/* ---- fused == op + activation, bit for bit ---- */

/* What one run leaves: the output and the gradient of every input (NULL: none). */
typedef struct run_out {
    float *y, *grad[MAX_IN];
    int64_t ny, size[MAX_IN];
} run_out;

static void run(const fcase *f, act_case a, cvae_tensor **src, int n_in, unsigned grads,
                const float *dy, int fused, int recording, run_out *o)
{
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, recording);
    cvae_tensor *in[MAX_IN] = {0}, *y;
    for (int i = 0; i < n_in; i++)
        in[i] = src[i] ? conv_tape_copy(t, src[i], recording && (grads >> i) & 1) : NULL;
    CVAE_OK_OR_FAIL(build(t, in, f, a, fused, &y));
    o->ny = y->size;
    o->y = malloc(sizeof(float) * (size_t)y->size);
    memcpy(o->y, y->data, sizeof(float) * (size_t)y->size);
    if (recording) CVAE_OK_OR_FAIL(cvae_tape_backward_with(t, y, dy));
    for (int i = 0; i < n_in; i++) {
        o->grad[i] = NULL;
        if (!in[i] || !in[i]->grad) continue;
        o->size[i] = in[i]->size;
        o->grad[i] = malloc(sizeof(float) * (size_t)in[i]->size);
        memcpy(o->grad[i], in[i]->grad, sizeof(float) * (size_t)in[i]->size);
    }
    cvae_tape_free(t);
}

static void free_out(run_out *o, int n_in)
{
    free(o->y);
    for (int i = 0; i < n_in; i++) free(o->grad[i]);
}

static void compare(const run_out *a, const run_out *b, int n_in, const fcase *f, act_case ac,
                    unsigned grads, int optional)
{
    const char *op = op_names[f->op], *act = cvae_activation_name(ac.act);
    assert_int_equal(a->ny, b->ny);
    if (memcmp(a->y, b->y, sizeof(float) * (size_t)a->ny))
        fail_msg("%s (%s %g): forward differs (grads 0x%x)", op, act, (double)ac.alpha, grads);
    for (int i = 0; i < n_in; i++) {
        if (!a->grad[i] != !b->grad[i])
            fail_msg("%s (%s): input %d has a gradient on one side only", op, act, i);
        if (a->grad[i] && memcmp(a->grad[i], b->grad[i], sizeof(float) * (size_t)a->size[i]))
            fail_msg("%s (%s %g): gradient of input %d differs (grads 0x%x, optional inputs %d)",
                     op, act, (double)ac.alpha, i, grads, optional);
    }
}

/* Fused against composed for every activation, with and without the optional inputs, for every
 * non-empty set of inputs needing a gradient (with `all` 0, only every fifth set and the full
 * one: the model-sized cases). */
static void check_case(test_rng *r, const fcase *f, int all)
{
    int64_t shapes[MAX_IN][5];
    int nd[MAX_IN];
    const int n_in = input_shapes(f, shapes, nd);
    cvae_tensor *full[MAX_IN];
    for (int i = 0; i < n_in; i++) full[i] = test_tensor(r, nd[i], shapes[i]);
    for (int ai = 0; ai < N_ACTS; ai++)
        for (int optional = 0; optional < 2; optional++) {
            cvae_tensor *src[MAX_IN];
            for (int i = 0; i < n_in; i++)
                src[i] = optional || !optional_input(f, i) ? full[i] : NULL;
            run_out a, b;
            run(f, acts[ai], src, n_in, 0, NULL, 1, 0, &a); /* inference: no recording */
            run(f, acts[ai], src, n_in, 0, NULL, 0, 0, &b);
            compare(&a, &b, 0, f, acts[ai], 0, optional);
            if (acts[ai].act == CVAE_ACT_RELU && a.ny >= 1000) { /* model shapes: both sides of 0 */
                int64_t pos = 0;
                for (int64_t i = 0; i < a.ny; i++) pos += a.y[i] > 0.0f;
                if (pos == 0 || pos == a.ny)
                    fail_msg("%s: %lld of %lld outputs positive", op_names[f->op], (long long)pos,
                             (long long)a.ny);
            }
            float *dy = malloc(sizeof(float) * (size_t)a.ny);
            test_fill(r, dy, a.ny, -1, 1, 0.05f);
            for (int64_t i = 0; i < a.ny; i += 7) dy[i] = -0.0f;
            free_out(&a, 0), free_out(&b, 0);
            const unsigned sets = 1u << n_in;
            for (unsigned grads = 1; grads < sets; grads++) {
                if (!all && grads != sets - 1 && grads % 5) continue;
                int any = 0;
                for (int i = 0; i < n_in; i++) any |= src[i] && (grads >> i) & 1;
                if (!any) continue;
                run(f, acts[ai], src, n_in, grads, dy, 1, 1, &a);
                run(f, acts[ai], src, n_in, grads, dy, 0, 1, &b);
                compare(&a, &b, n_in, f, acts[ai], grads, optional);
                free_out(&a, n_in), free_out(&b, n_in);
            }
            free(dy);
        }
    for (int i = 0; i < n_in; i++) cvae_tensor_free(full[i]);
}

/* Whether the op accepts f's shapes (an invalid random geometry is drawn again). */
static int valid(const fcase *f)
{
    int64_t shapes[MAX_IN][5];
    int nd[MAX_IN];
    const int n_in = input_shapes(f, shapes, nd);
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, 0);
    cvae_tensor *in[MAX_IN];
    for (int i = 0; i < n_in; i++) CVAE_OK_OR_FAIL(cvae_tape_tensor(t, nd[i], shapes[i], &in[i]));
    for (int i = 0; i < n_in; i++) memset(in[i]->data, 0, sizeof(float) * (size_t)in[i]->size);
    cvae_tensor *y;
    const cvae_status s = build(t, in, f, acts[0], 1, &y);
    cvae_tape_free(t);
    cvae_clear_error();
    return s == CVAE_OK;
}

/* A random valid case of op with extents up to `big` (2: gradient checks, 3: the bitwise checks).
 */
static fcase random_case(test_rng *r, int op, int big)
{
    for (;;) {
        fcase f = {op,
                   test_rand_int(r, 1, big == 3 ? 5 : 3),
                   test_rand_int(r, 1, 3),
                   test_rand_int(r, 1, 4),
                   test_rand_int(r, 1, 3 * big),
                   test_rand_int(r, 1, 3 * big),
                   test_rand_int(r, 1, big + 1),
                   test_rand_int(r, 1, big + 1),
                   cvae_conv_opts_make((int)test_rand_int(r, 1, 3), (int)test_rand_int(r, 0, 2)),
                   test_rand_int(r, 1, 5),
                   test_rand_int(r, 1, 3),
                   CVAE__CCONV_AUTO,
                   {0}};
        if (op == OP_LINEAR)
            f.cin = test_rand_int(r, 1, 12 * big), f.cout = test_rand_int(r, 1, 12 * big);
        if (op == OP_CONVT || op == OP_CONDT) {
            f.o.output_pad_h = (int)test_rand_int(r, 0, f.o.stride_h - 1);
            f.o.output_pad_w = (int)test_rand_int(r, 0, f.o.stride_w - 1);
        }
        if (test_rand_int(r, 0, 3) == 0) f.o.dilation_h = f.o.dilation_w = 2;
        if (op == OP_COND || op == OP_CONCAT) f.algo = (cvae__cconv_algo)test_rand_int(r, 0, 2);
        for (int64_t s = 0; s < f.n; s++) f.labels[s] = (int32_t)test_rand_int(r, 0, f.k - 1);
        if (valid(&f)) return f;
    }
}

static void test_fused_equals_composed(void **state)
{
    (void)state;
    test_rng r = {71};
    for (int op = 0; op < N_OP; op++)
        for (int i = 0; i < 6; i++) {
            fcase f = random_case(&r, op, 3);
            check_case(&r, &f, 1);
        }
    for (int i = 0; i < CONV_N_FIXED; i++) {
        const conv_case *c = &conv_fixed_cases[i];
        fcase f = {OP_CONV, c->n, c->cin, c->cout, c->h, c->w, c->kh, c->kw, c->o, 0, 0, 0, {0}};
        check_case(&r, &f, 1);
    }
}

/* The model's layers, the conv ones cut into several chunks (the last one partial). */
static void test_fused_model_shapes(void **state)
{
    (void)state;
    test_rng r = {72};
    const cvae_conv_opts s2 = cvae_conv_opts_make(2, 1);
    fcase conv2 = {OP_CONV, 9, 40, 64, 14, 14, 3, 3, s2, 0, 0, 0, {0}};
    assert_true(cvae__conv_chunk(40 * 9, 49, 9) < 9);
    check_case(&r, &conv2, 0);
    fcase deconv1 = {OP_CONVT, 7, 64, 32, 7, 7, 4, 4, s2, 0, 0, 0, {0}};
    assert_true(cvae__conv_chunk(32 * 16, 49, 7) < 7);
    check_case(&r, &deconv1, 0);
    fcase deconv2 = {OP_CONVT, 45, 32, 1, 14, 14, 4, 4, s2, 0, 0, 0, {0}};
    assert_true(cvae__conv_chunk(16, 196, 45) < 45);
    check_case(&r, &deconv2, 0);
    fcase fc = {OP_LINEAR, 16, 26, 3136, 1, 1, 1, 1, s2, 0, 0, 0, {0}};
    check_case(&r, &fc, 0);
    /* the first layer: 32 learned + 8 label-indexed channels of a 28x28 image */
    fcase conv1 = {OP_CONCAT, 12, 1, 8, 28, 28, 3, 3, s2, 10, 32, CVAE__CCONV_AUTO, {0}};
    for (int s = 0; s < 12; s++) conv1.labels[s] = (int32_t)(s * 7 % 10);
    check_case(&r, &conv1, 0);
    /* the conditional decoder layer */
    fcase dect = {OP_CONDT, 12, 64, 8, 7, 7, 4, 4, s2, 10, 0, CVAE__CCONV_AUTO, {0}};
    for (int s = 0; s < 12; s++) dect.labels[s] = (int32_t)(s * 3 % 10);
    check_case(&r, &dect, 0);
}

/* ---- finite differences ---- */

typedef struct gc_ctx {
    const fcase *f;
    act_case a;
} gc_ctx;

static cvae_status gc_fn(cvae_tape *t, cvae_tensor **in, void *vctx, cvae_tensor **out)
{
    const gc_ctx *c = vctx;
    return build(t, in, c->f, c->a, 1, out);
}

/* Largest |d v_j / d input element| over the op's pre-activations v for inputs in [-1, 1]:
 * 1 (one weight, pixel or bias per output), but for the soft op's alpha (a whole conv, up to
 * Cin kH kW + 1) and x (a mix of K kernels). */
static double max_slope(const fcase *f)
{
    if (f->op != OP_SOFT) return 1.0;
    const double ckk = (double)(f->cin * f->kh * f->kw);
    return ckk + 1 > f->k ? ckk + 1 : (double)f->k;
}

/* min |v| over the pre-activations of f on `in`. */
static double min_abs_preactivation(const fcase *f, cvae_tensor **in, int n_in)
{
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae_tape_set_recording(t, 0);
    cvae_tensor *c[MAX_IN], *y;
    for (int i = 0; i < n_in; i++) c[i] = conv_tape_copy(t, in[i], 0);
    CVAE_OK_OR_FAIL(build(t, c, f, (act_case){CVAE_ACT_NONE, 0.0f}, 1, &y));
    double m = INFINITY;
    for (int64_t i = 0; i < y->size; i++) m = fmin(m, fabs(y->data[i]));
    cvae_tape_free(t);
    return m;
}

/* Each fused op with each activation against 5-point central differences (testutil: rtol = atol
 * = 1e-3). The stencil reaches 2h from each probed element, so for the kinked activations (relu,
 * leaky relu, elu) h is at most min |v| / (2.5 max_slope): no probe crosses a kink; inputs whose
 * pre-activations come closer to 0 than allows h >= 2e-3 are drawn again. */
static void test_fused_gradcheck(void **state)
{
    (void)state;
    test_rng r = {73};
    for (int op = 0; op < N_OP; op++)
        for (int ai = 0; ai < N_GRADCHECK_ACTS; ai++)
            for (int trial = 0; trial < 3; trial++) {
                fcase f = random_case(&r, op, 2);
                int64_t shapes[MAX_IN][5];
                int nd[MAX_IN], check[MAX_IN];
                const int n_in = input_shapes(&f, shapes, nd);
                const cvae_activation k = acts[ai].act;
                const int kinked =
                    k == CVAE_ACT_RELU || k == CVAE_ACT_LEAKY_RELU || k == CVAE_ACT_ELU;
                cvae_tensor *in[MAX_IN];
                gradcheck_opts go = {1e-2, 0, 0, 0};
                for (int tries = 0;; tries++) {
                    assert_true(tries < 200);
                    for (int i = 0; i < n_in; i++) in[i] = test_tensor(&r, nd[i], shapes[i]);
                    if (!kinked) break;
                    const double h = min_abs_preactivation(&f, in, n_in) / (2.5 * max_slope(&f));
                    if (h >= 2e-3) {
                        go.h = fmin(1e-2, h);
                        break;
                    }
                    for (int i = 0; i < n_in; i++) cvae_tensor_free(in[i]);
                }
                for (int i = 0; i < n_in; i++) check[i] = 1;
                gc_ctx c = {&f, acts[ai]};
                char what[96];
                snprintf(what, sizeof what, "%s (%s)", op_names[op], cvae_activation_name(k));
                test_gradcheck(gc_fn, &c, in, check, n_in, &go, what);
                for (int i = 0; i < n_in; i++) cvae_tensor_free(in[i]);
            }
}

/* ---- kernels and defaults ---- */

/* The promises of ops/activation.h that make the ops agree bit for bit, for every kind and
 * lengths around the 8-wide sums: cvae__act_backward (written) equals cvae__act_backward_acc
 * into a zeroed buffer, -0.0 included; cvae__act_backward_sum equals cvae__sum_floats of what
 * it writes; cvae__act_bias_forward(x, b) equals cvae__act_forward(x + b); and the derivative
 * read from y equals the one read from x (the unfused backward's old form) for leaky relu and elu.
 */
static void test_act_kernels(void **state)
{
    (void)state;
    test_rng r = {74};
    enum { n_max = 40 };
    const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f, -1e-45f, 30.0f, -30.0f, 1e-8f};
    for (cvae_activation k = CVAE_ACT_NONE; k <= CVAE_ACT_TANH; k++)
        for (int n = 1; n <= n_max; n++) {
            float x[n_max], d[n_max], y[n_max], w[n_max], acc[n_max], xb[n_max], yb[n_max];
            test_fill(&r, x, n, -3, 3, 0.0f);
            test_fill(&r, d, n, -1, 1, 0.0f);
            for (int i = 0; i < n; i += 3) x[i] = specials[(i / 3) % 9];
            for (int i = 1; i < n; i += 4) d[i] = -0.0f;
            cvae__act a;
            CVAE_OK_OR_FAIL(cvae__act_make(&a, "test", k, k == CVAE_ACT_ELU ? 0.6f : 0.2f));
            cvae__act_forward(y, x, n, &a);
            cvae__act_backward(w, d, y, n, &a);
            memset(acc, 0, sizeof acc);
            cvae__act_backward_acc(acc, d, y, n, &a);
            if (memcmp(w, acc, sizeof(float) * (size_t)n))
                fail_msg("%s: written and accumulated gradients differ (n %d)",
                         cvae_activation_name(k), n);
            const float s1 = cvae__act_backward_sum(d, y, n, &a), s2 = cvae__sum_floats(w, n);
            if (memcmp(&s1, &s2, sizeof s1))
                fail_msg("%s: sum %.9g vs %.9g (n %d)", cvae_activation_name(k), s1, s2, n);
            for (int i = 0; i < n; i++) xb[i] = x[i] + 0.25f;
            cvae__act_forward(yb, xb, n, &a);
            cvae__act_bias_forward(xb, x, 0.25f, n, &a);
            if (memcmp(xb, yb, sizeof(float) * (size_t)n))
                fail_msg("%s: bias epilogue differs (n %d)", cvae_activation_name(k), n);
            for (int i = 0; i < n && (k == CVAE_ACT_LEAKY_RELU || k == CVAE_ACT_ELU); i++) {
                const float from_x = x[i] > 0.0f         ? d[i]
                                     : k == CVAE_ACT_ELU ? d[i] * (y[i] + a.alpha)
                                                         : a.alpha * d[i];
                const float got = cvae__act_grad_value(k, a.alpha, d[i], y[i]);
                if (memcmp(&from_x, &got, sizeof got))
                    fail_msg("%s: derivative at x = %g: %g from y, %g from x",
                             cvae_activation_name(k), x[i], got, from_x);
            }
        }
}

/* alpha 0 means 0.01 for leaky relu and 1 for elu: the same bits as the explicit values, fused
 * and unfused (and as the older cvae_op_leaky_relu / cvae_op_elu); names of the kinds. */
static void test_defaults_and_names(void **state)
{
    (void)state;
    test_rng r = {75};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    int64_t sx[4] = {2, 3, 5, 5}, sw[4] = {4, 3, 3, 3};
    cvae_tensor *x = test_tensor(&r, 4, sx), *w = test_tensor(&r, 4, sw);
    const cvae_activation kinds[2] = {CVAE_ACT_LEAKY_RELU, CVAE_ACT_ELU};
    const float explicit_alpha[2] = {0.01f, 1.0f};
    for (int i = 0; i < 2; i++) {
        cvae_conv_opts o = cvae_conv_opts_make(1, 1);
        o.activation = kinds[i];
        cvae_tensor *yd, *ye, *pre, *yu, *yl;
        CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, NULL, &o, &yd));
        o.alpha = explicit_alpha[i];
        CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, NULL, &o, &ye));
        o.activation = CVAE_ACT_NONE;
        CVAE_OK_OR_FAIL(cvae_op_conv2d(t, x, w, NULL, &o, &pre));
        CVAE_OK_OR_FAIL(cvae_op_activation(t, pre, kinds[i], 0.0f, &yu));
        if (i == 0)
            CVAE_OK_OR_FAIL(cvae_op_leaky_relu(t, pre, 0.01f, &yl));
        else
            CVAE_OK_OR_FAIL(cvae_op_elu(t, pre, 1.0f, &yl));
        const size_t bytes = sizeof(float) * (size_t)yd->size;
        assert_memory_equal(yd->data, ye->data, bytes);
        assert_memory_equal(yd->data, yu->data, bytes);
        assert_memory_equal(yd->data, yl->data, bytes);
        int neg = 0;
        for (int64_t j = 0; j < yd->size; j++) neg += yd->data[j] < 0.0f;
        assert_true(neg > 0); /* the parameter was used */
    }
    const char *names[] = {"none", "relu", "leaky_relu", "elu", "sigmoid", "tanh"};
    for (int k = 0; k <= CVAE_ACT_TANH; k++)
        assert_string_equal(cvae_activation_name((cvae_activation)k), names[k]);
    assert_string_equal(cvae_activation_name((cvae_activation)6), "?");
    assert_string_equal(cvae_activation_name((cvae_activation)-1), "?");
    cvae_tensor_free(x), cvae_tensor_free(w);
    cvae_tape_free(t);
}

/* Bad activations for every op: a negative or zero-substituted-but-negative slope, a NaN or
 * infinite alpha, a kind outside the enum: CVAE_ERR_INVALID_ARG naming the op and the problem,
 * *y untouched, nothing allocated on the tape. */
static void test_bad_activation(void **state)
{
    (void)state;
    test_rng r = {76};
    const act_case bad[] = {{CVAE_ACT_LEAKY_RELU, -0.5f}, {CVAE_ACT_ELU, NAN},
                            {CVAE_ACT_ELU, -INFINITY},    {CVAE_ACT_LEAKY_RELU, INFINITY},
                            {(cvae_activation)42, 0.0f},  {(cvae_activation)-1, 0.0f}};
    const char *says[] = {"alpha", "alpha", "alpha", "alpha", "activation 42", "activation -1"};
    for (int op = 0; op < N_OP; op++) {
        fcase f = random_case(&r, op, 2);
        f.algo = CVAE__CCONV_AUTO;
        int64_t shapes[MAX_IN][5];
        int nd[MAX_IN];
        const int n_in = input_shapes(&f, shapes, nd);
        cvae_tensor *in[MAX_IN];
        for (int i = 0; i < n_in; i++) in[i] = test_tensor(&r, nd[i], shapes[i]);
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            cvae_tape *t;
            CVAE_OK_OR_FAIL(cvae_tape_new(&t));
            cvae_tensor *y = (cvae_tensor *)0x1;
            CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, build(t, in, &f, bad[b], 1, &y));
            const char *msg = cvae_last_error();
            if (!strstr(msg, op_names[op]) || !strstr(msg, says[b]))
                fail_msg("%s, bad activation %zu: message '%s'", op_names[op], b, msg);
            assert_ptr_equal(y, (cvae_tensor *)0x1);
            assert_int_equal(cvae_tape_capacity(t), 0);
            /* the unfused op rejects the same */
            CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG,
                            cvae_op_activation(t, in[0], bad[b].act, bad[b].alpha, &y));
            assert_non_null(strstr(cvae_last_error(), "cvae_op_activation"));
            assert_ptr_equal(y, (cvae_tensor *)0x1);
            assert_int_equal(cvae_tape_capacity(t), 0);
            cvae_tape_free(t);
        }
        for (int i = 0; i < n_in; i++) cvae_tensor_free(in[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_kernels),           cmocka_unit_test(test_defaults_and_names),
        cmocka_unit_test(test_fused_equals_composed), cmocka_unit_test(test_fused_model_shapes),
        cmocka_unit_test(test_fused_gradcheck),       cmocka_unit_test(test_bad_activation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
