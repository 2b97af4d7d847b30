#!/bin/sh
# The bundled-digits rows of docs/quality.md's model-quality table: trains each model with
# `cvae train OPTIONS` (seed 1, 2 threads) and evaluates it with `cvae eval --k K`, then prints
# one markdown row per model: test -ELBO, IW-NLL (K > 0), the judge's accuracy on real digits,
# fidelity and the lowest label, FID, mean intra-class FID and FJD (model / floor).
#
#   tests/bench/quality.sh [NAME=OPTIONS ...]      (from the repository root, after building
#                                                 build/; about 2 minutes per model with K=0)
#
# Default models: default= (the quick start), plain=--no-cond-decoder,
# gabor="--frozen-table --gabor", former="--init he-glorot --epochs 30 --lr 1e-3
# --lr-schedule constant --no-cond-decoder" (the default before issue 15).
# A NAME=@FILE argument evaluates an existing model file instead of training one (e.g. a
# PyTorch-trained model written by tests/tools/torch_train_cvae.py).
# Environment: CVAE (build/examples/cvae/cvae), DATA (the bundled digits), K (0: no IW-NLL;
# 1000 takes about 6 minutes per model), OUT (directory of models and logs; default a
# temporary one), THREADS (2). Every number is deterministic for the seed and thread count.
set -eu
CVAE=${CVAE:-build/examples/cvae/cvae}
K=${K:-0}
THREADS=${THREADS:-2}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
data=""
[ -n "${DATA:-}" ] && data="--data $DATA"
if [ $# -eq 0 ]; then
    set -- "default=" "plain=--no-cond-decoder" "gabor=--frozen-table --gabor" \
        "former=--init he-glorot --epochs 30 --lr 1e-3 --lr-schedule constant --no-cond-decoder"
fi
echo "| model | test -ELBO | IW-NLL | judge on real | fidelity | lowest label | FID | intra-FID (mean) | FJD |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in "$@"; do
    name=${spec%%=*} opts=${spec#*=}
    case "$opts" in
    @*) model=${opts#@} ;;
    *)
        model=$OUT/$name.safetensors
        # shellcheck disable=SC2086 # opts is a list of options
        OPENBLAS_NUM_THREADS=$THREADS "$CVAE" train $data $opts --seed 1 --threads "$THREADS" \
            --quiet --out "$model" --checkpoint "$OUT/$name.ckpt" >"$OUT/$name.train.log"
        ;;
    esac
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=$THREADS "$CVAE" eval --model "$model" $data --k "$K" --seed 1 \
        >"$OUT/$name.eval.log"
    awk -v name="$name" -v opts="$opts" -v k="$K" '
        /^test -ELBO:/ { elbo = $3 }
        /^test IW-NLL/ { nll = $6 }
        /accuracy on the real test set/ { for (i = 1; i <= NF; i++) if ($i == "set") real = $(i + 1) }
        /^conditional fidelity/ { for (i = 1; i <= NF; i++) if ($i == "recognises") fid_acc = $(i + 1) }
        /^per label:/ { low = 101; for (i = 3; i <= NF; i++) { split($i, a, ":"); v = a[2] + 0; if (v < low) { low = v; lab = a[1] } } }
        /FID \(all labels\)/ { fid = $(NF - 1) " / " $NF }
        /^  FJD/ { fjd = $(NF - 1) " / " $NF }
        /intra-class FID, mean/ { intra = $(NF - 1) " / " $NF }
        END {
            if (k == 0) nll = "-"
            printf "| %s `%s` | %s | %s | %s | %s | %d%% (%s) | %s | %s | %s |\n", name, opts, elbo, nll, real, fid_acc, low, lab, fid, intra, fjd
        }' "$OUT/$name.eval.log"
done
echo "(models and logs in $OUT)"
