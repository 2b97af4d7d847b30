/* cvae/io.h: datasets in MNIST's IDX format, PNG pictures, safetensors files. */
#ifndef CVAE_IO_H
#define CVAE_IO_H

#include "cvae/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== IDX datasets ========================================================= */

/* (section owned by the optim-io branch) */



/* ==== safetensors files ==================================================== */

/* (section owned by the safetensors-png branch) */



/* ==== PNG pictures ========================================================= */

/* (section owned by the safetensors-png branch) */



#ifdef __cplusplus
}
#endif
#endif
