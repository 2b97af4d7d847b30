/* cvae: train, evaluate and draw the conditional convolutional VAE.
 *   cvae train  [options]   train on MNIST-format digits (the bundled ones by default)
 *   cvae eval   [options]   test -ELBO, importance-weighted NLL, conditional fidelity
 *   cvae sample [options]   PNG pictures: samples per label, class swaps, ...
 *   cvae info FILE          the summary of a model file */
#include <string.h>

#include "cli.h"

static const cli_command *const commands[] = {&cli_train, &cli_eval, &cli_sample, &cli_info};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

typedef struct main_args {
    int version;
} main_args;

static const cli_option main_options[] = {
    CLI_FLAG(main_args, version, "version", "print the library version and exit"), CLI_END};

static void main_epilog(FILE *f)
{
    fprintf(f, "\ncommands (cvae <command> --help lists each one's options):\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s%s\n", commands[i]->name, commands[i]->about);
    fprintf(f, "  %-9s%s\n  %-9s%s\n", "version", "print the library version", "help",
            "print this help");
    fprintf(f, "\nexit status (every command):\n"
               "  0  success, --help included\n"
               "  1  runtime failure: a file, a number, the library (the message says which)\n"
               "  2  usage error: unknown command or option, missing or bad value\n");
}

static const cli_command cvae_program = {.name = NULL,
                                         .synopsis = "[--help | --version] <command> [options]",
                                         .about = "train, evaluate and draw the conditional "
                                                  "convolutional VAE",
                                         .options = main_options,
                                         .max_args = -1,
                                         .stop_at_arg = 1,
                                         .epilog = main_epilog};

int main(int argc, char **argv)
{
    main_args a = {0};
    int first, p = cli_parse(&cvae_program, argc, argv, &a, &first);
    if (p >= 0) return p;
    if (a.version || (first < argc && !strcmp(argv[first], "version")))
        return printf("cvae %s\n", cvae_version()) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
    if (first == argc) {
        cli_help(&cvae_program, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[first];
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i]->name)) return commands[i]->run(argc - first, argv + first);
    if (!strcmp(cmd, "help")) {
        cli_help(&cvae_program, stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "cvae: unknown command '%s' (see cvae --help)\n", cmd);
    return CLI_EXIT_USAGE;
}
