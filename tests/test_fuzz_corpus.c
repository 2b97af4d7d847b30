/* Replays every committed fuzz input (tests/fuzz/corpus/<target>/: the seed
 * corpora and the regression inputs of fixed bugs) through the fuzz targets'
 * own LLVMFuzzerTestOneInput, compiled here without libFuzzer (renamed to
 * fuzz_<target>_one by tests/CMakeLists.txt). A target abort()s on a broken
 * guarantee; the sanitizer and valgrind runs (tests/sanitize.sh) check memory. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int fuzz_safetensors_one(const uint8_t *data, size_t size);
int fuzz_model_config_one(const uint8_t *data, size_t size);
int fuzz_idx_one(const uint8_t *data, size_t size);
int fuzz_model_file_one(const uint8_t *data, size_t size);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn on every file of CVAE_FUZZ_CORPUS_DIR/<target>/, in name order. */
static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", CVAE_FUZZ_CORPUS_DIR, target);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    char *names[1024];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 1024;)
        if (e->d_name[0] != '.') {
            names[n] = malloc(strlen(e->d_name) + 1);
            strcpy(names[n++], e->d_name);
        }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        fn(buf, (size_t)len);
        free(buf);
        free(names[i]);
    }
    print_message("%-13s %3d inputs replayed\n", target, n);
}

static void test_safetensors_corpus(void **state)
{
    (void)state;
    replay("safetensors", fuzz_safetensors_one);
}

static void test_model_config_corpus(void **state)
{
    (void)state;
    replay("model_config", fuzz_model_config_one);
}

static void test_idx_corpus(void **state)
{
    (void)state;
    replay("idx", fuzz_idx_one);
}

static void test_model_file_corpus(void **state)
{
    (void)state;
    replay("model_file", fuzz_model_file_one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_corpus),
        cmocka_unit_test(test_model_config_corpus),
        cmocka_unit_test(test_idx_corpus),
        cmocka_unit_test(test_model_file_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
