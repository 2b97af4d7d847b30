/* A counting allocator for allocation-failure tests. Installed through
 * cvae_set_allocator (and, optionally, cJSON_InitHooks, so that the JSON
 * parser cvae uses fails too), it numbers every allocation attempt (malloc,
 * realloc) from 1 after failalloc_arm(k), makes attempt k alone return NULL,
 * and counts the blocks still live:
 *
 *     failalloc_install(1);
 *     failalloc_arm(0);  op();  long n = failalloc_calls();   // n attempts
 *     for (long k = 1; k <= n; k++) {
 *         failalloc_arm(k);  s = op();  (s is NOMEM, or OK if tolerated)
 *         assert live == 0 once op has freed what it made
 *     }
 *     failalloc_uninstall();
 *
 * Counters are atomic; the numbering is deterministic only for
 * single-threaded operations. Allocations other libraries make with plain
 * malloc (zlib, libpng, OpenBLAS) are not seen: ASan and valgrind cover those. */
#ifndef CVAE_FAILALLOC_H
#define CVAE_FAILALLOC_H

#include <stddef.h>

/* Routes cvae's allocations (and cJSON's when hook_cjson) through the counter. */
void failalloc_install(int hook_cjson);
/* Restores malloc/realloc/free for cvae and cJSON. */
void failalloc_uninstall(void);
/* cmocka setup/teardown: failalloc_install(0) / failalloc_uninstall(); return 0. */
int failalloc_setup(void **state);
int failalloc_teardown(void **state);
/* Resets the counters; attempt k (1-based) will fail, none when k <= 0. */
void failalloc_arm(long k);
/* Allocation attempts since failalloc_arm. */
long failalloc_calls(void);
/* Blocks allocated and not yet freed (cvae's and cJSON's), since install. */
long failalloc_live(void);
/* Largest single request (bytes) since failalloc_arm. */
size_t failalloc_max_request(void);
/* 1 when the armed attempt was reached (and failed), else 0. */
int failalloc_fired(void);
/* 1 when the failed attempt was cJSON's, not cvae's. */
int failalloc_fired_in_cjson(void);

#endif
