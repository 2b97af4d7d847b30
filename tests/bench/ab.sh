#!/bin/sh
# Two bench_model binaries (or one under two environments), alternated run by run, ROUNDS
# rounds (default 5) of: train step b128 at 2 and 1 threads, inference b1 at 2 and 1 threads,
# inference b128 at 2 threads; prints per row the medians over rounds of each run's median,
# wall and process CPU time, and of each run's fastest call (on a machine shared with noisy
# neighbours the minima move least), each with B / A (< 1: B faster).
#
#   A=old/build/tests/bench/bench_model B=build/tests/bench/bench_model sh tests/bench/ab.sh 5
#   A=build/tests/bench/bench_model B=$A AENV=CVAE_GEMM=blas BENV=CVAE_GEMM=builtin sh tests/bench/ab.sh 3
#
# AENV / BENV: one VAR=value each for that side (default none). Both sides run with
# OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512, as CI does.
set -eu
R=${1:-5}
: "${A:?A=bench_model binary}" "${B:?B=bench_model binary}"
out=$(mktemp)
for r in $(seq 1 $R); do
  for w in "train 128 2 10 3" "infer 1 2 300 30" "infer 128 2 20 3" "train 128 1 10 3" "infer 1 1 300 30"; do
    set -- $w
    for side in A B; do
      if [ $side = A ]; then bin=$A; envv="${AENV:-X=1}"; else bin=$B; envv="${BENV:-X=1}"; fi
      ms=$(env $envv OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 $bin --what $1 --batch $2 --threads $3 --reps $4 --warmup $5 | sed 's/.*"ms_median":\([0-9.]*\).*"ms_min":\([0-9.]*\).*"cpu_ms_median":\([0-9.]*\).*/\1 \3 \2/')
      echo "$1 b$2 t$3 $side $ms" >> $out
    done
  done
done
python3 - $out <<'PY'
import sys, statistics, collections
d = collections.defaultdict(list)
for l in open(sys.argv[1]):
    w, b, t, side, ms, cpu, mn = l.split()
    d[(w, b, t, side)].append((float(ms), float(cpu), float(mn)))
keys = sorted({k[:3] for k in d}, key=lambda k: (k[0], int(k[1][1:]), k[2]))
print("%-6s %5s %3s %10s %10s %7s %9s %9s %7s %9s %9s %7s" % ("what", "batch", "thr", "A wall", "B wall", "B/A", "A cpu", "B cpu", "B/A", "A min", "B min", "B/A"))
for k in keys:
    a = d[k + ("A",)]; b = d[k + ("B",)]
    m = [(statistics.median([x[i] for x in a]), statistics.median([x[i] for x in b])) for i in range(3)]
    print("%-6s %5s %3s %10.3f %10.3f %7.3f %9.3f %9.3f %7.3f %9.4f %9.4f %7.3f" % (k[0], k[1], k[2], *[v for p in m for v in (p[0], p[1], p[1] / p[0])]))
PY
rm -f $out
