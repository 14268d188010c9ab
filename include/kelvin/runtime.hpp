// kelvin: library version, SIMD target selection and threads.
#pragma once

#include <string>
#include <vector>

#include "kelvin/export.h"

namespace kelvin {

// "MAJOR.MINOR.PATCH".
KELVIN_API const char* version() noexcept;

// The SIMD target the kernels run on now: "AVX3", "AVX2", "SSE4", "SSSE3",
// "HWY_SCALAR" or "EMU128" (Highway's portable fallback, whichever this build
// has), "NEON"/"SVE" on Arm, or "SCALAR" (kelvin's scalar reference).
// The environment variable KELVIN_FORCE_TARGET=NAME, read once at first use,
// or set_target(NAME) picks another one this CPU supports.
KELVIN_API const char* active_target() noexcept;

// Targets compiled into this build, best first (always ends with "SCALAR").
KELVIN_API std::vector<std::string> compiled_targets();
// Compiled targets this CPU can run, best first.
KELVIN_API std::vector<std::string> supported_targets();

// Selects a supported target by name (case-insensitive); "" or "BEST" picks
// the best one. Throws kelvin::error for an unknown or unsupported target.
// Safe while other calls run: a call reads the target once when it starts
// and keeps it to the end, so it returns the old target's result or the new
// one's, never a mix (docs/threads.md).
KELVIN_API void set_target(const std::string& name);

// Default number of threads for calls whose options say threads = 0.
// n = 0: all cores (the initial setting). Safe while other calls run; a call
// reads it once when it starts (and results never depend on it).
KELVIN_API void set_num_threads(int n);
// The resolved default: the number set, or the core count after set(0).
KELVIN_API int get_num_threads() noexcept;

}  // namespace kelvin
