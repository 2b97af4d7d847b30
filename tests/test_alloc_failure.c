/* Allocation failures: for each operation, count its allocation attempts n
 * with the counting allocator (tests/support/failalloc.h), then for every
 * k in 1..n fail attempt k alone and check that the operation returns
 * CVAE_ERR_NOMEM with a message (or succeeds, where that allocation's failure
 * is tolerated), does not crash, leaves its documented outputs untouched and
 * leaks nothing (the allocator's live count is back where it started).
 *
 * cJSON's allocations are routed through the same counter (cJSON_InitHooks,
 * as an application may do). cJSON cannot tell running out of memory from bad
 * syntax, so a failed cJSON allocation while PARSING may also surface as
 * CVAE_ERR_FORMAT; every other failure must give CVAE_ERR_NOMEM.
 * Not injected: zlib's allocations (gzopen, inflate: plain malloc), libpng's
 * and OpenBLAS's; their leaks are what the ASan and valgrind runs of this
 * test look for (tests/sanitize.sh). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failalloc.h"
#include "testutil.h"

typedef cvae_status (*op_fn)(void *ctx);

typedef struct sweep_opts {
    int cjson_parse_format_ok; /* a failed cJSON allocation may give CVAE_ERR_FORMAT */
    /* Called after each failed run to check the outputs are untouched; may be NULL. */
    void (*check_untouched)(void *ctx);
} sweep_opts;

/* Runs op once to count its allocations, then fails each one in turn. */
static void sweep(const char *what, op_fn op, void *ctx, const sweep_opts *o)
{
    sweep_opts none = {0, NULL};
    if (!o) o = &none;
    long base = failalloc_live();
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(op(ctx));
    long n = failalloc_calls();
    if (failalloc_live() != base)
        fail_msg("%s: %ld blocks leaked by a successful run", what, failalloc_live() - base);
    long nomem = 0, format = 0, tolerated = 0;
    for (long k = 1; k <= n; k++) {
        failalloc_arm(k);
        cvae_clear_error();
        cvae_status s = op(ctx);
        if (!failalloc_fired())
            fail_msg("%s: allocation %ld of %ld never happened (not deterministic?)", what, k, n);
        if (s == CVAE_OK) {
            tolerated++;
        } else if (s == CVAE_ERR_NOMEM ||
                   (s == CVAE_ERR_FORMAT && o->cjson_parse_format_ok && failalloc_fired_in_cjson())) {
            if (cvae_last_error()[0] == '\0')
                fail_msg("%s: failing allocation %ld gave no message", what, k);
            if (s == CVAE_ERR_NOMEM)
                nomem++;
            else
                format++;
            if (o->check_untouched) o->check_untouched(ctx);
        } else {
            fail_msg("%s: failing allocation %ld of %ld (%s) gave %s: %s", what, k, n,
                     failalloc_fired_in_cjson() ? "cJSON" : "cvae", cvae_status_str(s),
                     cvae_last_error());
        }
        if (failalloc_live() != base)
            fail_msg("%s: failing allocation %ld of %ld leaked %ld blocks", what, k, n,
                     failalloc_live() - base);
    }
    failalloc_arm(0);
    print_message("%-26s %4ld allocations: %4ld -> NOMEM, %3ld -> FORMAT (cJSON), %3ld tolerated\n",
                  what, n, nomem, format, tolerated);
}

