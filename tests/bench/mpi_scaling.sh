#!/bin/sh
# Step time of the quick-start model over P = 1, 2, 3 MPI ranks of 1 thread each on this
# machine (3 ranks oversubscribe its 2 cores), with the time in the sums, next to one process
# of 2 threads; ROUNDS rounds (default 3) alternating the settings, medians over rounds.
#
#   tests/bench/mpi_scaling.sh [ROUNDS]       (from the repository root, after building build/)
#
# Every rank on this machine, loopback only. Environment: BENCH_MPI (default
# build/tests/bench/bench_mpi), STEPS (timed steps per run, default 30), BATCH (default 128).
set -eu
ROUNDS=${1:-3}
BENCH=${BENCH_MPI:-build/tests/bench/bench_mpi}
STEPS=${STEPS:-30}
BATCH=${BATCH:-128}
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-512}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvae-mpi-scaling.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    for setting in t2 1 2 3; do
        if [ "$setting" = t2 ]; then
            mpirun --bind-to none -np 1 "$BENCH" --single --threads 2 --steps "$STEPS" --batch "$BATCH"
        else
            mpirun --oversubscribe -np "$setting" "$BENCH" --steps "$STEPS" --batch "$BATCH"
        fi | grep -E "^(one process|allreduce),|^forward" | tr '\n' ' ' >>"$tmp/$setting"
        echo >>"$tmp/$setting"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { # file, the number after this text
    sed -n "s/.*$2 \([0-9.]*\).*/\1/p" "$1" | median
}
printf '\n%-36s %9s %9s %8s %8s %10s %8s\n' "setting (batch $BATCH)" "step ms" "sums ms" \
    "sums %" "speedup" "forward ms" "CPU ms"
base=$(field "$tmp/1" ": step")
for setting in t2 1 2 3; do
    step=$(field "$tmp/$setting" ": step")
    sums=$(field "$tmp/$setting" "), sums")
    fwd=$(field "$tmp/$setting" "forward alone (cvae_trainer_eval):")
    cpu=$(field "$tmp/$setting" "CPU time per step")
    case $setting in
        t2) name="1 process x 2 threads (no MPI)" ;;
        3) name="3 ranks x 1 thread (oversubscribed)" ;;
        *) name="$setting rank(s) x 1 thread" ;;
    esac
    awk -v n="$name" -v s="$step" -v c="$sums" -v b="$base" -v f="$fwd" -v u="$cpu" \
        'BEGIN { printf "%-36s %9.2f %9.2f %7.1f%% %7.2fx %10.2f %8.2f\n", n, s, c, 100 * c / s, b / s, f, u }'
done
echo "(medians over $ROUNDS rounds of the median step of $STEPS; speedup: 1 rank's step / this one's;"
echo " CPU: CPU time per step of the slowest rank, all its threads, waiting in MPI included)"
