/* examples/nets/denoiser.c at reduced size: a network that is not a VAE, trained with the
 * generic trainer and a loss of its own, learns to denoise, and uses its labels. */
#include <math.h>

#include "denoiser.h"
#include "testutil.h"

static void test_denoiser_learns(void **state)
{
    (void)state;
    cvae_dataset *train, *test;
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), "train", &train));
    CVAE_OK_OR_FAIL(cvae_dataset_load_dir(test_data_path(""), "t10k", &test));
    float sigma = 1.0f;
    cvae_net *net;
    cvae_trainer *tr;
    cvae_loader *ld;
    cvae_train_opts o = cvae_train_opts_default();
    o.lr = 2e-3f;
    CVAE_OK_OR_FAIL(dn_net_new(10, 1, &net));
    CVAE_OK_OR_FAIL(cvae_trainer_new_net(net, &o, dn_loss, &sigma, &tr));
    CVAE_OK_OR_FAIL(cvae_trainer_set_threads(tr, 2));
    CVAE_OK_OR_FAIL(cvae_loader_new(train, 64, CVAE_BINARIZE_NONE, 1, 1, &ld));
    double noisy, right, wrong, before, loss;
    CVAE_OK_OR_FAIL(dn_evaluate(net, test, 500, sigma, 7, &noisy, &before, &wrong));
    for (int e = 0; e < 2; e++) CVAE_OK_OR_FAIL(cvae_trainer_epoch(tr, ld, &loss));
    CVAE_OK_OR_FAIL(dn_evaluate(net, test, 500, sigma, 7, &noisy, &right, &wrong));
    /* the noise alone costs sigma^2 per pixel; the trained denoiser removes almost all of it,
     * and the label-indexed filters of another digit make it a little worse (measured: 3%) */
    if (!(fabs(noisy / (sigma * sigma) - 1) < 0.02 && right < 0.05 * noisy &&
          right < 0.5 * before && wrong > 1.01 * right))
        fail_msg("MSE noisy %.4f, denoised %.4f (untrained %.4f), wrong labels %.4f", noisy, right,
                 before, wrong);
    cvae_loader_free(ld);
    cvae_trainer_free(tr);
    cvae_net_free(net);
    cvae_dataset_free(train), cvae_dataset_free(test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_denoiser_learns)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
