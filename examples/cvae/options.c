/* getopt_long and --help from a command's option table (options.h). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

/* Every command has it; getopt_long reports it as 'h'. */
static const cli_option help_option = {
    "help", 'h', CLI_KIND_FLAG, NULL, "print this help and exit", NULL, 0, 0, 0, NULL};

/* getopt_long's val of table entry i: its short name, else a code above every char. */
#define LONG_ONLY_VAL 256

/* "cvae" or "cvae <command>" */
static void program(const cli_command *cmd, FILE *f)
{
    fprintf(f, "cvae%s%s", cmd->name ? " " : "", cmd->name ? cmd->name : "");
}

static void prefix(const cli_command *cmd, FILE *f)
{
    program(cmd, f);
    fprintf(f, ": ");
}

static int count(const cli_option *t)
{
    int n = 0;
    while (t[n].name) n++;
    return n;
}

static const cli_option *by_val(const cli_command *cmd, int val)
{
    if (val == help_option.short_name) return &help_option;
    const int n = count(cmd->options);
    if (val >= LONG_ONLY_VAL && val < LONG_ONLY_VAL + n) return &cmd->options[val - LONG_ONLY_VAL];
    for (int i = 0; val > 0 && i < n; i++)
        if (cmd->options[i].short_name == val) return &cmd->options[i];
    return NULL;
}

/* strtol/strtod accept leading blanks; these do not. */
static int parse_int(const char *s, double lo, double hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end || errno || v < (long)lo || v > (long)hi)
        return 0;
    *out = v;
    return 1;
}

