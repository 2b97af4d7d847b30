/* The conditional VAE's architecture as two tables of public layers, derived from a
 * configuration: the one place where the model's layers are declared. */
#ifndef CVAE_MODEL_ARCH_H
#define CVAE_MODEL_ARCH_H

#include "cvae/model.h"

enum { CVAE__ENC_LAYERS = 5, CVAE__DEC_LAYERS = 5 };

typedef struct cvae__arch {
    int64_t enc_in[3];                /* {C, H, W} */
    int64_t dec_in[1];                /* {latent} */
    cvae_layer enc[CVAE__ENC_LAYERS]; /* images -> [2 latent]: mu, then logvar */
    cvae_layer dec[CVAE__DEC_LAYERS]; /* [latent] -> logits [C, H, W] */
} cvae__arch;

/* The layers of cfg (not validated: cvae_model_config_validate plans them). */
void cvae__model_arch(const cvae_model_config *cfg, cvae__arch *a);

/* Plans both stacks of cfg's architecture: *total receives their parameters' element
 * count, *largest that of the biggest parameter; errors name the stack and layer. */
cvae_status cvae__model_size(const cvae_model_config *cfg, int64_t *total, int64_t *largest);

#endif
