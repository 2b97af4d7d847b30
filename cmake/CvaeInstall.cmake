# Install rules: headers, libraries, the `cvae` program, the bundled digits,
# a CMake package (cvae::cvae, cvae::cvae_static, and with MPI cvae::cvae_mpi and
# cvae::cvae_mpi_static) and pkg-config files (cvae.pc, with MPI cvae-mpi.pc).
include(CMakePackageConfigHelpers)

set(CVAE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/cvae" CACHE STRING
    "Where the CMake package files go, relative to the prefix")
set(CVAE_PKGCONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig" CACHE STRING
    "Where cvae.pc goes, relative to the prefix")

# cvae/mpi.h only with the library that implements it.
if(CVAE_HAVE_MPI)
  set(cvae_header_exclude "")
else()
  set(cvae_header_exclude PATTERN "mpi.h" EXCLUDE)
endif()
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/cvae" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        COMPONENT dev FILES_MATCHING PATTERN "*.h" ${cvae_header_exclude})

set(cvae_install_targets "")
if(TARGET cvae_shared)
  list(APPEND cvae_install_targets cvae_shared)
endif()
if(TARGET cvae_static)
  list(APPEND cvae_install_targets cvae_static)
endif()
install(TARGETS ${cvae_install_targets} EXPORT cvae-targets
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT runtime NAMELINK_COMPONENT dev
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT dev)
install(EXPORT cvae-targets NAMESPACE cvae:: DESTINATION "${CVAE_CMAKE_DIR}" COMPONENT dev)

# cvae_mpi in an export set of its own, which cvae-config.cmake includes once it has found
# MPI (find_package(cvae COMPONENTS mpi)).
if(CVAE_HAVE_MPI)
  set(cvae_mpi_install_targets "")
  foreach(t cvae_mpi_shared cvae_mpi_static)
    if(TARGET ${t})
      list(APPEND cvae_mpi_install_targets ${t})
    endif()
  endforeach()
  install(TARGETS ${cvae_mpi_install_targets} EXPORT cvae-mpi-targets
          LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT runtime NAMELINK_COMPONENT dev
          ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT dev)
  install(EXPORT cvae-mpi-targets NAMESPACE cvae:: DESTINATION "${CVAE_CMAKE_DIR}" COMPONENT dev)
endif()

# The BLAS that cvae::cvae_static's users must link (cvae-config.cmake.in), if any.
if(CVAE_BLAS)
  set(CVAE_CONFIG_BLAS openblas)
else()
  set(CVAE_CONFIG_BLAS "")
endif()
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/cvae-config.cmake.in"
  "${PROJECT_BINARY_DIR}/cvae-config.cmake" INSTALL_DESTINATION "${CVAE_CMAKE_DIR}")
# While the major version is 0 a minor version may break the API: only the same minor matches.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(cvae_compatibility SameMinorVersion)
else()
  set(cvae_compatibility SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/cvae-config-version.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${cvae_compatibility})
install(FILES "${PROJECT_BINARY_DIR}/cvae-config.cmake" "${PROJECT_BINARY_DIR}/cvae-config-version.cmake"
        DESTINATION "${CVAE_CMAKE_DIR}" COMPONENT dev)

# cvae.pc: relocatable (paths relative to the .pc file) unless the install
# folders were given as absolute paths.
if(IS_ABSOLUTE "${CVAE_PKGCONFIG_DIR}")
  set(CVAE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  string(REGEX REPLACE "[^/]+" ".." up "${CVAE_PKGCONFIG_DIR}")
  set(CVAE_PC_PREFIX "\${pcfiledir}/${up}")
endif()
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(CVAE_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(CVAE_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
# OpenBLAS's library name and folder differ between distributions, so static
# users get it from its own openblas.pc; the others have stable -l names. A build
# with CVAE_BLAS=OFF names no BLAS at all.
set(CVAE_PC_LIBS_PRIVATE "-lcjson -lz -lpng -lm -lpthread")
if(CVAE_BLAS)
  set(CVAE_PC_REQUIRES_PRIVATE "openblas")
else()
  set(CVAE_PC_REQUIRES_PRIVATE "")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/cvae.pc.in" "${PROJECT_BINARY_DIR}/cvae.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/cvae.pc" DESTINATION "${CVAE_PKGCONFIG_DIR}" COMPONENT dev)
# cvae-mpi.pc: cvae_mpi on top of cvae and the MPI of pkg-config module CVAE_MPI_PC (Debian:
# mpi-c, the default MPI's C bindings; ompi-c names Open MPI's).
if(CVAE_HAVE_MPI)
  set(CVAE_MPI_PC "mpi-c" CACHE STRING "pkg-config module of the MPI C bindings cvae-mpi.pc requires")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/cvae-mpi.pc.in" "${PROJECT_BINARY_DIR}/cvae-mpi.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/cvae-mpi.pc" DESTINATION "${CVAE_PKGCONFIG_DIR}" COMPONENT dev)
endif()

# The bundled digits, so an installed `cvae train` runs with no argument.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/tests/data/mnist-digits-5k"
        DESTINATION "${CMAKE_INSTALL_DATADIR}/cvae/data" COMPONENT runtime)

# The program finds the installed data next to itself (BINDIR/../share/cvae/data).
if(TARGET cvae)
  install(TARGETS cvae RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime)
endif()
