# include()d by the symbol checks run with cmake -P.
# cvae_dynamic_symbols(<nm> <library> <out_var>): the names LIB defines in its
# dynamic symbol table (nm -D --defined-only), version suffixes (@...) removed,
# absolute (type A) symbols left out.
function(cvae_dynamic_symbols nm lib out_var)
  execute_process(COMMAND "${nm}" -D --defined-only "${lib}"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${nm} -D --defined-only ${lib} failed (${rc}): ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(names "")
  foreach(line IN LISTS lines)
    # "<address> <type> <name>[@version]"
    if(NOT line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
      continue()
    endif()
    if(CMAKE_MATCH_1 STREQUAL "A")
      continue()
    endif()
    string(REGEX REPLACE "@.*$" "" name "${CMAKE_MATCH_2}")
    list(APPEND names "${name}")
  endforeach()
  set(${out_var} "${names}" PARENT_SCOPE)
endfunction()
