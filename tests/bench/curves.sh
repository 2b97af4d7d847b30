#!/bin/sh
# Learning curves of cvae against PyTorch on the same model, data, order and optimizer.
#
#   tests/bench/curves.sh [SEED...]      (from the repository root, after building build/;
#                                         default seeds 1 2 3)
#
# For each seed it runs, side by side (one thread each):
#   cvae:  build/examples/cvae/cvae train --data $DATA --epochs 5 --batch 128 --lr 1e-3
#          --lr-schedule constant --no-cond-decoder --seed S --threads 1 --quiet $CVAE_ARGS
#          (the reference architecture, a constant rate; test -ELBO printed each epoch)
#   torch: tests/bench/torch_curves.py --data $DATA --epochs 5 --batch 128 --lr 1e-3
#          --seed S --threads 1 $TORCH_ARGS
# both on Fashion-MNIST in grey values, the same batches in the same order (cvae's
# Philox-keyed Fisher-Yates shuffle per (seed, epoch), reimplemented in torch_curves.py and
# checked against libcvae.so first), Adam 1e-3, test -ELBO per epoch with one z per image;
# then prints per epoch the mean over seeds of each side's test -ELBO, their difference in %
# ((cvae - torch) / torch: > 0 means cvae is behind), and each seed's pair.
#
# Environment: DATA (default /usr/share/datasets/fashion-mnist), EPOCHS (5), CVAE (default
# build/examples/cvae/cvae), LIBCVAE (build/libcvae.so), PYTHON (/usr/bin/python3, the one with
# Debian's python3-torch), CVAE_ARGS (more `cvae train` options, e.g. "--init he-glorot"),
# TORCH_ARGS (more torch_curves.py options, e.g. "--init he_glorot"), OUT (a directory that
# keeps the logs and both sides' final models, cvae-seedS*.safetensors and
# torch-seedS*.safetensors, for `cvae eval`; default a temporary one), REUSE=torch (reuse OUT's
# complete torch logs of the same seeds, epochs and options instead of rerunning PyTorch) or
# REUSE=all (both sides' logs): the curves are deterministic, so a log is as good as a rerun.
# The curves are deterministic (thread counts fixed at 1); wall times are not, and are not
# what this script measures.
set -eu

DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-5}
CVAE=${CVAE:-build/examples/cvae/cvae}
LIBCVAE=${LIBCVAE:-build/libcvae.so}
PYTHON=${PYTHON:-/usr/bin/python3}
CVAE_ARGS=${CVAE_ARGS:-}
TORCH_ARGS=${TORCH_ARGS:-}
REUSE=${REUSE:-none}
HERE=$(dirname "$0")
[ $# -gt 0 ] || set -- 1 2 3

[ -x "$CVAE" ] || { echo "curves.sh: $CVAE not built (cmake --build build)" >&2; exit 2; }
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
    { echo "curves.sh: $PYTHON cannot import torch and numpy (apt-get install python3-torch)" >&2; exit 2; }
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
else
    OUT=$(mktemp -d)
    trap 'rm -rf "$OUT"' EXIT
fi
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}" OPENBLAS_L2_SIZE="${OPENBLAS_L2_SIZE:-512}"

"$PYTHON" "$HERE/torch_curves.py" --check-order "$LIBCVAE" --data "$DATA" --seed "$1" >&2

cvae_tag=$(echo "$CVAE_ARGS" | tr -c 'A-Za-z0-9\n' '_')
torch_tag=$(echo "$TORCH_ARGS" | tr -c 'A-Za-z0-9\n' '_')
for s in "$@"; do
    c="$OUT/cvae-seed$s-e$EPOCHS$cvae_tag.log"
    t="$OUT/torch-seed$s-e$EPOCHS$torch_tag.log"
    echo "curves.sh: seed $s: cvae train $CVAE_ARGS | torch_curves.py $TORCH_ARGS" >&2
    cpid=
    if [ "$REUSE" = all ] && [ "$(grep -c 'test -ELBO' "$c" 2>/dev/null)" = "$EPOCHS" ]; then
        echo "curves.sh: seed $s: reusing $c" >&2
    else
        # shellcheck disable=SC2086
        "$CVAE" train --data "$DATA" --epochs "$EPOCHS" --batch 128 --lr 1e-3 \
            --lr-schedule constant --no-cond-decoder --seed "$s" --threads 1 --quiet --out "$OUT/cvae-seed$s$cvae_tag.safetensors" \
            --checkpoint "$OUT/cvae-seed$s$cvae_tag.ckpt" $CVAE_ARGS >"$c" &
        cpid=$!
    fi
    if [ "$REUSE" != none ] && [ -s "$t" ] && grep -q '"impl"' "$t"; then
        echo "curves.sh: seed $s: reusing $t" >&2
    else
        # shellcheck disable=SC2086
        "$PYTHON" "$HERE/torch_curves.py" --data "$DATA" --epochs "$EPOCHS" --batch 128 \
            --lr 1e-3 --seed "$s" --threads 1 --save "$OUT/torch-seed$s$torch_tag.safetensors" \
            $TORCH_ARGS >"$t"
    fi
    [ -z "$cpid" ] || wait "$cpid" ||
        { echo "curves.sh: cvae train failed (seed $s):" >&2; tail "$c" >&2; exit 1; }
done

"$PYTHON" - "$OUT" "$EPOCHS" "$cvae_tag" "$torch_tag" "$@" <<'EOF'
import json, re, sys
out, epochs, ctag, ttag, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
cv, th = {}, {}
for s in seeds:
    text = open("%s/cvae-seed%s-e%d%s.log" % (out, s, epochs, ctag)).read()
    cv[s] = [float(v) for v in re.findall(r"test -ELBO\s+([0-9.]+)", text)]
    line = [l for l in open("%s/torch-seed%s-e%d%s.log" % (out, s, epochs, ttag)) if l.startswith("{")]
    th[s] = json.loads(line[-1])["test_elbo"]
    if len(cv[s]) < epochs or len(th[s]) < epochs:
        sys.exit("curves.sh: seed %s: a curve has fewer than %d epochs" % (s, epochs))
mean = lambda v: sum(v) / len(v)
print("test -ELBO (nats/image, one z per image), mean over seeds %s; diff = (cvae - torch) / torch"
      % " ".join(seeds))
head = "%5s %10s %10s %8s" % ("epoch", "cvae", "torch", "diff %")
for s in seeds:
    head += "   %9s %9s %7s" % ("cvae s" + s, "torch s" + s, "diff %")
print(head)
worst = -1e9
for e in range(epochs):
    c, t = mean([cv[s][e] for s in seeds]), mean([th[s][e] for s in seeds])
    worst = max(worst, 100 * (c - t) / t)
    row = "%5d %10.3f %10.3f %+8.2f" % (e + 1, c, t, 100 * (c - t) / t)
    for s in seeds:
        row += "   %9.3f %9.3f %+7.2f" % (cv[s][e], th[s][e], 100 * (cv[s][e] - th[s][e]) / th[s][e])
    print(row)
print("largest mean difference over the epochs: %+.2f%% (target: <= +0.50%%)" % worst)
EOF
