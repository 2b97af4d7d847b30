#!/bin/sh
# check_install.sh BUILD_DIR
# Installs BUILD_DIR into a temporary prefix and checks what a user gets:
# the files, a program built with find_package(cvae CONFIG) (shared and
# static), one built with `cc main.c $(pkg-config --cflags --libs cvae)` (and
# one against libcvae.a with `pkg-config --static`), and the installed `cvae`
# program. Each consumer must print "cvae <version of include/cvae/core.h>".
# Environment: CC (default cc), CMAKE (default cmake), PKG_CONFIG (default pkg-config).
set -eu

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
CC=${CC:-cc}
CMAKE=${CMAKE:-cmake}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvae-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix="$tmp/prefix"

fail() { echo "check_install: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

version=$(sed -n 's/^#define CVAE_VERSION_STRING "\([^"]*\)".*$/\1/p' "$src/include/cvae/core.h")
[ -n "$version" ] || fail "no CVAE_VERSION_STRING in include/cvae/core.h"
major=${version%%.*}
# the soname: MAJOR, or MAJOR.MINOR while the major version is 0 (see CMakeLists.txt)
if [ "$major" = 0 ]; then soname=${version%.*}; else soname=$major; fi

step "install into $prefix"
"$CMAKE" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install"; }

pc=$(find "$prefix" -name cvae.pc | head -n 1)
[ -n "$pc" ] || fail "no cvae.pc installed"
libdir=$(cd "$(dirname "$pc")/.." && pwd)
for f in "$prefix/include/cvae/cvae.h" "$prefix/include/cvae/core.h" \
         "$libdir/cmake/cvae/cvae-config.cmake" "$libdir/cmake/cvae/cvae-config-version.cmake" \
         "$prefix/share/cvae/data/mnist-digits-5k/README.md" \
         "$prefix/share/cvae/data/mnist-digits-5k/train-images-idx3-ubyte.gz"; do
    [ -f "$f" ] || fail "missing $f"
done
# cvae_mpi (and cvae/mpi.h, cvae-mpi.pc) only in a build with MPI
mpi=no
ls "$libdir"/libcvae_mpi.* >/dev/null 2>&1 && mpi=yes
for h in "$src"/include/cvae/*.h; do
    [ "$(basename "$h")" = mpi.h ] && [ $mpi = no ] && continue
    [ -f "$prefix/include/cvae/$(basename "$h")" ] || fail "header $(basename "$h") not installed"
done
if [ $mpi = yes ]; then
    [ -f "$(dirname "$pc")/cvae-mpi.pc" ] || fail "no cvae-mpi.pc installed"
    [ -f "$libdir/cmake/cvae/cvae-mpi-targets.cmake" ] || fail "no cvae-mpi-targets.cmake installed"
else
    [ ! -f "$prefix/include/cvae/mpi.h" ] || fail "cvae/mpi.h installed without libcvae_mpi"
fi
shared=no
if [ -e "$libdir/libcvae.so" ]; then
    shared=yes
    [ -f "$libdir/libcvae.so.$version" ] || fail "no $libdir/libcvae.so.$version"
    [ "$(readlink "$libdir/libcvae.so.$soname")" = "libcvae.so.$version" ] ||
        fail "libcvae.so.$soname does not point to libcvae.so.$version"
fi
static=no
[ -f "$libdir/libcvae.a" ] && static=yes
echo "libdir $libdir: shared $shared, static $static"

# A build without BLAS (-DCVAE_BLAS=OFF) names no BLAS to its users: not in cvae.pc, not in
# the CMake package (comments aside), not among libcvae.so's NEEDED entries.
if grep -q '^CVAE_BLAS:BOOL=OFF$' "$build/CMakeCache.txt"; then
    step "no BLAS anywhere (CVAE_BLAS=OFF)"
    for f in "$pc" "$libdir"/cmake/cvae/*.cmake; do
        ! grep -v '^ *#' "$f" | grep -qiE 'openblas|cblas' || fail "$f names a BLAS library"
    done
    if [ $shared = yes ]; then
        ! LD_LIBRARY_PATH="$libdir" ldd "$libdir/libcvae.so" | grep -qiE 'openblas|cblas|libblas' ||
            fail "libcvae.so links a BLAS library"
    fi
    echo "cvae.pc, the CMake package and libcvae.so name no BLAS"
fi

check_output() { # name, command...
    name=$1; shift
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@") || fail "$name exited with $?"
    [ "$out" = "cvae $version" ] || fail "$name printed '$out', expected 'cvae $version'"
    echo "$name: $out"
}
needs_libcvae_so() { # binary: is libcvae.so.SONAME a NEEDED entry?
    LD_LIBRARY_PATH="$libdir" ldd "$1" | grep -q "libcvae\.so\.$soname => $libdir/"
}

mpi_train_arg=""
[ $mpi = yes ] && mpi_train_arg="-DMPI_TRAIN=$src/examples/mpi_train.c"
step "CMake consumer (find_package(cvae CONFIG))"
"$CMAKE" -S "$here/cmake_consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DHOST_FORWARD="$src/examples/host_forward.c" $mpi_train_arg \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "configuring the CMake consumer"; }
"$CMAKE" --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; fail "building the CMake consumer"; }
check_output "cmake consumer (cvae::cvae)" "$tmp/cmake-build/consumer"
if [ $shared = yes ]; then
    needs_libcvae_so "$tmp/cmake-build/consumer" || fail "cvae::cvae is not the shared library"
fi
if [ $static = yes ]; then
    check_output "cmake consumer (cvae::cvae_static)" "$tmp/cmake-build/consumer_static"
    ! needs_libcvae_so "$tmp/cmake-build/consumer_static" || fail "cvae::cvae_static links libcvae.so"
fi

if command -v "$PKG_CONFIG" >/dev/null 2>&1; then
    step "pkg-config consumer"
    PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export PKG_CONFIG_PATH
    [ "$("$PKG_CONFIG" --modversion cvae)" = "$version" ] || fail "pkg-config --modversion cvae"
    flags="--cflags --libs"
    [ $shared = yes ] || flags="--static $flags"
    # shellcheck disable=SC2046,SC2086
    "$CC" -std=c11 -Wall -Wextra -Werror "$here/cmake_consumer/main.c" -o "$tmp/pc-consumer" \
        $("$PKG_CONFIG" $flags cvae) || fail "cc main.c \$(pkg-config $flags cvae)"
    check_output "pkg-config consumer" "$tmp/pc-consumer"
    if [ $static = yes ]; then
        # libcvae.a by path, its dependencies from Libs.private / Requires.private.
        # shellcheck disable=SC2046
        "$CC" -std=c11 -Wall -Wextra -Werror $("$PKG_CONFIG" --cflags cvae) \
            "$here/cmake_consumer/main.c" -o "$tmp/pc-consumer-static" "$libdir/libcvae.a" \
            $("$PKG_CONFIG" --static --libs cvae | sed 's/\(^\| \)-lcvae\( \|$\)/ /') ||
            fail "cc main.c libcvae.a \$(pkg-config --static --libs cvae)"
        check_output "pkg-config static consumer" "$tmp/pc-consumer-static"
    fi
else
    echo "check_install: $PKG_CONFIG not found: pkg-config consumer skipped"
fi

if [ $mpi = yes ]; then
    # every rank on this machine, loopback only (as tests/test_mpi.c)
    export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
    data="$prefix/share/cvae/data/mnist-digits-5k"
    run_mpi_train() { # name, binary, ranks (0: without mpirun)
        if [ "$3" = 0 ]; then set -- "$1" "$2"; else set -- "$1" mpirun --oversubscribe -np "$3" "$2"; fi
        name=$1; shift
        out=$(cd "$tmp" && LD_LIBRARY_PATH="$libdir" "$@" 1 "$data" "$tmp/mpi_train.safetensors") ||
            fail "$name exited with $?"
        echo "$out" | grep -q "ranks; saved" || fail "$name printed '$out'"
        echo "$name: $(echo "$out" | tail -n 1)"
    }
    step "mpi_train.c on cvae::cvae_mpi (find_package(cvae COMPONENTS mpi)), 2 ranks"
    if [ $shared = yes ]; then
        needs_libcvae_so "$tmp/cmake-build/mpi_train" || fail "cvae::cvae_mpi does not link libcvae.so"
    fi
    command -v mpirun >/dev/null 2>&1 && run_mpi_train "mpi_train (find_package)" "$tmp/cmake-build/mpi_train" 2
    if command -v "$PKG_CONFIG" >/dev/null 2>&1; then
        step "mpi_train.c with pkg-config cvae-mpi, one process"
        # shellcheck disable=SC2046
        "$CC" -std=c11 -Wall -Wextra -Werror "$src/examples/mpi_train.c" -o "$tmp/pc-mpi-train" \
            $("$PKG_CONFIG" --cflags --libs cvae-mpi) || fail "cc mpi_train.c \$(pkg-config --cflags --libs cvae-mpi)"
        run_mpi_train "mpi_train (pkg-config)" "$tmp/pc-mpi-train" 0
    fi
fi

if [ -x "$prefix/bin/cvae" ]; then
    step "installed cvae program"
    check_output "cvae version" "$prefix/bin/cvae" version
fi
if [ -x "$prefix/bin/cvae" ]; then
    step "host_forward.c built out of tree (find_package and pkg-config) on a model the installed cvae trained"
    data="$prefix/share/cvae/data/mnist-digits-5k"
    OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH="$libdir" "$prefix/bin/cvae" train --epochs 1 --quiet \
        --out "$tmp/model.safetensors" --checkpoint "$tmp/ckpt.safetensors" >"$tmp/train.log" 2>&1 ||
        { cat "$tmp/train.log" >&2; fail "installed cvae train"; }
    grep -q "^data: $prefix/bin/../share/cvae/data/mnist-digits-5k " "$tmp/train.log" ||
        fail "the installed cvae did not default to the data installed beside it"
    run_host_forward() { # name, binary
        out=$(LD_LIBRARY_PATH="$libdir" "$2" "$tmp/model.safetensors" "$data") || fail "$1 exited with $?"
        [ "$(echo "$out" | grep -c '^digit ')" = 4 ] || fail "$1 printed '$out'"
        echo "$1:"; echo "$out"
    }
    run_host_forward "host_forward (find_package)" "$tmp/cmake-build/host_forward"
    if command -v "$PKG_CONFIG" >/dev/null 2>&1; then
        flags="--cflags --libs"
        [ $shared = yes ] || flags="--static $flags"
        # shellcheck disable=SC2046,SC2086
        "$CC" -std=c11 -Wall -Wextra -Werror "$src/examples/host_forward.c" -o "$tmp/pc-host-forward" \
            $("$PKG_CONFIG" $flags cvae) -lm || fail "cc host_forward.c \$(pkg-config $flags cvae)"
        run_host_forward "host_forward (pkg-config)" "$tmp/pc-host-forward"
    fi
fi
echo "check_install: OK"
