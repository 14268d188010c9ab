// The C ABI: results equal the C++ API's; every bad argument gives a status
// and a message, never a crash; runtime queries.
#include "kelvin/kelvin.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kelvin/kelvin.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(c_api, results_match_cpp) {
  const std::vector<float> x{1, 5, 7, 10, 2, 3, -1, 0};
  std::vector<float> y(8), want(4);
  ASSERT_EQ(kelvin_softmax_f32(x.data(), y.data(), 2, 4, 4, 4, 0.1), KELVIN_OK);
  kelvin::softmax(std::span<const float>(x.data(), 4), std::span<float>(want),
                  {.temperature = 0.1});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[i], want[i]);
  ASSERT_EQ(kelvin_log_softmax_f32(x.data(), y.data(), 2, 4, 4, 4, 2.0), KELVIN_OK);
  kelvin::log_softmax(std::span<const float>(x.data() + 4, 4), std::span<float>(want),
                      {.temperature = 2.0});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(y[4 + i], want[i]);

  const std::vector<double> xd{1, 5, 7, 10};
  std::vector<double> yd(4), lz(1), sm(1);
  ASSERT_EQ(kelvin_softmax_f64(xd.data(), yd.data(), 1, 4, 4, 4, 1.0), KELVIN_OK);
  EXPECT_NEAR(yd[3], 0.9463885774855847, 1e-15);
  ASSERT_EQ(kelvin_log_softmax_f64(xd.data(), yd.data(), 1, 4, 4, 4, 1.0), KELVIN_OK);
  ASSERT_EQ(kelvin_log_partition_f64(xd.data(), lz.data(), 1, 4, 4, 1.0), KELVIN_OK);
  EXPECT_EQ(lz[0], kelvin::log_partition(std::span<const double>(xd)));
  ASSERT_EQ(kelvin_smooth_max_f64(xd.data(), sm.data(), 1, 4, 4, 0.0), KELVIN_OK);
  EXPECT_EQ(sm[0], 10.0);
  float lzf = 0;
  ASSERT_EQ(kelvin_log_partition_f32(x.data(), &lzf, 1, 4, 4, 1.0), KELVIN_OK);
  EXPECT_EQ(lzf, kelvin::log_partition(std::span<const float>(x.data(), 4)));
  // In place.
  std::vector<double> inplace = xd;
  ASSERT_EQ(kelvin_softmax_f64(inplace.data(), inplace.data(), 1, 4, 4, 4, 1.0), KELVIN_OK);
  ASSERT_EQ(kelvin_softmax_f64(xd.data(), yd.data(), 1, 4, 4, 4, 1.0), KELVIN_OK);
  EXPECT_EQ(inplace, yd);
  EXPECT_STREQ(kelvin_last_error(), "");
}

TEST(c_api, extended_forms_take_per_row_temperatures_and_policy) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> x{1, 2, -inf, -inf};
  const double temps[2] = {0.0, 1.0};
  std::vector<double> y(4);
  ASSERT_EQ(
      kelvin_softmax_ex_f64(x.data(), y.data(), 2, 2, 2, 2, 1.0, temps, KELVIN_EMPTY_ROW_ZERO),
      KELVIN_OK);
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[1], 1.0);
  EXPECT_EQ(y[2], 0.0);
  EXPECT_EQ(y[3], 0.0);
  ASSERT_EQ(
      kelvin_softmax_ex_f64(x.data(), y.data(), 2, 2, 2, 2, 1.0, nullptr, KELVIN_EMPTY_ROW_NAN),
      KELVIN_OK);
  EXPECT_TRUE(std::isnan(y[2]));
  const std::vector<float> xf{1, 2, 3, 4};
  std::vector<float> yf(4);
  const double bad[2] = {1.0, -3.0};
  EXPECT_EQ(kelvin_log_softmax_ex_f32(xf.data(), yf.data(), 2, 2, 2, 2, 1.0, bad, 0),
            KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("temperatures[1]"), std::string::npos);
  EXPECT_EQ(kelvin_softmax_ex_f32(xf.data(), yf.data(), 2, 2, 2, 2, 1.0, nullptr, 9),
            KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("empty_row"), std::string::npos);
}

