# Fails configuration unless the CVAE_VERSION_* macros of include/cvae/core.h
# agree with project(VERSION): the header is the version C users see, the
# project version names the shared library (SONAME) and the packages.
function(cvae_check_header_version header)
  file(STRINGS "${header}" lines REGEX "^#define CVAE_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
  foreach(part MAJOR MINOR PATCH STRING)
    set(value "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^#define CVAE_VERSION_${part} +\"?([0-9.]+)\"?")
        set(value "${CMAKE_MATCH_1}")
      endif()
    endforeach()
    if(value STREQUAL "")
      message(FATAL_ERROR "${header}: no CVAE_VERSION_${part} macro")
    endif()
    set(header_${part} "${value}")
  endforeach()
  set(from_parts "${header_MAJOR}.${header_MINOR}.${header_PATCH}")
  if(NOT from_parts VERSION_EQUAL PROJECT_VERSION OR NOT header_STRING STREQUAL PROJECT_VERSION)
    message(FATAL_ERROR "Version mismatch: project(VERSION ${PROJECT_VERSION}) but ${header} "
                        "says ${from_parts} (CVAE_VERSION_STRING \"${header_STRING}\"). "
                        "Change both together.")
  endif()
endfunction()
