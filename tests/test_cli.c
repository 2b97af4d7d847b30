/* The `cvae` program's options: exit statuses (0 success and --help, 1 runtime failure,
 * 2 usage error), the messages of usage errors, --help against the options each command
 * has, and a tiny train / resume / info / sample / eval run on a small IDX set whose
 * results show that every option reached its field. Runs the built binary CVAE_CLI_PATH. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, strtok_r */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define NTRAIN 100
#define NTEST 40
#define SIDE 28

static char dir[64];

typedef struct result {
    int rc;
    char out[16384], err[4096];
} result;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Runs `cvae args...` (a NULL-terminated list) in dir; its exit status and output. */
static result *cli(const char *arg, ...)
{
    static result r;
    const char *argv[48] = {CVAE_CLI_PATH};
    int argc = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 47; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char out[128], err[128];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(dir) != 0) _exit(99);
        execv(argv[0], (char *const *)argv);
        _exit(98);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st)) fail_msg("%s %s: killed by signal %d", argv[0], arg, WTERMSIG(st));
    r.rc = WEXITSTATUS(st);
    slurp(out, r.out, sizeof r.out);
    slurp(err, r.err, sizeof r.err);
    assert_true(r.rc != 98 && r.rc != 99);
    return &r;
}

static void expect(const result *r, int rc, const char *in_out, const char *in_err)
{
    if (r->rc != rc)
        fail_msg("exit status %d, wanted %d\nstdout: %s\nstderr: %s", r->rc, rc, r->out, r->err);
    if (in_out && !strstr(r->out, in_out)) fail_msg("stdout lacks \"%s\":\n%s", in_out, r->out);
    if (in_err && !strstr(r->err, in_err)) fail_msg("stderr lacks \"%s\":\n%s", in_err, r->err);
    if (rc == 2 && !strstr(r->err, "cvae")) fail_msg("usage error without a message: %s", r->err);
}

static void test_program_help_and_exit_statuses(void **state)
{
    (void)state;
    expect(cli("--help", NULL), 0, "exit status", NULL);
    expect(cli("-h", NULL), 0, "usage: cvae", NULL);
    expect(cli("help", NULL), 0, "usage: cvae", NULL);
    const result *r = cli("--help", NULL);
    for (const char *c = "train\0eval\0sample\0info\0version\0"; *c; c += strlen(c) + 1) {
        char line[32];
        snprintf(line, sizeof line, "\n  %s ", c);
        if (!strstr(r->out, line)) fail_msg("cvae --help does not list %s:\n%s", c, r->out);
    }
    expect(cli("version", NULL), 0, "cvae ", NULL);
    expect(cli("--version", NULL), 0, "cvae ", NULL);
    expect(cli(NULL), 2, NULL, NULL);
    expect(cli("frobnicate", NULL), 2, NULL, "unknown command 'frobnicate'");
    expect(cli("--frobnicate", NULL), 2, NULL, "cvae: unknown option '--frobnicate'");
    /* the program's options end at the command: --epochs is train's */
    expect(cli("train", "--epochs", NULL), 2, NULL, "cvae train: option '--epochs' needs a value");
}

/* Every option a command has today, each listed by its --help and known to its parser. */
// clang-format off
static const char *const options_of[][30] = {
    {"train", "data", "epochs", "batch", "lr", "lr-schedule", "lr-min", "lr-step", "lr-gamma",
     "lr-warmup", "kl-warmup", "seed", "latent", "beta", "frozen-table", "gabor", "cond-decoder",
     "no-cond-decoder", "init", "binarize", "out", "checkpoint", "resume", "threads", "quiet",
     "reduce", "check-every", "help", NULL},
    {"eval", "model", "data", "k", "n-test", "per-label", "judge-epochs", "binarize", "seed", "help", NULL},
    {"sample", "model", "data", "out", "seed", "help", NULL},
    {"info", "help", NULL},
};
// clang-format on

