# cvae_mpi: data-parallel training over MPI (include/cvae/mpi.h, lib/mpi/), a library of its
# own on top of libcvae, built when CMake finds MPI (Debian: libopenmpi-dev). libcvae never
# links MPI; cvae_mpi mirrors it: cvae_mpi_static links libcvae.a (the tests, the examples and
# the `cvae` program use it), cvae_mpi_shared links libcvae.so (cvae::cvae_mpi when installed).
# Sets CVAE_HAVE_MPI and, when found, CVAE_MPIEXEC (mpirun).
option(CVAE_MPI "Build the MPI library cvae_mpi when CMake finds MPI" ON)
set(CVAE_HAVE_MPI OFF)
if(CVAE_MPI)
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(CVAE_HAVE_MPI ON)
    set(CVAE_MPIEXEC "${MPIEXEC_EXECUTABLE}")
    message(STATUS "MPI ${MPI_C_VERSION} found: building cvae_mpi (mpirun: ${CVAE_MPIEXEC})")
  else()
    message(STATUS "MPI not found: no cvae_mpi, and `cvae train` refuses to run under mpirun "
                   "(apt-get install libopenmpi-dev openmpi-bin)")
  endif()
endif()

if(CVAE_HAVE_MPI)
  set(cvae_mpi_source ${PROJECT_SOURCE_DIR}/lib/mpi/mpi.c)
  function(cvae_mpi_library target kind cvae_lib)
    add_library(${target} ${kind} ${cvae_mpi_source})
    set_target_properties(${target} PROPERTIES OUTPUT_NAME cvae_mpi C_VISIBILITY_PRESET hidden
                                               POSITION_INDEPENDENT_CODE ON)
    target_include_directories(${target} PUBLIC
      $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    target_link_libraries(${target} PUBLIC ${cvae_lib} MPI::MPI_C)
    cvae_set_warnings(${target})
  endfunction()
  if(TARGET cvae_static)
    cvae_mpi_library(cvae_mpi_static STATIC cvae_static)
    set_target_properties(cvae_mpi_static PROPERTIES EXPORT_NAME cvae_mpi_static)
    add_library(cvae::cvae_mpi_static ALIAS cvae_mpi_static)
  endif()
  if(TARGET cvae_shared)
    cvae_mpi_library(cvae_mpi_shared SHARED cvae_shared)
    set_target_properties(cvae_mpi_shared PROPERTIES EXPORT_NAME cvae_mpi VERSION ${PROJECT_VERSION}
                                                     SOVERSION ${cvae_soversion})
    if(NOT CVAE_SANITIZE AND NOT CVAE_FUZZ)
      target_link_options(cvae_mpi_shared PRIVATE -Wl,--no-undefined)
    endif()
    add_library(cvae::cvae_mpi ALIAS cvae_mpi_shared)
  else()
    add_library(cvae::cvae_mpi ALIAS cvae_mpi_static)
  endif()
endif()
