# Cross-compiling for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu and the arm64
# multiarch -dev packages (dpkg --add-architecture arm64; see tests/cross/aarch64.sh):
#   cmake -S . -B build-aarch64 --toolchain cmake/toolchains/aarch64-linux-gnu.cmake
# Test programs run under qemu-user (ctest through CMAKE_CROSSCOMPILING_EMULATOR).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# GCC 12.2 (Debian 12's cross compiler) stops with an internal compiler error in
# vect_transform_reduction when it vectorizes an fmax or fmin reduction over doubles (the tests'
# error scales, examples/nets/common.c): plain library calls avoid it, same results.
set(CMAKE_C_FLAGS_INIT "-fno-builtin-fmax -fno-builtin-fmin")

# Libraries and headers of the target only (multiarch: /usr/lib/aarch64-linux-gnu); programs
# (pkg-config, python) of the build machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Programs run with the arm64 C library of the multiarch packages (-L /: its loader
# /lib/ld-linux-aarch64.so.1 and /lib/aarch64-linux-gnu), the one the -dev packages were built
# against. With -L /usr/aarch64-linux-gnu (the cross compiler's own, older libc6-arm64-cross)
# the loader and the libraries do not match and pthread_create never returns: that is why
# OpenBLAS (and any test starting a thread) seemed to hang under qemu.
find_program(CVAE_QEMU_AARCH64 qemu-aarch64)
if(CVAE_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${CVAE_QEMU_AARCH64};-L;/")
endif()
