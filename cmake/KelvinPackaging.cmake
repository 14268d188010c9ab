# Debian packages with CPack, one per install component:
#   libkelvin0      runtime   libkelvin.so.0
#   libkelvin-dev   dev       headers, libkelvin.so, CMake package, kelvin.pc
#   kelvin          cli       the kelvin CLI and its man page
#   python3-kelvin  python    the Python package kelvin
# scripts/build-debs.sh configures with -DCMAKE_INSTALL_PREFIX=/usr
# -DKELVIN_DEBIAN=ON, builds, runs cpack and lintian.
option(KELVIN_DEBIAN "Install Debian's per-package docs (copyright, changelog) for CPack" OFF)
set(KELVIN_DEB_MAINTAINER "kelvin developers <kelvin@example.org>" CACHE STRING
    "Maintainer field of the Debian packages")
set(KELVIN_DEB_RELEASE 1 CACHE STRING "Debian revision of the packages")

set(_kelvin_deb_components runtime dev)
set(_kelvin_deb_name_runtime libkelvin${PROJECT_VERSION_MAJOR})
set(_kelvin_deb_name_dev libkelvin-dev)
if(KELVIN_BUILD_TOOLS)
  list(APPEND _kelvin_deb_components cli)
  set(_kelvin_deb_name_cli kelvin)
endif()
if(TARGET kelvin_python)
  list(APPEND _kelvin_deb_components python)
  set(_kelvin_deb_name_python python3-kelvin)
endif()

if(KELVIN_DEBIAN)
  set(KELVIN_DEB_SOURCE kelvin)
  set(KELVIN_DEB_VERSION ${PROJECT_VERSION}-${KELVIN_DEB_RELEASE})
  # SOURCE_DATE_EPOCH, when set, makes the date (and the packages) reproducible.
  string(TIMESTAMP KELVIN_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
  configure_file(cmake/debian/changelog.in ${PROJECT_BINARY_DIR}/debian/changelog.Debian @ONLY)
  find_program(KELVIN_GZIP gzip REQUIRED)
  execute_process(COMMAND ${KELVIN_GZIP} -9nc ${PROJECT_BINARY_DIR}/debian/changelog.Debian
                  OUTPUT_FILE ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
                  COMMAND_ERROR_IS_FATAL ANY)
  foreach(_c IN LISTS _kelvin_deb_components)
    install(FILES cmake/debian/copyright ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_kelvin_deb_name_${_c}} COMPONENT ${_c})
  endforeach()
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kelvin)
set(CPACK_PACKAGE_VENDOR "the kelvin developers")
set(CPACK_PACKAGE_CONTACT "${KELVIN_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${_kelvin_deb_components})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KELVIN_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${KELVIN_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends on the Debian packages of the libraries each binary links
# (dpkg-shlibdeps: libhwy1, libgomp1, libstdc++6, ...); libkelvin0 provides a
# shlibs file for the packages that link it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# The packages built together depend on each other at the exact version:
# libkelvin-dev, kelvin and python3-kelvin on libkelvin0.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${_kelvin_deb_name_runtime})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# Debian runs ldconfig from a trigger (CPack adds the older postinst call too).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/triggers)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "softmax with temperature (shared library)\n\
kelvin computes softmax, log-softmax, log-partition and smooth-max of x / T\n\
for every temperature T >= 0, including 0 and infinity, within 2 ulp, with\n\
SIMD kernels chosen at run time for the CPU. This package holds the shared\n\
library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME ${_kelvin_deb_name_dev})
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "softmax with temperature (development files)\n\
kelvin computes softmax, log-softmax, log-partition and smooth-max of x / T\n\
for every temperature T >= 0, including 0 and infinity, within 2 ulp. This\n\
package holds the C++20 and C headers, the CMake package (find_package(kelvin))\n\
and the pkg-config file.")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME kelvin)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION science)
set(CPACK_COMPONENT_CLI_DEPENDS runtime)
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "softmax with temperature (command-line tool)\n\
The kelvin command computes softmax, log-softmax, log-partition and\n\
smooth-max of x / T for every temperature T >= 0 over values given on the\n\
command line or over NPY, CSV and TSV files, streamed.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-kelvin)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_COMPONENT_PYTHON_DEPENDS runtime)
if(TARGET kelvin_python)
  # The extension is built for this Python minor version only.
  string(REPLACE "." ";" _py "${KELVIN_PYTHON_VERSION}")
  list(GET _py 1 _py_minor)
  math(EXPR _py_next "${_py_minor} + 1")
  set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
      "python3 (>= ${KELVIN_PYTHON_VERSION}), python3 (<< 3.${_py_next}), python3-numpy")
endif()
set(CPACK_COMPONENT_PYTHON_DESCRIPTION
    "softmax with temperature (Python 3 module)\n\
The Python package kelvin computes softmax, log-softmax, log-partition and\n\
smooth-max of x / T over NumPy arrays for every temperature T >= 0, within\n\
2 ulp, with type stubs.")

if(KELVIN_TOP_LEVEL)
  include(CPack)
endif()
