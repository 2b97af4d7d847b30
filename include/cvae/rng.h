/** @file
 * cvae/rng.h: counter-based random numbers (Philox4x32-10).
 * Value i of stream s under seed k is a pure function of (k, s, i): results do
 * not depend on call order or thread count. */
#ifndef CVAE_RNG_H
#define CVAE_RNG_H

#include "cvae/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A position in a counter-based stream; copy it freely. */
typedef struct cvae_rng {
    uint64_t seed;    /**< key */
    uint64_t stream;  /**< independent stream id (e.g. a layer or a purpose) */
    uint64_t counter; /**< next block of 4 outputs */
} cvae_rng;

/** Stream `stream` of seed `seed`, at its start. */
CVAE_API cvae_rng cvae_rng_make(uint64_t seed, uint64_t stream);

/** Next uniform 32-bit integer. */
CVAE_API uint32_t cvae_rng_u32(cvae_rng *r);

/** Next uniform float in [0, 1). */
CVAE_API float cvae_rng_uniform(cvae_rng *r);

/** Next standard normal sample (Box-Muller). */
CVAE_API float cvae_rng_normal(cvae_rng *r);

/** Fills out[0..n) with N(mean, std^2) samples; out[i] depends only on
 *  (seed, stream, i), so any slice can be regenerated independently. */
CVAE_API void cvae_rng_fill_normal(uint64_t seed, uint64_t stream, float mean, float std,
                                   float *out, int64_t n);

/** Fills out[0..n) with U[lo, hi) samples, indexed like cvae_rng_fill_normal. */
CVAE_API void cvae_rng_fill_uniform(uint64_t seed, uint64_t stream, float lo, float hi,
                                    float *out, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
