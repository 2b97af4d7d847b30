/* cvae info FILE: the summary of a model file. */
#include "cli.h"

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: cvae info FILE\n");
        return 2;
    }
    cvae_model *m;
    if (cli_fail(cvae_model_load(argv[1], &m), argv[1])) return 1;
    char *json = NULL, summary[4096];
    cvae_model_config_to_json(cvae_model_get_config(m), &json);
    cvae_model_summary(m, summary, sizeof summary, NULL);
    printf("%s\nconfig: %s\n%s", argv[1], json ? json : "?", summary);
    cvae_free_buffer(json);
    cvae_model_free(m);
    return 0;
}