static void test_help_lists_every_option(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof options_of / sizeof options_of[0]; c++) {
        const char *cmd = options_of[c][0];
        static char help[16384];
        const result *r = cli(cmd, "--help", NULL);
        expect(r, 0, "usage: cvae ", NULL);
        assert_string_equal(r->err, "");
        memcpy(help, r->out, sizeof help);
        int listed = 0;
        /* option lines: "  --name[ META]  help" or "  -h, --help  help" */
        for (char *save, *line = strtok_r(help, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "  -", 3) != 0) continue;
            listed++;
            char name[64], meta[64];
            int n = sscanf(strstr(line, "--") + 2, "%63[a-z-] %63[A-Z]", name, meta);
            int known = 0;
            for (int i = 1; options_of[c][i]; i++) known += !strcmp(options_of[c][i], name);
            if (!known) fail_msg("cvae %s --help lists --%s, which it did not have", cmd, name);
            /* the parser agrees on whether the option takes a value */
            char opt[80];
            snprintf(opt, sizeof opt, n == 2 ? "--%s" : "--%s=1", name);
            expect(cli(cmd, opt, NULL), 2, NULL, n == 2 ? "needs a value" : "takes no value");
        }
        int count = 0;
        while (options_of[c][count + 1]) count++;
        if (listed != count)
            fail_msg("cvae %s --help lists %d options, wanted %d", cmd, listed, count);
    }
}

/* Today's defaults, which the tables both apply and show in --help. */
static const char *const defaults[][3] = {
    {"train", "epochs", "40"},
    {"train", "batch", "128"},
    {"train", "lr", "2e-3"},
    {"train", "lr-schedule", "cosine"},
    {"train", "lr-min", "0"},
    {"train", "lr-step", "10"},
    {"train", "lr-gamma", "0.1"},
    {"train", "lr-warmup", "0"},
    {"train", "kl-warmup", "0"},
    {"train", "init", "torch"},
    {"train", "seed", "1"},
    {"train", "latent", "16"},
    {"train", "beta", "1"},
    {"train", "binarize", "none"},
    {"train", "out", "out/cvae.safetensors"},
    {"train", "checkpoint", "out/checkpoint.safetensors"},
    {"train", "reduce", "allreduce"},
    {"train", "check-every", "50"},
    {"eval", "model", "out/cvae.safetensors"},
    {"eval", "k", "1000"},
    {"eval", "per-label", "100"},
    {"eval", "judge-epochs", "0"},
    {"eval", "binarize", "none"},
    {"eval", "seed", "1"},
    {"sample", "model", "out/cvae.safetensors"},
    {"sample", "out", "out"},
    {"sample", "seed", "1"},
};

static void test_help_shows_the_defaults(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        const result *r = cli(defaults[i][0], "--help", NULL);
        char opt[64], shown[128];
        snprintf(opt, sizeof opt, "\n  --%s ", defaults[i][1]);
        snprintf(shown, sizeof shown, "(default %s)\n", defaults[i][2]);
        const char *line = strstr(r->out, opt), *d = line ? strstr(line, shown) : NULL;
        if (!d || memchr(line + 1, '\n', (size_t)(d - line - 1)))
            fail_msg("cvae %s --help: --%s does not show %s\n%s", defaults[i][0], defaults[i][1],
                     shown, r->out);
    }
}

