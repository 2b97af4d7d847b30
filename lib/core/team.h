/* A fixed team of threads that runs one function on several members at once
 * (data parallelism: each member takes a slice of a batch). */
#ifndef CVAE_CORE_TEAM_H
#define CVAE_CORE_TEAM_H

#include "core/internal.h"

typedef struct cvae__team cvae__team;

/* fn(ctx, member) for one member; its status (and message) reach the caller. */
typedef cvae_status (*cvae__team_fn)(void *ctx, int member);

/* A team of `size` members (1..64): the caller is member 0, size - 1 threads
 * are started now and sleep until cvae__team_run. */
cvae_status cvae__team_new(int size, cvae__team **out);
void cvae__team_free(cvae__team *team);
/* The team size a new trainer or model takes: BLAS's own thread count (OpenBLAS:
 * OPENBLAS_NUM_THREADS, else the number of cores), within [1, 64]. */
int cvae__team_default_size(void);
/* Members of the team; NULL counts as a team of one (the caller alone). */
int cvae__team_size(const cvae__team *team);

/* Runs fn(ctx, i) for i in [0, n), n <= size, and returns when all are done: at once
 * (member 0 on the calling thread), or one after another on the calling thread when
 * n = 1, size = 1 or another thread is running the team (so the work done, and its
 * result, never depend on contention). With a team of more than one, BLAS runs
 * single-threaded meanwhile (OpenBLAS's thread count is set to 1 and restored after):
 * the team is the only source of parallelism. Returns CVAE_OK or the status of the
 * lowest failing member, with its message as the caller's cvae_last_error. */
cvae_status cvae__team_run(cvae__team *team, int n, cvae__team_fn fn, void *ctx);

/* Rows [first, end) of `rows` for member i of n: contiguous, sizes differ by <= 1. */
static inline void cvae__team_slice(int64_t rows, int i, int n, int64_t *first, int64_t *end)
{
    *first = rows * i / n;
    *end = rows * (i + 1) / n;
}

#endif
