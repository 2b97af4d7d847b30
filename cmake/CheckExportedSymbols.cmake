# cmake -DNM=<nm> -DLIB=<shared library> [-DPREFIX=cvae_] -P CheckExportedSymbols.cmake
# Lists the dynamic symbols LIB defines (nm -D --defined-only) and fails if any
# of them does not start with PREFIX. Names the linker or the toolchain adds
# on its own (_init, _fini, __bss_start, _edata, _end, ...) are ignored, and so
# are the ODR indicators an AddressSanitizer build adds per exported global.
cmake_minimum_required(VERSION 3.18)
include("${CMAKE_CURRENT_LIST_DIR}/CvaeDynamicSymbols.cmake")
if(NOT PREFIX)
  set(PREFIX cvae_)
endif()
cvae_dynamic_symbols("${NM}" "${LIB}" names)
set(ignored _init _fini __bss_start _edata _end __end__ __data_start data_start _DYNAMIC
            _GLOBAL_OFFSET_TABLE_ __dso_handle __TMC_END__)
set(count 0)
set(bad "")
foreach(name IN LISTS names)
  if(name IN_LIST ignored OR name MATCHES "^__odr_asan")
    continue()
  endif()
  math(EXPR count "${count} + 1")
  if(NOT name MATCHES "^${PREFIX}")
    list(APPEND bad "${name}")
  endif()
endforeach()
if(bad)
  list(LENGTH bad nbad)
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "${LIB} exports ${nbad} symbol(s) without the ${PREFIX} prefix:\n  ${bad}")
endif()
if(count EQUAL 0)
  message(FATAL_ERROR "${LIB} exports no ${PREFIX} symbol at all")
endif()
message(STATUS "${LIB}: ${count} exported symbols, all ${PREFIX}*")
