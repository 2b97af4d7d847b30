/* Declarative command-line options: one table per command gives both getopt_long's
 * struct option[] and the --help text, and says how each value is parsed and stored.
 *
 * Adding an option is one line in the command's table, e.g.
 *     CLI_INT(train_args, kl_warmup, "kl-warmup", "N", 0, 100000, "0", "epochs of KL warm-up"),
 * plus the field `long kl_warmup;` in the command's argument struct. */
#ifndef CVAE_CLI_OPTIONS_H
#define CVAE_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

/* The exit status of every command. */
enum {
    CLI_EXIT_OK = 0,      /* success, --help included */
    CLI_EXIT_FAILURE = 1, /* a runtime failure: a file, a number, the library */
    CLI_EXIT_USAGE = 2    /* a usage error: unknown option, missing or bad value */
};

typedef enum cli_kind {
    CLI_KIND_FLAG,   /* no value; stores int 1 */
    CLI_KIND_INT,    /* stores long, within [lo, hi] */
    CLI_KIND_FLOAT,  /* stores double, finite, within [lo, hi] */
    CLI_KIND_STRING, /* stores const char * (pointing into argv or at the default) */
    CLI_KIND_ENUM    /* stores int: the value of the choice named */
} cli_kind;

typedef struct cli_choice {
    const char *name;
    int value;
} cli_choice; /* an enum's choices end with {NULL, 0} */

typedef struct cli_option {
    const char *name; /* long name without the dashes: "epochs"; NULL ends a table */
    char short_name;  /* 0 when none ('h' is --help's) */
    cli_kind kind;
    const char *metavar; /* the value in --help: "N", "PATH"; NULL for flags */
    const char *help;    /* one line */
    const char *def;     /* default, parsed as a value before argv and shown in --help;
                            NULL: the command sets it (and the help line says what it is) */
    size_t offset;       /* where the value goes in the command's argument struct */
    double lo, hi;       /* the range of an int or a float */
    const cli_choice *choices;
} cli_option;

typedef struct cli_command {
    const char *name;     /* "train"; NULL for the program itself */
    const char *synopsis; /* after the name in the usage line: "[options] FILE" */
    const char *about;    /* one line, also listed by `cvae --help` */
    const cli_option *options;
    int min_args, max_args;            /* positional arguments; max_args -1: any number */
    int stop_at_arg;                   /* options end at the first positional (the program's) */
    void (*epilog)(FILE *f);           /* more help after the options, or NULL */
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
} cli_command;

/* Field `field` of struct T, which must have type `ctype` (a mismatch does not compile). */
#define CLI_FIELD_(T, field, ctype)                                                                \
    (offsetof(T, field) + 0 * sizeof(&((T *)0)->field == (ctype *)0))

#define CLI_FLAG(T, field, name, help)                                                             \
    {                                                                                              \
        name, 0, CLI_KIND_FLAG, NULL, help, NULL, CLI_FIELD_(T, field, int), 0, 0, NULL            \
    }
#define CLI_INT(T, field, name, metavar, lo, hi, def, help)                                        \
    {                                                                                              \
        name, 0, CLI_KIND_INT, metavar, help, def, CLI_FIELD_(T, field, long), lo, hi, NULL        \
    }
#define CLI_FLOAT(T, field, name, metavar, lo, hi, def, help)                                      \
    {                                                                                              \
        name, 0, CLI_KIND_FLOAT, metavar, help, def, CLI_FIELD_(T, field, double), lo, hi, NULL    \
    }
#define CLI_STRING(T, field, name, metavar, def, help)                                             \
    {                                                                                              \
        name, 0, CLI_KIND_STRING, metavar, help, def, CLI_FIELD_(T, field, const char *), 0, 0,    \
            NULL                                                                                   \
    }
#define CLI_ENUM(T, field, name, metavar, choices, def, help)                                      \
    {                                                                                              \
        name, 0, CLI_KIND_ENUM, metavar, help, def, CLI_FIELD_(T, field, int), 0, 0, choices       \
    }
#define CLI_END                                                                                    \
    {                                                                                              \
        NULL, 0, CLI_KIND_FLAG, NULL, NULL, NULL, 0, 0, 0, NULL                                    \
    }

/* Parses argv[1..argc) against cmd's table into args (after applying the table's defaults).
 * Returns -1 to go on, the positional arguments then being argv[*first_arg..argc); otherwise
 * the exit status: CLI_EXIT_OK after printing --help to stdout, CLI_EXIT_USAGE after a message
 * "cvae <command>: ..." on stderr. Permutes argv (options may follow positionals) unless
 * cmd->stop_at_arg. Restarts getopt_long, so several commands may parse in one process. */
int cli_parse(const cli_command *cmd, int argc, char **argv, void *args, int *first_arg);

/* The --help text of cmd. */
void cli_help(const cli_command *cmd, FILE *f);

#endif
