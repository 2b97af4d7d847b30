/* The conv-family core (lib/ops/conv/core.h): option and geometry checks of both convolution
 * kinds with one set of messages, the transposed extents, the BLAS range check, label
 * grouping, and the layout copies (gather, gradient gather with its sums, scatter with the
 * activation epilogue, scatter-add) against plain loops. */
#include "ops/conv/core.h"
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- geometry ---- */

/* fn(g, ...) fails with `want`, a message naming "t" and containing `says`, g untouched. */
#define EXPECT_GEOM_ERR(want, says, call)                                                          \
    do {                                                                                           \
        cvae__conv_geom g_;                                                                        \
        memset(&g_, 0x5a, sizeof g_);                                                              \
        const cvae__conv_geom before_ = g_;                                                        \
        cvae__conv_geom *g = &g_;                                                                  \
        CVAE_EXPECT_ERR(want, call);                                                               \
        if (strncmp(cvae_last_error(), "t: ", 3) || !strstr(cvae_last_error(), says))              \
            fail_msg("%s: message '%s', wanted '%s'", #call, cvae_last_error(), says);             \
        assert_memory_equal(&g_, &before_, sizeof g_);                                             \
    } while (0)

static void test_geometry_rejects(void **state)
{
    (void)state;
    cvae_conv_opts o = cvae_conv_opts_make(1, 0);
    /* the input does not fit / the output is empty */
    EXPECT_GEOM_ERR(CVAE_ERR_SHAPE, "kernel 3x3 does not fit input 2x2",
                    cvae__conv_geom_init(g, "t", 1, 2, 2, 3, 3, &o));
    o = cvae_conv_opts_make(1, 1);
    EXPECT_GEOM_ERR(CVAE_ERR_SHAPE,
                    "input 1x1 with kernel 1x1 and this padding gives an empty output",
                    cvae__conv_geom_transposed(g, "t", 1, 1, 1, 1, 1, &o));
    /* kernel extents */
    o = cvae_conv_opts_make(1, 0);
    EXPECT_GEOM_ERR(CVAE_ERR_SHAPE, "kernel 0x3 is invalid",
                    cvae__conv_geom_init(g, "t", 1, 5, 5, 0, 3, &o));
    EXPECT_GEOM_ERR(CVAE_ERR_SHAPE, "kernel 3x2147483648 is invalid",
                    cvae__conv_geom_transposed(g, "t", 1, 5, 5, 3, (int64_t)INT_MAX + 1, &o));
    /* output_pad: transposed only, and below the stride */
    o.output_pad_h = 1;
    EXPECT_GEOM_ERR(CVAE_ERR_INVALID_ARG, "output_pad 1x0 applies to transposed convolutions only",
                    cvae__conv_geom_init(g, "t", 1, 5, 5, 3, 3, &o));
    EXPECT_GEOM_ERR(CVAE_ERR_INVALID_ARG, "output_pad 1x0 must be in [0, stride 1x1)",
                    cvae__conv_geom_transposed(g, "t", 1, 5, 5, 3, 3, &o));
    /* the transposed extent overflows */
    o = cvae_conv_opts_make(INT_MAX, 0);
    EXPECT_GEOM_ERR(CVAE_ERR_SHAPE, "output extent overflows",
                    cvae__conv_geom_transposed(g, "t", 1, (int64_t)1 << 40, 1, 1, 1, &o));
    /* lowered rows C kH kW beyond int64 */
    o = cvae_conv_opts_make(1, 0);
    EXPECT_GEOM_ERR(
        CVAE_ERR_SHAPE, "lowered matrix size overflows",
        cvae__conv_geom_init(g, "t", (int64_t)1 << 40, 100000, 100000, 100000, 100000, &o));
}

/* The option checks both geometries share give the same message (the one set of messages). */
static void test_geometry_shared_messages(void **state)
{
    (void)state;
    cvae_conv_opts bad[6];
    const char *says[6] = {"stride 0x1 and dilation 1x1 must be >= 1",
                           "stride 1x1 and dilation 1x0 must be >= 1",
                           "negative padding",
                           "leaky_relu parameter alpha -1 must be finite and > 0",
                           "activation 9 is not a cvae_activation",
                           "argument 'o' is NULL"};
    for (int i = 0; i < 6; i++) bad[i] = cvae_conv_opts_make(1, 1);
    bad[0].stride_h = 0;
    bad[1].dilation_w = 0;
    bad[2].pad_bottom = -1;
    bad[3].activation = CVAE_ACT_LEAKY_RELU, bad[3].alpha = -1.0f;
    bad[4].activation = (cvae_activation)9;
    for (int i = 0; i < 6; i++) {
        const cvae_conv_opts *o = i == 5 ? NULL : &bad[i];
        char first[256];
        EXPECT_GEOM_ERR(CVAE_ERR_INVALID_ARG, says[i],
                        cvae__conv_geom_init(g, "t", 2, 6, 6, 3, 3, o));
        snprintf(first, sizeof first, "%s", cvae_last_error());
        EXPECT_GEOM_ERR(CVAE_ERR_INVALID_ARG, says[i],
                        cvae__conv_geom_transposed(g, "t", 2, 6, 6, 3, 3, o));
        assert_string_equal(first, cvae_last_error());
        CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae__conv_check_opts("t", o, i % 2));
        assert_string_equal(first, cvae_last_error());
    }
}

