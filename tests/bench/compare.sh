#!/bin/sh
# cvae against PyTorch on the reference model, side by side in one run.
#
#   tests/bench/compare.sh [ROUNDS]        (from the repository root, after building build/)
#
# Runs build/tests/bench/bench_model (cvae) and tests/bench/torch_reference.py (PyTorch,
# same command line and JSON) ALTERNATELY, cvae then torch, ROUNDS times (default 3) for
# every row, and reports the median over rounds of each side's per-run median:
#   train step at batch 128, inference latency at batch 1, inference at batch 128
#   (encode + sample + decode), at 1 and 2 threads, under three settings:
#     default  OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 (this machine's environment,
#              set explicitly), both sides untuned
#     unset    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE (OpenBLAS picks Cooperlake
#              AVX-512 kernels), both sides untuned
#     best     each side at its own best: cvae = the unset environment; PyTorch =
#              the unset environment + torch_reference.py --best (see docs/model-format.md)
# and the ratio torch time / cvae time (> 1: cvae faster). Epoch throughput (images/s over
# the 4000 bundled training digits) is COMPUTED from the batch-128 step time:
# 128 / step seconds (the 31 full batches of an epoch; data shuffling and the last partial
# batch are not timed).
#
# Environment: BENCH_MODEL (default build/tests/bench/bench_model), PYTHON (default
# /usr/bin/python3, the one with Debian's python3-torch), ROWS (a grep pattern over
# "setting threads what batch" to run a subset, e.g. ROWS='best 2 train').
set -eu

ROUNDS=${1:-3}
BENCH_MODEL=${BENCH_MODEL:-build/tests/bench/bench_model}
PYTHON=${PYTHON:-/usr/bin/python3}
TORCH_REF=$(dirname "$0")/torch_reference.py
ROWS=${ROWS:-.}

[ -x "$BENCH_MODEL" ] || { echo "compare.sh: $BENCH_MODEL not built (cmake --build build)" >&2; exit 2; }
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
    { echo "compare.sh: $PYTHON cannot import torch and numpy (apt-get install python3-torch)" >&2; exit 2; }

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

# env arguments of a setting; OPENBLAS_NUM_THREADS is left to each program (bench_model
# calls openblas_set_num_threads, torch_reference.py sets it and re-executes itself).
setting_env() {
    case $1 in
    default) echo "-u OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512" ;;
    *) echo "-u OPENBLAS_NUM_THREADS -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" ;;
    esac
}

# run SETTING THREADS WHAT BATCH REPS WARMUP
run() {
    setting=$1 threads=$2 what=$3 batch=$4 reps=$5 warmup=$6
    echo "$setting $threads $what $batch" | grep -q -- "$ROWS" || return 0
    args="--what $what --batch $batch --threads $threads --reps $reps --warmup $warmup"
    torch_extra=""
    [ "$setting" = best ] && torch_extra="--best"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        # shellcheck disable=SC2046,SC2086
        c=$(env $(setting_env "$setting") "$BENCH_MODEL" $args)
        # shellcheck disable=SC2046,SC2086
        t=$(env $(setting_env "$setting") "$PYTHON" "$TORCH_REF" $args $torch_extra)
        printf '%s\t%s\n%s\t%s\n' "$setting" "$c" "$setting" "$t" >>"$OUT"
        printf '%s %s threads %s batch %s round %s: cvae %s ms, torch %s ms\n' "$setting" "$what" \
            "$threads" "$batch" "$r" "$(echo "$c" | sed 's/.*"ms_median":\([0-9.]*\).*/\1/')" \
            "$(echo "$t" | sed 's/.*"ms_median":\([0-9.]*\).*/\1/')" >&2
        r=$((r + 1))
    done
}

for setting in default unset best; do
    for threads in 1 2; do
        run "$setting" "$threads" train 128 10 3
        run "$setting" "$threads" infer 1 300 30
        run "$setting" "$threads" infer 128 20 3
    done
done

"$PYTHON" - "$OUT" <<'EOF'
import json, statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    setting, js = line.rstrip("\n").split("\t", 1)
    d = json.loads(js)
    key = (setting, d["threads"], d["what"], d["batch"])
    if key not in rows:
        rows[key] = {"cvae": [], "torch": [], "cvae_cpu": [], "torch_cpu": [], "core": {}}
        order.append(key)
    rows[key][d["impl"]].append(d["ms_median"])
    rows[key][d["impl"] + "_cpu"].append(d.get("cpu_ms_median", float("nan")))
    rows[key]["core"][d["impl"]] = d["corename"]
    if d["impl"] == "cvae" and "gflop" in d:
        rows[key]["flop"] = (d["gflop"], d["peak_gflops"], d["peak1_gflops"])
print("median over rounds of each run's median; ratio = torch / cvae (> 1: cvae faster);")
print("wall = elapsed time per call, cpu = CPU time of the process (all threads) per call;")
print("peak = cvae's GFLOP/s (the model's GEMM FLOPs / wall) as a share of the FMA peak of as many")
print("threads (bench_model, peak.h); floor = cvae's wall / (FLOPs / one thread's peak)")
print("%-8s %3s  %-15s %9s %9s %6s %9s %9s %6s %6s %6s  %s" % (
    "setting", "thr", "measure", "cvae wall", "torch", "ratio", "cvae cpu", "torch", "ratio",
    "peak", "floor", "kernels cvae/torch"))
for key in order:
    setting, threads, what, batch = key
    r = rows[key]
    if not r["cvae"] or not r["torch"]:
        continue
    c, t = statistics.median(r["cvae"]), statistics.median(r["torch"])
    cc, tc = statistics.median(r["cvae_cpu"]), statistics.median(r["torch_cpu"])
    name = "train step b%d" % batch if what == "train" else "infer b%d" % batch
    gflop, peak, peak1 = r.get("flop", (0, 0, 0))
    share = "%5.1f%%" % (100 * gflop / (1e-3 * c) / peak) if peak else "-"
    floor = "%5.2fx" % (c / (1e3 * gflop / peak1)) if peak1 else "-"
    print("%-8s %3d  %-15s %9.3f %9.3f %6.2f %9.3f %9.3f %6.2f %6s %6s  %s/%s" % (
        setting, threads, name, c, t, t / c, cc, tc, tc / cc, share, floor, r["core"]["cvae"],
        r["core"]["torch"]))
    if what == "train":
        print("%-8s %3d  %-15s %9.0f %9.0f %6.2f %9s %9s %6s  (computed: %d / wall step time)" % (
            setting, threads, "epoch images/s", 1e3 * batch / c, 1e3 * batch / t, t / c, "", "", "",
            batch))
EOF
