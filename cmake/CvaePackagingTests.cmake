# ctest tests of the packaging itself (included when CVAE_BUILD_TESTS is ON).
#   exported_symbols        libcvae.so exports only cvae_* names
#   exported_symbols_probe  the same check fails on a library that leaks a name
#   install_consumers       install, then build and run a CMake and a pkg-config consumer
#                           (label "host": it runs what it builds directly, so not when
#                           cross-compiling; see tests/cross/aarch64.sh)
if(TARGET cvae_shared)
  if(NOT CMAKE_NM)
    find_program(CMAKE_NM nm REQUIRED)
  endif()
  add_test(NAME exported_symbols
           COMMAND "${CMAKE_COMMAND}" -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:cvae_shared>
                   -P "${PROJECT_SOURCE_DIR}/cmake/CheckExportedSymbols.cmake")

  # A shared library exporting cvae_probe_ok and probe_leak: the check must reject it.
  file(WRITE "${PROJECT_BINARY_DIR}/symcheck_probe.c"
       "int cvae_probe_ok(void) { return 1; }\nint probe_leak(void) { return 2; }\n")
  add_library(cvae_symcheck_probe SHARED "${PROJECT_BINARY_DIR}/symcheck_probe.c")
  add_test(NAME exported_symbols_probe
           COMMAND "${CMAKE_COMMAND}" -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:cvae_symcheck_probe>
                   -P "${PROJECT_SOURCE_DIR}/cmake/CheckExportedSymbols.cmake")
  set_tests_properties(exported_symbols_probe PROPERTIES
                       PASS_REGULAR_EXPRESSION "[ \n]probe_leak"
                       FAIL_REGULAR_EXPRESSION "cvae_probe_ok;all cvae_")
endif()

# A sanitized libcvae.so cannot be linked by a consumer built without the
# sanitizer runtime, so the consumer test runs in plain builds only.
if(CVAE_INSTALL AND NOT CVAE_SANITIZE)
  add_test(NAME install_consumers
           COMMAND sh "${PROJECT_SOURCE_DIR}/tests/install/check_install.sh" "${PROJECT_BINARY_DIR}")
  set_tests_properties(install_consumers PROPERTIES TIMEOUT 180 RUN_SERIAL ON LABELS host
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1;CC=${CMAKE_C_COMPILER}")
elseif(CVAE_SANITIZE)
  message(STATUS "CVAE_SANITIZE is set: no install_consumers test")
endif()
