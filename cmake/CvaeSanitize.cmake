# CVAE_SANITIZE="address,undefined" instruments every target (library, tests,
# examples) and makes the first report fatal. Sanitized shared objects leave
# the runtime's symbols undefined, so -Wl,--no-undefined is dropped then.
set(CVAE_SANITIZE "" CACHE STRING "Sanitizers for -fsanitize= (e.g. address,undefined); empty for none")
if(CVAE_SANITIZE)
  add_compile_options(-fsanitize=${CVAE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CVAE_SANITIZE} -fno-sanitize-recover=all)
endif()
