/* core layer: status strings, thread-local error messages, tensors (new, wrap, view, reshape,
 * fill, copy, set_data, get, set, bad shapes) and the counter-based RNG. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = CVAE_OK; s <= CVAE_ERR_UNSUPPORTED; s++) {
        const char *a = cvae_status_str((cvae_status)s);
        assert_non_null(a);
        assert_true(a[0] != '\0');
        assert_string_not_equal(a, "unknown status");
        for (int u = CVAE_OK; u < s; u++)
            assert_string_not_equal(a, cvae_status_str((cvae_status)u));
    }
    assert_string_equal(cvae_status_str((cvae_status)99), "unknown status");
    assert_string_equal(cvae_version(), CVAE_VERSION_STRING);
}

/* A second thread sees an empty message, sets its own, and leaves the first thread's alone. */
typedef struct thread_result {
    char at_start[64], after[512];
    cvae_status s;
} thread_result;

static void *error_thread(void *arg)
{
    thread_result *r = arg;
    strncpy(r->at_start, cvae_last_error(), sizeof r->at_start - 1);
    int64_t shape[6] = {1, 1, 1, 1, 1, 1};
    cvae_tensor *t;
    r->s = cvae_tensor_new(6, shape, &t);
    strncpy(r->after, cvae_last_error(), sizeof r->after - 1);
    return NULL;
}

static void test_last_error_is_thread_local(void **state)
{
    (void)state;
    cvae_tensor *t = NULL;
    int64_t bad[2] = {2, -3};
    assert_int_equal(cvae_tensor_new(2, bad, &t), CVAE_ERR_SHAPE);
    char mine[512];
    strcpy(mine, cvae_last_error());
    assert_non_null(strstr(mine, "-3"));
    thread_result r = {{0}, {0}, CVAE_OK};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, error_thread, &r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_string_equal(r.at_start, "");
    assert_int_equal(r.s, CVAE_ERR_SHAPE);
    assert_non_null(strstr(r.after, "rank 6"));
    assert_string_equal(cvae_last_error(), mine);
    cvae_clear_error();
    assert_string_equal(cvae_last_error(), "");
}

static void test_tensor_new_wrap_view(void **state)
{
    (void)state;
    int64_t shape[3] = {2, 3, 4};
    cvae_tensor *t, *w, *v;
    CVAE_OK_OR_FAIL(cvae_tensor_new(3, shape, &t));
    assert_int_equal(t->size, 24);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[3], 1);
    assert_int_equal(t->shape[4], 1);
    assert_null(t->grad);
    for (int i = 0; i < 24; i++) assert_true(t->data[i] == 0.0f);
    assert_true(((uintptr_t)t->data & 63) == 0);
    float buf[24];
    for (int i = 0; i < 24; i++) buf[i] = (float)i;
    CVAE_OK_OR_FAIL(cvae_tensor_wrap(buf, 3, shape, &w));
    assert_ptr_equal(w->data, buf);
    int64_t idx[3] = {1, 2, 3};
    assert_int_equal(cvae_tensor_offset(w, idx), 23);
    assert_true(cvae_tensor_get(w, idx) == 23.0f);
    int64_t vs[2] = {-1, 6};
    CVAE_OK_OR_FAIL(cvae_tensor_view(w, 2, vs, &v));
    assert_ptr_equal(v->data, buf);
    assert_int_equal(v->shape[0], 4);
    int64_t vi[2] = {3, 5};
    CVAE_OK_OR_FAIL(cvae_tensor_set(v, vi, -1.0f));
    assert_true(buf[23] == -1.0f);
    int64_t out_of_range[2] = {4, 0};
    CVAE_EXPECT_ERR(CVAE_ERR_RANGE, cvae_tensor_set(v, out_of_range, 1.0f));
    assert_int_equal(cvae_tensor_offset(v, out_of_range), -1);
    assert_true(cvae_tensor_get(v, out_of_range) == 0.0f);
    assert_true(cvae_tensor_same_shape(t, w));
    assert_false(cvae_tensor_same_shape(t, v));
    cvae_tensor_free(v);
    cvae_tensor_free(w);
    cvae_tensor_free(t);
    cvae_tensor_free(NULL);
}

static void test_tensor_reshape_fill_copy(void **state)
{
    (void)state;
    int64_t shape[2] = {6, 4}, s3[3] = {2, -1, 3}, s_bad[2] = {5, -1}, s_two[2] = {-1, -1},
            s25[2] = {5, 5};
    cvae_tensor *a, *b;
    CVAE_OK_OR_FAIL(cvae_tensor_new(2, shape, &a));
    CVAE_OK_OR_FAIL(cvae_tensor_reshape(a, 3, s3));
    assert_int_equal(a->ndim, 3);
    assert_int_equal(a->shape[1], 4);
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_reshape(a, 2, s_bad));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_reshape(a, 2, s_two));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_reshape(a, 2, s25));
    assert_int_equal(a->shape[1], 4); /* untouched by the failures */
    assert_int_equal(a->ndim, 3);
    CVAE_OK_OR_FAIL(cvae_tensor_fill(a, 2.5f));
    for (int i = 0; i < 24; i++) assert_true(a->data[i] == 2.5f);
    CVAE_OK_OR_FAIL(cvae_tensor_new(2, shape, &b));
    float src[24];
    for (int i = 0; i < 24; i++) src[i] = (float)i * 0.5f;
    CVAE_OK_OR_FAIL(cvae_tensor_set_data(b, src, 24));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_set_data(b, src, 23));
    CVAE_OK_OR_FAIL(cvae_tensor_copy(a, b)); /* same size, other shape */
    assert_memory_equal(a->data, src, sizeof src);
    int64_t s5[1] = {5};
    cvae_tensor *c;
    CVAE_OK_OR_FAIL(cvae_tensor_new(1, s5, &c));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_copy(a, c));
    assert_memory_equal(a->data, src, sizeof src);
    c->data[2] = NAN;
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_tensor_check_finite(c, "c"));
    assert_non_null(strstr(cvae_last_error(), "element 2"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tensor_fill(NULL, 1.0f));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tensor_copy(a, NULL));
    cvae_tensor_free(a), cvae_tensor_free(b), cvae_tensor_free(c);
}

