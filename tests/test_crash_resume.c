/* Crash safety of training: a training process is killed with SIGKILL at random
 * moments, half of them while it writes its checkpoint; after every kill the
 * newest checkpoint must load and training must resume from it. */
#define _POSIX_C_SOURCE 200809L /* kill, nanosleep, mkdtemp */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define BATCH 8
#define SIDE 8
#define ROUNDS 24

static char dir[64], ckpt[128];

static cvae_model_config tiny_config(void)
{
    return test_tiny_model_config(4); /* SIDE x SIDE images */
}

/* The child: resume from the checkpoint if there is one, then train and save
 * a checkpoint every other step, forever (until killed). */
static void train_forever(void)
{
    float x[BATCH * SIDE * SIDE];
    int32_t y[BATCH];
    cvae_rng r = cvae_rng_make(7, 0);
    for (int i = 0; i < BATCH * SIDE * SIDE; i++) x[i] = cvae_rng_uniform(&r);
    for (int i = 0; i < BATCH; i++) y[i] = i % 3;
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    int64_t epoch = 0;
    if (access(ckpt, F_OK) == 0) {
        if (cvae_trainer_load(ckpt, &m, &tr, &epoch)) _exit(3);
    } else {
        cvae_model_config c = tiny_config();
        cvae_train_opts o = cvae_train_opts_default();
        if (cvae_model_new(&c, &m) || cvae_trainer_new(m, &o, &tr)) _exit(4);
    }
    for (;;) {
        if (cvae_trainer_step(tr, x, y, BATCH, NULL)) _exit(5);
        if (cvae_trainer_steps(tr) % 2 == 0 && cvae_trainer_save(tr, cvae_trainer_steps(tr), ckpt)) _exit(6);
    }
}

/* Whether a temporary file of an unfinished checkpoint save exists (and, when
 * `remove`, deletes them). */
static int temp_files(int remove)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "ckpt.safetensors.", 17) != 0) continue;
        n++;
        if (remove) {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d) closedir(d);
    return n;
}

/* Modification time of the checkpoint in ns (0 when absent). */
static long long ckpt_mtime(void)
{
    struct stat st;
    if (stat(ckpt, &st) != 0) return 0;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void test_killed_training_always_resumes(void **state)
{
    (void)state;
    unsigned seed = 2026;
    int in_write = 0;
    int64_t last_steps = 0;
    for (int round = 0; round < ROUNDS; round++) {
        temp_files(1);
        pid_t child = fork();
        assert_true(child >= 0);
        const long long before = ckpt_mtime();
        if (child == 0) train_forever();
        /* Progress first, whatever the speed (valgrind runs this too): wait until this
         * child has written a checkpoint, then kill it at a random moment or, every
         * other round, while its next checkpoint write is in flight. */
        for (int ms = 0; ms < 300000 && ckpt_mtime() == before; ms++) sleep_us(1000);
        seed = seed * 1103515245u + 12345u;
        if (round % 2 == 0)
            sleep_us((long)((seed >> 8) % 50000)); /* 0 to 50 ms: anywhere */
        else
            for (int spin = 0; spin < 20000000 && temp_files(0) == 0; spin++) {}
        int writing = temp_files(0) > 0;
        kill(child, SIGKILL);
        int st;
        assert_int_equal(waitpid(child, &st, 0), child);
        if (!WIFSIGNALED(st)) fail_msg("round %d: the trainer exited with %d", round, WEXITSTATUS(st));
        in_write += writing;
        if (access(ckpt, F_OK) != 0) continue; /* killed before its first checkpoint */
        cvae_model *m = NULL;
        cvae_trainer *tr = NULL;
        int64_t epoch = -1;
        CVAE_OK_OR_FAIL(cvae_trainer_load(ckpt, &m, &tr, &epoch));
        assert_int_equal(epoch, cvae_trainer_steps(tr));
        assert_true(cvae_trainer_steps(tr) > last_steps); /* every round made progress */
        last_steps = cvae_trainer_steps(tr);
        cvae_trainer_free(tr);
        cvae_model_free(m);
    }
    print_message("%d kills (%d during a checkpoint write); training reached step %lld\n", ROUNDS,
                  in_write, (long long)last_steps);
    assert_true(in_write >= ROUNDS / 4);
    assert_true(last_steps > 0);
    /* and the survivor resumes: one more step from the newest checkpoint */
    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    CVAE_OK_OR_FAIL(cvae_trainer_load(ckpt, &m, &tr, NULL));
    float x[BATCH * SIDE * SIDE], loss = 0;
    int32_t y[BATCH] = {0, 1, 2, 0, 1, 2, 0, 1};
    for (int i = 0; i < BATCH * SIDE * SIDE; i++) x[i] = (float)(i % 7) / 7.0f;
    CVAE_OK_OR_FAIL(cvae_trainer_step(tr, x, y, BATCH, &loss));
    assert_int_equal(cvae_trainer_steps(tr), last_steps + 1);
    cvae_trainer_free(tr);
    cvae_model_free(m);
    temp_files(1);
    unlink(ckpt);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cvae-crash-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_killed_training_always_resumes)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
