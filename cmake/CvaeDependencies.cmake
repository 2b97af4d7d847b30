# Finds the Debian packages cvae builds on and exposes them as imported targets.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CVAE_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(CVAE_CJSON REQUIRED IMPORTED_TARGET libcjson)
find_package(ZLIB REQUIRED)
find_package(PNG REQUIRED)
find_package(Threads REQUIRED)

add_library(cvae::blas INTERFACE IMPORTED)
target_link_libraries(cvae::blas INTERFACE PkgConfig::CVAE_OPENBLAS)
add_library(cvae::cjson INTERFACE IMPORTED)
target_link_libraries(cvae::cjson INTERFACE PkgConfig::CVAE_CJSON)

if(CVAE_BUILD_TESTS)
  pkg_check_modules(CVAE_CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
