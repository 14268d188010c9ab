// KELVIN_TEST_LONG=1 selects the long sweeps (by hand); CI runs the bounded ones.
#pragma once

#include <cstdlib>

namespace kelvin::testing {

inline bool long_mode() {
  const char* v = std::getenv("KELVIN_TEST_LONG");
  return v != nullptr && *v != '\0' && *v != '0';
}

}  // namespace kelvin::testing
