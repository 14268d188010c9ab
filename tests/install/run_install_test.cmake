# Installs the build tree into a temporary prefix, moves that prefix (the
# installed files must not remember where they were put), then against the
# moved prefix only:
#  - configures, builds and runs tests/install/consumer with find_package(kelvin)
#    (C++ and C executables);
#  - compiles and runs tests/install/consumer/main.c with the flags of
#    `pkg-config --cflags --libs kelvin`, pkg-config searching that prefix only;
#  - runs the installed CLI and checks its man page, when the tools were built.
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DC_COMPILER=... -DPKG_CONFIG=...
#       [-DFLAGS=compiler and linker flags] [-DCLI=ON] -P run_install_test.cmake
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE ${WORK_DIR})
set(staging ${WORK_DIR}/staging)
set(prefix ${WORK_DIR}/prefix)

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${staging})
file(RENAME ${staging} ${prefix})
file(GLOB_RECURSE pc_files ${prefix}/*/kelvin.pc)
list(LENGTH pc_files n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one kelvin.pc under ${prefix}, found: ${pc_files}")
endif()
file(READ ${pc_files} pc)
if(pc MATCHES "staging")
  message(FATAL_ERROR "${pc_files} names the folder it was installed to:\n${pc}")
endif()

# find_package: the consumer checks that kelvin_DIR lies under the prefix.
run("consumer configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer
    -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix} -DKELVIN_EXPECTED_PREFIX=${prefix}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${C_COMPILER}
    "-DCMAKE_C_FLAGS=${FLAGS}" "-DCMAKE_CXX_FLAGS=${FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}")
run("consumer build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
foreach(exe consumer consumer_c)
  run("${exe}" ${WORK_DIR}/build/${exe})
  message(STATUS "find_package ${exe}: ${out}")
endforeach()

# pkg-config, with the search path reduced to the prefix.
get_filename_component(pc_dir ${pc_files} DIRECTORY)
set(ENV{PKG_CONFIG_LIBDIR} ${pc_dir})
unset(ENV{PKG_CONFIG_PATH})
run("pkg-config" ${PKG_CONFIG} --cflags --libs kelvin)
separate_arguments(pc_flags UNIX_COMMAND "${out}")
run("pkg-config libdir" ${PKG_CONFIG} --variable=libdir kelvin)
string(STRIP "${out}" libdir)
if(NOT EXISTS ${libdir}/libkelvin.so AND NOT EXISTS ${libdir}/libkelvin.a)
  message(FATAL_ERROR "pkg-config's libdir ${libdir} holds no libkelvin")
endif()
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
run("pkg-config consumer build" ${C_COMPILER} ${flags} -o ${WORK_DIR}/pkg_config_consumer
    ${SOURCE_DIR}/tests/install/consumer/main.c ${pc_flags} -Wl,-rpath,${libdir})
run("pkg-config consumer" ${WORK_DIR}/pkg_config_consumer)
message(STATUS "pkg-config consumer: ${out}")

if(CLI)
  run("installed CLI" ${prefix}/bin/kelvin softmax -t 10 -- 1 5 7 10)
  message(STATUS "installed CLI: ${out}")
  # The build makes the man page wherever help2man is installed.
  find_program(help2man help2man)
  if(help2man AND NOT EXISTS ${prefix}/share/man/man1/kelvin.1.gz)
    message(FATAL_ERROR "no man page at ${prefix}/share/man/man1/kelvin.1.gz")
  endif()
endif()
