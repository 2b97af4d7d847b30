/** @file
 * cvae/nn.h: layers that own parameters (registered in a cvae_params block)
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

/** Weight initialization schemes. fan_in = inputs per output unit (Cin kH kW for
 *  convolutions, Cin kH kW / (sH sW) for transposed ones), fan_out = outputs per input unit;
 *  CVAE_INIT_TORCH takes PyTorch's fan_in instead (see there). */
typedef enum cvae_init {
    CVAE_INIT_DEFAULT = 0,        /**< in a cvae_layer: He-normal before a ReLU-family activation
                                       (relu, leaky relu, elu), Glorot-uniform otherwise;
                                       cvae_init_fill treats it as Glorot-uniform */
    CVAE_INIT_GLOROT_UNIFORM = 1, /**< U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Keras default) */
    CVAE_INIT_HE_NORMAL = 2,      /**< N(0, 2 / fan_in) (for ReLU layers) */
    CVAE_INIT_HE_UNIFORM = 3,     /**< U(-a, a), a = sqrt(6 / fan_in) */
    CVAE_INIT_ZEROS = 4,
    CVAE_INIT_TORCH = 5 /**< PyTorch's default for Linear, Conv2d and ConvTranspose2d
                             (Kaiming-uniform with a = sqrt(5)): U(-b, b), b = 1 / sqrt(fan_in)
                             with PyTorch's fan_in (in; C_in kH kW; for a transposed
                             conv C_out kH kW, from weight.size(1)). Layers given it draw
                             their biases too, U(-b, b) with the same b; every other
                             scheme starts biases at zero */
} cvae_init;

/** Fills w with scheme `init` for the given fans, from the stream (seed, stream). A bias
 *  under CVAE_INIT_TORCH is filled by the same call with its layer's fan_in. */
CVAE_API cvae_status cvae_init_fill(cvae_tensor *w, cvae_init init, int64_t fan_in, int64_t fan_out,
                                    uint64_t seed, uint64_t stream);

/** How a label-indexed kernel table starts. */
typedef enum cvae_table_init {
    CVAE_TABLE_RANDOM = 0, /**< like the layer's other weights (its init scheme and fans) */
    CVAE_TABLE_GABOR = 1   /**< oriented Gabor filters (cvae_table_fill_gabor, sigma = k / 3,
                                wavelength = k for a k x k kernel): label l at angle pi l / K */
} cvae_table_init;

/* ==== layers by configuration (Keras-like) ================================ */

/* A network is a list of these, checked and built in one call (cvae/net.h). Meant for
 * designated initializers; a field left out takes the default in its comment:
 *
 *     cvae_layer encoder[] = {
 *         {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .out = 32, .kernel = 3, .stride = 2,
 *          .padding = 1, .activation = CVAE_ACT_RELU,
 *          .cond_out = 8, .labels = 10},            // + 8 filters looked up by label
 *         {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 3, .stride = 2,
 *          .padding = 1, .activation = CVAE_ACT_RELU},
 *         {.kind = CVAE_LAYER_FLATTEN},
 *         {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 32},
 *     };
 *
 * Input sizes are taken from the previous layer; `.in`, when given, is checked against
 * it (a mismatch is reported when the network is built, naming the layer). Every weight
 * is trainable unless `.frozen` (or `.frozen_table`) says otherwise. Parameters are named
 * as PyTorch names them: "<stack>.<name>.weight", ".bias", and for the label-indexed part
 * ".table", ".table_bias" (under `.table_name` when given). */

/** What a cvae_layer computes. Shapes are per sample (the batch dimension N is implied). */
typedef enum cvae_layer_kind {
    CVAE_LAYER_NONE = 0,           /**< invalid: a forgotten .kind */
    CVAE_LAYER_LINEAR,             /**< [in] -> [out]: act(x W^T + b) */
    CVAE_LAYER_CONV2D,             /**< [in, H, W] -> [out + cond_out, Ho, Wo]: act(conv) */
    CVAE_LAYER_CONV_TRANSPOSE2D,   /**< [in, H, W] -> [out + cond_out, Ho, Wo]: act(conv^T) */
    CVAE_LAYER_BATCH_NORM2D,       /**< [C, H, W] -> same: batch statistics while the tape
                                        records, running ones otherwise; then act */
    CVAE_LAYER_ACTIVATION,         /**< any -> same: act(x) */
    CVAE_LAYER_FLATTEN,            /**< [d0, d1, ...] -> [d0 d1 ...] */
    CVAE_LAYER_RESHAPE,            /**< [...] -> [shape...], the same element count */
    CVAE_LAYER_LABEL_CONCAT,       /**< [D] -> [D + labels]: x with the one-hot of the label appended */
    CVAE_LAYER_MAX_POOL2D,         /**< [C, H, W] -> [C, (H - k) / s + 1, (W - k) / s + 1] */
    CVAE_LAYER_AVG_POOL2D,         /**< as max pooling, averaging */
    CVAE_LAYER_UPSAMPLE2D          /**< [C, H, W] -> [C, scale H, scale W], nearest */
} cvae_layer_kind;

