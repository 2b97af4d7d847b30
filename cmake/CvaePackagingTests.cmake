# ctest tests of the packaging itself (included when CVAE_BUILD_TESTS is ON).
#   exported_symbols        libcvae.so exports only cvae_* names (exported_symbols_mpi:
#                           libcvae_mpi.so, when built)
#   exported_symbols_probe  the same check fails on a library that leaks a name
#   declared_symbols        libcvae.so exports every function declared CVAE_API in include/cvae/
#   declared_symbols_probe  the same check fails on a library missing a declared function
#   shared_consumer         a program linked against libcvae.so only, calling every public header
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
  if(TARGET cvae_mpi_shared)
    add_test(NAME exported_symbols_mpi
             COMMAND "${CMAKE_COMMAND}" -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:cvae_mpi_shared>
                     -P "${PROJECT_SOURCE_DIR}/cmake/CheckExportedSymbols.cmake")
  endif()

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

  add_test(NAME declared_symbols
           COMMAND "${CMAKE_COMMAND}" -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:cvae_shared>
                   -DHEADERS=${PROJECT_SOURCE_DIR}/include/cvae
                   -P "${PROJECT_SOURCE_DIR}/cmake/CheckDeclaredSymbols.cmake")

  # The probe library exports cvae_probe_ok only; a header declares it, a function split
  # over two lines that nothing defines, and one inside a comment (not a declaration).
  file(WRITE "${PROJECT_BINARY_DIR}/symcheck_probe_include/probe.h"
       "/* @def CVAE_API (a comment)\n * CVAE_API int cvae_probe_commented(void); */\n"
       "#define CVAE_API __attribute__((visibility(\"default\")))\n"
       "CVAE_API int cvae_probe_ok(void);\nCVAE_API const char *\ncvae_probe_missing(int x);\n")
  add_test(NAME declared_symbols_probe
           COMMAND "${CMAKE_COMMAND}" -DNM=${CMAKE_NM} -DLIB=$<TARGET_FILE:cvae_symcheck_probe>
                   -DHEADERS=${PROJECT_BINARY_DIR}/symcheck_probe_include
                   -P "${PROJECT_SOURCE_DIR}/cmake/CheckDeclaredSymbols.cmake")
  set_tests_properties(declared_symbols_probe PROPERTIES
                       PASS_REGULAR_EXPRESSION "1[ \n]+of[ \n]+the[ \n]+2[ \n]+functions.*cvae_probe_missing \\(probe\\.h\\)"
                       FAIL_REGULAR_EXPRESSION "cvae_probe_ok|cvae_probe_commented|exports all")

  # Built by its own test (not by `all`), so that a missing export fails this test, at
  # link time, instead of the whole build.
  add_executable(shared_consumer EXCLUDE_FROM_ALL "${PROJECT_SOURCE_DIR}/tests/install/shared_consumer.c")
  target_link_libraries(shared_consumer PRIVATE cvae_shared m)
  cvae_set_warnings(shared_consumer)
  add_test(NAME shared_consumer_build
           COMMAND "${CMAKE_COMMAND}" --build "${PROJECT_BINARY_DIR}" --target shared_consumer
                   --config $<CONFIG>)
  set_tests_properties(shared_consumer_build PROPERTIES FIXTURES_SETUP shared_consumer_bin RUN_SERIAL ON)
  add_test(NAME shared_consumer COMMAND shared_consumer "${PROJECT_BINARY_DIR}")
  set_tests_properties(shared_consumer PROPERTIES FIXTURES_REQUIRED shared_consumer_bin
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
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
