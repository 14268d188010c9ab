# Checks that libkelvin exports its public API only: every dynamic symbol it
# defines must be a C entry point (kelvin_*), a public C++ function of
# namespace kelvin (any family: kelvin::NAME(...), no nested namespace), or
# kelvin::error's vtable and type info (its members are inline). Internals (kelvin::detail, Highway's
# per-target N_AVX3:: kernels, hwy::) must never appear.
#   cmake -DLIBRARY=path/to/libkelvin.so -P check_exports.cmake
if(NOT LIBRARY)
  message(FATAL_ERROR "usage: cmake -DLIBRARY=libkelvin.so -P check_exports.cmake")
endif()
find_program(NM nm REQUIRED)
execute_process(COMMAND ${NM} -D --defined-only --format=posix -C ${LIBRARY}
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIBRARY}")
endif()

# One symbol per line: "NAME TYPE VALUE SIZE"; the name may hold spaces.
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(allowed
  "^kelvin_[a-z0-9_]+$"                 # C ABI
  "^kelvin::[a-z][a-z0-9_]*(\\[abi:[a-z0-9]+\\])?\\("  # C++ API of every family
  "^(vtable|typeinfo|typeinfo name) for kelvin::[a-z_]+$")  # kelvin::error
set(forbidden "detail|N_[A-Z0-9_]+::|hwy::|anonymous namespace")
# The sampler's parts that kelvin_mpi (a separate library over libkelvin's
# exports) reuses so that a sharded draw is the single-process draw
# (src/sampling_detail.hpp): exported for that sibling only, in no public
# header. One line per symbol, never a pattern over detail.
set(sibling
  "^kelvin::detail::sampling_uniform\\("
  "^kelvin::detail::sampling_dense_weights\\("
  "^kelvin::detail::sampling_min_p_threshold\\("
  "^kelvin::detail::sample_from_candidates\\(")
set(bad "")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # Strip " TYPE VALUE [SIZE]" from the right.
  string(REGEX REPLACE " [A-Za-z] [0-9a-f]+( [0-9a-f]+)?$" "" name "${line}")
  # Version definitions (e.g. the soname's) are not symbols of the API.
  if(line MATCHES " A [0-9a-f]+( [0-9a-f]+)?$")
    continue()
  endif()
  math(EXPR count "${count} + 1")
  set(ok FALSE)
  foreach(pattern IN LISTS allowed)
    if(name MATCHES "${pattern}")
      set(ok TRUE)
    endif()
  endforeach()
  if(name MATCHES "${forbidden}")
    set(ok FALSE)
  endif()
  foreach(pattern IN LISTS sibling)
    if(name MATCHES "${pattern}")
      set(ok TRUE)
    endif()
  endforeach()
  if(NOT ok)
    string(APPEND bad "  ${name}\n")
  endif()
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${LIBRARY} exports no symbols: wrong file?")
endif()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR "${LIBRARY} exports symbols outside the public API "
                      "(mark public declarations KELVIN_API, keep the rest hidden):\n${bad}")
endif()
message(STATUS "${count} exported symbols, all public API")
