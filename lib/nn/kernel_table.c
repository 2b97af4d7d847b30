/* Deterministic generators of label-indexed kernel tables [K, C, Cin, kH, kW]. */
#include <limits.h>
#include <math.h>

#include "core/internal.h"
#include "cvae/nn.h"

static cvae_status check_table(const cvae_tensor *table, const char *fn)
{
    CVAE_CHECK_NULL(table, fn);
    if (table->ndim != 5) {
        char s[80];
        return cvae__error(CVAE_ERR_SHAPE, "%s: table %s must be [K, C, Cin, kH, kW]", fn,
                           cvae__shape_str(table, s, sizeof s));
    }
    for (int d = 0; d < 5; d++)
        if (table->shape[d] > INT_MAX)
            return cvae__error(CVAE_ERR_SHAPE, "%s: table extent %lld exceeds int", fn,
                               (long long)table->shape[d]);
    return CVAE_OK;
}

cvae_status cvae_table_fill_random(cvae_tensor *table, uint64_t seed)
{
    CVAE_TRY(check_table(table, "cvae_table_fill_random"));
    const int64_t fan_in = table->shape[2] * table->shape[3] * table->shape[4];
    const float a = sqrtf(6.0f / (float)fan_in);
    cvae_rng_fill_uniform(seed, 0x7461626c65ull /* "table" */, -a, a, table->data, table->size);
    return CVAE_OK;
}

cvae_status cvae_table_fill_gabor(cvae_tensor *table, float sigma, float wavelength)
{
    static const char *fn = "cvae_table_fill_gabor";
    CVAE_TRY(check_table(table, fn));
    if (!(sigma > 0.0f) || !(wavelength > 0.0f) || !isfinite(sigma) || !isfinite(wavelength))
        return cvae__error(CVAE_ERR_INVALID_ARG,
                           "%s: sigma %g and wavelength %g must be finite and > 0", fn,
                           (double)sigma, (double)wavelength);
    const int64_t k = table->shape[0], c = table->shape[1], cin = table->shape[2];
    const int64_t kh = table->shape[3], kw = table->shape[4], kk = kh * kw;
    const double pi = 3.14159265358979323846;
    const double cy = 0.5 * (double)(kh - 1), cx = 0.5 * (double)(kw - 1);
    for (int64_t l = 0; l < k; l++) {
        const double theta = pi * (double)l / (double)k, ct = cos(theta), st = sin(theta);
        for (int64_t o = 0; o < c; o++) {
            const double phase = (double)(o % 2) * pi / 2,
                         lambda = wavelength * (double)(1 + o / 2);
            float *ker = table->data + (l * c + o) * cin * kk;
            double mean = 0.0;
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    const double u = (double)j - cx, v = (double)i - cy, up = u * ct + v * st;
                    const double gv = exp(-(u * u + v * v) / (2.0 * sigma * sigma)) *
                                      cos(2.0 * pi * up / lambda + phase);
                    ker[i * kw + j] = (float)gv;
                    mean += gv;
                }
            mean = kk > 1 ? mean / (double)kk : 0.0;
            double norm = 0.0;
            for (int64_t q = 0; q < kk; q++) {
                ker[q] = (float)(ker[q] - mean);
                norm += (double)ker[q] * ker[q];
            }
            const double scale = norm > 1e-20 ? 1.0 / sqrt(norm * (double)cin) : 1.0;
            for (int64_t q = 0; q < kk; q++) ker[q] = (float)(ker[q] * scale);
            for (int64_t ci = 1; ci < cin; ci++)
                memcpy(ker + ci * kk, ker, (size_t)kk * sizeof(float));
        }
    }
    return CVAE_OK;
}

cvae_status cvae_table_fill_callback(cvae_tensor *table, cvae_kernel_fn fn, void *user)
{
    static const char *f = "cvae_table_fill_callback";
    CVAE_TRY(check_table(table, f));
    CVAE_CHECK_NULL(fn, f);
    const int64_t per = table->size / table->shape[0];
    float *tmp = cvae__malloc((size_t)table->size * sizeof(float));
    if (!tmp) return cvae__nomem(f, (size_t)table->size * sizeof(float));
    memcpy(tmp, table->data, (size_t)table->size * sizeof(float));
    for (int64_t l = 0; l < table->shape[0]; l++)
        fn((int)l, (int)table->shape[1], (int)table->shape[2], (int)table->shape[3],
           (int)table->shape[4], tmp + l * per, user);
    for (int64_t i = 0; i < table->size; i++)
        if (!isfinite(tmp[i])) {
            cvae__free(tmp);
            return cvae__error(CVAE_ERR_NUMERIC,
                               "%s: the callback wrote a non-finite value for label %lld", f,
                               (long long)(i / per));
        }
    memcpy(table->data, tmp, (size_t)table->size * sizeof(float));
    cvae__free(tmp);
    return CVAE_OK;
}
