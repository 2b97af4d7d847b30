/* Saving and loading a network's parameters (safetensors, see docs/model-format.md). */
#include "net/net_internal.h"

cvae_status cvae_net_save(const cvae_net *net, const char *path)
{
    CVAE_CHECK_NULL(net, "cvae_net_save");
    CVAE_CHECK_NULL(path, "cvae_net_save");
    const char *keys[1] = {"cvae.kind"}, *values[1] = {"net"};
    return cvae_safetensors_save_params(path, net->params, keys, values, 1);
}

cvae_status cvae_net_load(cvae_net *net, const char *path, cvae_load_mode mode,
                          cvae_load_report *report)
{
    CVAE_CHECK_NULL(net, "cvae_net_load");
    CVAE_CHECK_NULL(path, "cvae_net_load");
    if (net->source) return cvae__error(CVAE_ERR_STATE, "cvae_net_load: a replica loads nothing");
    cvae_st_file *f;
    CVAE_TRY(cvae_safetensors_open(path, &f));
    cvae_status s = cvae_safetensors_load_params(f, net->params, mode, report);
    cvae_safetensors_close(f);
    return cvae__error_in_file(s, path);
}
