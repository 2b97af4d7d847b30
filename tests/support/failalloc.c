#include "failalloc.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cvae/core.h"

static atomic_long calls, live, fail_at;
static atomic_size_t max_request;
static atomic_int fired, fired_cjson;

/* One attempt of n bytes: true when it must fail. */
static int attempt(size_t bytes, int from_cjson)
{
    size_t m = atomic_load(&max_request);
    while (bytes > m && !atomic_compare_exchange_weak(&max_request, &m, bytes)) {
    }
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (n != atomic_load(&fail_at)) return 0;
    atomic_store(&fired, 1);
    atomic_store(&fired_cjson, from_cjson);
    return 1;
}

static void *fa_malloc_from(size_t n, int from_cjson)
{
    if (attempt(n, from_cjson)) return NULL;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&live, 1);
    return p;
}

static void *fa_malloc(size_t n) { return fa_malloc_from(n, 0); }
static void *fa_cjson_malloc(size_t n) { return fa_malloc_from(n, 1); }

static void *fa_realloc(void *p, size_t n)
{
    if (attempt(n, 0)) return NULL;
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

int failalloc_setup(void **state)
{
    (void)state;
    failalloc_install(0);
    return 0;
}

int failalloc_teardown(void **state)
{
    (void)state;
    failalloc_uninstall();
    return 0;
}

void failalloc_arm(long k)
{
    atomic_store(&calls, 0);
    atomic_store(&max_request, 0);
    atomic_store(&fired, 0);
    atomic_store(&fired_cjson, 0);
    atomic_store(&fail_at, k > 0 ? k : 0);
}

long failalloc_calls(void) { return atomic_load(&calls); }
long failalloc_live(void) { return atomic_load(&live); }
size_t failalloc_max_request(void) { return atomic_load(&max_request); }
int failalloc_fired(void) { return atomic_load(&fired); }
int failalloc_fired_in_cjson(void) { return atomic_load(&fired_cjson); }