static void test_usage_errors(void **state)
{
    (void)state;
    expect(cli("train", "--foo", NULL), 2, NULL, "cvae train: unknown option '--foo' (see --help)");
    expect(cli("train", "--foo=3", NULL), 2, NULL, "unknown option '--foo'");
    expect(cli("train", "-x", NULL), 2, NULL, "unknown option '-x'");
    expect(cli("eval", "--quiet", NULL), 2, NULL, "cvae eval: unknown option '--quiet'");
    expect(cli("sample", "--quiet", NULL), 2, NULL, "unknown option '--quiet'");
    expect(cli("train", "--c", "x", NULL), 2, NULL, "ambiguous option '--c'");
    expect(cli("train", "--epochs", NULL), 2, NULL, "option '--epochs' needs a value");
    expect(cli("eval", "--k", NULL), 2, NULL, "option '--k' needs a value");
    expect(cli("train", "--epochs", "0", NULL), 2, NULL,
           "'--epochs': '0' is not an integer in [1, 100000]");
    expect(cli("train", "--epochs", "100001", NULL), 2, NULL, "'--epochs'");
    expect(cli("train", "--batch", "12x", NULL), 2, NULL, "'--batch': '12x'");
    expect(cli("train", "--batch", " 12", NULL), 2, NULL, "'--batch'");
    expect(cli("train", "--batch", "", NULL), 2, NULL, "'--batch'");
    expect(cli("train", "--seed", "99999999999999999999", NULL), 2, NULL, "'--seed'");
    expect(cli("train", "--lr", "nan", NULL), 2, NULL, "'--lr': 'nan' is not a number");
    expect(cli("train", "--lr", "11", NULL), 2, NULL, "'--lr'");
    expect(cli("train", "--beta", "-1", NULL), 2, NULL, "'--beta'");
    expect(cli("eval", "--k", "-1", NULL), 2, NULL, "'--k'");
    expect(cli("train", "--init", "zeros", NULL), 2, NULL,
           "'--init' takes torch, he-glorot, he-normal, he-uniform or glorot-uniform, not 'zeros'");
    expect(cli("train", "--lr-schedule", "linear", NULL), 2, NULL,
           "'--lr-schedule' takes constant, cosine or step, not 'linear'");
    expect(cli("train", "--lr-gamma", "0", NULL), 2, NULL, "'--lr-gamma'");
    expect(cli("train", "--kl-warmup", "-1", NULL), 2, NULL, "'--kl-warmup'");
    expect(cli("train", "--cond-decoder", "--no-cond-decoder", NULL), 2, NULL,
           "--cond-decoder and --no-cond-decoder contradict each other");
    expect(cli("eval", "--binarize", "grey", NULL), 2, NULL,
           "'--binarize' takes none, threshold or stochastic, not 'grey'");
    expect(cli("train", "--quiet=yes", NULL), 2, NULL, "option '--quiet' takes no value");
    expect(cli("train", "stray", NULL), 2, NULL, "unexpected argument 'stray'");
    expect(cli("info", NULL), 2, NULL, "cvae info: missing argument");
    expect(cli("info", "a", "b", NULL), 2, NULL, "unexpected argument 'b'");
    expect(cli("info", "-x", NULL), 2, NULL, "unknown option '-x'");
    /* --help wins when it comes first, the error when it does */
    expect(cli("train", "--help", "--foo", NULL), 0, "usage: cvae train", NULL);
    expect(cli("train", "--foo", "--help", NULL), 2, NULL, "unknown option");
}

static void test_runtime_failures(void **state)
{
    (void)state;
    expect(cli("info", "no-such-file.safetensors", NULL), 1, NULL, "no-such-file");
    expect(cli("eval", "--model", "no-such-file.safetensors", NULL), 1, NULL, "no-such-file");
    expect(cli("sample", "--model", "no-such-file.safetensors", NULL), 1, NULL, "no-such-file");
    expect(cli("train", "--data", "no-such-dir", "--quiet", NULL), 1, NULL, "no-such-dir");
}

