# libsoci-dev ships neither CMake config nor pkg-config files.
find_path(SOCI_INCLUDE_DIR soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_INCLUDE_DIR)
if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
  foreach(be sqlite3 postgresql mysql)
    find_library(SOCI_${be}_LIBRARY NAMES soci_${be})
    if(SOCI_${be}_LIBRARY)
      add_library(SOCI::${be} UNKNOWN IMPORTED)
      set_target_properties(SOCI::${be} PROPERTIES IMPORTED_LOCATION "${SOCI_${be}_LIBRARY}"
        INTERFACE_LINK_LIBRARIES SOCI::core)
    endif()
  endforeach()
endif()
