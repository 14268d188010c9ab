# Install rules: headers, library, CMake package (find_package(kelvin)) and
# pkg-config, in the components the Debian packages are cut from
# (cmake/KelvinPackaging.cmake): runtime (libkelvin.so.N), dev (headers, the
# libkelvin.so link, CMake and pkg-config files); tools/kelvin adds cli and
# python/ adds python.
include(CMakePackageConfigHelpers)

install(TARGETS kelvin EXPORT kelvinTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# kelvin::mpi (built when MPI is found) in its own component: only its users
# depend on MPI.
if(KELVIN_HAVE_MPI)
  install(TARGETS kelvin_mpi EXPORT kelvinTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT mpi
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT mpi
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mpi)
endif()
install(DIRECTORY include/kelvin DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(FILES ${PROJECT_BINARY_DIR}/include/kelvin/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kelvin COMPONENT dev)

# The CMake package is relocatable by construction: kelvinTargets.cmake finds
# the prefix from its own location.
set(KELVIN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kelvin)
install(EXPORT kelvinTargets NAMESPACE kelvin:: DESTINATION ${KELVIN_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/kelvinConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kelvinConfig.cmake INSTALL_DESTINATION ${KELVIN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kelvinConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kelvinConfig.cmake
              ${PROJECT_BINARY_DIR}/kelvinConfigVersion.cmake
        DESTINATION ${KELVIN_CMAKE_DIR} COMPONENT dev)

# pkg-config: the prefix is written at install time, not configure time, so
# that `cmake --install build --prefix DIR` gives a kelvin.pc pointing at DIR.
# Outside /usr it is ${pcfiledir}-relative, so the installed tree can also be
# moved; under /usr it stays literal, so that pkg-config recognises
# /usr/include as a system folder and drops it from --cflags.
set(KELVIN_PC_LIBS_PRIVATE "-lhwy -lstdc++ -lm")
if(OpenMP_CXX_FOUND)
  string(APPEND KELVIN_PC_LIBS_PRIVATE " ${OpenMP_CXX_FLAGS}")
endif()
set(KELVIN_PC_PREFIX "@KELVIN_PC_PREFIX@")  # filled in at install time
configure_file(cmake/kelvin.pc.in ${PROJECT_BINARY_DIR}/kelvin.pc.in @ONLY)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_kelvin_pc_up "")
  set(_kelvin_pc_dest "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
else()
  file(RELATIVE_PATH _kelvin_pc_up /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
  string(REGEX REPLACE "/$" "" _kelvin_pc_up "${_kelvin_pc_up}")
  set(_kelvin_pc_dest "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig")
endif()
install(CODE "
  set(KELVIN_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  if(NOT \"${_kelvin_pc_up}\" STREQUAL \"\" AND NOT KELVIN_PC_PREFIX STREQUAL \"/usr\")
    set(KELVIN_PC_PREFIX \"\\\${pcfiledir}/${_kelvin_pc_up}\")
  endif()
  configure_file(\"${PROJECT_BINARY_DIR}/kelvin.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig-install/kelvin.pc\" @ONLY)
  file(INSTALL DESTINATION \"${_kelvin_pc_dest}\"
       TYPE FILE FILES \"${PROJECT_BINARY_DIR}/pkgconfig-install/kelvin.pc\")
  " COMPONENT dev)