/* Transposed extents: Ho = (H - 1) s - pads + d (k - 1) + output_pad + 1, and the adjoint
 * convolution of Ho x Wo maps back onto H x W. Random options (and the activation carried). */
static void test_geometry_transposed_extents(void **state)
{
    (void)state;
    test_rng r = {81};
    for (int trial = 0; trial < 500; trial++) {
        cvae_conv_opts o = cvae_conv_opts_make((int)test_rand_int(&r, 1, 4), 0);
        o.stride_w = (int)test_rand_int(&r, 1, 4);
        o.pad_top = (int)test_rand_int(&r, 0, 3), o.pad_bottom = (int)test_rand_int(&r, 0, 3);
        o.pad_left = (int)test_rand_int(&r, 0, 3), o.pad_right = (int)test_rand_int(&r, 0, 3);
        o.dilation_h = (int)test_rand_int(&r, 1, 3), o.dilation_w = (int)test_rand_int(&r, 1, 3);
        o.output_pad_h = (int)test_rand_int(&r, 0, o.stride_h - 1);
        o.output_pad_w = (int)test_rand_int(&r, 0, o.stride_w - 1);
        o.activation = CVAE_ACT_ELU;
        const int64_t h = test_rand_int(&r, 1, 9), w = test_rand_int(&r, 1, 9);
        const int64_t kh = test_rand_int(&r, 1, 5), kw = test_rand_int(&r, 1, 5);
        const int64_t ho = (h - 1) * o.stride_h - o.pad_top - o.pad_bottom +
                           o.dilation_h * (kh - 1) + o.output_pad_h + 1;
        const int64_t wo = (w - 1) * o.stride_w - o.pad_left - o.pad_right +
                           o.dilation_w * (kw - 1) + o.output_pad_w + 1;
        cvae__conv_geom g;
        const cvae_status s = cvae__conv_geom_transposed(&g, "t", 3, h, w, kh, kw, &o);
        if (ho < 1 || wo < 1) {
            assert_int_equal(s, CVAE_ERR_SHAPE);
            continue;
        }
        assert_int_equal(s, CVAE_OK);
        assert_true(g.c == 3 && g.h == ho && g.w == wo && g.ho == h && g.wo == w);
        assert_true(g.act.kind == CVAE_ACT_ELU && g.act.alpha == 1.0f);
        cvae_conv_opts of = o;
        of.output_pad_h = of.output_pad_w = 0;
        cvae__conv_geom f;
        CVAE_OK_OR_FAIL(cvae__conv_geom_init(&f, "t", 3, ho, wo, kh, kw, &of));
        assert_true(f.ho == h && f.wo == w);
    }
}

/* The GEMM operands: rows, other and n hw each within int, the products within int64 / 8. */
static void test_gemm_range(void **state)
{
    (void)state;
    CVAE_OK_OR_FAIL(cvae__conv_check_gemm("t", INT_MAX, 1, 1, INT_MAX));
    CVAE_OK_OR_FAIL(cvae__conv_check_gemm("t", 9, 1 << 15, (1 << 16) - 1, 64)); /* n hw < 2^31 */
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae__conv_check_gemm("t", (int64_t)INT_MAX + 1, 1, 1, 1));
    assert_non_null(strstr(cvae_last_error(), "t: lowered matrices (2147483648 and 1 rows, 1 x 1 "
                                              "columns) exceed the BLAS int range"));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae__conv_check_gemm("t", 1, 1, 1, (int64_t)INT_MAX + 1));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae__conv_check_gemm("t", 9, 1 << 16, 1 << 16, 64));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae__conv_check_gemm("t", 9, INT64_MAX / 2, 4, 64));
}

