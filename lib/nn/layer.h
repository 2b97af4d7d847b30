/* A cvae_layer checked against the shape it receives: its output shape, the parameters it
 * declares (shape, trainable, how they start) and how it runs. Networks (lib/net/) keep a
 * list of these per stack; declare, init, forward, summary and parameter names all derive
 * from the one declaration. */
#ifndef CVAE_NN_LAYER_H
#define CVAE_NN_LAYER_H

#include "core/internal.h"
#include "cvae/nn.h"

/* Longest layer or stack name (bytes). */
#define CVAE__NAME_MAX 64

/* The parameters a layer may own, by role; in this order in the parameter block. */
typedef enum cvae__role {
    CVAE__WEIGHT = 0,   /* weight (batch norm: gamma) */
    CVAE__BIAS,         /* bias (batch norm: beta) */
    CVAE__TABLE,        /* label-indexed kernels */
    CVAE__TABLE_BIAS,   /* label-indexed biases */
    CVAE__RUNNING_MEAN, /* batch norm statistics (never trained, written by the forward) */
    CVAE__RUNNING_VAR,
    CVAE__ROLES
} cvae__role;

/* How a declared parameter starts. */
typedef enum cvae__fill {
    CVAE__FILL_SCHEME, /* cvae_init_fill(scheme, fan_in, fan_out) */
    CVAE__FILL_ZEROS,
    CVAE__FILL_ONES,
    CVAE__FILL_GABOR /* cvae_table_fill_gabor(k / 3, k), k the kernel height */
} cvae__fill;

typedef struct cvae__param_decl {
    bool present;
    int ndim;
    int64_t shape[CVAE_MAX_DIMS];
    bool trainable;
    cvae__fill fill;
    cvae_init scheme; /* resolved: never CVAE_INIT_DEFAULT */
    int64_t fan_in, fan_out;
} cvae__param_decl;

typedef struct cvae__layer {
    cvae_layer spec;                /* defaults resolved; name fields point at name[] / table[] */
    char name[CVAE__NAME_MAX + 1];  /* "" for a layer without parameters */
    char table[CVAE__NAME_MAX + 1]; /* name of the label-indexed part */
    int in_ndim, out_ndim;
    int64_t in[4], out[4]; /* per-sample shapes */
    cvae_conv_opts conv;   /* conv kinds: geometry and the fused activation */
    cvae__param_decl decl[CVAE__ROLES];
    int param[CVAE__ROLES]; /* index in the network's parameter block, -1 when absent */
} cvae__layer;

/* Checks spec against a per-sample input of in[0..in_ndim) and fills l (no allocation).
 * Messages start with `where` (e.g. "cvae_net_add: stack 'enc', layer 2 'conv2'"). */
cvae_status cvae__layer_plan(cvae__layer *l, const cvae_layer *spec, int in_ndim, const int64_t *in,
                             const char *where);

/* Full name of parameter `role` of l in stack `stack`: "<stack>.<name>.<suffix>" (no leading
 * dot when the stack name is empty). Returns false if it does not fit n bytes. */
bool cvae__layer_param_name(const cvae__layer *l, const char *stack, cvae__role role, char *buf,
                            size_t n);

/* Fills parameter t as l->decl[role] says, drawing from (seed, FNV-1a of its full name). */
cvae_status cvae__layer_init_param(const cvae__layer *l, cvae__role role, cvae_tensor *t,
                                   const char *full_name, uint64_t seed);

/* y = the layer applied to x: [N, in...] with labels int32[N] (when it uses them); p are the
 * network's parameter headers (indexed by l->param). */
cvae_status cvae__layer_forward(const cvae__layer *l, cvae_tensor *const *p, cvae_tape *t,
                                cvae_tensor *x, const int32_t *labels, cvae_tensor **y);

/* The summary's words for l: type (e.g. "Conv2D 3x3 s2") and notes (activation,
 * label-indexed part, frozen parts). */
void cvae__layer_describe(const cvae__layer *l, char *type, size_t type_n, char *note,
                          size_t note_n);

/* FNV-1a, 64 bits, of s: the random stream of a parameter named s. */
uint64_t cvae__name_stream(const char *s);

/* The start of a bias b named `name` (NULL b: nothing): drawn as PyTorch does under
 * CVAE_INIT_TORCH (U(+-1 / sqrt(fan_in)), stream of its name), zero otherwise. */
cvae_status cvae__init_bias(cvae_tensor *b, cvae_init init, int64_t fan_in, uint64_t seed,
                            const char *name);

#endif
