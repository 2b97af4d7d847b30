#include <stdarg.h>
#include <stdio.h>

#include "core/internal.h"

static _Thread_local char last_error[512];

const char *cvae_status_str(cvae_status s)
{
    switch (s) {
    case CVAE_OK: return "ok";
    case CVAE_ERR_INVALID_ARG: return "invalid argument";
    case CVAE_ERR_SHAPE: return "shape mismatch";
    case CVAE_ERR_RANGE: return "out of range";
    case CVAE_ERR_NOMEM: return "out of memory";
    case CVAE_ERR_IO: return "i/o error";
    case CVAE_ERR_FORMAT: return "bad format";
    case CVAE_ERR_NUMERIC: return "non-finite value";
    case CVAE_ERR_STATE: return "invalid state";
    case CVAE_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

const char *cvae_last_error(void) { return last_error; }

void cvae_clear_error(void) { last_error[0] = '\0'; }

const char *cvae_version(void) { return CVAE_VERSION_STRING; }

static cvae_status set_error(cvae_status s, const char *fmt, va_list ap)
{
    /* Formatted aside first: an argument may be cvae_last_error() itself. */
    char msg[sizeof last_error];
    msg[0] = '\0';
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_error, msg, strlen(msg) + 1);
    return s;
}

cvae_status cvae__error(cvae_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(s, fmt, ap);
    va_end(ap);
    return s;
}

cvae_status cvae_set_error(cvae_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(s, fmt, ap);
    va_end(ap);
    return s;
}

cvae_status cvae__nomem(const char *what, size_t bytes)
{
    return cvae__error(CVAE_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, bytes);
}

cvae_status cvae__error_in_file(cvae_status s, const char *path)
{
    if (s != CVAE_ERR_FORMAT && s != CVAE_ERR_SHAPE && s != CVAE_ERR_NUMERIC) return s;
    return cvae__error(s, "%s: %s", path, last_error);
}
