/* cvae eval: conditional fidelity, the judge's accuracy on generated images. */
#include <stdlib.h>

#include "cli.h"
#include "quality.h"

int eval_fidelity(const cvae_model *m, const judge *j, long per_label, uint64_t seed)
{
    const cvae_model_config *c = cvae_model_get_config(m);
    const int64_t K = c->num_labels, per = (int64_t)c->image_h * c->image_w;
    const int64_t ng = K * per_label;
    float *x = malloc(sizeof(float) * (size_t)(ng * per));
    int32_t *y = malloc(sizeof(int32_t) * (size_t)ng), *pred = malloc(sizeof(int32_t) * (size_t)ng);
    int64_t *conf = calloc((size_t)(K * K), sizeof(int64_t)), right = 0;
    int ok = x && y && pred && conf;
    if (!ok) fprintf(stderr, "cvae: fidelity: out of memory\n");
    for (int64_t i = 0; ok && i < ng; i++) y[i] = (int32_t)(i / per_label);
    ok = ok && !cli_fail(cvae_model_generate(m, y, ng, seed, x), "generating") &&
         !cli_fail(judge_apply(j, x, ng, pred, NULL), "judging");
    for (int64_t i = 0; ok && i < ng; i++) {
        right += pred[i] == y[i];
        if (pred[i] >= 0 && pred[i] < K) conf[y[i] * K + pred[i]]++;
    }
    if (ok) {
        printf("conditional fidelity: the judge recognises %.2f%% of generated images "
               "(%ld per label)\n",
               100.0 * (double)right / (double)ng, per_label);
        printf("per label:");
        for (int64_t k = 0; k < K; k++)
            printf(" %lld:%.0f%%", (long long)k,
                   100.0 * (double)conf[k * K + k] / (double)per_label);
        printf("\nconfusion matrix (rows: requested label, columns: the judge's answer):\n     ");
        for (int64_t k = 0; k < K; k++) printf("%5lld", (long long)k);
        printf("\n");
        for (int64_t r = 0; r < K; r++) {
            printf("%5lld", (long long)r);
            for (int64_t k = 0; k < K; k++) printf("%5lld", (long long)conf[r * K + k]);
            printf("\n");
        }
    }
    free(x), free(y), free(pred), free(conf);
    return ok;
}
