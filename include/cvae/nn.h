/* cvae/nn.h (being written). */
#ifndef CVAE_NN_H
#define CVAE_NN_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
