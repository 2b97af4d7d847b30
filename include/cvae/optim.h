/* cvae/optim.h (being written). */
#ifndef CVAE_OPTIM_H
#define CVAE_OPTIM_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
