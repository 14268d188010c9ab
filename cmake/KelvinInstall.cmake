# Install rules: headers, library, CMake package (find_package(kelvin)) and pkg-config.
include(CMakePackageConfigHelpers)

install(TARGETS kelvin EXPORT kelvinTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(KELVIN_HAVE_MPI)
  install(TARGETS kelvin_mpi EXPORT kelvinTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY include/kelvin DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/kelvin/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kelvin)

set(KELVIN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kelvin)
install(EXPORT kelvinTargets NAMESPACE kelvin:: DESTINATION ${KELVIN_CMAKE_DIR})
configure_package_config_file(cmake/kelvinConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kelvinConfig.cmake INSTALL_DESTINATION ${KELVIN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kelvinConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kelvinConfig.cmake
              ${PROJECT_BINARY_DIR}/kelvinConfigVersion.cmake
        DESTINATION ${KELVIN_CMAKE_DIR})

configure_file(cmake/kelvin.pc.in ${PROJECT_BINARY_DIR}/kelvin.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/kelvin.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
