#include <math.h>

#include "core/internal.h"

/* Philox4x32-10 (Salmon et al., SC'11): 4 x 32-bit outputs per (key, counter). */
static void philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

cvae_rng cvae_rng_make(uint64_t seed, uint64_t stream)
{
    cvae_rng r = {seed, stream, 0};
    return r;
}

/* Output i of (seed, stream): block i/4, lane i%4. */
static uint32_t rng_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t b[4];
    philox(seed, stream, i >> 2, b);
    return b[i & 3];
}

uint32_t cvae_rng_u32(cvae_rng *r) { return rng_at(r->seed, r->stream, r->counter++); }

static float u32_to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

float cvae_rng_uniform(cvae_rng *r) { return u32_to_unit(cvae_rng_u32(r)); }

/* Box-Muller on two uniforms; u1 in (0, 1] so the log is finite. */
static float box_muller(uint32_t a, uint32_t b)
{
    float u1 = ((float)(a >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = u32_to_unit(b);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

float cvae_rng_normal(cvae_rng *r)
{
    uint32_t a = cvae_rng_u32(r), b = cvae_rng_u32(r);
    return box_muller(a, b);
}

void cvae__rng_fill_normal_from(uint64_t seed, uint64_t stream, int64_t first, float mean, float std,
                                float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t b[4];
        philox(seed, stream, (uint64_t)(first + i), b);
        out[i] = mean + std * box_muller(b[0], b[1]);
    }
}

void cvae_rng_fill_normal(uint64_t seed, uint64_t stream, float mean, float std, float *out,
                          int64_t n)
{
    cvae__rng_fill_normal_from(seed, stream, 0, mean, std, out, n);
}

void cvae_rng_fill_uniform(uint64_t seed, uint64_t stream, float lo, float hi, float *out,
                           int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * u32_to_unit(rng_at(seed, stream, (uint64_t)i));
}
