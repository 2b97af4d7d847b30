/* cvae/model.h (being written). */
#ifndef CVAE_MODEL_H
#define CVAE_MODEL_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