/** One layer of a network. */
typedef struct cvae_layer {
    cvae_layer_kind kind; /**< what the layer computes (required) */
    const char *name;   /**< prefix of its parameters; required for layers that have some */
    int64_t in;         /**< input features / channels; 0: whatever the previous layer gives */
    int64_t out;        /**< learned output features / channels (conv kinds: may be 0 when
                             cond_out > 0) */
    int64_t cond_out;   /**< conv kinds: label-indexed output channels, concatenated after the
                             `out` learned ones; their kernels are gathered per sample from a
                             table over `labels` labels (the conditional convolution) */
    int64_t labels;     /**< K: labels of the table (cond_out > 0) or of the one-hot
                             (CVAE_LAYER_LABEL_CONCAT) */
    int kernel;         /**< square kernel (conv kinds, pooling); required there */
    int kernel_w;       /**< kernel width when it differs from `kernel` (0: square) */
    int stride;         /**< 1 (pooling: the kernel) */
    int padding;        /**< zero padding on every side, 0 */
    int output_padding; /**< transposed conv: extra rows and columns at the end, < stride */
    int dilation;       /**< 1 */
    int scale;          /**< CVAE_LAYER_UPSAMPLE2D: the factor, >= 1 */
    int64_t shape[4];   /**< CVAE_LAYER_RESHAPE: per-sample target shape, zeros after the last
                             extent; one extent may be -1 (inferred) */
    cvae_activation activation; /**< fused into the layer's output, CVAE_ACT_NONE */
    float alpha;        /**< parameter of the activation (see cvae_activation) */
    int no_bias;        /**< 1: no bias (and no table_bias) */
    int frozen;         /**< 1: every parameter of the layer frozen (no gradient, no work) */
    int frozen_table;   /**< 1: only the label-indexed table and its bias frozen */
    cvae_init init;     /**< scheme of the weights (and of a RANDOM table; CVAE_INIT_TORCH: and of
                             the biases), CVAE_INIT_DEFAULT */
    cvae_table_init table_init; /**< how the label-indexed table starts, CVAE_TABLE_RANDOM */
    const char *table_name;     /**< names the label-indexed part's parameters
                                     "<stack>.<table_name>.table"; NULL: the layer's name */
    float momentum;     /**< batch norm: weight of a new batch in the running statistics, 0.1 */
    float eps;          /**< batch norm: added to the variance, 1e-5 */
} cvae_layer;

/** Short type name of a layer kind, as a summary prints it ("Conv2D", "Linear", ...). */
CVAE_API const char *cvae_layer_kind_name(cvae_layer_kind kind);

/* ==== linear layer ========================================================= */

/* (section owned by the optim-io branch) */

/** A fully connected layer y = x W^T + b with PyTorch's parameter names and layout. */
typedef struct cvae_linear {
    cvae_tensor *weight; /**< [out, in], registered as "<name>.weight" */
    cvae_tensor *bias;   /**< [out], registered as "<name>.bias"; NULL without bias */
    int64_t in_features;  /**< inputs per sample */
    int64_t out_features; /**< outputs per sample */
} cvae_linear;

/** Registers "<name>.weight" [out, in] (filled by `init` with fan_in = in,
 *  fan_out = out, from stream FNV-1a-64("<name>.weight") of `seed`, so layers
 *  sharing a seed differ) and, when `bias` is set, "<name>.bias" [out] in p (zero;
 *  under CVAE_INIT_TORCH drawn with fan_in = in). Both names must be new; name is at
 *  most 200 bytes. */
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
 * layers sharing a seed get independent values; biases start at zero (under
 * CVAE_INIT_TORCH drawn with the weight's fan_in, as PyTorch does). On an
 * error nothing is added to p, unless p runs out of memory midway. */

/** y = conv2d(x, weight) + bias. */
typedef struct cvae_conv2d {
    cvae_tensor *weight; /**< [Cout, Cin, kH, kW]; fan_in = Cin kH kW, fan_out = Cout kH kW */
    cvae_tensor *bias;   /**< [Cout] or NULL */
    cvae_conv_opts opts; /**< stride, padding, dilation */
} cvae_conv2d;

/** Registers "<name>.weight" [Cout, Cin, kH, kW] (filled by `init`) and, when
 *  `bias`, a zero "<name>.bias" [Cout] in p; *out receives the layer. */
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
    cvae_conv_opts opts; /**< stride, padding, dilation, output padding */
} cvae_conv_transpose2d;

