# The `cvae` program finds its default data through CVAE_DEFAULT_DATA_DIR, a
# compile definition (the CVAE_DATA_DIR environment variable overrides it at
# run time). The build-tree binary points into the source tree; the installed
# binary must point into the installed share/ folder, so it is a second
# executable compiled from the same sources and target properties with only
# that definition changed, written to <build>/installed-bin/ and installed.
function(cvae_add_installed_copy target copy data_dir)
  get_target_property(src_dir ${target} SOURCE_DIR)
  get_target_property(srcs ${target} SOURCES)
  set(abs_srcs "")
  foreach(s IN LISTS srcs)
    if(IS_ABSOLUTE "${s}" OR s MATCHES "^\\$<")
      list(APPEND abs_srcs "${s}")
    else()
      list(APPEND abs_srcs "${src_dir}/${s}")
    endif()
  endforeach()
  add_executable(${copy} ${abs_srcs})
  foreach(prop LINK_LIBRARIES INCLUDE_DIRECTORIES COMPILE_OPTIONS COMPILE_FEATURES LINK_OPTIONS
               C_STANDARD C_EXTENSIONS)
    get_target_property(value ${target} ${prop})
    if(value)
      set_property(TARGET ${copy} PROPERTY ${prop} "${value}")
    endif()
  endforeach()
  get_target_property(defs ${target} COMPILE_DEFINITIONS)
  if(NOT defs)
    set(defs "")
  endif()
  list(FILTER defs EXCLUDE REGEX "^CVAE_DEFAULT_DATA_DIR=")
  list(APPEND defs "CVAE_DEFAULT_DATA_DIR=\"${data_dir}\"")
  set_property(TARGET ${copy} PROPERTY COMPILE_DEFINITIONS "${defs}")
  get_target_property(out_name ${target} OUTPUT_NAME)
  if(NOT out_name)
    set(out_name ${target})
  endif()
  set_target_properties(${copy} PROPERTIES OUTPUT_NAME ${out_name}
                        RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/installed-bin")
endfunction()