static int setup(void **state)
{
    (void)state;
    failalloc_install(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    failalloc_uninstall();
    return 0;
}

/* ---- a temporary directory for files ---- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char buf[128];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/cvae_allocfail_XXXXXX");
        if (!mkdtemp(tmpdir)) fail_msg("mkdtemp failed");
    }
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* ---- tensors and the tape: a small graph, forward and backward ---- */

static cvae_status graph_op(void *ctx)
{
    (void)ctx;
    cvae_tape *t = NULL;
    cvae_params *p = NULL;
    cvae_tensor *w, *b, *table, *x, *h, *e, *hc, *y, *loss, *extra = NULL;
    int64_t sw[2] = {3, 4}, sb[1] = {3}, stab[2] = {5, 2}, sx[2] = {2, 4};
    const int32_t labels[2] = {4, 1};
    cvae_status s = cvae_tensor_new(2, sx, &extra);
    if (!s) s = cvae_tape_new(&t);
    if (!s) s = cvae_params_new(&p);
    if (!s) s = cvae_params_add(p, "w", 2, sw, 1, &w);
    if (!s) s = cvae_params_add(p, "b", 1, sb, 1, &b);
    if (!s) s = cvae_params_add(p, "table", 2, stab, 1, &table);
    if (!s) s = cvae_tensor_fill(w, 0.25f);
    if (!s) s = cvae_tensor_fill(table, -0.5f);
    for (int pass = 0; pass < 2 && !s; pass++) { /* the second pass reuses the arena */
        cvae_tape_reset(t);
        cvae_params_zero_grad(p);
        s = cvae_tape_tensor(t, 2, sx, &x);
        if (!s) s = cvae_tensor_fill(x, 0.5f);
        if (!s) s = cvae_op_linear(t, x, w, b, &h);
        if (!s) s = cvae_op_embedding(t, table, labels, 2, &e);
        cvae_tensor *parts[2] = {h, e};
        if (!s) s = cvae_op_concat(t, parts, 2, 1, &hc);
        if (!s) s = cvae_op_sigmoid(t, hc, &y);
        if (!s) s = cvae_op_mean(t, y, &loss);
        if (!s) s = cvae_tape_backward(t, loss);
    }
    cvae_params_free(p);
    cvae_tape_free(t);
    cvae_tensor_free(extra);
    return s;
}

static void test_tensor_and_tape(void **state)
{
    (void)state;
    sweep("tensor + tape graph", graph_op, NULL, NULL);
}

/* ---- safetensors ---- */

static cvae_status st_save_op(void *ctx)
{
    (void)ctx;
    static float a[12], b[3];
    for (int i = 0; i < 12; i++) a[i] = (float)i;
    cvae_st_entry e[2] = {{"enc.w", 2, {3, 4, 1, 1, 1}, a}, {"enc.b", 1, {3, 1, 1, 1, 1}, b}};
    const char *keys[1] = {"note"}, *vals[1] = {"allocation failure test"};
    return cvae_safetensors_save(tmp_path("st.safetensors"), e, 2, keys, vals, 1);
}

static unsigned char *st_before;
static size_t st_before_n;

static void st_untouched(void *ctx)
{
    (void)ctx;
    size_t n = 0;
    unsigned char *now = read_all(tmp_path("st.safetensors"), &n);
    assert_non_null(now);
    assert_true(n == st_before_n && memcmp(now, st_before, n) == 0);
    free(now);
    assert_int_equal(dir_entries(), 1); /* no temporary file left behind */
}

static void test_safetensors_save(void **state)
{
    (void)state;
    CVAE_OK_OR_FAIL(st_save_op(NULL));
    st_before = read_all(tmp_path("st.safetensors"), &st_before_n);
    sweep_opts o = {0, st_untouched};
    sweep("safetensors save", st_save_op, NULL, &o);
    free(st_before);
}

static cvae_status st_open_op(void *ctx)
{
    (void)ctx;
    cvae_st_file *f = (cvae_st_file *)0x1;
    cvae_status s = cvae_safetensors_open(tmp_path("st.safetensors"), &f);
    if (s) {
        assert_ptr_equal(f, (cvae_st_file *)0x1);
        return s;
    }
    assert_int_equal(cvae_st_count(f), 2);
    cvae_safetensors_close(f);
    return CVAE_OK;
}

static void test_safetensors_open(void **state)
{
    (void)state;
    CVAE_OK_OR_FAIL(st_save_op(NULL));
    sweep_opts o = {1, NULL};
    sweep("safetensors open", st_open_op, NULL, &o);
}

/* ---- model configuration JSON ---- */

static cvae_model_config cfg_out;

static cvae_status config_op(void *ctx)
{
    (void)ctx;
    static const char text[] = "{\"latent\": 3, \"image_h\": 8, \"image_w\": 12, \"beta\": 0.5, "
                               "\"table_init\": \"gabor\", \"seed\": \"99\"}";
    char *json = NULL;
    cvae_status s = cvae_model_config_from_json(text, sizeof text - 1, &cfg_out);
    if (!s) s = cvae_model_config_to_json(&cfg_out, &json);
    cvae_free_buffer(json);
    cfg_out = cvae_model_config_default(); /* for the next run (untouched on failure) */
    return s;
}

static void config_untouched(void *ctx)
{
    (void)ctx;
    char *a, *b; /* compared through JSON: struct padding may differ */
    cvae_model_config d = cvae_model_config_default();
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_model_config_to_json(&cfg_out, &a));
    CVAE_OK_OR_FAIL(cvae_model_config_to_json(&d, &b));
    assert_string_equal(a, b);
    cvae_free_buffer(a);
    cvae_free_buffer(b);
}

