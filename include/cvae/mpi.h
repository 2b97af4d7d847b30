/** @file
 * cvae/mpi.h: data-parallel training over MPI, in its own library (cvae_mpi: CMake target
 * cvae::cvae_mpi, pkg-config cvae-mpi). cvae.h does not include it, and programs that do not
 * use it do not link it or MPI. It is the MPI engine of cvae_dist (cvae/train.h): every rank
 * builds the same network and trainer and steps on the same global batches; each rank
 * computes its own rows and the gradients are summed across the ranks every step.
 *
 *     MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
 *     ... the same network, trainer and loader on every rank (same seeds) ...
 *     cvae_mpi *mpi;
 *     cvae_mpi_new(tr, MPI_COMM_WORLD, CVAE_MPI_ALLREDUCE, 100, &mpi); // rank 0's state to all
 *     cvae_loader_shard(ld, cvae_mpi_rank(mpi), cvae_mpi_size(mpi));  // read only your rows
 *     for (int e = 0; e < epochs; e++) {
 *         cvae_trainer_epoch(tr, ld, &loss);       // collective: every rank, every step
 *         if (cvae_mpi_rank(mpi) == 0) cvae_trainer_save(tr, e + 1, "ckpt.safetensors");
 *     }
 *     cvae_mpi_free(mpi);
 *     MPI_Finalize();
 *
 * The trainer makes every MPI call from the thread that calls cvae_trainer_step (its helper
 * threads never do), so MPI_THREAD_FUNNELED is enough when that is the thread that initialized
 * MPI. Every call here is collective over the communicator unless it says otherwise. MPI's own
 * errors end the job (the communicator keeps MPI_ERRORS_ARE_FATAL unless you changed it),
 * so a rank that dies takes the job down instead of leaving the others waiting.
 */
#ifndef CVAE_MPI_H
#define CVAE_MPI_H

#include <mpi.h>

#include "cvae/train.h"

#if defined(__GNUC__)
#define CVAE_MPI_API __attribute__((visibility("default")))
#else
#define CVAE_MPI_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** How the gradients are summed across the ranks. */
typedef enum cvae_mpi_reduce {
    /** MPI_Allreduce with MPI_SUM: MPI's fastest algorithm for the size (a ring, recursive
     *  halving...). Bitwise the same on every run with the same ranks and MPI library; it
     *  differs from one process in rounding only. */
    CVAE_MPI_ALLREDUCE = 0,
    /** ((rank 0 + rank 1) + rank 2) + ...: a chain of chunks from rank 0 to the last rank,
     *  then a broadcast. P ranks of 1 thread each give bitwise the result of one process of P
     *  threads (the thread team's slice order); slower (the chain's latency grows with P). */
    CVAE_MPI_ORDERED = 1
} cvae_mpi_reduce;

/** A trainer joined to the ranks of a communicator (opaque). */
typedef struct cvae_mpi cvae_mpi;

/** Joins tr to the ranks of comm (which it duplicates): cvae_trainer_set_dist with MPI's
 *  rank and size, broadcasting rank 0's parameters, Adam state and step counters, and
 *  comparing a checksum of the parameters across the ranks before every check_every-th step
 *  (0: never; a mismatch fails the step on every rank with CVAE_ERR_STATE). tr must outlive
 *  the result. MPI must be initialized. */
CVAE_MPI_API cvae_status cvae_mpi_new(cvae_trainer *tr, MPI_Comm comm, cvae_mpi_reduce mode,
                                      int64_t check_every, cvae_mpi **out);

/** Detaches the trainer (a job of its own again) and frees m (MPI_Comm_free: collective).
 *  NULL is a no-op. */
CVAE_MPI_API void cvae_mpi_free(cvae_mpi *m);

/** This rank (not collective; 0 for NULL). */
CVAE_MPI_API int cvae_mpi_rank(const cvae_mpi *m);
/** Ranks of the job (not collective; 0 for NULL). */
CVAE_MPI_API int cvae_mpi_size(const cvae_mpi *m);

/** 1 on every rank when ok is nonzero on every rank, else 0 (also on an MPI error): for
 *  decisions one rank makes, e.g. whether rank 0 wrote its checkpoint. */
CVAE_MPI_API int cvae_mpi_all(const cvae_mpi *m, int ok);

/** Wall-clock seconds this rank spent in gradient and loss sums since cvae_mpi_new (not
 *  collective; waiting for slower ranks included). */
CVAE_MPI_API double cvae_mpi_sum_seconds(const cvae_mpi *m);

#ifdef __cplusplus
}
#endif
#endif
