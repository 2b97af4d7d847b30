/* Hostile inputs that cost memory or mislead: files whose few bytes claim
 * huge sizes must be rejected before the library allocates for the claim
 * (checked with the counting allocator's largest request), plus the
 * regressions of the bugs found while fuzzing (docs/reliability.md). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <math.h>

#include "failalloc.h"
#include "train/train_internal.h"
#include "testutil.h"

#define SMALL_REQUEST ((size_t)1 << 21) /* 2 MB: more means the claim was believed */

static char dir[64];

static const char *path_in_tmp(const char *name)
{
    static char buf[2][512];
    static int which;
    if (!dir[0]) {
        strcpy(dir, "/tmp/cvae_hostile_XXXXXX");
        if (!mkdtemp(dir)) fail_msg("mkdtemp failed");
    }
    which ^= 1;
    snprintf(buf[which], sizeof buf[which], "%s/%s", dir, name);
    return buf[which];
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A safetensors file with no tensor (empty data section, CRC 00000000) whose
 * metadata holds cvae.kind `kind` and `config` (JSON, quotes escaped). */
static void write_kind_without_tensors(const char *path, const char *kind, const char *config)
{
    char hdr[1024];
    int n = snprintf(hdr, sizeof hdr,
                     "{\"__metadata__\":{\"format_version\":\"1\",\"crc32\":\"00000000\","
                     "\"cvae.kind\":\"%s\",\"cvae.config\":\"%s\"}}",
                     kind, config);
    while ((8 + n) % 8) hdr[n++] = ' ';
    unsigned char file[1100];
    for (int b = 0; b < 8; b++) file[b] = (unsigned char)((uint64_t)n >> (8 * b));
    memcpy(file + 8, hdr, (size_t)n);
    write_bytes(path, file, 8 + (size_t)n);
}

static void write_model_without_tensors(const char *path, const char *config)
{
    write_kind_without_tensors(path, "model", config);
}

static void expect_small_and_rejected(cvae_status want, cvae_status got, const char *what)
{
    if (got != want)
        fail_msg("%s: got %s (%s), wanted %s", what, cvae_status_str(got), cvae_last_error(),
                 cvae_status_str(want));
    if (failalloc_max_request() > SMALL_REQUEST)
        fail_msg("%s: requested %zu bytes at once before rejecting the file", what,
                 failalloc_max_request());
    print_message("%-44s rejected (largest request %zu bytes): %s\n", what,
                  failalloc_max_request(), cvae_last_error());
}

/* Found by review while writing fuzz_model_file: these files are ~200 bytes;
 * before the fix the first made cvae_model_load allocate and zero ~33 GB. */
static void test_model_file_claiming_huge_tensors(void **state)
{
    (void)state;
    const char *a = path_in_tmp("huge_tensor.safetensors");
    write_model_without_tensors(a, "{\\\"image_h\\\":4,\\\"image_w\\\":4,\\\"latent\\\":4096,"
                                   "\\\"num_labels\\\":1000000,\\\"enc2_channels\\\":2048}");
    const char *b = path_in_tmp("needs_more.safetensors");
    write_model_without_tensors(b, "{\\\"image_h\\\":4,\\\"image_w\\\":4,\\\"latent\\\":1000,"
                                   "\\\"num_labels\\\":1000000,\\\"enc2_channels\\\":2048}");
    failalloc_install(1);
    cvae_model *m = (cvae_model *)0x1;
    failalloc_arm(0);
    expect_small_and_rejected(CVAE_ERR_FORMAT, cvae_model_load(a, &m), "model file: a tensor above 2^31");
    assert_non_null(strstr(cvae_last_error(), "2^31"));
    failalloc_arm(0);
    expect_small_and_rejected(CVAE_ERR_FORMAT, cvae_model_load(b, &m), "model file: more weights than data");
    assert_non_null(strstr(cvae_last_error(), "needs"));
    write_kind_without_tensors(b, "checkpoint",
                               "{\\\"image_h\\\":4,\\\"image_w\\\":4,\\\"latent\\\":1000,"
                               "\\\"num_labels\\\":1000000,\\\"enc2_channels\\\":2048}");
    cvae_trainer *tr = (cvae_trainer *)0x1;
    failalloc_arm(0);
    expect_small_and_rejected(CVAE_ERR_FORMAT, cvae_trainer_load(b, &m, &tr, NULL), "checkpoint: the same");
    assert_non_null(strstr(cvae_last_error(), "needs"));
    assert_ptr_equal(m, (cvae_model *)0x1);
    assert_ptr_equal(tr, (cvae_trainer *)0x1);
    assert_int_equal(failalloc_live(), 0);
    failalloc_uninstall();
    unlink(a);
    unlink(b);
}

/* Every tensor is bounded, not only the decoder's linear layer and the encoder table. */
static void test_config_bounds_every_tensor(void **state)
{
    (void)state;
    cvae_model_config c = cvae_model_config_default();
    c.num_labels = 100000;
    c.cond_channels = 64;
    c.cond_decoder = 1; /* dec.cond.table: [K, 64, 64, 4, 4] = 6.6e9 weights */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_config_validate(&c));
    cvae_model *m = (cvae_model *)0x1;
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_new(&c, &m));
    assert_ptr_equal(m, (cvae_model *)0x1);
    c = cvae_model_config_default();
    c.image_h = c.image_w = 4;
    c.latent = 4096;
    c.num_labels = 1000000;
    c.enc2_channels = 2048; /* enc.fc.weight: [8192, 1002048] */
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_model_config_validate(&c));
    c.latent = 1000; /* every tensor just below 2^31: valid */
    CVAE_OK_OR_FAIL(cvae_model_config_validate(&c));
}

