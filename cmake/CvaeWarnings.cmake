# -Wall -Wextra (and -Werror unless CVAE_WERROR is off) for gcc and clang.
function(cvae_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes)
  if(CVAE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
