# Sanitizer builds (tests/sanitize.sh) and libFuzzer builds (tests/fuzz/run.sh).
# Flags are added to every target so the library, tests and fuzzers agree.
if(CVAE_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "CVAE_FUZZ needs clang (libFuzzer): configure with CC=clang")
endif()
if(CVAE_FUZZ)
  # The library is instrumented for coverage; only the fuzz targets link libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
elseif(CVAE_SANITIZE)
  add_compile_options(-fsanitize=${CVAE_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${CVAE_SANITIZE})
endif()
