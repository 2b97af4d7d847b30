/* custom_cvae [EPOCHS [DATA_DIR]]: the reference conditional VAE written from the public layers
 * (cvae_model's network), trained, evaluated, saved and resumed (losses in nats per image, and
 * as hex floats: bit for bit those of cvae_model, see tests/test_custom_cvae.c). */
#include <cvae/cvae.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif
#define TRY(e)                                                                                     \
    do {                                                                                           \
        if ((e) != CVAE_OK) return fprintf(stderr, "%s\n", cvae_last_error()), 1;                  \
    } while (0)

enum { K = 10, L = 16, BATCH = 128 };
#define TORCH .init = CVAE_INIT_TORCH /* PyTorch's initialization, as cvae_model's default */
// clang-format off
static const cvae_layer encoder[] = { /* [1, 28, 28] -> [2 L]: mu, logvar */
    {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .table_name = "cond", .out = 32, .cond_out = 8,
     .labels = K, .kernel = 3, .stride = 2, .padding = 1, .activation = CVAE_ACT_RELU, TORCH},
    {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 3, .stride = 2, .padding = 1,
     .activation = CVAE_ACT_RELU, TORCH},
    {.kind = CVAE_LAYER_FLATTEN},
    {.kind = CVAE_LAYER_LABEL_CONCAT, .labels = K},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 2 * L, TORCH}};
static const cvae_layer decoder[] = { /* [L] -> logits [1, 28, 28] */
    {.kind = CVAE_LAYER_LABEL_CONCAT, .labels = K},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 64 * 7 * 7, .activation = CVAE_ACT_RELU, TORCH},
    {.kind = CVAE_LAYER_RESHAPE, .shape = {64, 7, 7}},
    {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "deconv1", .out = 32, .kernel = 4, .stride = 2,
     .padding = 1, .activation = CVAE_ACT_RELU, TORCH},
    {.kind = CVAE_LAYER_CONV_TRANSPOSE2D, .name = "deconv2", .out = 1, .kernel = 4, .stride = 2,
     .padding = 1, TORCH}};
// clang-format on

int main(int argc, char **argv)
{
    const int epochs = argc > 1 ? atoi(argv[1]) : 2;
    cvae_dataset *train, *test;
    TRY(cvae_dataset_load_dir(argc > 2 ? argv[2] : CVAE_DEFAULT_DATA_DIR, "train", &train));
    TRY(cvae_dataset_load_dir(argc > 2 ? argv[2] : CVAE_DEFAULT_DATA_DIR, "t10k", &test));
    cvae_net *net;
    cvae_elbo_spec elbo = {.beta = 1.0f};
    TRY(cvae_net_new(/*seed*/ 1, &net));
    TRY(cvae_net_add(net, "enc", 3, (int64_t[]){1, 28, 28}, encoder, 5, &elbo.encoder));
    TRY(cvae_net_add(net, "dec", 1, (int64_t[]){L}, decoder, 5, &elbo.decoder));
    char summary[4096];
    TRY(cvae_net_summary(net, summary, sizeof summary, NULL));
    printf("%s", summary);

    cvae_train_opts opts = cvae_train_opts_default(); /* Adam, lr 1e-3, noise seed 1 */
    cvae_trainer *tr;
    cvae_loader *ld, *eval;
    double loss;
    int64_t epoch;
    TRY(cvae_trainer_new_net(net, &opts, cvae_elbo_loss, &elbo, &tr));
    TRY(cvae_loader_new(train, BATCH, CVAE_BINARIZE_NONE, /*shuffle seed*/ 1, 1, &ld));
    TRY(cvae_loader_new(test, 500, CVAE_BINARIZE_NONE, 0, /*shuffle*/ 0, &eval));
    for (int e = 0; e < epochs; e++) {
        TRY(cvae_trainer_epoch(tr, ld, &loss));
        printf("epoch %d train loss %.3f (%a)\n", e + 1, loss, loss);
    }
    TRY(cvae_trainer_save(tr, epochs, "custom_cvae.ckpt"));
    TRY(cvae_trainer_evaluate(tr, eval, /*noise seed*/ 7, &loss));
    printf("test -ELBO %.3f nats\n", loss);

    cvae_trainer_free(tr); /* resume: a fresh trainer continues from the checkpoint, bit for bit */
    TRY(cvae_trainer_new_net(net, &opts, cvae_elbo_loss, &elbo, &tr));
    TRY(cvae_trainer_restore(tr, "custom_cvae.ckpt", &epoch));
    TRY(cvae_loader_seek(ld, epoch, 0));
    TRY(cvae_trainer_epoch(tr, ld, &loss));
    printf("epoch %lld train loss %.3f (%a, resumed)\n", (long long)epoch + 1, loss, loss);
    TRY(cvae_net_save(net, "custom_cvae.safetensors"));
    cvae_loader_free(ld), cvae_loader_free(eval), cvae_trainer_free(tr), cvae_net_free(net);
    cvae_dataset_free(train), cvae_dataset_free(test);
    return 0;
}
