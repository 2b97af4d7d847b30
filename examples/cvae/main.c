/* cvae: train, evaluate and draw the conditional convolutional VAE.
 *   cvae train  [options]   train on MNIST-format digits (the bundled ones by default)
 *   cvae eval   [options]   test -ELBO, importance-weighted NLL, conditional fidelity
 *   cvae sample [options]   PNG pictures: samples per label, class swaps, ...
 *   cvae info FILE          the summary of a model file */
#include <string.h>

#include "cli.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: cvae <command> [options]\n\n"
               "commands:\n"
               "  train   train the conditional VAE (cvae train --help)\n"
               "  eval    test -ELBO, IW-NLL and conditional fidelity of a model\n"
               "  sample  write PNG pictures of a model\n"
               "  info    print the summary of a model file\n"
               "  version print the library version\n");
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "version")) return printf("cvae %s\n", cvae_version()) < 0;
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return usage(stdout);
    fprintf(stderr, "cvae: unknown command '%s'\n", cmd);
    return usage(stderr);
}
