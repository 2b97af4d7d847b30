# Finds the Debian packages cvae builds on and exposes them as imported targets.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CVAE_CJSON REQUIRED IMPORTED_TARGET libcjson)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
find_package(Threads REQUIRED)

# cvae::blas: OpenBLAS and the CVAE_HAVE_BLAS definition (lib/core/blas.h) with CVAE_BLAS=ON;
# nothing at all with CVAE_BLAS=OFF, where the built-in GEMM does every product.
add_library(cvae::blas INTERFACE IMPORTED)
if(CVAE_BLAS)
  pkg_check_modules(CVAE_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
  target_link_libraries(cvae::blas INTERFACE PkgConfig::CVAE_OPENBLAS)
  target_compile_definitions(cvae::blas INTERFACE CVAE_HAVE_BLAS)
else()
  message(STATUS "CVAE_BLAS is OFF: no OpenBLAS, the built-in GEMM does every matrix product")
endif()
add_library(cvae::cjson INTERFACE IMPORTED)
target_link_libraries(cvae::cjson INTERFACE PkgConfig::CVAE_CJSON)

if(CVAE_BUILD_TESTS)
  pkg_check_modules(CVAE_CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
