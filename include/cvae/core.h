/** @file
 * cvae/core.h: status codes, error messages, version, allocator hooks. */
#ifndef CVAE_CORE_H
#define CVAE_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @def CVAE_API
 *  Marks a symbol exported from the shared library (all others are hidden). */
#if defined(CVAE_STATIC_DEFINE)
#define CVAE_API
#elif defined(_WIN32)
#ifdef CVAE_BUILDING
#define CVAE_API __declspec(dllexport)
#else
#define CVAE_API __declspec(dllimport)
#endif
#else
#define CVAE_API __attribute__((visibility("default")))
#endif

#define CVAE_VERSION_MAJOR 0         /**< incompatible API changes bump this */
#define CVAE_VERSION_MINOR 2         /**< compatible additions bump this */
#define CVAE_VERSION_PATCH 0         /**< fixes bump this */
#define CVAE_VERSION_STRING "0.2.0" /**< "MAJOR.MINOR.PATCH" of these headers */

/** Result of every fallible public call. 0 is success; on failure the outputs
 *  are untouched and cvae_last_error() says what was wrong. */
typedef enum cvae_status {
    CVAE_OK = 0,
    CVAE_ERR_INVALID_ARG = 1, /**< NULL pointer, zero/negative size, bad option */
    CVAE_ERR_SHAPE = 2,       /**< tensor shapes do not fit together */
    CVAE_ERR_RANGE = 3,       /**< label or index outside its range */
    CVAE_ERR_NOMEM = 4,       /**< allocation failed or a size overflowed */
    CVAE_ERR_IO = 5,          /**< a file could not be opened, read or written */
    CVAE_ERR_FORMAT = 6,      /**< a file is malformed, truncated or fails its checksum */
    CVAE_ERR_NUMERIC = 7,     /**< NaN or Inf where finite values are required */
    CVAE_ERR_STATE = 8,       /**< call not valid in the object's current state */
    CVAE_ERR_UNSUPPORTED = 9  /**< valid request this build cannot serve */
} cvae_status;

/** Short constant name of a status ("invalid argument", ...). Never NULL. */
CVAE_API const char *cvae_status_str(cvae_status s);

/** Message of the last error raised on the calling thread ("" if none).
 *  Valid until the next failing cvae call on the same thread. */
CVAE_API const char *cvae_last_error(void);

/** Forgets the calling thread's last error message. */
CVAE_API void cvae_clear_error(void);

/** Records a printf-style message as the calling thread's cvae_last_error() and returns s:
 *  for code built on the library (a loss function, an engine of cvae_dist, cvae/mpi.h) to
 *  report a failure the way the library does. */
CVAE_API cvae_status cvae_set_error(cvae_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Library version as "MAJOR.MINOR.PATCH". */
CVAE_API const char *cvae_version(void);

/** Frees a buffer the library allocated and handed to the caller (a string or
 *  an image from cvae_image_grid, ...). NULL is a no-op. */
CVAE_API void cvae_free_buffer(void *p);

/** Replaces the allocator used for every allocation the library makes.
 *  All three must be given (or all NULL to restore malloc/realloc/free). Not
 *  thread-safe: call before creating any cvae object. */
CVAE_API cvae_status cvae_set_allocator(void *(*malloc_fn)(size_t),
                                        void *(*realloc_fn)(void *, size_t),
                                        void (*free_fn)(void *));

#ifdef __cplusplus
}
#endif
#endif
