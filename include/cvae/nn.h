/* cvae/nn.h: layers that own parameters (registered in a cvae_params block)
 * and call ops. A layer struct is freed with its _free function; its parameter
 * tensors belong to the block it was created in.
 *
 * Initialization follows the fan-in/fan-out conventions of Keras and PyTorch. */
#ifndef CVAE_NN_H
#define CVAE_NN_H

#include "cvae/conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Weight initialization schemes. fan_in = inputs per output unit (Cin kH kW
 *  for convolutions), fan_out = outputs per input unit. */
typedef enum cvae_init {
    CVAE_INIT_GLOROT_UNIFORM = 0, /**< U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Keras default) */
    CVAE_INIT_HE_NORMAL = 1,      /**< N(0, 2 / fan_in) (for ReLU layers) */
    CVAE_INIT_HE_UNIFORM = 2,     /**< U(-a, a), a = sqrt(6 / fan_in) */
    CVAE_INIT_ZEROS = 3
} cvae_init;

/** Fills w with scheme `init` for the given fans, from the stream (seed, stream). */
CVAE_API cvae_status cvae_init_fill(cvae_tensor *w, cvae_init init, int64_t fan_in, int64_t fan_out,
                                    uint64_t seed, uint64_t stream);

/* ==== linear layer ========================================================= */

/* (section owned by the optim-io branch) */

/** A fully connected layer y = x W^T + b with PyTorch's parameter names and layout. */
typedef struct cvae_linear {
    cvae_tensor *weight; /**< [out, in], registered as "<name>.weight" */
    cvae_tensor *bias;   /**< [out], registered as "<name>.bias"; NULL without bias */
    int64_t in_features, out_features;
} cvae_linear;

/** Registers "<name>.weight" [out, in] (filled by `init` with fan_in = in,
 *  fan_out = out, from stream FNV-1a-64("<name>.weight") of `seed`, so layers
 *  sharing a seed differ) and, when `bias` is set, a zero "<name>.bias" [out]
 *  in p. Both names must be new; name is at most 200 bytes. */
CVAE_API cvae_status cvae_linear_new(cvae_params *p, const char *name, int64_t in, int64_t out,
                                     int bias, cvae_init init, uint64_t seed, cvae_linear **l);

/** y = x W^T + b.  x: [N, in] -> y: [N, out] (on tape t). */
CVAE_API cvae_status cvae_linear_forward(const cvae_linear *l, cvae_tape *t, cvae_tensor *x,
                                         cvae_tensor **y);

/** Frees the layer struct (its parameters stay in their block). NULL is a no-op. */
CVAE_API void cvae_linear_free(cvae_linear *l);


/* ==== convolution layers =================================================== */

/* Parameters are registered under PyTorch's names ("<name>.weight", ...). Weights
 * are drawn with cvae_init_fill from stream = a hash of the weight's name, so
 * layers sharing a seed get independent values; biases start at zero. On an
 * error nothing is added to p, unless p runs out of memory midway. */

/** y = conv2d(x, weight) + bias. */
typedef struct cvae_conv2d {
    cvae_tensor *weight; /**< [Cout, Cin, kH, kW]; fan_in = Cin kH kW, fan_out = Cout kH kW */
    cvae_tensor *bias;   /**< [Cout] or NULL */
    cvae_conv_opts opts;
} cvae_conv2d;

CVAE_API cvae_status cvae_conv2d_new(cvae_params *p, const char *name, int64_t cin, int64_t cout, int kh,
                                     int kw, cvae_conv_opts opts, int bias, cvae_init init, uint64_t seed,
                                     cvae_conv2d **out);
/** x: [N, Cin, H, W] -> y: [N, Cout, Ho, Wo] on tape t. */
CVAE_API cvae_status cvae_conv2d_forward(const cvae_conv2d *layer, cvae_tape *t, cvae_tensor *x,
                                         cvae_tensor **y);
/** Frees the struct (not its parameters, which belong to the block). NULL is a no-op. */
CVAE_API void cvae_conv2d_free(cvae_conv2d *layer);

/** y = conv_transpose2d(x, weight) + bias (opts.output_pad in [0, stride)). */
typedef struct cvae_conv_transpose2d {
    cvae_tensor *weight; /**< [Cin, Cout, kH, kW]; fan_in = Cout kH kW, fan_out = Cin kH kW (as PyTorch, Keras) */
    cvae_tensor *bias;   /**< [Cout] or NULL */
    cvae_conv_opts opts;
} cvae_conv_transpose2d;

CVAE_API cvae_status cvae_conv_transpose2d_new(cvae_params *p, const char *name, int64_t cin, int64_t cout,
                                               int kh, int kw, cvae_conv_opts opts, int bias, cvae_init init,
                                               uint64_t seed, cvae_conv_transpose2d **out);
/** x: [N, Cin, H, W] -> y: [N, Cout, Ho, Wo]. */
CVAE_API cvae_status cvae_conv_transpose2d_forward(const cvae_conv_transpose2d *layer, cvae_tape *t,
                                                   cvae_tensor *x, cvae_tensor **y);
CVAE_API void cvae_conv_transpose2d_free(cvae_conv_transpose2d *layer);

/** Batch normalization over (N, H, W) per channel (see cvae_op_batch_norm2d). */
typedef struct cvae_batch_norm2d {
    cvae_tensor *weight, *bias;              /**< gamma (ones), beta (zeros): [C], trainable */
    cvae_tensor *running_mean, *running_var; /**< [C] (zeros, ones): frozen, saved with the model */
    float momentum, eps;
} cvae_batch_norm2d;

/** momentum in [0, 1] (PyTorch default 0.1), eps > 0 (default 1e-5). */
CVAE_API cvae_status cvae_batch_norm2d_new(cvae_params *p, const char *name, int64_t c, float momentum,
                                           float eps, cvae_batch_norm2d **out);
/** x: [N, C, H, W] -> y of the same shape; training != 0 uses and updates batch statistics. */
CVAE_API cvae_status cvae_batch_norm2d_forward(const cvae_batch_norm2d *layer, cvae_tape *t, cvae_tensor *x,
                                               int training, cvae_tensor **y);
CVAE_API void cvae_batch_norm2d_free(cvae_batch_norm2d *layer);



/* ==== conditional (label-indexed) convolution layer ======================== */

/* (section owned by the conditional branch) */



#ifdef __cplusplus
}
#endif
#endif
