#!/usr/bin/env bash
# The unit tests on 64-bit ARM without ARM hardware (CI: `bash tests/cross/aarch64.sh`):
# cross-compiles with Debian's gcc-aarch64-linux-gnu and runs every ctest test under
# qemu-user (qemu-aarch64, through CMAKE_CROSSCOMPILING_EMULATOR of
# cmake/toolchains/aarch64-linux-gnu.cmake).
#
# The build is -DCVAE_BLAS=OFF: the portable path the ARM port is about (the built-in GEMM with
# its portable C micro-kernel, NEON through GCC's vectorizer), with the fewest packages to
# install. CVAE_CROSS_BLAS=ON builds against libopenblas-dev:arm64 instead (OpenBLAS hangs
# under qemu unless OPENBLAS_NUM_THREADS=1, which ctest's tests set and this script exports).
#
# Excluded by label (ctest -LE 'host|long'): the tests labelled long (they train networks for
# several seconds natively, an hour under qemu: test_custom_cvae, test_denoiser, test_judge), and
# those labelled host, because they need the build machine itself:
#   install_consumers  installs, then compiles consumers with the cross compiler and runs them
#                      directly (aarch64 programs do not run on x86 without binfmt_misc)
#   interop_torch      runs the build machine's PyTorch, which starts the aarch64 interop_check
#                      program directly (same reason)
#   test_cli           starts the aarch64 `cvae` program directly (same reason)
#
# Environment: CVAE_CROSS_BUILD (build folder, default build-aarch64), CVAE_CROSS_BLAS (OFF),
# CVAE_CROSS_JOBS (2), CVAE_CROSS_INSTALL=0 to skip the apt-get step (packages present).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${CVAE_CROSS_BUILD:-build-aarch64}
blas=${CVAE_CROSS_BLAS:-OFF}
jobs=${CVAE_CROSS_JOBS:-2}
export DEBIAN_FRONTEND=noninteractive OPENBLAS_NUM_THREADS=1
start=$(date +%s)

if [ "${CVAE_CROSS_INSTALL:-1}" != 0 ]; then
    echo "== aarch64: installing the cross compiler, qemu-user and the arm64 -dev packages"
    dpkg --add-architecture arm64
    apt-get update -qq
    pkgs=(gcc-aarch64-linux-gnu qemu-user libcmocka-dev:arm64 libcjson-dev:arm64
          zlib1g-dev:arm64 libpng-dev:arm64)
    [ "$blas" = ON ] && pkgs+=(libopenblas-dev:arm64)
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

echo "== aarch64: cross-build (CVAE_BLAS=$blas) into $build"
toolchain=(--toolchain cmake/toolchains/aarch64-linux-gnu.cmake)
[ -f "$build/CMakeCache.txt" ] && toolchain=() # set once, at the first configuration
cmake -S . -B "$build" "${toolchain[@]}" -DCMAKE_BUILD_TYPE=Release -DCVAE_BLAS="$blas" >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
file "$build/tests/test_gemm" | grep -q 'ARM aarch64' || { echo "not an aarch64 build" >&2; exit 1; }

echo "== aarch64: ctest under qemu-aarch64 (labels 'host' and 'long' excluded, see above)"
ctest --test-dir "$build" --output-on-failure -j"$jobs" -LE 'host|long'
echo "== aarch64: passed in $(( $(date +%s) - start )) s"
