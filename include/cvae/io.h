/* cvae/io.h (being written). */
#ifndef CVAE_IO_H
#define CVAE_IO_H

#include "cvae/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
