/* cvae/conv.h (being written). */
#ifndef CVAE_CONV_H
#define CVAE_CONV_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
