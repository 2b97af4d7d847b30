#!/usr/bin/env bash
# Memory and thread checks of the whole test suite (CI: `bash tests/sanitize.sh`).
#   asan      clang, -fsanitize=address,undefined (fatal on the first report, leak
#             detection on), into build-asan; runs the full ctest suite.
#   valgrind  every tests/test_* binary of the normal Release build (build/) under
#             valgrind memcheck; fails on any error or definitely lost byte. Skips
#             the binaries named in CVAE_VALGRIND_SKIP, by default those that take
#             more than about 2 minutes under valgrind on CI's 2 cores (measured in a
#             CI run: test_custom_cvae 3,696 s, test_schedule 835 s under load,
#             test_fused_activation 391 s, test_latent_affine 256 s; test_denoiser,
#             test_mlp_digits, test_model and test_judge train real networks for
#             minutes). All of them run in the
#             asan step; the model layer still runs under valgrind with tiny models
#             in test_alloc_failure, test_hostile and test_fuzz_corpus, and the fused
#             activations in test_activation and the conv tests.
#             CVAE_VALGRIND_SKIP= runs everything.
#   tsan      clang, -fsanitize=thread, into build-tsan; runs test_model (its
#             test_threads_match_serial runs inference from 4 threads on one model),
#             test_threads (data-parallel training steps, two at once) and test_dist
#             (workers of cvae_trainer_set_dist as threads sharing an in-memory sum)
#             with the suppressions of tests/tsan.supp (OpenBLAS is not instrumented).
# Usage: bash tests/sanitize.sh [asan] [valgrind] [tsan]     (default: all three)
# Needs clang and valgrind (apt-get install clang valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${CVAE_SANITIZE_JOBS:-2}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(asan valgrind tsan)

# As everywhere on these machines (see the design guide): OpenBLAS picks AVX2
# kernels, which valgrind can also run (it has no AVX-512).
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
export OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-512}
export OPENBLAS_NUM_THREADS=1

configure() { # dir, cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCVAE_BUILD_BENCH=OFF "$@" >/dev/null
}

run_asan() {
  echo "== asan: clang -fsanitize=address,undefined, full ctest suite (build-asan)"
  CC=clang configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVAE_SANITIZE=address,undefined
  cmake --build build-asan -j"$jobs" >/dev/null
  (cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --output-on-failure -j"$jobs")
}

run_valgrind() {
  local default_skip="test_custom_cvae test_denoiser test_fused_activation test_judge"
  default_skip+=" test_latent_affine test_mlp_digits test_model test_schedule"
  echo "== valgrind memcheck: every test binary of the Release build (build)"
  configure build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$jobs" >/dev/null
  local logs=$root/build/valgrind skip=" ${CVAE_VALGRIND_SKIP-$default_skip} "
  rm -rf "$logs" && mkdir -p "$logs"
  local list=()
  for t in build/tests/test_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    t=$(basename "$t")
    if [[ "$skip" == *" $t "* ]]; then echo "   skip $t (CVAE_VALGRIND_SKIP)"; else list+=("$t"); fi
  done
  # One binary per job, as ctest runs it (working directory build/tests);
  # xargs exits non-zero when any run failed.
  local rc=0
  printf '%s\n' "${list[@]}" | (cd build/tests && xargs -P"$jobs" -I{} sh -c '
      start=$(date +%s)
      if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
           --show-leak-kinds=definite ./{} >"$0/{}.log" 2>&1; then r=ok; else r=FAIL; fi
      echo "   $r $(( $(date +%s) - start ))s {}"
      [ $r = ok ]' "$logs") || rc=$?
  if [ "$rc" -ne 0 ]; then
    for f in "$logs"/*.log; do
      grep -q -E '==[0-9]+== |FAILED' "$f" && { echo "---- $f"; tail -60 "$f"; }
    done
    return 1
  fi
}

run_tsan() {
  echo "== tsan: clang -fsanitize=thread, test_model, test_threads, test_dist (build-tsan)"
  CC=clang configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVAE_SANITIZE=thread \
    -DCVAE_BUILD_EXAMPLES=OFF
  cmake --build build-tsan -j"$jobs" --target test_model test_threads test_dist >/dev/null
  (cd build-tsan/tests &&
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" &&
    ./test_model && ./test_threads && ./test_dist)
}

for s in "${steps[@]}"; do
  case "$s" in
    asan) run_asan ;;
    valgrind) run_valgrind ;;
    tsan) run_tsan ;;
    *) echo "unknown step '$s' (asan, valgrind, tsan)" >&2; exit 2 ;;
  esac
done
echo "== sanitize.sh: ${steps[*]} passed"