TEST(c_api, bad_arguments_give_status_and_message) {
  std::vector<float> x(8, 1.f), y(8, 0.f);
  std::vector<double> xd(8, 1.0), yd(8, 0.0);
  const auto expect_bad = [](kelvin_status s, const char* needle) {
    EXPECT_EQ(s, KELVIN_INVALID_ARGUMENT);
    EXPECT_NE(std::string(kelvin_last_error()).find(needle), std::string::npos)
        << kelvin_last_error();
  };
  expect_bad(kelvin_softmax_f32(x.data(), y.data(), 2, 4, 4, 4, -1.0), "temperature");
  expect_bad(kelvin_softmax_f32(x.data(), y.data(), 2, 4, 4, 4, kNaN), "temperature");
  expect_bad(kelvin_softmax_f64(xd.data(), yd.data(), 2, 4, 4, 4, -0.5), "temperature");
  expect_bad(kelvin_log_softmax_f32(x.data(), y.data(), 2, 4, 4, 4, kNaN), "temperature");
  expect_bad(kelvin_log_softmax_f64(xd.data(), yd.data(), 2, 4, 4, 4, -1), "temperature");
  expect_bad(kelvin_log_partition_f32(x.data(), y.data(), 2, 4, 4, -1), "temperature");
  expect_bad(kelvin_log_partition_f64(xd.data(), yd.data(), 2, 4, 4, kNaN), "temperature");
  expect_bad(kelvin_smooth_max_f32(x.data(), y.data(), 2, 4, 4, -1), "temperature");
  expect_bad(kelvin_smooth_max_f64(xd.data(), yd.data(), 2, 4, 4, kNaN), "temperature");
  // null with a nonzero size
  expect_bad(kelvin_softmax_f32(nullptr, y.data(), 2, 4, 4, 4, 1.0), "null");
  expect_bad(kelvin_softmax_f32(x.data(), nullptr, 2, 4, 4, 4, 1.0), "null");
  expect_bad(kelvin_log_softmax_f64(nullptr, yd.data(), 1, 1, 1, 1, 1.0), "null");
  expect_bad(kelvin_log_partition_f32(nullptr, y.data(), 2, 4, 4, 1.0), "null");
  expect_bad(kelvin_log_partition_f64(xd.data(), nullptr, 2, 4, 4, 1.0), "null");
  expect_bad(kelvin_smooth_max_f64(xd.data(), nullptr, 2, 4, 4, 1.0), "null");
  // stride < cols
  expect_bad(kelvin_softmax_f32(x.data(), y.data(), 2, 4, 3, 4, 1.0), "stride");
  expect_bad(kelvin_softmax_f64(xd.data(), yd.data(), 2, 4, 4, 2, 1.0), "stride");
  expect_bad(kelvin_log_partition_f32(x.data(), y.data(), 2, 4, 1, 1.0), "stride");
  expect_bad(kelvin_log_softmax_f32(x.data(), y.data(), 1, 4, 0, 4, 1.0), "stride");
  // partial overlap
  expect_bad(kelvin_softmax_f32(x.data(), x.data() + 1, 1, 4, 4, 4, 1.0), "overlap");
  // Nothing was written.
  for (float v : y) EXPECT_EQ(v, 0.f);
  for (double v : yd) EXPECT_EQ(v, 0.0);
  // Empty problems are fine, even with null pointers.
  EXPECT_EQ(kelvin_softmax_f32(nullptr, nullptr, 0, 4, 4, 4, 1.0), KELVIN_OK);
  EXPECT_EQ(kelvin_softmax_f32(nullptr, nullptr, 3, 0, 0, 0, 1.0), KELVIN_OK);
  EXPECT_EQ(kelvin_log_partition_f32(nullptr, nullptr, 0, 0, 0, 1.0), KELVIN_OK);
}

TEST(c_api, runtime_queries) {
  EXPECT_STREQ(kelvin_version(), kelvin::version());
  EXPECT_STREQ(kelvin_active_target(), kelvin::active_target());
  const int before = kelvin_get_num_threads();
  EXPECT_GE(before, 1);
  kelvin_set_num_threads(1);
  EXPECT_EQ(kelvin_get_num_threads(), 1);
  kelvin_set_num_threads(0);
  EXPECT_GE(kelvin_get_num_threads(), 1);
}

TEST(runtime, targets_are_listed_and_selectable) {
  const auto compiled = kelvin::compiled_targets();
  ASSERT_FALSE(compiled.empty());
  EXPECT_EQ(compiled.back(), "SCALAR");
  const auto supported = kelvin::supported_targets();
  ASSERT_FALSE(supported.empty());
  const std::string before = kelvin::active_target();
  for (const auto& name : supported) {
    kelvin::set_target(name);
    EXPECT_EQ(kelvin::active_target(), name);
  }
  kelvin::set_target("scalar");  // case-insensitive
  EXPECT_STREQ(kelvin::active_target(), "SCALAR");
  EXPECT_THROW(kelvin::set_target("NOPE"), kelvin::error);
  kelvin::set_target(before);
}

// ctest also runs this with KELVIN_FORCE_TARGET set (see tests/CMakeLists.txt);
// without it the active target is the best supported one.
TEST(runtime, force_target_environment_variable) {
  const char* forced = std::getenv("KELVIN_FORCE_TARGET");
  if (forced == nullptr) {
    EXPECT_EQ(kelvin::active_target(), kelvin::supported_targets().front());
  } else {
    EXPECT_STREQ(kelvin::active_target(), forced);
  }
}

}  // namespace