/** Registers "<name>.weight" [Cin, Cout, kH, kW] (filled by `init`) and, when
 *  `bias`, a zero "<name>.bias" [Cout] in p; *out receives the layer. */
CVAE_API cvae_status cvae_conv_transpose2d_new(cvae_params *p, const char *name, int64_t cin, int64_t cout,
                                               int kh, int kw, cvae_conv_opts opts, int bias, cvae_init init,
                                               uint64_t seed, cvae_conv_transpose2d **out);
/** x: [N, Cin, H, W] -> y: [N, Cout, Ho, Wo]. */
CVAE_API cvae_status cvae_conv_transpose2d_forward(const cvae_conv_transpose2d *layer, cvae_tape *t,
                                                   cvae_tensor *x, cvae_tensor **y);
/** Frees the struct (not its parameters). NULL is a no-op. */
CVAE_API void cvae_conv_transpose2d_free(cvae_conv_transpose2d *layer);

/** Batch normalization over (N, H, W) per channel (see cvae_op_batch_norm2d). */
typedef struct cvae_batch_norm2d {
    cvae_tensor *weight;       /**< gamma: [C], ones, trainable */
    cvae_tensor *bias;         /**< beta: [C], zeros, trainable */
    cvae_tensor *running_mean; /**< [C], zeros, frozen, saved with the model */
    cvae_tensor *running_var;  /**< [C], ones, frozen, saved with the model */
    float momentum;            /**< weight of the new batch in the running statistics */
    float eps;                 /**< added to the variance */
} cvae_batch_norm2d;

/** momentum in [0, 1] (PyTorch default 0.1), eps > 0 (default 1e-5). */
CVAE_API cvae_status cvae_batch_norm2d_new(cvae_params *p, const char *name, int64_t c, float momentum,
                                           float eps, cvae_batch_norm2d **out);
/** x: [N, C, H, W] -> y of the same shape; training != 0 uses and updates batch statistics. */
CVAE_API cvae_status cvae_batch_norm2d_forward(const cvae_batch_norm2d *layer, cvae_tape *t, cvae_tensor *x,
                                               int training, cvae_tensor **y);
/** Frees the struct (not its parameters). NULL is a no-op. */
CVAE_API void cvae_batch_norm2d_free(cvae_batch_norm2d *layer);



/* ==== conditional (label-indexed) convolution layer ======================== */

/* (section owned by the conditional branch) */

/* The layer of the original question: output channels = concat(C_learned
 * ordinary learned filters, C_cond filters looked up per sample by its label in
 * a table over K labels), on the same input with the same kernel size, stride
 * and padding. The table may be frozen (fixed kernels chosen per label, never
 * trained) or trainable. Both parts share one lowering of the input.
 *
 *     cvae_cond_conv2d_config c = cvae_cond_conv2d_config_make(1, 32, 1, 10, 3, 2, 1);
 *     cvae_cond_conv2d *l; cvae_cond_conv2d_new(params, "conv1", &c, &l);
 *     cvae_table_fill_gabor(l->table, 1.0f, 3.0f);            // fixed kernel per digit
 *     cvae_cond_conv2d_forward(l, tape, x, labels, &y);      // y: [N, 33, 14, 14]
 */

/** Fills the kernels of one label.  kernel: [cout, cin, kh, kw] (cout = C_cond). */
typedef void (*cvae_kernel_fn)(int label, int cout, int cin, int kh, int kw,
                               float *kernel /* [cout, cin, kh, kw] */, void *user);

/** table: [K, C, Cin, kH, kW] = U(-a, a), a = sqrt(6 / (Cin kH kW)) (He uniform),
 *  from the counter-based stream of `seed`. Deterministic. */
CVAE_API cvae_status cvae_table_fill_random(cvae_tensor *table, uint64_t seed);

/** table: [K, C, Cin, kH, kW] = oriented Gabor (edge) filters, deterministic:
 *  label l has orientation theta = pi l / K; output channel c has phase
 *  (c mod 2) pi / 2 (even / odd, i.e. line / edge detector) and wavelength
 *  `wavelength` (1 + floor(c / 2)). g(u, v) = exp(-(u^2 + v^2) / (2 sigma^2))
 *  cos(2 pi u' / lambda + phase), u' = u cos theta + v sin theta, (u, v) the tap
 *  offset from the kernel centre (u along the width). Each kernel [Cin, kH, kW]
 *  repeats the pattern over input channels, made zero-mean (when kH kW > 1) and
 *  of unit L2 norm. sigma, wavelength > 0 (for 3x3: about 1 and 3). */
