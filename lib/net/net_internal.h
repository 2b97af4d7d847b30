/* Private interface of networks: their stacks, and replicas for data-parallel steps. */
#ifndef CVAE_NET_INTERNAL_H
#define CVAE_NET_INTERNAL_H

#include "cvae/net.h"
#include "nn/layer.h"

typedef struct cvae__stack {
    char name[CVAE__NAME_MAX + 1];
    int in_ndim, out_ndim;
    int64_t in[4], out[4]; /* per-sample shapes */
    int n_layers;
    cvae__layer *layers;
    bool uses_labels; /* some layer is label-indexed or appends the label */
} cvae__stack;

struct cvae_net {
    uint64_t seed;
    cvae_params *params; /* the parameter block (a replica: its source's) */
    cvae_tensor **p;     /* p[i]: the header of parameter i that the layers use */
    int n_p;
    cvae__stack *stacks; /* a replica shares its source's */
    int n_stacks;
    /* a replica only: headers sharing the source's values, its own gradients, and its own
     * copy of the statistics a forward writes (batch norm) */
    const cvae_net *source;
    cvae_tensor *heads;
    float *grad, *buffers;
};

/* A network whose forward reads src's parameter values and gathers gradients into a block
 * of its own (cvae__net_grad), for one member of a data-parallel step. */
cvae_status cvae__net_replica_new(const cvae_net *src, cvae_net **out);

/* Re-reads the source's headers (a parameter may have been frozen or unfrozen), copies its
 * running statistics and zeroes the replica's gradients. */
void cvae__net_replica_refresh(cvae_net *r);

/* Whether parameter i is one a training forward writes (batch norm statistics). */
bool cvae__net_written_by_forward(const cvae_net *net, int i);

/* The gradient block of a network or replica, laid out like cvae_params_data. */
float *cvae__net_grad(const cvae_net *net);

/* Plans layers[0..n) from a per-sample input in[0..in_ndim) without building anything:
 * *total receives the element count of their parameters, *largest that of the biggest
 * one. Errors as cvae_net_add's. */
cvae_status cvae__net_plan_size(int in_ndim, const int64_t *in, const cvae_layer *layers, int n,
                                int64_t *total, int64_t *largest);

/* Elements of all parameters. */
int64_t cvae__net_numel(const cvae_net *net);

#endif