static int parse_float(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || isspace((unsigned char)*s) || *end || errno || !isfinite(v) || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static void list_choices(const cli_choice *c, FILE *f)
{
    for (int i = 0; c[i].name; i++)
        fprintf(f, "%s%s", i == 0 ? "" : c[i + 1].name ? ", " : " or ", c[i].name);
}

/* Parses v as option o's value into args; 0 (with a message) when v is not one. */
static int store(const cli_command *cmd, const cli_option *o, const char *v, void *args)
{
    char *dest = (char *)args + o->offset;
    long i;
    double d;
    switch (o->kind) {
    case CLI_KIND_FLAG:
        *(int *)dest = 1;
        return 1;
    case CLI_KIND_STRING:
        *(const char **)dest = v;
        return 1;
    case CLI_KIND_INT:
        if (parse_int(v, o->lo, o->hi, &i)) {
            *(long *)dest = i;
            return 1;
        }
        prefix(cmd, stderr);
        fprintf(stderr, "option '--%s': '%s' is not an integer in [%ld, %ld]\n", o->name, v,
                (long)o->lo, (long)o->hi);
        return 0;
    case CLI_KIND_FLOAT:
        if (parse_float(v, o->lo, o->hi, &d)) {
            *(double *)dest = d;
            return 1;
        }
        prefix(cmd, stderr);
        fprintf(stderr, "option '--%s': '%s' is not a number in [%g, %g]\n", o->name, v, o->lo,
                o->hi);
        return 0;
    case CLI_KIND_ENUM:
        for (const cli_choice *c = o->choices; c->name; c++)
            if (!strcmp(v, c->name)) {
                *(int *)dest = c->value;
                return 1;
            }
        prefix(cmd, stderr);
        fprintf(stderr, "option '--%s' takes ", o->name);
        list_choices(o->choices, stderr);
        fprintf(stderr, ", not '%s'\n", v);
        return 0;
    }
    return 0;
}

/* An unknown long option or an ambiguous abbreviation: arg is "--name[=value]". */
static void unknown_long(const cli_command *cmd, const char *arg)
{
    const size_t len = strcspn(arg + 2, "=");
    int matches = 0;
    for (const cli_option *o = cmd->options; o->name; o++)
        matches += !strncmp(o->name, arg + 2, len);
    matches += !strncmp(help_option.name, arg + 2, len);
    prefix(cmd, stderr);
    fprintf(stderr, "%s option '%.*s' (see --help)\n", matches > 1 ? "ambiguous" : "unknown",
            (int)len + 2, arg);
}

int cli_parse(const cli_command *cmd, int argc, char **argv, void *args, int *first_arg)
{
    const int n = count(cmd->options);
    for (int i = 0; i < n; i++) {
        const cli_option *o = &cmd->options[i];
        if (o->def && !store(cmd, o, o->def, args)) return CLI_EXIT_FAILURE; /* a bad table */
    }
    struct option *longs = calloc((size_t)n + 2, sizeof *longs);
    char *shorts = malloc(2 * (size_t)n + 6), *s = shorts;
    if (!longs || !shorts) {
        free(longs), free(shorts);
        prefix(cmd, stderr);
        fprintf(stderr, "out of memory\n");
        return CLI_EXIT_FAILURE;
    }
    if (cmd->stop_at_arg) *s++ = '+';
    *s++ = ':'; /* report a missing value as ':' and print nothing ourselves */
    for (int i = 0; i <= n; i++) {
        const cli_option *o = i < n ? &cmd->options[i] : &help_option;
        const int has_arg = o->kind == CLI_KIND_FLAG ? no_argument : required_argument;
        longs[i] = (struct option){o->name, has_arg, NULL,
                                   o->short_name ? o->short_name : LONG_ONLY_VAL + i};
        if (o->short_name) {
            *s++ = o->short_name;
            if (has_arg == required_argument) *s++ = ':';
        }
    }
    *s = '\0';
    int rc = -1, c;
    opterr = 0;
    optind = 0; /* 0, not 1: glibc, musl and the BSDs then reset all of getopt's state */
    while (rc < 0 && (c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const cli_option *o = by_val(cmd, c == '?' || c == ':' ? optopt : c);
        if (c == ':') {
            prefix(cmd, stderr);
            fprintf(stderr, "option '--%s' needs a value\n", o ? o->name : "?");
            rc = CLI_EXIT_USAGE;
        } else if (c == '?' && o) { /* "--flag=value" */
            prefix(cmd, stderr);
            fprintf(stderr, "option '--%s' takes no value\n", o->name);
            rc = CLI_EXIT_USAGE;
        } else if (c == '?' && optopt) {
            prefix(cmd, stderr);
            fprintf(stderr, "unknown option '-%c' (see --help)\n", optopt);
            rc = CLI_EXIT_USAGE;
        } else if (c == '?') {
            unknown_long(cmd, argv[optind - 1]);
            rc = CLI_EXIT_USAGE;
        } else if (o == &help_option) {
            cli_help(cmd, stdout);
            rc = CLI_EXIT_OK;
        } else if (!store(cmd, o, optarg, args)) {
            rc = CLI_EXIT_USAGE;
        }
    }
    free(longs), free(shorts);
    if (rc >= 0) return rc;
    const int npos = argc - optind;
    if (npos < cmd->min_args || (cmd->max_args >= 0 && npos > cmd->max_args)) {
        prefix(cmd, stderr);
        if (npos > cmd->max_args && cmd->max_args >= 0)
            fprintf(stderr, "unexpected argument '%s' (see --help)\n",
                    argv[optind + cmd->max_args]);
        else
            fprintf(stderr, "missing argument (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    if (first_arg) *first_arg = optind;
    return -1;
}

void cli_help(const cli_command *cmd, FILE *f)
{
    const int n = count(cmd->options);
    int width = 0;
    for (int i = 0; i <= n; i++) {
        const cli_option *o = i < n ? &cmd->options[i] : &help_option;
        int w = 2 + (int)strlen(o->name) + (o->metavar ? 1 + (int)strlen(o->metavar) : 0) +
                (o->short_name ? 4 : 0);
        width = w > width ? w : width;
    }
    fprintf(f, "usage: ");
    program(cmd, f);
    fprintf(f, " %s\n%s\n\noptions:\n", cmd->synopsis, cmd->about);
    for (int i = 0; i <= n; i++) {
        const cli_option *o = i < n ? &cmd->options[i] : &help_option;
        char head[128];
        int len = o->short_name ? snprintf(head, sizeof head, "-%c, ", o->short_name) : 0;
        snprintf(head + len, sizeof head - (size_t)len, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-*s  %s", width, head, o->help);
        if (o->kind == CLI_KIND_ENUM) {
            fprintf(f, ": ");
            list_choices(o->choices, f);
        }
        if (o->def) fprintf(f, " (default %s)", o->def);
        fprintf(f, "\n");
    }
    if (cmd->epilog) cmd->epilog(f);
}
