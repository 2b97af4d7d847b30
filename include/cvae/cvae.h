/** @file
 * cvae.h: the whole public API of cvae, an embeddable C11 library for
 * label-conditioned convolutional networks and a conditional convolutional VAE.
 *
 * Layers, bottom up (each header uses only those above it in this list):
 *   core.h    status codes, cvae_last_error(), version, allocator hooks
 *   rng.h     counter-based random numbers
 *   tensor.h  float32 NCHW tensors
 *   metrics.h Fréchet distances between sample sets (moments in double, Jacobi eigensolver)
 *   tape.h    autodiff tape, parameter blocks (trainable or frozen)
 *   ops.h     dense differentiable ops
 *   conv.h    convolutions, the label-indexed conditional convolution, pooling, norms
 *   nn.h      layer configurations (cvae_layer) and single layers that own parameters
 *   optim.h   SGD, Adam, gradient clipping
 *   io.h      IDX datasets, PNG output, safetensors files
 *   net.h     networks of your own: stacks of layers, summary, save and load
 *   train.h   training any network with any loss; batches from a dataset
 *   model.h   the conditional VAE and its host API (cvae_model_*)
 *
 * Every fallible call returns cvae_status (CVAE_OK == 0); on failure its
 * outputs are untouched and cvae_last_error() explains. */
#ifndef CVAE_CVAE_H
#define CVAE_CVAE_H

#include "cvae/core.h"
#include "cvae/rng.h"
#include "cvae/tensor.h"
#include "cvae/metrics.h"
#include "cvae/tape.h"
#include "cvae/ops.h"
#include "cvae/conv.h"
#include "cvae/nn.h"
#include "cvae/optim.h"
#include "cvae/io.h"
#include "cvae/net.h"
#include "cvae/train.h"
#include "cvae/model.h"

#endif
