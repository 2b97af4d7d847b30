/** @file
 * cvae/net.h: networks of your own, built from tables of layers (cvae_layer).
 *
 * A network owns its layers and one parameter block. It holds one or more named
 * sequential stacks (an encoder and a decoder, say); each takes a batch of inputs and the
 * batch's labels, which travel along to every label-indexed layer:
 *
 *     cvae_net *net;
 *     cvae_net_new(seed, &net);
 *     int enc;   // the stack's index, for cvae_net_forward
 *     cvae_net_add(net, "enc", 3, (int64_t[]){1, 28, 28}, encoder, 4, &enc);
 *     char text[4096]; cvae_net_summary(net, text, sizeof text, NULL);  // Keras-like table
 *     cvae_net_forward(net, enc, tape, x, labels, &y);   // y: [N, 32] on the tape
 *     cvae_net_save(net, "net.safetensors");
 *     cvae_net_free(net);                                 // layers and parameters
 *
 * Building checks every layer against the shape the previous one gives and reports the
 * first mismatch by stack and layer name; nothing is added to the network on an error.
 * A network is read-only while it runs forward: many threads may run one network at
 * once, each on its own tape. Add every stack before creating an optimizer or a trainer
 * for it (the parameter block must not grow afterwards).
 */
#ifndef CVAE_NET_H
#define CVAE_NET_H

#include "cvae/io.h"
#include "cvae/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A network: sequential stacks of layers and the parameters they own (opaque). */
typedef struct cvae_net cvae_net;

/** An empty network whose weights will be drawn from `seed` (each parameter from the
 *  stream of its name, so a layer's initial values do not depend on the others). */
CVAE_API cvae_status cvae_net_new(uint64_t seed, cvae_net **out);

/** Frees the network, its layers and its parameters. NULL is a no-op. */
CVAE_API void cvae_net_free(cvae_net *net);

/** Appends a stack called `name` (1..64 bytes, unique in the network; "" names nothing:
 *  its parameters are then "<layer>.weight", ...) taking inputs of per-sample shape
 *  in_shape[0..in_ndim) (1 <= in_ndim <= 4: {C, H, W} for images, {D} for vectors) through
 *  layers[0..n) (n >= 1; the array is copied, its strings too). Registers and initializes
 *  the parameters. *index (may be NULL) receives the stack's index (0, 1, ... in the order
 *  added). Errors: CVAE_ERR_INVALID_ARG (a bad field, naming the layer), CVAE_ERR_SHAPE (a
 *  layer does not fit the shape before it), CVAE_ERR_NOMEM; the network is unchanged. */
CVAE_API cvae_status cvae_net_add(cvae_net *net, const char *name, int in_ndim,
                                  const int64_t *in_shape, const cvae_layer *layers, int n,
                                  int *index);

/** Number of stacks. */
CVAE_API int cvae_net_stacks(const cvae_net *net);

/** Index of the stack called `name`, or -1. */
CVAE_API int cvae_net_find(const cvae_net *net, const char *name);

/** Per-sample input (in = 1) or output (in = 0) shape of stack `stack`: writes up to 4
 *  extents into shape and returns their number (0 for a bad stack). */
CVAE_API int cvae_net_shape(const cvae_net *net, int stack, int in, int64_t shape[4]);

/** Runs stack `stack` on x: [N, in_shape...] with labels: int32[N] (may be NULL when no
 *  layer of the stack uses labels; each in [0, K) of the layers that do) and writes
 *  y: [N, out_shape...] on tape t. Recording on the tape means training: gradients flow to
 *  every trainable parameter, and batch norm uses (and updates) batch statistics. */
CVAE_API cvae_status cvae_net_forward(const cvae_net *net, int stack, cvae_tape *t, cvae_tensor *x,
                                      const int32_t *labels, cvae_tensor **y);

/** The network's parameter block (owned by the network): every weight, in build order. */
CVAE_API cvae_params *cvae_net_params(const cvae_net *net);

/** The seed the network's weights were drawn from. */
CVAE_API uint64_t cvae_net_seed(const cvae_net *net);

/** A Keras-like table of every stack's layers, output shapes and parameter counts (with
 *  activation, label-indexed and frozen parts noted) into buf (always NUL-terminated when
 *  size > 0); *needed (may be NULL) receives the full length + 1. */
CVAE_API cvae_status cvae_net_summary(const cvae_net *net, char *buf, size_t size, size_t *needed);

/** Saves every parameter (trainable or frozen) under its name, atomically, as a
 *  safetensors file (see docs/model-format.md). */
CVAE_API cvae_status cvae_net_save(const cvae_net *net, const char *path);

/** Copies the parameters of a file written by cvae_net_save (or cvae_model_save, or a
 *  checkpoint) into the network, matched by name. Everything is checked before anything is
 *  copied: on an error the network is unchanged. report may be NULL.
 *  Errors: CVAE_ERR_IO, CVAE_ERR_FORMAT (bad file; in strict mode a missing or unexpected
 *  tensor, named), CVAE_ERR_SHAPE (a shape mismatch, named), CVAE_ERR_NUMERIC (a
 *  non-finite weight). */
CVAE_API cvae_status cvae_net_load(cvae_net *net, const char *path, cvae_load_mode mode,
                                   cvae_load_report *report);

#ifdef __cplusplus
}
#endif
#endif
