/* The processes of `cvae train`: one, or several started by an MPI launcher (mpirun, mpiexec,
 * srun) that train one model data-parallel through cvae_mpi (cvae/mpi.h). dist_mpi.c is built
 * when CMake finds MPI, dist_none.c otherwise (it refuses to run as several processes). */
#ifndef CVAE_CLI_DIST_H
#define CVAE_CLI_DIST_H

#include <cvae/cvae.h>

typedef struct cli_dist {
    int rank, size; /* this process of `size` (0 of 1 without a launcher) */
    int local;      /* processes on this machine */
    void *mpi;      /* the cvae_mpi of the trainer, once joined */
} cli_dist;

/* Processes the launcher started, from its environment (Open MPI, MPICH's Hydra, Slurm's
 * srun); 1 without a launcher. */
int cli_launched(void);

/* Starts (MPI_Init when launched as several processes). 0 after printing why not. */
int cli_dist_begin(cli_dist *d);

/* 1 when ok is nonzero in every process, else 0 (collective). */
int cli_dist_all(const cli_dist *d, int ok);

/* Makes tr one worker of the job: the sum in rank order when ordered (else MPI_Allreduce), a
 * parameter checksum compared every check_every steps (collective). 0 after printing why not. */
int cli_dist_join(cli_dist *d, cvae_trainer *tr, int ordered, long check_every);

/* Seconds this process spent in the sums over the processes. */
double cli_dist_sum_seconds(const cli_dist *d);

/* Detaches the trainer from the others (collective). */
void cli_dist_leave(cli_dist *d);

/* Ends MPI. */
void cli_dist_end(cli_dist *d);

#endif
