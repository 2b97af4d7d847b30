/* cvae_mpi: the MPI engine of cvae_dist (its own library; libcvae stays free of MPI). */
#include "cvae/mpi.h"

#include <limits.h>
#include <stdlib.h>

enum { TAG = 0x43564145, /* "CVAE" */ CHUNK = 1 << 18 /* floats per hop of the chain (1 MiB) */ };

struct cvae_mpi {
    cvae_trainer *tr;
    MPI_Comm comm;
    int rank, size;
    cvae_mpi_reduce mode;
    float *buf; /* [CHUNK]: what the chain brings from the rank before */
    double seconds;
};

static cvae_status mpi_failed(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = '\0';
    return cvae_set_error(CVAE_ERR_IO, "cvae_mpi: %s failed: %s", what, text);
}

/* ((x_0 + x_1) + x_2) + ...: chunk by chunk along the chain 0 -> 1 -> ... -> size - 1, the
 * last rank's total then broadcast. The partial sum comes first in each addition, as the
 * thread team adds replica r's gradient to the sum of the slices before it. */
static int ordered_sum(cvae_mpi *m, float *data, int len)
{
    int rc = MPI_SUCCESS;
    for (int c = 0; rc == MPI_SUCCESS && c < len; c += CHUNK) {
        const int k = len - c < CHUNK ? len - c : CHUNK;
        if (m->rank > 0) {
            rc = MPI_Recv(m->buf, k, MPI_FLOAT, m->rank - 1, TAG, m->comm, MPI_STATUS_IGNORE);
            for (int i = 0; i < k; i++) data[c + i] = m->buf[i] + data[c + i];
        }
        if (rc == MPI_SUCCESS && m->rank + 1 < m->size)
            rc = MPI_Send(data + c, k, MPI_FLOAT, m->rank + 1, TAG, m->comm);
    }
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(data, len, MPI_FLOAT, m->size - 1, m->comm);
    return rc;
}

static cvae_status sum(float *data, int64_t n, void *user)
{
    cvae_mpi *m = user;
    const double t0 = MPI_Wtime();
    int rc = MPI_SUCCESS;
    for (int64_t at = 0; rc == MPI_SUCCESS && at < n; at += INT_MAX / 2) {
        const int len = (int)(n - at < INT_MAX / 2 ? n - at : INT_MAX / 2);
        rc = m->mode == CVAE_MPI_ORDERED
                 ? ordered_sum(m, data + at, len)
                 : MPI_Allreduce(MPI_IN_PLACE, data + at, len, MPI_FLOAT, MPI_SUM, m->comm);
    }
    m->seconds += MPI_Wtime() - t0;
    return rc == MPI_SUCCESS ? CVAE_OK : mpi_failed(rc, "the sum over the ranks");
}

static cvae_status broadcast(void *data, int64_t bytes, void *user)
{
    cvae_mpi *m = user;
    int rc = MPI_SUCCESS;
    for (int64_t at = 0; rc == MPI_SUCCESS && at < bytes; at += INT_MAX / 2) {
        const int len = (int)(bytes - at < INT_MAX / 2 ? bytes - at : INT_MAX / 2);
        rc = MPI_Bcast((char *)data + at, len, MPI_BYTE, 0, m->comm);
    }
    return rc == MPI_SUCCESS ? CVAE_OK : mpi_failed(rc, "the broadcast from rank 0");
}

cvae_status cvae_mpi_new(cvae_trainer *tr, MPI_Comm comm, cvae_mpi_reduce mode, int64_t check_every,
                         cvae_mpi **out)
{
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!tr || !out)
        return cvae_set_error(CVAE_ERR_INVALID_ARG, "cvae_mpi_new: argument '%s' is NULL",
                              tr ? "out" : "tr");
    if (!initialized)
        return cvae_set_error(CVAE_ERR_STATE, "cvae_mpi_new: MPI is not initialized (MPI_Init)");
    if (mode != CVAE_MPI_ALLREDUCE && mode != CVAE_MPI_ORDERED)
        return cvae_set_error(CVAE_ERR_INVALID_ARG, "cvae_mpi_new: unknown reduction %d",
                              (int)mode);
    if (check_every < 0)
        return cvae_set_error(CVAE_ERR_INVALID_ARG, "cvae_mpi_new: check_every %lld is negative",
                              (long long)check_every);
    cvae_mpi *m = calloc(1, sizeof *m);
    float *buf = malloc(CHUNK * sizeof *buf);
    if (!m || !buf) {
        free(m);
        free(buf);
        return cvae_set_error(CVAE_ERR_NOMEM, "cvae_mpi_new: out of memory");
    }
    m->tr = tr;
    m->mode = mode;
    m->buf = buf;
    int rc = MPI_Comm_dup(comm, &m->comm);
    if (rc != MPI_SUCCESS) {
        free(buf);
        free(m);
        return mpi_failed(rc, "MPI_Comm_dup");
    }
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    const cvae_dist d = {m->rank, m->size, sum, broadcast, m, check_every};
    cvae_status s = cvae_trainer_set_dist(tr, &d);
    if (s) {
        MPI_Comm_free(&m->comm);
        free(buf);
        free(m);
        return s;
    }
    m->seconds = 0.0;
    *out = m;
    return CVAE_OK;
}

void cvae_mpi_free(cvae_mpi *m)
{
    if (!m) return;
    cvae_trainer_set_dist(m->tr, NULL);
    MPI_Comm_free(&m->comm);
    free(m->buf);
    free(m);
}

int cvae_mpi_rank(const cvae_mpi *m)
{
    return m ? m->rank : 0;
}

int cvae_mpi_size(const cvae_mpi *m)
{
    return m ? m->size : 0;
}

int cvae_mpi_all(const cvae_mpi *m, int ok)
{
    int mine = ok != 0, all = 0;
    if (!m || MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, m->comm) != MPI_SUCCESS) return 0;
    return all;
}

double cvae_mpi_sum_seconds(const cvae_mpi *m)
{
    return m ? m->seconds : 0.0;
}
