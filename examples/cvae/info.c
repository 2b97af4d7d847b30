/* cvae info FILE: the summary of a model file. */
#include "cli.h"

static const cli_option info_options[] = {CLI_END};

static int run(int argc, char **argv);

const cli_command cli_info = {.name = "info",
                              .synopsis = "[options] FILE",
                              .about = "print the summary of a model file",
                              .options = info_options,
                              .min_args = 1,
                              .max_args = 1,
                              .run = run};

static int run(int argc, char **argv)
{
    int file, p = cli_parse(&cli_info, argc, argv, NULL, &file);
    if (p >= 0) return p;
    const char *path = argv[file];
    cvae_model *m;
    if (cli_fail(cvae_model_load(path, &m), path)) return 1;
    char *json = NULL, summary[4096];
    cvae_model_config_to_json(cvae_model_get_config(m), &json);
    cvae_model_summary(m, summary, sizeof summary, NULL);
    printf("%s\nconfig: %s\n%s", path, json ? json : "?", summary);
    cvae_free_buffer(json);
    cvae_model_free(m);
    return 0;
}