static void test_tensor_bad_shapes(void **state)
{
    (void)state;
    cvae_tensor *t = (cvae_tensor *)0x1;
    int64_t ok[6] = {1, 2, 3, 4, 5, 6}, neg[2] = {3, -1}, zero[2] = {3, 0};
    int64_t big[3] = {INT64_C(1) << 30, INT64_C(1) << 30, INT64_C(1) << 10};
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_new(0, ok, &t));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_new(6, ok, &t));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_new(2, neg, &t));
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_new(2, zero, &t));
    CVAE_EXPECT_ERR(CVAE_ERR_NOMEM, cvae_tensor_new(3, big, &t));
    assert_non_null(strstr(cvae_last_error(), "overflow"));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tensor_new(2, NULL, &t));
    float buf[4];
    CVAE_EXPECT_ERR(CVAE_ERR_SHAPE, cvae_tensor_wrap(buf, 6, ok, &t));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tensor_wrap(NULL, 1, ok, &t));
    assert_ptr_equal(t, (cvae_tensor *)0x1);
    int64_t size = 0;
    CVAE_OK_OR_FAIL(cvae_shape_check(5, ok, &size));
    assert_int_equal(size, 120);
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_tensor_new(1, ok, NULL));
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_set_allocator(malloc, NULL, free));
}

/* Value i of (seed, stream) does not depend on how many values are drawn, nor on what was
 * drawn before from other streams. */
static void test_rng_counter_based(void **state)
{
    (void)state;
    enum { n = 1000 };
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n),
          *c = malloc(sizeof(float) * n);
    cvae_rng_fill_normal(5, 1, 0.0f, 1.0f, a, n);
    cvae_rng_fill_uniform(5, 2, 0.0f, 1.0f, c, 13); /* another stream in between */
    cvae_rng_fill_normal(5, 1, 0.0f, 1.0f, b, 37);
    assert_memory_equal(a, b, 37 * sizeof(float));
    cvae_rng_fill_normal(5, 1, 0.0f, 1.0f, b, n);
    assert_memory_equal(a, b, n * sizeof(float));
    cvae_rng_fill_normal(5, 2, 0.0f, 1.0f, b, n);
    int same = 0;
    for (int i = 0; i < n; i++) same += a[i] == b[i];
    assert_true(same < 5);
    cvae_rng_fill_normal(6, 1, 0.0f, 1.0f, b, n);
    same = 0;
    for (int i = 0; i < n; i++) same += a[i] == b[i];
    assert_true(same < 5);
    cvae_rng_fill_uniform(5, 1, -2.0f, 3.0f, a, n);
    cvae_rng_fill_uniform(5, 1, -2.0f, 3.0f, b, 100);
    assert_memory_equal(a, b, 100 * sizeof(float));
    for (int i = 0; i < n; i++) assert_true(a[i] >= -2.0f && a[i] < 3.0f);
    /* the stepping interface: a copy of a position replays the same values */
    cvae_rng r1 = cvae_rng_make(9, 4);
    for (int i = 0; i < 7; i++) (void)cvae_rng_u32(&r1);
    cvae_rng r2 = r1;
    for (int i = 0; i < 20; i++) assert_true(cvae_rng_normal(&r1) == cvae_rng_normal(&r2));
    for (int i = 0; i < 20; i++) {
        float u = cvae_rng_uniform(&r1);
        assert_true(u >= 0.0f && u < 1.0f);
    }
    /* tensor fills use the same streams */
    int64_t shape[2] = {10, 10};
    cvae_tensor *t;
    CVAE_OK_OR_FAIL(cvae_tensor_new(2, shape, &t));
    CVAE_OK_OR_FAIL(cvae_tensor_randn(t, 5, 1, 0.0f, 1.0f));
    cvae_rng_fill_normal(5, 1, 0.0f, 1.0f, a, 100);
    assert_memory_equal(t->data, a, 100 * sizeof(float));
    cvae_tensor_free(t);
    free(a), free(b), free(c);
}

/* 100k normals: mean within 0.01 of 0, variance within 0.02 of 1 (about 3 and 4.5 standard
 * errors); also with mean 2 and std 3 after standardizing. */
static void test_rng_normal_moments(void **state)
{
    (void)state;
    enum { n = 100000 };
    float *x = malloc(sizeof(float) * n);
    for (int k = 0; k < 2; k++) {
        float mean = k ? 2.0f : 0.0f, std = k ? 3.0f : 1.0f;
        cvae_rng_fill_normal(123 + (uint64_t)k, 0, mean, std, x, n);
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < n; i++) {
            double z = (x[i] - mean) / std;
            assert_true(isfinite(z));
            s += z;
            s2 += z * z;
        }
        double m = s / n, var = s2 / n - m * m;
        if (fabs(m) > 0.01 || fabs(var - 1.0) > 0.02) fail_msg("mean %g, variance %g", m, var);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_last_error_is_thread_local),
        cmocka_unit_test(test_tensor_new_wrap_view),
        cmocka_unit_test(test_tensor_reshape_fill_copy),
        cmocka_unit_test(test_tensor_bad_shapes),
        cmocka_unit_test(test_rng_counter_based),
        cmocka_unit_test(test_rng_normal_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
