#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz and runs each one for
# SECONDS (default 60), one after the other, starting from its committed seed
# corpus tests/fuzz/corpus/<target>/ (new inputs go to build-fuzz/corpus/<target>/,
# crashes to build-fuzz/artifacts/<target>/). Prints executions per target and
# exits 1 if any target crashed.
#     bash tests/fuzz/run.sh [SECONDS] [TARGET...]     e.g. bash tests/fuzz/run.sh 30 safetensors
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
jobs=${CVAE_FUZZ_JOBS:-2}

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVAE_FUZZ=ON \
  -DCVAE_BUILD_TESTS=OFF -DCVAE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" >/dev/null

max_len_of() {
  case "$1" in
    model_config) echo 4096 ;;
    *) echo 65536 ;;
  esac
}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    targets+=("${t#fuzz_}")
  done
fi

status=0
summary=""
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t art=build-fuzz/artifacts/$t log=build-fuzz/fuzz_$t.log
  mkdir -p "$work" "$art" "tests/fuzz/corpus/$t"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "== fuzz_$t for ${secs}s (max_len $(max_len_of "$t"))"
  rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    OPENBLAS_NUM_THREADS=1 \
    "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len="$(max_len_of "$t")" \
    -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
    "${dict[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -40 "$log"
    summary+=$(printf '%-14s %12s executions  CRASH (see %s, inputs in %s)' "$t" "${runs:-?}" "$log" "$art")$'\n'
  else
    summary+=$(printf '%-14s %12s executions  no crash' "$t" "${runs:-?}")$'\n'
  fi
done
echo "== summary (${secs}s per target)"
printf '%s' "$summary"
exit $status
