/* cli_dist without MPI: one process, and a clear refusal under a launcher. */
#include <stdio.h>

#include "dist.h"

int cli_dist_begin(cli_dist *d)
{
    *d = (cli_dist){0, 1, 1, NULL};
    const int n = cli_launched();
    if (n > 1) {
        fprintf(stderr,
                "cvae: started as one of %d processes (mpirun, srun), but this cvae was built "
                "without MPI: each would train a model of its own. Install MPI (apt-get install "
                "libopenmpi-dev openmpi-bin) and rebuild, or run a single process.\n",
                n);
        return 0;
    }
    return 1;
}

int cli_dist_all(const cli_dist *d, int ok)
{
    (void)d;
    return ok != 0;
}

int cli_dist_join(cli_dist *d, cvae_trainer *tr, int ordered, long check_every)
{
    (void)d, (void)tr, (void)ordered, (void)check_every;
    return 1;
}

double cli_dist_sum_seconds(const cli_dist *d)
{
    (void)d;
    return 0.0;
}

void cli_dist_leave(cli_dist *d)
{
    (void)d;
}

void cli_dist_end(cli_dist *d)
{
    (void)d;
}
