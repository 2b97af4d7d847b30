# cmake -DNM=<nm> -DLIB=<shared library> -DHEADERS=<folder> -P CheckDeclaredSymbols.cmake
# Fails unless LIB's dynamic symbol table (nm -D --defined-only) defines every
# function declared `CVAE_API <type> <name>(...)` in HEADERS/*.h, naming each
# one missing and its header. Comments and preprocessor lines are skipped; a
# CVAE_API that is not followed by a function declarator is an error, so
# nothing declared goes unchecked.
cmake_minimum_required(VERSION 3.18)
include("${CMAKE_CURRENT_LIST_DIR}/CvaeDynamicSymbols.cmake")
file(GLOB headers "${HEADERS}/*.h")
if(NOT headers)
  message(FATAL_ERROR "no headers in '${HEADERS}'")
endif()
cvae_dynamic_symbols("${NM}" "${LIB}" exported)

set(declared 0)
set(missing "")
foreach(h IN LISTS headers)
  get_filename_component(hname "${h}" NAME)
  file(READ "${h}" text)
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " text "${text}")  # /* ... */
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  string(REGEX REPLACE "(^|\n)[ \t]*#[^\n]*" "\\1" text "${text}")       # #define CVAE_API ...
  string(REGEX MATCHALL "CVAE_API" uses "${text}")
  # the return type and the name, up to the declarator's "(" (may span lines)
  string(REGEX MATCHALL "CVAE_API[^;(]*\\(" decls "${text}")
  list(LENGTH uses nuses)
  list(LENGTH decls ndecls)
  if(NOT nuses EQUAL ndecls)
    message(FATAL_ERROR "${hname}: ${nuses} CVAE_API but ${ndecls} function declarations parsed")
  endif()
  foreach(d IN LISTS decls)
    if(NOT d MATCHES "[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*\\($")
      message(FATAL_ERROR "${hname}: no function name in '${d}'")
    endif()
    math(EXPR declared "${declared} + 1")
    if(NOT CMAKE_MATCH_1 IN_LIST exported)
      list(APPEND missing "${CMAKE_MATCH_1} (${hname})")
    endif()
  endforeach()
endforeach()
if(declared EQUAL 0)
  message(FATAL_ERROR "no CVAE_API function declared in ${HEADERS}/*.h")
endif()
if(missing)
  list(LENGTH missing nmissing)
  string(REPLACE ";" "\n  " missing "${missing}")
  message(FATAL_ERROR "${LIB} does not export ${nmissing} of the ${declared} functions declared "
                      "CVAE_API in ${HEADERS}:\n  ${missing}")
endif()
message(STATUS "${LIB} exports all ${declared} functions declared CVAE_API in ${HEADERS}")
