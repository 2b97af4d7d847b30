#include <math.h>

#include "core/internal.h"
#include "cvae/nn.h"

cvae_status cvae_init_fill(cvae_tensor *w, cvae_init init, int64_t fan_in, int64_t fan_out,
                           uint64_t seed, uint64_t stream)
{
    CVAE_CHECK_NULL(w, "cvae_init_fill");
    if (fan_in < 1 || fan_out < 1)
        return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_init_fill: fans %lld, %lld must be >= 1",
                           (long long)fan_in, (long long)fan_out);
    switch (init) {
    case CVAE_INIT_DEFAULT: /* outside a layer: Keras's default */
    case CVAE_INIT_GLOROT_UNIFORM: {
        float a = sqrtf(6.0f / (float)(fan_in + fan_out));
        cvae_rng_fill_uniform(seed, stream, -a, a, w->data, w->size);
        return CVAE_OK;
    }
    case CVAE_INIT_HE_NORMAL:
        cvae_rng_fill_normal(seed, stream, 0.0f, sqrtf(2.0f / (float)fan_in), w->data, w->size);
        return CVAE_OK;
    case CVAE_INIT_HE_UNIFORM: {
        float a = sqrtf(6.0f / (float)fan_in);
        cvae_rng_fill_uniform(seed, stream, -a, a, w->data, w->size);
        return CVAE_OK;
    }
    case CVAE_INIT_TORCH: {
        float b = 1.0f / sqrtf((float)fan_in);
        cvae_rng_fill_uniform(seed, stream, -b, b, w->data, w->size);
        return CVAE_OK;
    }
    case CVAE_INIT_ZEROS:
        memset(w->data, 0, (size_t)w->size * sizeof(float));
        return CVAE_OK;
    }
    return cvae__error(CVAE_ERR_INVALID_ARG, "cvae_init_fill: unknown scheme %d", (int)init);
}
