/* The names of the ops as their error messages give them: one place for all of lib/ops/.
 * A backward's allocation messages append " backward" (CVAE__OP_CONV2D " backward"). */
#ifndef CVAE_OPS_NAMES_H
#define CVAE_OPS_NAMES_H

/* activations */
#define CVAE__OP_ACTIVATION "cvae_op_activation"
#define CVAE__OP_RELU "cvae_op_relu"
#define CVAE__OP_ELU "cvae_op_elu"
#define CVAE__OP_LEAKY_RELU "cvae_op_leaky_relu"
#define CVAE__OP_SIGMOID "cvae_op_sigmoid"
#define CVAE__OP_TANH "cvae_op_tanh"
#define CVAE__OP_SOFTPLUS "cvae_op_softplus"
#define CVAE__OP_EXP "cvae_op_exp"
#define CVAE__OP_LOG "cvae_op_log"

/* linear algebra, elementwise */
#define CVAE__OP_LINEAR "cvae_op_linear"
#define CVAE__OP_LINEAR_ACT "cvae_op_linear_act"
#define CVAE__OP_MATMUL "cvae_op_matmul"
#define CVAE__OP_ADD "cvae_op_add"
#define CVAE__OP_SUB "cvae_op_sub"
#define CVAE__OP_MUL "cvae_op_mul"
#define CVAE__OP_SCALE "cvae_op_scale"
#define CVAE__OP_BIAS_ADD "cvae_op_bias_add"

/* shape, reductions, labels */
#define CVAE__OP_CONCAT "cvae_op_concat"
#define CVAE__OP_SPLIT "cvae_op_split"
#define CVAE__OP_RESHAPE "cvae_op_reshape"
#define CVAE__OP_FLATTEN "cvae_op_flatten"
#define CVAE__OP_SUM "cvae_op_sum"
#define CVAE__OP_MEAN "cvae_op_mean"
#define CVAE__OP_SUM_ROWS "cvae_op_sum_rows"
#define CVAE__OP_ONE_HOT "cvae_op_one_hot"
#define CVAE__OP_EMBEDDING "cvae_op_embedding"

/* losses */
#define CVAE__OP_BCE_WITH_LOGITS "cvae_op_bce_with_logits"
#define CVAE__OP_KL_NORMAL "cvae_op_kl_normal"
#define CVAE__OP_SOFTMAX_CROSS_ENTROPY "cvae_op_softmax_cross_entropy"
#define CVAE__OP_REPARAMETERIZE "cvae_op_reparameterize"

/* the conv family (lib/ops/conv/), pooling, upsampling */
#define CVAE__OP_CONV2D "cvae_op_conv2d"
#define CVAE__OP_CONV_TRANSPOSE2D "cvae_op_conv_transpose2d"
#define CVAE__OP_COND_CONV2D "cvae_op_conditional_conv2d"
#define CVAE__OP_COND_CONV2D_CONCAT "cvae_op_conditional_conv2d_concat"
#define CVAE__OP_COND_CONV2D_SOFT "cvae_op_conditional_conv2d_soft"
#define CVAE__OP_COND_CONV_TRANSPOSE2D "cvae_op_conditional_conv_transpose2d"
#define CVAE__OP_AVG_POOL2D "cvae_op_avg_pool2d"
#define CVAE__OP_MAX_POOL2D "cvae_op_max_pool2d"
#define CVAE__OP_UPSAMPLE_NEAREST2D "cvae_op_upsample_nearest2d"

/* normalization */
#define CVAE__OP_BATCH_NORM2D "cvae_op_batch_norm2d"

#endif
