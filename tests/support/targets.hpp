// Runs a value-parameterised test once per SIMD target this CPU supports
// (plus kelvin's scalar reference), selecting it for the test's duration.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/kernels/kernels.hpp"

namespace kelvin::testing {

inline std::vector<const detail::target*> supported_targets() {
  std::vector<const detail::target*> out;
  for (const detail::target& t : detail::compiled_targets()) {
    if (detail::target_supported(t)) out.push_back(&t);
  }
  return out;
}

// The best target this CPU runs (the first supported one): the target the
// heaviest sweeps run in full on (compiled_targets()[0] may be one this CPU
// cannot run, e.g. AVX3 without AVX-512).
inline const detail::target& best_supported_target() { return *supported_targets().front(); }

class per_target : public ::testing::TestWithParam<const detail::target*> {
 protected:
  void SetUp() override {
    previous_ = &detail::active_target();
    detail::select_target(*GetParam());
  }
  void TearDown() override { detail::select_target(*previous_); }

 private:
  const detail::target* previous_ = nullptr;
};

inline std::string target_name(const ::testing::TestParamInfo<const detail::target*>& info) {
  return info.param->name;
}

}  // namespace kelvin::testing

// INSTANTIATE_PER_TARGET(suite) runs every TEST_P of `suite` on every target.
#define KELVIN_INSTANTIATE_PER_TARGET(suite)                                          \
  INSTANTIATE_TEST_SUITE_P(targets, suite,                                            \
                           ::testing::ValuesIn(kelvin::testing::supported_targets()), \
                           kelvin::testing::target_name)