/* Found by review: cvae__error printed into the buffer it was reading from,
 * so "path: <cause>" came out as "path: path: " and lost the cause. */
static void test_load_error_keeps_its_cause(void **state)
{
    (void)state;
    const char *p = path_in_tmp("bad_config.safetensors");
    write_model_without_tensors(p, "{\\\"latent\\\":0}");
    cvae_model *m;
    CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_load(p, &m));
    const char *msg = cvae_last_error();
    assert_non_null(strstr(msg, p));
    assert_non_null(strstr(msg, "latent = 0"));
    unlink(p);
}

/* Found by review: strtoull skips blanks and takes a sign, so " -1" became 2^64 - 1. */
static void test_seed_is_digits_only(void **state)
{
    (void)state;
    static const char *const bad[] = {"{\"seed\":\" -1\"}", "{\"seed\":\"+1\"}", "{\"seed\":\"-1\"}",
                                      "{\"seed\":\"\"}", "{\"seed\":\" 1\"}", "{\"seed\":\"1 \"}",
                                      "{\"seed\":\"18446744073709551616\"}", "{\"seed\":7}"};
    cvae_model_config c;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CVAE_EXPECT_ERR(CVAE_ERR_FORMAT, cvae_model_config_from_json(bad[i], strlen(bad[i]), &c));
    const char *max = "{\"seed\":\"18446744073709551615\"}";
    CVAE_OK_OR_FAIL(cvae_model_config_from_json(max, strlen(max), &c));
    assert_true(c.seed == UINT64_MAX);
}

static void test_params_add_null_out(void **state)
{
    (void)state;
    cvae_params *p;
    CVAE_OK_OR_FAIL(cvae_params_new(&p));
    int64_t shape[1] = {3};
    CVAE_EXPECT_ERR(CVAE_ERR_INVALID_ARG, cvae_params_add(p, "w", 1, shape, 1, NULL));
    assert_int_equal(cvae_params_count(p), 0);
    cvae_params_free(p);
}

/* An IDX header claiming 2^31 images of 4096 x 4096 on a 26-byte file. */
static void test_idx_claiming_huge_counts(void **state)
{
    (void)state;
    const unsigned char images[26] = {0, 0, 8, 3, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0,
                                      1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const unsigned char labels[12] = {0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3, 4};
    const char *ip = path_in_tmp("images"), *lp = path_in_tmp("labels");
    write_bytes(ip, images, sizeof images);
    write_bytes(lp, labels, sizeof labels);
    failalloc_install(0);
    failalloc_arm(0);
    cvae_dataset *ds = (cvae_dataset *)0x1;
    expect_small_and_rejected(CVAE_ERR_FORMAT, cvae_dataset_load_idx(ip, lp, &ds),
                              "IDX: 2^31 x 4096 x 4096 claimed, 10 bytes");
    assert_ptr_equal(ds, (cvae_dataset *)0x1);
    assert_int_equal(failalloc_live(), 0);
    failalloc_uninstall();
    unlink(ip);
    unlink(lp);
}

/* A safetensors header length of 100 MB (the limit) on a 16-byte file. */
static void test_safetensors_claiming_huge_header(void **state)
{
    (void)state;
    unsigned char b[16] = {0x00, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    failalloc_install(1);
    failalloc_arm(0);
    cvae_st_file *f = (cvae_st_file *)0x1;
    expect_small_and_rejected(CVAE_ERR_FORMAT, cvae_safetensors_open_memory(b, sizeof b, &f),
                              "safetensors: 100 MB header claimed");
    assert_ptr_equal(f, (cvae_st_file *)0x1);
    failalloc_uninstall();
}

static cvae_model *tiny_model(void)
{
    cvae_model_config c = test_tiny_model_config(2);
    cvae_model *m;
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    return m;
}

/* Found by review: NaN/Inf weights loaded silently (every output NaN), and a
 * checkpoint's Adam moments were trusted (a negative second moment gives
 * sqrt(negative) = NaN weights after the first step). */
static void test_nonfinite_weights_and_moments_rejected(void **state)
{
    (void)state;
    const char *p = path_in_tmp("nan.safetensors");
    cvae_model *m = tiny_model(), *l = (cvae_model *)0x1;
    cvae_params *params = cvae_model_params(m);
    float *w = cvae_params_data(params);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        float keep = w[5];
        w[5] = bad[i];
        CVAE_OK_OR_FAIL(cvae_model_save(m, p));
        w[5] = keep;
        CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_model_load(p, &l));
        assert_ptr_equal(l, (cvae_model *)0x1);
        assert_non_null(strstr(cvae_last_error(), "element"));
    }
    cvae_train_opts o = cvae_train_opts_default();
    cvae_trainer *tr, *tl = (cvae_trainer *)0x1;
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    float *mom, *var;
    int64_t numel, step;
    CVAE_OK_OR_FAIL(cvae_optim_state(tr->opt, &mom, &var, &numel, &step));
    var[numel - 1] = -1.0f;
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 0, p));
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_load(p, &l, &tl, NULL));
    var[numel - 1] = 0.0f;
    mom[0] = NAN;
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 0, p));
    CVAE_EXPECT_ERR(CVAE_ERR_NUMERIC, cvae_trainer_load(p, &l, &tl, NULL));
    mom[0] = 0.0f;
    CVAE_OK_OR_FAIL(cvae_trainer_save(tr, 0, p));
    CVAE_OK_OR_FAIL(cvae_trainer_load(p, &l, &tl, NULL));
    cvae_trainer_free(tl);
    cvae_model_free(l);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    unlink(p);
}