static void put_be32(FILE *f, uint32_t v)
{
    const unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                                (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* SPLIT-images-idx3-ubyte and SPLIT-labels-idx1-ubyte of n random SIDE x SIDE images. */
static void write_split(const char *split, int n, uint32_t seed)
{
    char path[160];
    snprintf(path, sizeof path, "%s/tiny/%s-images-idx3-ubyte", dir, split);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x803), put_be32(f, (uint32_t)n), put_be32(f, SIDE), put_be32(f, SIDE);
    test_rng r = {seed};
    for (int i = 0; i < n * SIDE * SIDE; i++) fputc((int)(test_rand_u32(&r) & 0xff), f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/tiny/%s-labels-idx1-ubyte", dir, split);
    f = fopen(path, "wb");
    assert_non_null(f);
    put_be32(f, 0x801), put_be32(f, (uint32_t)n);
    for (int i = 0; i < n; i++) fputc(i % 10, f);
    assert_int_equal(fclose(f), 0);
}

/* The line starting at `line` ends with two non-negative numbers (a model and a floor). */
static void last_two_numbers(const char *line, const char *what)
{
    char buf[256], *save, *prev = NULL, *last = NULL, *end1, *end2;
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(line, "\n"), line);
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        prev = last, last = tok;
    const double a = prev ? strtod(prev, &end1) : -1, b = last ? strtod(last, &end2) : -1;
    if (!prev || *end1 || *end2 || !(a >= 0) || !(b >= 0))
        fail_msg("%s: no two distances at the end of '%s'", what, buf);
}

static void test_tiny_run(void **state)
{
    (void)state;
    char data[128], path[160];
    snprintf(data, sizeof data, "%s/tiny", dir);
    assert_int_equal(mkdir(data, 0777), 0);
    write_split("train", NTRAIN, 1);
    write_split("t10k", NTEST, 2);
    const result *r =
        cli("train", "--data", data, "--epochs", "1", "--quiet", "--batch", "32", "--latent", "3",
            "--beta", "0.5", "--seed", "7", "--frozen-table", "--gabor", "--cond-decoder",
            "--binarize", "threshold", "--lr", "1e-4", "--threads", "1", "--out",
            "m/model.safetensors", "--checkpoint", "m/ckpt.safetensors", "--init", "he-uniform",
            "--lr-schedule", "cosine", "--lr-min", "1e-5", "--kl-warmup", "2", NULL);
    expect(r, 0, "epoch   1  train loss", NULL);
    assert_non_null(strstr(r->out, "batch 32, Adam lr 0.0001, seed 7, 1 thread(s)"));
    assert_non_null(strstr(r->out, "binarized at 0.5"));
    assert_null(strstr(r->out, "epoch   2"));
    assert_non_null(strstr(r->out, "saved m/model.safetensors"));

    cvae_model *m = NULL;
    cvae_trainer *tr = NULL;
    int64_t epoch = 0;
    snprintf(path, sizeof path, "%s/m/ckpt.safetensors", dir);
    CVAE_OK_OR_FAIL(cvae_trainer_load(path, &m, &tr, &epoch));
    const cvae_model_config *c = cvae_model_get_config(m);
    assert_int_equal(epoch, 1);
    assert_int_equal(cvae_trainer_steps(tr), (NTRAIN + 31) / 32);
    assert_int_equal(c->latent, 3);
    assert_int_equal(c->table_trainable, 0);
    assert_int_equal(c->table_init, CVAE_TABLE_GABOR);
    assert_int_equal(c->cond_decoder, 1);
    assert_true(c->beta == 0.5f);
    assert_int_equal(c->seed, 7);
    assert_int_equal(c->init, CVAE_INIT_HE_UNIFORM);
    assert_int_equal(c->kl_warmup, 2 * ((NTRAIN + 31) / 32)); /* 2 epochs of steps */
    assert_true(cvae_trainer_lr(tr) == 1e-5f);                /* decayed over the run */
    cvae_trainer_free(tr);
    cvae_model_free(m);

    /* a schedule the trainer refuses is a runtime failure with the library's reason */
    expect(cli("train", "--data", data, "--quiet", "--lr-schedule", "cosine", "--lr-min", "0.5",
               "--out", "m/x.safetensors", "--checkpoint", "m/x.ckpt", NULL),
           1, NULL, "lr_min 0.5 is above lr 0.002");
    /* the decoder is conditional unless asked otherwise; a warm-up, then step decay: after
     * 1 epoch of warm-up and 1 of the schedule, 2e-3 x 0.5 */
    expect(cli("train", "--data", data, "--quiet", "--epochs", "2", "--no-cond-decoder",
               "--lr-warmup", "1", "--lr-schedule", "step", "--lr-step", "1", "--lr-gamma", "0.5",
               "--out", "m/plain.safetensors", "--checkpoint", "m/plain.ckpt", NULL),
           0, "learning rate 0.002, linear warm-up over 1 epoch(s), x 0.5 every 1 epoch(s)\n",
           NULL);
    expect(cli("info", "m/plain.safetensors", NULL), 0, "\"cond_decoder\":0", NULL);
    snprintf(path, sizeof path, "%s/m/plain.ckpt", dir);
    CVAE_OK_OR_FAIL(cvae_trainer_load(path, &m, &tr, &epoch));
    assert_int_equal(cvae_trainer_steps(tr), 2); /* batch 128: one batch of 100 per epoch */
    assert_true(cvae_trainer_lr(tr) == 1e-3f);
    cvae_trainer_free(tr);
    cvae_model_free(m);

    /* --resume continues the checkpoint: one more epoch; options may follow nothing in order */
    r = cli("train", "--resume", "--quiet", "--epochs=2", "--data", data, "--batch", "32",
            "--checkpoint", "m/ckpt.safetensors", "--out", "m/model.safetensors", NULL);
    expect(r, 0, "resumed m/ckpt.safetensors at epoch 1", NULL);
    assert_non_null(strstr(r->out, "epoch   2"));
    assert_null(strstr(r->out, "epoch   1 "));

    /* the positional argument works before or after an option (getopt_long permutes) */
    expect(cli("info", "m/model.safetensors", NULL), 0, "\"latent\":3", NULL);
    expect(cli("info", "--", "m/model.safetensors", NULL), 0, "config:", NULL);
    expect(cli("info", "m/model.safetensors", "--help", NULL), 0, "usage: cvae info", NULL);

    expect(cli("sample", "--model", "m/model.safetensors", "--data", data, "--out", "pics",
               "--seed", "3", NULL),
           0, "wrote pics/samples.png", NULL);
    snprintf(path, sizeof path, "%s/pics/samples.png", dir);
    assert_int_equal(access(path, R_OK), 0);

    r = cli("eval", "--model", "m/model.safetensors", "--data", data, "--k", "2", "--n-test", "5",
            "--per-label", "2", "--judge-epochs", "1", "--binarize", "threshold", NULL);
    expect(r, 0, "test IW-NLL (k = 2)", NULL);
    assert_non_null(strstr(r->out, "(5 test images, binarized at 0.5)"));
    assert_non_null(strstr(r->out, "judge (CNN, 1 epoch, shifts up to 2 px"));
    assert_non_null(strstr(r->out, "accuracy on the real test set"));
    assert_non_null(strstr(r->out, "the judge recognises"));
    assert_non_null(strstr(r->out, "% of generated images (2 per label)"));
    /* the Fréchet distances: NTEST / 2 real images in each half, a model and a floor column
     * of numbers on each line, every label with 2 images per set */
    char halves[64];
    snprintf(halves, sizeof halves, "(%d and %d test images)", NTEST / 2, NTEST / 2);
    assert_non_null(strstr(r->out, halves));
    const char *lines[] = {"FID (all labels)", "FJD (image + ",
                           "intra-class FID, mean of 10 labels", "  label 0 ", "  label 9 "};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *at = strstr(r->out, lines[i]);
        if (!at) fail_msg("eval prints no '%s' line:\n%s", lines[i], r->out);
        last_two_numbers(at, lines[i]);
    }
    assert_null(strstr(r->out, "n/a"));
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cvae-cli-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_help_and_exit_statuses),
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_help_shows_the_defaults),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_runtime_failures),
        cmocka_unit_test(test_tiny_run),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
