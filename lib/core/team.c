/* Data-parallel thread team (see team.h): one mutex, two condition variables. */
#include "core/blas.h"
#include <pthread.h>
#include <stdio.h>

#include "core/team.h"

enum { TEAM_MAX = 64, MSG = 512 };

typedef struct member {
    cvae__team *team;
    int index;
    pthread_t thread;
} member;

struct cvae__team {
    pthread_mutex_t busy; /* held by the caller of a run */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    uint64_t generation; /* bumped by each run */
    int active;          /* members taking part in the current run */
    int pending;         /* helpers of the current run not finished yet */
    int quit;
    cvae__team_fn fn;
    void *ctx;
    int size, started;
    member members[TEAM_MAX];
    cvae_status status[TEAM_MAX];
    char msg[TEAM_MAX][MSG];
};

/* OpenBLAS's thread count is global: the first team to start a run saves it and sets
 * 1, the last one to finish restores it, so concurrent teams cannot lose it. Not where
 * cvae__sgemm runs the built-in GEMM: no BLAS call is made then, and each of those two calls
 * costs about 20 us (openblas_set_num_threads; batch-1 inference on a team of 2 took 0.141
 * ms against 0.100 on one thread, compare.sh). */
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static int blas_users, blas_saved;

static void blas_single_begin(void)
{
    if (cvae__sgemm_is_builtin()) return; /* no BLAS call to keep single-threaded */
    pthread_mutex_lock(&blas_mu);
    if (blas_users++ == 0) {
        blas_saved = cvae__blas_threads();
        if (blas_saved != 1) cvae__blas_set_threads(1);
    }
    pthread_mutex_unlock(&blas_mu);
}

static void blas_single_end(void)
{
    if (cvae__sgemm_is_builtin()) return;
    pthread_mutex_lock(&blas_mu);
    if (--blas_users == 0 && blas_saved != 1) cvae__blas_set_threads(blas_saved);
    pthread_mutex_unlock(&blas_mu);
}

int cvae__team_default_size(void)
{
    const int n = cvae__blas_threads();
    return n < 1 ? 1 : n > TEAM_MAX ? TEAM_MAX : n;
}

static void run_member(cvae__team *tm, int i)
{
    cvae_status s = tm->fn(tm->ctx, i);
    tm->status[i] = s;
    if (s) snprintf(tm->msg[i], MSG, "%s", cvae_last_error());
}

static void *helper_main(void *arg)
{
    member *me = arg;
    cvae__team *tm = me->team;
    uint64_t seen = 0;
    pthread_mutex_lock(&tm->mu);
    for (;;) {
        while (tm->generation == seen && !tm->quit) pthread_cond_wait(&tm->go, &tm->mu);
        if (tm->quit) break;
        seen = tm->generation;
        if (me->index >= tm->active) continue;
        pthread_mutex_unlock(&tm->mu);
        run_member(tm, me->index);
        pthread_mutex_lock(&tm->mu);
        if (--tm->pending == 0) pthread_cond_signal(&tm->done);
    }
    pthread_mutex_unlock(&tm->mu);
    return NULL;
}

cvae_status cvae__team_new(int size, cvae__team **out)
{
    if (size < 1 || size > TEAM_MAX)
        return cvae__error(CVAE_ERR_INVALID_ARG, "thread team: size %d outside [1, %d]", size, TEAM_MAX);
    cvae__team *tm = cvae__calloc(1, sizeof *tm);
    if (!tm) return cvae__nomem("thread team", sizeof *tm);
    tm->size = size;
    if (pthread_mutex_init(&tm->busy, NULL)) goto fail_busy;
    if (pthread_mutex_init(&tm->mu, NULL)) goto fail_mu;
    if (pthread_cond_init(&tm->go, NULL)) goto fail_go;
    if (pthread_cond_init(&tm->done, NULL)) goto fail_done;
    for (int i = 1; i < size; i++) {
        tm->members[i] = (member){tm, i, 0};
        if (pthread_create(&tm->members[i].thread, NULL, helper_main, &tm->members[i])) {
            cvae__team_free(tm);
            return cvae__error(CVAE_ERR_NOMEM, "thread team: cannot start thread %d of %d", i, size - 1);
        }
        tm->started = i;
    }
    *out = tm;
    return CVAE_OK;
fail_done:
    pthread_cond_destroy(&tm->go);
fail_go:
    pthread_mutex_destroy(&tm->mu);
fail_mu:
    pthread_mutex_destroy(&tm->busy);
fail_busy:
    cvae__free(tm);
    return cvae__error(CVAE_ERR_NOMEM, "thread team: cannot create its locks");
}

void cvae__team_free(cvae__team *tm)
{
    if (!tm) return;
    pthread_mutex_lock(&tm->mu);
    tm->quit = 1;
    pthread_cond_broadcast(&tm->go);
    pthread_mutex_unlock(&tm->mu);
    for (int i = 1; i <= tm->started; i++) pthread_join(tm->members[i].thread, NULL);
    pthread_cond_destroy(&tm->done);
    pthread_cond_destroy(&tm->go);
    pthread_mutex_destroy(&tm->mu);
    pthread_mutex_destroy(&tm->busy);
    cvae__free(tm);
}

int cvae__team_size(const cvae__team *tm) { return tm ? tm->size : 1; }

/* Members 0..n-1 one after another on the calling thread; the first failure stops. */
static cvae_status run_serially(int n, cvae__team_fn fn, void *ctx)
{
    for (int i = 0; i < n; i++) CVAE_TRY(fn(ctx, i));
    return CVAE_OK;
}

cvae_status cvae__team_run(cvae__team *tm, int n, cvae__team_fn fn, void *ctx)
{
    if (n < 1 || n > cvae__team_size(tm))
        return cvae__error(CVAE_ERR_INVALID_ARG, "thread team: %d members asked of %d", n,
                           cvae__team_size(tm));
    if (!tm || tm->size == 1) return run_serially(n, fn, ctx);
    blas_single_begin();
    cvae_status s = CVAE_OK;
    if (n == 1 || pthread_mutex_trylock(&tm->busy) != 0) {
        s = run_serially(n, fn, ctx); /* one member, or the team works for another caller */
        blas_single_end();
        return s;
    }
    pthread_mutex_lock(&tm->mu);
    tm->fn = fn;
    tm->ctx = ctx;
    tm->active = n;
    tm->pending = n - 1;
    tm->generation++;
    pthread_cond_broadcast(&tm->go);
    pthread_mutex_unlock(&tm->mu);
    run_member(tm, 0);
    pthread_mutex_lock(&tm->mu);
    while (tm->pending > 0) pthread_cond_wait(&tm->done, &tm->mu);
    pthread_mutex_unlock(&tm->mu);
    for (int i = 0; i < n && !s; i++)
        if (tm->status[i]) s = cvae__error(tm->status[i], "%s", tm->msg[i]);
    pthread_mutex_unlock(&tm->busy);
    blas_single_end();
    return s;
}