/* ---- label groups ---- */

static void check_groups(const int32_t *labels, int64_t n, int64_t k)
{
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae__op_alloc a = cvae__op_begin(t, "test");
    cvae__label_groups gr;
    cvae__group_labels(&a, labels, n, k, &gr);
    CVAE_OK_OR_FAIL(cvae__op_ready(&a));
    int64_t count[64] = {0}, distinct = 0, largest = 0;
    for (int64_t s = 0; s < n; s++) count[labels[s]]++;
    for (int64_t l = 0; l < k; l++)
        distinct += count[l] > 0, largest = count[l] > largest ? count[l] : largest;
    assert_int_equal(gr.n_groups, distinct);
    assert_int_equal(gr.start[0], 0);
    assert_int_equal(gr.start[gr.n_groups], n);
    assert_int_equal(cvae__groups_max(&gr), largest);
    for (int64_t g = 0; g < gr.n_groups; g++) {
        if (g) assert_true(gr.label[g] > gr.label[g - 1]); /* by increasing label */
        assert_int_equal(gr.start[g + 1] - gr.start[g], count[gr.label[g]]);
        for (int64_t i = gr.start[g]; i < gr.start[g + 1]; i++) {
            assert_int_equal(labels[gr.order[i]], gr.label[g]);
            if (i > gr.start[g]) assert_true(gr.order[i] > gr.order[i - 1]); /* stable */
        }
    }
    cvae_tape_free(t);
}

/* A stable counting sort with one group per label present: the example, then random batches
 * (K above and below N, one label, every label different). */
static void test_label_groups(void **state)
{
    (void)state;
    const int32_t labels[9] = {4, 1, 4, 0, 1, 4, 7, 0, 4};
    cvae_tape *t;
    CVAE_OK_OR_FAIL(cvae_tape_new(&t));
    cvae__op_alloc a = cvae__op_begin(t, "test");
    cvae__label_groups gr;
    cvae__group_labels(&a, labels, 9, 8, &gr);
    CVAE_OK_OR_FAIL(cvae__op_ready(&a));
    const int64_t order[9] = {3, 7, 1, 4, 0, 2, 5, 8, 6}, start[5] = {0, 2, 4, 8, 9};
    const int32_t lab[4] = {0, 1, 4, 7};
    assert_int_equal(gr.n_groups, 4);
    for (int i = 0; i < 9; i++) assert_int_equal(gr.order[i], order[i]);
    for (int i = 0; i < 5; i++) assert_int_equal(gr.start[i], start[i]);
    for (int i = 0; i < 4; i++) assert_int_equal(gr.label[i], lab[i]);
    cvae_tape_free(t);
    test_rng r = {82};
    for (int trial = 0; trial < 200; trial++) {
        const int64_t n = test_rand_int(&r, 1, 40), k = test_rand_int(&r, 1, 64);
        int32_t l[40];
        for (int64_t s = 0; s < n; s++)
            l[s] = trial % 5 == 0 ? (int32_t)(k - 1) : (int32_t)test_rand_int(&r, 0, k - 1);
        check_groups(l, n, k);
    }
}

/* ---- layout copies ---- */

/* A random map: m samples of a batch of nb (a random subset in random order), channels
 * c0 .. c0 + c of ctot, a matrix with ld >= m hw. */
static cvae__cn_map random_map(test_rng *r, int64_t *idx, int64_t *nb)
{
    *nb = test_rand_int(r, 1, 7);
    int64_t perm[7];
    for (int64_t i = 0; i < *nb; i++) perm[i] = i;
    for (int64_t i = *nb - 1; i > 0; i--) {
        int64_t j = test_rand_int(r, 0, i), v = perm[i];
        perm[i] = perm[j], perm[j] = v;
    }
    const int64_t n = test_rand_int(r, 1, *nb), ctot = test_rand_int(r, 1, 6);
    const int64_t c = test_rand_int(r, 1, ctot), c0 = test_rand_int(r, 0, ctot - c);
    const int64_t hw = test_rand_int(r, 1, 40);
    memcpy(idx, perm, sizeof(int64_t) * (size_t)n);
    return (cvae__cn_map){test_rand_int(r, 0, 3) ? idx : NULL, n, c, hw, c0, ctot,
                          n * hw + test_rand_int(r, 0, 5)};
}

static int64_t tensor_at(const cvae__cn_map *m, int64_t s, int64_t r, int64_t p)
{
    return ((m->idx ? m->idx[s] : s) * m->ctot + m->c0 + r) * m->hw + p;
}

