#include "failalloc.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cvae/core.h"

static atomic_long calls, live, fail_at;
static atomic_int fired, fired_cjson;

/* One attempt: true when it must fail. */
static int attempt(int from_cjson)
{
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (n != atomic_load(&fail_at)) return 0;
    atomic_store(&fired, 1);
    atomic_store(&fired_cjson, from_cjson);
    return 1;
}

static void *fa_malloc_from(size_t n, int from_cjson)
{
    if (attempt(from_cjson)) return NULL;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&live, 1);
    return p;
}

static void *fa_malloc(size_t n) { return fa_malloc_from(n, 0); }
static void *fa_cjson_malloc(size_t n) { return fa_malloc_from(n, 1); }

static void *fa_realloc(void *p, size_t n)
{
    if (attempt(0)) return NULL;
    void *q = realloc(p, n);
    if (q && !p) atomic_fetch_add(&live, 1);
    return q;
}

static void fa_free(void *p)
{
    if (!p) return;
    atomic_fetch_sub(&live, 1);
    free(p);
}

void failalloc_install(int hook_cjson)
{
    atomic_store(&live, 0);
    failalloc_arm(0);
    cvae_set_allocator(fa_malloc, fa_realloc, fa_free);
    if (hook_cjson) {
        cJSON_Hooks h = {fa_cjson_malloc, fa_free};
        cJSON_InitHooks(&h);
    }
}

void failalloc_uninstall(void)
{
    cvae_set_allocator(NULL, NULL, NULL);
    cJSON_InitHooks(NULL);
}

void failalloc_arm(long k)
{
    atomic_store(&calls, 0);
    atomic_store(&fired, 0);
    atomic_store(&fired_cjson, 0);
    atomic_store(&fail_at, k > 0 ? k : 0);
}

long failalloc_calls(void) { return atomic_load(&calls); }
long failalloc_live(void) { return atomic_load(&live); }
int failalloc_fired(void) { return atomic_load(&fired); }
int failalloc_fired_in_cjson(void) { return atomic_load(&fired_cjson); }
