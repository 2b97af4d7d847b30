/* mpi_train: a digit classifier of one's own trained data-parallel over MPI (cvae/mpi.h).
 * Every rank builds the same network, trainer and loaders; each computes its share of every
 * batch, and the gradients are summed across the ranks before each Adam step.
 *     mpirun -np 3 mpi_train [EPOCHS [DATA_DIR [OUT]]]     (OUT: the trained network) */
#include <cvae/cvae.h>
#include <cvae/mpi.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CVAE_DEFAULT_DATA_DIR
#define CVAE_DEFAULT_DATA_DIR "data"
#endif
#define TRY(e)                                                                                     \
    do {                                                                                           \
        if ((e) != CVAE_OK) {                                                                      \
            fprintf(stderr, "rank %d: %s\n", rank, cvae_last_error());                             \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

// clang-format off
static const cvae_layer layers[] = {
    {.kind = CVAE_LAYER_CONV2D, .name = "conv1", .out = 16, .kernel = 3, .stride = 2, .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_CONV2D, .name = "conv2", .out = 32, .kernel = 3, .stride = 2, .padding = 1,
     .activation = CVAE_ACT_RELU},
    {.kind = CVAE_LAYER_FLATTEN},
    {.kind = CVAE_LAYER_LINEAR, .name = "fc", .out = 10}};
// clang-format on

/* The loss of one slice of a batch: softmax cross-entropy per sample. */
static cvae_status xent(const cvae_net *net, cvae_tape *t, const cvae_batch *b, void *user,
                        cvae_tensor **loss)
{
    (void)user;
    cvae_tensor *logits;
    cvae_status s = cvae_net_forward(net, 0, t, b->x, b->labels, &logits);
    return s ? s : cvae_op_softmax_cross_entropy(t, logits, b->labels, CVAE_REDUCE_ROWS, loss);
}

int main(int argc, char **argv)
{
    int rank = 0, ranks = 1, provided; /* MPI calls come from this thread only */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const int epochs = argc > 1 ? atoi(argv[1]) : 3;
    const char *data = argc > 2 ? argv[2] : CVAE_DEFAULT_DATA_DIR;
    const char *out = argc > 3 ? argv[3] : "mpi_train.safetensors";
    cvae_dataset *train, *test;
    TRY(cvae_dataset_load_dir(data, "train", &train));
    TRY(cvae_dataset_load_dir(data, "t10k", &test));
    cvae_net *net;
    cvae_trainer *tr;
    cvae_loader *ld, *test_ld;
    cvae_mpi *mpi;
    cvae_train_opts o = cvae_train_opts_default();
    TRY(cvae_net_new(1, &net));
    TRY(cvae_net_add(net, "clf", 3, (int64_t[]){1, 28, 28}, layers, 4, NULL));
    TRY(cvae_trainer_new_net(net, &o, xent, NULL, &tr));
    TRY(cvae_mpi_new(tr, MPI_COMM_WORLD, CVAE_MPI_ALLREDUCE, 100, &mpi)); /* rank 0's weights */
    TRY(cvae_loader_new(train, 128, CVAE_BINARIZE_NONE, 1, 1, &ld));
    TRY(cvae_loader_new(test, 500, CVAE_BINARIZE_NONE, 1, 0, &test_ld));
    TRY(cvae_loader_shard(ld, rank, ranks)); /* each rank reads only the rows it computes */
    TRY(cvae_loader_shard(test_ld, rank, ranks));
    for (int e = 1; e <= epochs; e++) {
        double loss, test_loss;
        TRY(cvae_trainer_epoch(tr, ld, &loss)); /* collective, like every trainer call now */
        TRY(cvae_trainer_evaluate(tr, test_ld, 0, &test_loss));
        if (rank == 0) printf("epoch %d  train loss %.4f  test loss %.4f\n", e, loss, test_loss);
    }
    TRY(cvae_trainer_check_sync(tr, NULL)); /* every rank holds the same weights */
    if (rank == 0) TRY(cvae_net_save(net, out));
    if (rank == 0) printf("%d ranks; saved %s\n", ranks, out);
    cvae_mpi_free(mpi);
    cvae_loader_free(ld), cvae_loader_free(test_ld), cvae_trainer_free(tr), cvae_net_free(net);
    cvae_dataset_free(train), cvae_dataset_free(test);
    MPI_Finalize();
    return 0;
}