static void test_layout_copies(void **state)
{
    (void)state;
    test_rng r = {83};
    for (int trial = 0; trial < 300; trial++) {
        int64_t idx[7], nb;
        const cvae__cn_map m = random_map(&r, idx, &nb);
        const int64_t tsize = nb * m.ctot * m.hw, msize = m.c * m.ld;
        float *x = malloc(sizeof(float) * (size_t)tsize),
              *y = malloc(sizeof(float) * (size_t)tsize);
        float *cn = malloc(sizeof(float) * (size_t)msize),
              *bias = malloc(sizeof(float) * (size_t)m.c);
        float *want = malloc(sizeof(float) * (size_t)tsize);
        test_fill(&r, x, tsize, -2, 2, 0.0f);
        test_fill(&r, cn, msize, -2, 2, 0.0f);
        test_fill(&r, bias, m.c, -1, 1, 0.0f);
        const cvae__act act = {trial % 3 ? CVAE_ACT_RELU : CVAE_ACT_TANH, 0.0f};
        /* gather */
        float *g = malloc(sizeof(float) * (size_t)msize);
        memcpy(g, cn, sizeof(float) * (size_t)msize);
        cvae__cn_gather(g, x, &m);
        for (int64_t s = 0; s < m.n; s++)
            for (int64_t c = 0; c < m.c; c++)
                for (int64_t p = 0; p < m.hw; p++)
                    assert_true(g[c * m.ld + s * m.hw + p] == x[tensor_at(&m, s, c, p)]);
        /* scatter: y = act(cn + bias) where mapped, untouched elsewhere */
        memcpy(y, x, sizeof(float) * (size_t)tsize);
        memcpy(want, x, sizeof(float) * (size_t)tsize);
        for (int64_t s = 0; s < m.n; s++)
            for (int64_t c = 0; c < m.c; c++)
                for (int64_t p = 0; p < m.hw; p++)
                    want[tensor_at(&m, s, c, p)] =
                        cvae__act_value(act.kind, 0.0f, cn[c * m.ld + s * m.hw + p] + bias[c]);
        cvae__cn_scatter(y, cn, bias, &act, &m);
        assert_memory_equal(y, want, sizeof(float) * (size_t)tsize);
        /* scatter-add */
        memcpy(y, x, sizeof(float) * (size_t)tsize);
        for (int64_t s = 0; s < m.n; s++)
            for (int64_t c = 0; c < m.c; c++)
                for (int64_t p = 0; p < m.hw; p++)
                    want[tensor_at(&m, s, c, p)] =
                        x[tensor_at(&m, s, c, p)] + cn[c * m.ld + s * m.hw + p];
        cvae__cn_scatter_add(y, cn, &m);
        assert_memory_equal(y, want, sizeof(float) * (size_t)tsize);
        /* gradient gather: dY = dy f'(y) (y: the activation of x), sums per channel */
        float *yv = malloc(sizeof(float) * (size_t)tsize);
        cvae__act_forward(yv, x, tsize, &act);
        float csum[6] = {0}, csum2[6] = {0};
        double dsum[6] = {0}, dsum2[6] = {0};
        cvae__cn_gather_grad(g, y, yv, &act, csum, dsum, &m);
        cvae__cn_gather_grad(NULL, y, yv, &act, csum2, dsum2, &m); /* sums only */
        for (int64_t c = 0; c < m.c; c++) {
            float fs = 0.0f;
            double ds = 0.0;
            for (int64_t s = 0; s < m.n; s++) {
                float row[40];
                for (int64_t p = 0; p < m.hw; p++) {
                    const int64_t at = tensor_at(&m, s, c, p);
                    row[p] = 0.0f + cvae__act_grad_value(act.kind, 0.0f, y[at], yv[at]);
                    assert_true(g[c * m.ld + s * m.hw + p] == row[p]);
                }
                fs += cvae__sum_floats(row, m.hw), ds += cvae__sum_floats(row, m.hw);
            }
            assert_true(csum[c] == fs && csum2[c] == fs && dsum[c] == ds && dsum2[c] == ds);
        }
        free(x), free(y), free(cn), free(bias), free(want), free(g), free(yv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_rejects),
        cmocka_unit_test(test_geometry_shared_messages),
        cmocka_unit_test(test_geometry_transposed_extents),
        cmocka_unit_test(test_gemm_range),
        cmocka_unit_test(test_label_groups),
        cmocka_unit_test(test_layout_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
