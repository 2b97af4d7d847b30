/* The reference conditional VAE as layer tables (see include/cvae/model.h). */
#include "model/arch.h"
#include "net/net_internal.h"

void cvae__model_arch(const cvae_model_config *c, cvae__arch *a)
{
    const int64_t K = c->num_labels, Cc = c->cond_channels, h4 = c->image_h / 4,
                  w4 = c->image_w / 4;
    const int frozen_table = !c->table_trainable;
    // clang-format off
    *a = (cvae__arch){
        .enc_in = {c->image_channels, c->image_h, c->image_w},
        .dec_in = {c->latent},
        .enc = {
            {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .table_name = "cond", .out = c->enc_channels,
             .cond_out = Cc, .labels = Cc ? K : 0, .kernel = 3, .stride = 2, .padding = 1,
             .activation = CVAE_ACT_RELU, .frozen_table = frozen_table, .table_init = c->table_init,
             .init = c->init},
            {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = c->enc2_channels, .kernel = 3,
             .stride = 2, .padding = 1, .activation = CVAE_ACT_RELU, .init = c->init},
            {.kind = CVAE_LAYER_FLATTEN},
            {.kind = CVAE_LAYER_LABEL_CONCAT, .labels = K},
            {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 2 * (int64_t)c->latent, .init = c->init},
        },
        .dec = {
            {.kind = CVAE_LAYER_LABEL_CONCAT, .labels = K},
            {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = c->enc2_channels * h4 * w4,
             .activation = CVAE_ACT_RELU, .init = c->init},
            {.kind = CVAE_LAYER_RESHAPE, .shape = {c->enc2_channels, h4, w4}},
            {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "deconv1", .table_name = "cond",
             .out = c->dec_channels, .cond_out = c->cond_decoder ? Cc : 0,
             .labels = c->cond_decoder ? K : 0, .kernel = 4, .stride = 2, .padding = 1,
             .activation = CVAE_ACT_RELU, .frozen_table = frozen_table, .table_init = c->table_init,
             .init = c->init},
            {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "deconv2", .out = c->image_channels,
             .kernel = 4, .stride = 2, .padding = 1, .init = c->init},
        }};
    // clang-format on
}

cvae_status cvae__model_size(const cvae_model_config *cfg, int64_t *total, int64_t *largest)
{
    cvae__arch a;
    cvae__model_arch(cfg, &a);
    int64_t t[2], l[2];
    const char *names[2] = {"enc", "dec"};
    for (int s = 0; s < 2; s++) {
        cvae_status st =
            s ? cvae__net_plan_size(1, a.dec_in, a.dec, CVAE__DEC_LAYERS, &t[s], &l[s])
              : cvae__net_plan_size(3, a.enc_in, a.enc, CVAE__ENC_LAYERS, &t[s], &l[s]);
        if (st) return cvae__error(st, "model config: stack '%s', %s", names[s], cvae_last_error());
    }
    *total = t[0] + t[1];
    *largest = l[0] > l[1] ? l[0] : l[1];
    return CVAE_OK;
}
