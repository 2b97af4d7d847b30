# `cmake --build build --target docs`: Doxygen HTML of the public headers into
# <build>/docs/html. Any Doxygen warning (an undocumented public symbol, a bad
# \param) fails the target. Only defined when Doxygen is found.
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(CVAE_DOCS_OUTPUT_DIR "${PROJECT_BINARY_DIR}/docs")
  set(CVAE_DOCS_MAINPAGE "")
  if(EXISTS "${PROJECT_SOURCE_DIR}/README.md")
    set(CVAE_DOCS_MAINPAGE "${PROJECT_SOURCE_DIR}/README.md")
  endif()
  configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${PROJECT_BINARY_DIR}/Doxyfile" @ONLY)
  file(GLOB cvae_public_headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/cvae/*.h")
  add_custom_target(docs
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${CVAE_DOCS_OUTPUT_DIR}"
    COMMAND Doxygen::doxygen "${PROJECT_BINARY_DIR}/Doxyfile"
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    DEPENDS ${cvae_public_headers} "${PROJECT_BINARY_DIR}/Doxyfile"
    COMMENT "Doxygen: public headers -> ${CVAE_DOCS_OUTPUT_DIR}/html"
    VERBATIM)
else()
  message(STATUS "Doxygen not found: no `docs` target")
endif()
