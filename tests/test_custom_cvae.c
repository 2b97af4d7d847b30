/* examples/custom_cvae.c, the reference CVAE written by a user from the public layers, run
 * small: its losses and its final weights equal cvae_model's trained the same way, bit for
 * bit (the same layer tables, seeds, batches and noise), resume included. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];

/* Runs custom_cvae EPOCHS DATA in dir; returns its stdout. */
static char *run_example(const char *epochs)
{
    static char out[1 << 16];
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || dup2(fo, 1) < 0 || chdir(dir) != 0) _exit(99);
        execl(CVAE_CUSTOM_CVAE_PATH, CVAE_CUSTOM_CVAE_PATH, epochs, test_data_path(""),
              (char *)NULL);
        _exit(98);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    if (WEXITSTATUS(st) != 0) fail_msg("custom_cvae exited with %d:\n%s", WEXITSTATUS(st), out);
    return out;
}

/* The loss printed as a hex float in "epoch E train loss X.XXX (HEX". */
static double printed_loss(const char *out, int epoch)
{
    char key[48];
    snprintf(key, sizeof key, "epoch %d train loss ", epoch);
    const char *at = strstr(out, key);
    if (!at) fail_msg("no \"%s\" in:\n%s", key, out);
    const char *hex = strchr(at, '(');
    if (!hex) fail_msg("no hex loss after \"%s\"", key);
    return strtod(hex + 1, NULL);
}

static void test_equals_cvae_model(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cvae_custom_%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *out = run_example("1");
    if (!strstr(out, "enc.conv1 (Conv2D 3x3 s2)") || !strstr(out, "test -ELBO"))
        fail_msg("unexpected output:\n%s", out);

    /* cvae_model with the same seeds: 1 epoch, then a second (the example's resumed one) */
    cvae_dataset *train;
    cvae_model *m;
    cvae_trainer *tr;
    cvae_loader *ld;
    cvae_model_config c = cvae_model_config_default();
    cvae_train_opts o = cvae_train_opts_default();
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), "train", &train));
    CVAE_OK_OR_FAIL(cvae_model_new(&c, &m));
    CVAE_OK_OR_FAIL(cvae_trainer_new(m, &o, &tr));
    CVAE_OK_OR_FAIL(cvae_loader_new(train, 128, CVAE_BINARIZE_NONE, 1, 1, &ld));
    for (int e = 1; e <= 2; e++) {
        double loss;
        CVAE_OK_OR_FAIL(cvae_trainer_epoch(tr, ld, &loss));
        if (loss != printed_loss(out, e))
            fail_msg("epoch %d: cvae_model %a, custom_cvae %a", e, loss, printed_loss(out, e));
    }
    /* and the weights the example saved */
    char path[128];
    snprintf(path, sizeof path, "%s/custom_cvae.safetensors", dir);
    cvae_st_file *f;
    CVAE_OK_OR_FAIL(cvae_safetensors_open(path, &f));
    const cvae_params *p = cvae_model_params(m);
    assert_int_equal(cvae_st_count(f), cvae_params_count(p));
    for (int i = 0; i < cvae_params_count(p); i++) {
        const cvae_tensor *t = cvae_params_at(p, i);
        const float *data;
        CVAE_OK_OR_FAIL(cvae_st_find(f, cvae_params_name(p, i), NULL, NULL, &data));
        assert_memory_equal(data, t->data, (size_t)t->size * sizeof(float));
    }
    cvae_safetensors_close(f);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    cvae_dataset_free(train);
    for (const char *name = "stdout\0custom_cvae.ckpt\0custom_cvae.safetensors\0"; *name;
         name += strlen(name) + 1) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        remove(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_equals_cvae_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