static void test_model_config_json(void **state)
{
    (void)state;
    cfg_out = cvae_model_config_default();
    sweep_opts o = {1, config_untouched};
    sweep("model config JSON", config_op, NULL, &o);
}

/* ---- the model: new, save, load, forward, a training step ---- */

static cvae_model_config tiny_config(void)
{
    cvae_model_config c = test_tiny_model_config(2);
    c.enc2_channels = 3;
    c.cond_decoder = 1; /* every layer kind, conditional decoder included */
    return c;
}

#define TINY_N 3
#define TINY_PIX 64
static float tiny_images[TINY_N * TINY_PIX];
static const int32_t tiny_labels[TINY_N] = {2, 0, 1};

static void fill_images(void)
{
    for (int i = 0; i < TINY_N * TINY_PIX; i++) tiny_images[i] = (float)((i * 7) % 11) / 10.0f;
}

static cvae_status model_new_op(void *ctx)
{
    (void)ctx;
    cvae_model_config c = tiny_config();
    cvae_model *m = (cvae_model *)0x1;
    cvae_status s = cvae_model_new(&c, &m);
    if (s) {
        assert_ptr_equal(m, (cvae_model *)0x1);
        return s;
    }
    cvae_model_free(m);
    return CVAE_OK;
}

static void test_model_new(void **state)
{
    (void)state;
    sweep("model new", model_new_op, NULL, NULL);
}

static unsigned char *model_before;
static size_t model_before_n;

static cvae_status model_save_op(void *ctx)
{
    return cvae_model_save(ctx, tmp_path("model.safetensors"));
}

static void model_file_untouched(void *ctx)
{
    (void)ctx;
    size_t n = 0;
    unsigned char *now = read_all(tmp_path("model.safetensors"), &n);
    assert_non_null(now);
    assert_true(n == model_before_n && memcmp(now, model_before, n) == 0);
    free(now);
}

static void test_model_save(void **state)
{
    (void)state;
    cvae_model_config c = tiny_config();
    cvae_model *m;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    CVAE_OK_OR_FAIL(model_save_op(m));
    model_before = read_all(tmp_path("model.safetensors"), &model_before_n);
    int before = dir_entries();
    sweep_opts o = {0, model_file_untouched};
    sweep("model save", model_save_op, m, &o);
    assert_int_equal(dir_entries(), before); /* no temporary file left behind */
    free(model_before);
    cvae_model_free(m);
}

static cvae_status model_load_op(void *ctx)
{
    (void)ctx;
    cvae_model *m = (cvae_model *)0x1;
    cvae_status s = cvae_model_load(tmp_path("model.safetensors"), &m);
    if (s) {
        assert_ptr_equal(m, (cvae_model *)0x1);
        return s;
    }
    cvae_model_free(m);
    return CVAE_OK;
}

static void test_model_load(void **state)
{
    (void)state;
    cvae_model_config c = tiny_config();
    cvae_model *m;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    CVAE_OK_OR_FAIL(cvae_model_save(m, tmp_path("model.safetensors")));
    cvae_model_free(m);
    sweep_opts o = {1, NULL};
    sweep("model load", model_load_op, NULL, &o);
}

static float fwd_recon[TINY_N * TINY_PIX], fwd_mu[TINY_N * 2];

static cvae_status model_forward_op(void *ctx)
{
    for (int i = 0; i < TINY_N * TINY_PIX; i++) fwd_recon[i] = -1.0f;
    for (int i = 0; i < TINY_N * 2; i++) fwd_mu[i] = -7.0f;
    cvae_status s =
        cvae_model_forward(ctx, tiny_images, tiny_labels, TINY_N, 5, fwd_recon, fwd_mu, NULL);
    cvae_thread_workspace_release(); /* so each run starts cold and allocates the same */
    return s;
}

