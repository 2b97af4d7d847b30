/* cli_dist over MPI (cvae_mpi). MPI starts only under a launcher: a plain `cvae train` is one
 * process without MPI_Init. */
#include <cvae/mpi.h>
#include <stdio.h>

#include "cli.h"
#include "dist.h"

int cli_dist_begin(cli_dist *d)
{
    *d = (cli_dist){0, 1, 1, NULL};
    if (cli_launched() < 2) return 1;
    int provided; /* a step's helper threads never call MPI: this thread makes every call */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "cvae: MPI_Init failed\n");
        return 0;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &d->local);
    MPI_Comm_free(&node);
    return 1;
}

int cli_dist_all(const cli_dist *d, int ok)
{
    int mine = ok != 0, all = mine;
    if (d->size > 1) MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

int cli_dist_join(cli_dist *d, cvae_trainer *tr, int ordered, long check_every)
{
    if (d->size < 2) return 1;
    cvae_mpi *m = NULL;
    if (cli_fail(cvae_mpi_new(tr, MPI_COMM_WORLD, ordered ? CVAE_MPI_ORDERED : CVAE_MPI_ALLREDUCE,
                              check_every, &m),
                 "joining the other processes"))
        return 0;
    d->mpi = m;
    return 1;
}

double cli_dist_sum_seconds(const cli_dist *d)
{
    return cvae_mpi_sum_seconds(d->mpi);
}

void cli_dist_leave(cli_dist *d)
{
    cvae_mpi_free(d->mpi);
    d->mpi = NULL;
}

void cli_dist_end(cli_dist *d)
{
    if (d->size > 1) MPI_Finalize();
}
