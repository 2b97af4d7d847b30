#include <stdlib.h>

#include "core/internal.h"

static void *(*user_malloc)(size_t) = malloc;
static void *(*user_realloc)(void *, size_t) = realloc;
static void (*user_free)(void *) = free;

cvae_status cvae_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                               void (*free_fn)(void *))
{
    if (!malloc_fn && !realloc_fn && !free_fn) {
        user_malloc = malloc;
        user_realloc = realloc;
        user_free = free;
        return CVAE_OK;
    }
    if (!malloc_fn || !realloc_fn || !free_fn)
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "cvae_set_allocator: give all three functions or none");
    user_malloc = malloc_fn;
    user_realloc = realloc_fn;
    user_free = free_fn;
    return CVAE_OK;
}

void *cvae__malloc(size_t bytes) { return bytes ? user_malloc(bytes) : NULL; }

void *cvae__calloc(size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes) || bytes == 0) return NULL;
    void *p = user_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *cvae__realloc(void *p, size_t bytes) { return bytes ? user_realloc(p, bytes) : NULL; }

void cvae_free_buffer(void *p) { cvae__free(p); }

void cvae__free(void *p)
{
    if (p) user_free(p);
}

/* The original pointer is stored just below the aligned block. */
void *cvae__aligned_alloc(size_t bytes)
{
    size_t total;
    if (bytes == 0 || __builtin_add_overflow(bytes, 64 + sizeof(void *), &total)) return NULL;
    unsigned char *raw = user_malloc(total);
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
    ((void **)a)[-1] = raw;
    return (void *)a;
}

void cvae__aligned_free(void *p)
{
    if (p) user_free(((void **)p)[-1]);
}