/* A process killed (SIGKILL) at a random moment while saving leaves at `path`
 * either the previous file or the new one, complete: never a torn file. Only
 * the temporary file of the interrupted save may remain next to it. */
static void test_kill_during_save_keeps_a_valid_file(void **state)
{
    (void)state;
    char p[512]; /* a copy: path_in_tmp's buffers are reused by the clean-up below */
    snprintf(p, sizeof p, "%s", path_in_tmp("crash.safetensors"));
    cvae_model *a = tiny_model();
    cvae_params *pa = cvae_model_params(a);
    const int64_t numel = cvae_params_numel(pa);
    CVAE_OK_OR_FAIL(cvae_model_save(a, p));
    unsigned seed = 12345;
    int torn = 0, kills = 0;
    for (int round = 0; round < 12; round++) {
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) { /* saves generation 1, 2, 3, ... until killed */
            float *w = cvae_params_data(pa);
            for (float gen = 1.0f;; gen += 1.0f) {
                w[0] = gen;
                if (cvae_model_save(a, p) != CVAE_OK) _exit(1);
            }
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(2000000 + (seed >> 8) % 30000000)}; /* 2 to 32 ms */
        nanosleep(&ts, NULL);
        kill(child, SIGKILL);
        int st;
        assert_int_equal(waitpid(child, &st, 0), child);
        kills += WIFSIGNALED(st);
        cvae_model *l = NULL;
        cvae_status s = cvae_model_load(p, &l);
        if (s != CVAE_OK) {
            torn++;
            print_message("round %d: %s\n", round, cvae_last_error());
            continue;
        }
        /* every weight but w[0] is the original's; w[0] is a whole generation */
        const float *wl = cvae_params_data(cvae_model_params(l)), *wa = cvae_params_data(pa);
        assert_int_equal(cvae_params_numel(cvae_model_params(l)), numel);
        assert_memory_equal(wl + 1, wa + 1, (size_t)(numel - 1) * sizeof(float));
        assert_true(wl[0] == wa[0] || (wl[0] >= 1.0f && wl[0] == (float)(int)wl[0]));
        cvae_model_free(l);
    }
    assert_int_equal(torn, 0);
    assert_int_equal(kills, 12);
    /* clean up the temporaries of the interrupted saves */
    DIR *d = opendir(dir);
    int temps = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, "crash.safetensors.", 18) == 0) {
            unlink(path_in_tmp(e->d_name));
            temps++;
        }
    if (d) closedir(d);
    print_message("12 saves killed at random: every file loaded, %d temporary files left\n", temps);
    unlink(p);
    cvae_model_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_file_claiming_huge_tensors),
        cmocka_unit_test(test_config_bounds_every_tensor),
        cmocka_unit_test(test_load_error_keeps_its_cause),
        cmocka_unit_test(test_seed_is_digits_only),
        cmocka_unit_test(test_params_add_null_out),
        cmocka_unit_test(test_idx_claiming_huge_counts),
        cmocka_unit_test(test_safetensors_claiming_huge_header),
        cmocka_unit_test(test_nonfinite_weights_and_moments_rejected),
        cmocka_unit_test(test_kill_during_save_keeps_a_valid_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (dir[0]) rmdir(dir);
    return rc;
}