CVAE_API cvae_status cvae_table_fill_gabor(cvae_tensor *table, float sigma, float wavelength);

/** Calls fn once per label l = 0..K-1, in order, with the kernels of label l;
 *  the table changes only if every value written is finite (else CVAE_ERR_NUMERIC). */
CVAE_API cvae_status cvae_table_fill_callback(cvae_tensor *table, cvae_kernel_fn fn, void *user);

/** Shape and options of a cvae_cond_conv2d. */
typedef struct cvae_cond_conv2d_config {
    int64_t in_channels;      /**< Cin >= 1 */
    int64_t learned_channels; /**< C_learned >= 0 learned filters (first output channels) */
    int64_t cond_channels;    /**< C_cond >= 1 label-indexed filters (the channels after) */
    int64_t num_labels;       /**< K >= 1 */
    int64_t kernel_h;         /**< kH >= 1 */
    int64_t kernel_w;         /**< kW >= 1 */
    cvae_conv_opts conv;      /**< stride, padding, dilation of both parts */
    int bias;                 /**< nonzero: zero "<name>.bias" and "<name>.table_bias" */
    int table_trainable;      /**< 0: table and table_bias frozen (no gradient, no gradient work) */
    cvae_init init;           /**< scheme of the learned weight (fan_in Cin kH kW) */
    uint64_t seed;            /**< learned weight and the initial (random) table */
} cvae_cond_conv2d_config;

/** Config for a square kernel: bias on, table trainable (like every weight; set
 *  table_trainable = 0 for fixed kernels), He-uniform init, seed 0. */
CVAE_API cvae_cond_conv2d_config cvae_cond_conv2d_config_make(int64_t in_channels,
                                                              int64_t learned_channels,
                                                              int64_t cond_channels,
                                                              int64_t num_labels, int64_t kernel,
                                                              int stride, int pad);

/** Learned filters concatenated with label-indexed filters (see above). */
typedef struct cvae_cond_conv2d {
    cvae_tensor *weight;     /**< [C_learned, Cin, kH, kW] "<name>.weight"; NULL if C_learned = 0 */
    cvae_tensor *bias;       /**< [C_learned] "<name>.bias"; NULL without bias or learned filters */
    cvae_tensor *table;      /**< [K, C_cond, Cin, kH, kW] "<name>.table" */
    cvae_tensor *table_bias; /**< [K, C_cond] "<name>.table_bias"; NULL without bias */
    cvae_params *params;     /**< the block holding them */
    cvae_cond_conv2d_config config; /**< as created */
} cvae_cond_conv2d;

/** Registers the parameters above in p (names must be new, name at most 200
 *  bytes): the learned weight filled by config->init, the table by
 *  cvae_table_fill_random, biases zero (the learned bias drawn under CVAE_INIT_TORCH).
 *  Replace the table with a cvae_table_fill_* generator or cvae_cond_conv2d_set_kernel. */
CVAE_API cvae_status cvae_cond_conv2d_new(cvae_params *p, const char *name,
                                          const cvae_cond_conv2d_config *config,
                                          cvae_cond_conv2d **out);

/** y[n] = concat over channels(conv(x[n], weight) + bias,
 *                               conv(x[n], table[labels[n]]) + table_bias[labels[n]]).
 *  x: [N, Cin, H, W], labels: int32[N] in [0, K) -> y: [N, C_learned + C_cond, Ho, Wo]. */
CVAE_API cvae_status cvae_cond_conv2d_forward(const cvae_cond_conv2d *l, cvae_tape *t,
                                              cvae_tensor *x, const int32_t *labels,
                                              cvae_tensor **y);

/** Freezes (0) or unfreezes (1) the table and table_bias together. */
CVAE_API cvae_status cvae_cond_conv2d_set_table_trainable(cvae_cond_conv2d *l, int trainable);

/** Copies the kernels of one label.  k: [C_cond, Cin, kH, kW], finite. */
CVAE_API cvae_status cvae_cond_conv2d_set_kernel(cvae_cond_conv2d *l, int label, const float *k);

/** Frees the layer struct (its parameters stay in their block). NULL is a no-op. */
CVAE_API void cvae_cond_conv2d_free(cvae_cond_conv2d *l);



#ifdef __cplusplus
}
#endif
#endif
