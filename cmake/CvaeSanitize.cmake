# CVAE_SANITIZE="address,undefined" instruments every target (library, tests,
# examples) and makes the first report fatal. Sanitized shared objects leave
# the runtime's symbols undefined, so -Wl,--no-undefined is dropped then.
set(CVAE_SANITIZE "" CACHE STRING "Sanitizers for -fsanitize= (e.g. address,undefined); empty for none")
if(CVAE_SANITIZE)
  add_compile_options(-fsanitize=${CVAE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CVAE_SANITIZE} -fno-sanitize-recover=all)
endif()

# CVAE_FUZZ=ON (clang only): the libFuzzer build of tests/fuzz/run.sh. Every
# target gets coverage instrumentation plus ASan and UBSan; only the fuzz
# targets link libFuzzer's main (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt).
if(CVAE_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CVAE_FUZZ needs clang (libFuzzer): configure with CC=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