static void forward_untouched(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < TINY_N * TINY_PIX; i++) assert_true(fwd_recon[i] == -1.0f);
    for (int i = 0; i < TINY_N * 2; i++) assert_true(fwd_mu[i] == -7.0f);
}

static void test_model_forward(void **state)
{
    (void)state;
    fill_images();
    cvae_model_config c = tiny_config();
    cvae_model *m;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    sweep_opts o = {0, forward_untouched};
    sweep("model forward (cold)", model_forward_op, m, &o);
    /* warm: a second call on the same thread allocates nothing */
    CVAE_OK_OR_FAIL(cvae_model_forward(m, tiny_images, tiny_labels, TINY_N, 5, fwd_recon, NULL, NULL));
    failalloc_arm(0);
    CVAE_OK_OR_FAIL(cvae_model_forward(m, tiny_images, tiny_labels, TINY_N, 5, fwd_recon, NULL, NULL));
    assert_int_equal(failalloc_calls(), 0);
    cvae_thread_workspace_release();
    cvae_model_free(m);
}

typedef struct step_ctx {
    cvae_model *m;
    float *before; /* parameter values before the step */
} step_ctx;

static cvae_status trainer_step_op(void *ctx)
{
    step_ctx *c = ctx;
    cvae_train_opts o = cvae_train_opts_default();
    cvae_trainer *tr = (cvae_trainer *)0x1;
    cvae_params *p = cvae_model_params(c->m);
    memcpy(c->before, cvae_params_data(p), (size_t)cvae_params_numel(p) * sizeof(float));
    cvae_status s = cvae_trainer_new(c->m, &o, &tr);
    if (s) {
        assert_ptr_equal(tr, (cvae_trainer *)0x1);
        return s;
    }
    float loss = -1.0f;
    s = cvae_trainer_step(tr, tiny_images, tiny_labels, TINY_N, &loss);
    if (s) assert_true(loss == -1.0f);
    cvae_trainer_free(tr);
    if (!s) /* undo the update so that every run starts from the same weights */
        memcpy(cvae_params_data(p), c->before, (size_t)cvae_params_numel(p) * sizeof(float));
    return s;
}

static void step_untouched(void *ctx)
{
    step_ctx *c = ctx;
    cvae_params *p = cvae_model_params(c->m);
    assert_memory_equal(cvae_params_data(p), c->before,
                        (size_t)cvae_params_numel(p) * sizeof(float));
}

static void test_trainer_step(void **state)
{
    (void)state;
    fill_images();
    cvae_model_config cfg = tiny_config();
    step_ctx c;
    CVAE_OK_OR_FAIL(cvae_model_new(&cfg, &c.m));
    c.before = malloc((size_t)cvae_params_numel(cvae_model_params(c.m)) * sizeof(float));
    sweep_opts o = {0, step_untouched};
    sweep("trainer new + step", trainer_step_op, &c, &o);
    free(c.before);
    cvae_model_free(c.m);
}

/* ---- datasets (zlib's own allocations are not seen: see the file comment) ---- */

static cvae_status dataset_op(void *ctx)
{
    (void)ctx;
    cvae_dataset *ds = (cvae_dataset *)0x1;
    cvae_status s = cvae_dataset_load_dir(CVAE_TEST_DATA_DIR, "t10k", &ds);
    if (s) {
        assert_ptr_equal(ds, (cvae_dataset *)0x1);
        return s;
    }
    cvae_dataset_free(ds);
    return CVAE_OK;
}

static void test_dataset_load(void **state)
{
    (void)state;
    sweep("dataset load (t10k)", dataset_op, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_and_tape),
        cmocka_unit_test(test_safetensors_save),
        cmocka_unit_test(test_safetensors_open),
        cmocka_unit_test(test_model_config_json),
        cmocka_unit_test(test_model_new),
        cmocka_unit_test(test_model_save),
        cmocka_unit_test(test_model_load),
        cmocka_unit_test(test_model_forward),
        cmocka_unit_test(test_trainer_step),
        cmocka_unit_test(test_dataset_load),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    if (tmpdir[0]) {
        unlink(tmp_path("st.safetensors"));
        unlink(tmp_path("model.safetensors"));
        rmdir(tmpdir);
    }
    return rc;
}
