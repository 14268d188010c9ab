// Bad input to the kelvin CLI: exit code 2, exactly one line on stderr that
// names the problem, nothing on stdout (not even the lines of the good
// temperatures before a bad one).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/cli/run_command.hpp"

namespace kelvin::testing {
namespace {

void expect_usage_error(const std::vector<std::string>& args, const std::string& says) {
  std::string cmd = "kelvin";
  for (const std::string& a : args) cmd += " '" + a + "'";
  SCOPED_TRACE(cmd);
  const command_result r = run_kelvin(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("kelvin: error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
}

TEST(cli, error_negative_temperature) {
  expect_usage_error({"softmax", "-t", "-1", "--", "1", "2"}, "temperature must be >= 0 (got -1)");
  expect_usage_error({"softmax", "-t", "-inf", "--", "1", "2"},
                     "temperature must be >= 0 (got -inf)");
  expect_usage_error({"smooth-max", "--temperature", "-0.5", "--", "1"}, "(got -0.5)");
  expect_usage_error({"log-partition", "--temperature=-2", "--", "1"}, "(got -2)");
}

TEST(cli, error_bad_temperature_after_good_ones_prints_nothing) {
  expect_usage_error({"softmax", "-t", "1,10,-1", "--", "1", "2"}, "(got -1)");
  expect_usage_error({"softmax", "-t", "1", "-t", "nan", "--", "1", "2"}, "NaN");
}

TEST(cli, error_nan_temperature) {
  expect_usage_error({"softmax", "-t", "nan", "--", "1"}, "not NaN (got nan)");
  expect_usage_error({"log-softmax", "-t", "-NaN", "--", "1"}, "(got -NaN)");
}

TEST(cli, error_non_numeric_temperature_names_it) {
  expect_usage_error({"softmax", "-t", "warm", "--", "1"}, "'warm'");
  expect_usage_error({"softmax", "-t", "1,,2", "--", "1"}, "empty temperature");
  expect_usage_error({"softmax", "-t", "", "--", "1"}, "empty temperature");
  expect_usage_error({"softmax", "-t"}, "temperature");
}

TEST(cli, error_non_numeric_value_names_it) {
  expect_usage_error({"softmax", "--", "1", "five", "7"}, "value 2 is not a number: 'five'");
  expect_usage_error({"softmax", "--f32", "--", "1", "2x"}, "'2x'");
  expect_usage_error({"smooth-max", "--", "1", ""}, "value 2");
  expect_usage_error({"softmax", "--", "1", "--"}, "'--'");
}

TEST(cli, error_no_values) {
  expect_usage_error({"softmax", "-t", "1"}, "no values");
  expect_usage_error({"log-partition", "--"}, "no values");
  expect_usage_error({"smooth-max"}, "no values");
}

TEST(cli, error_unknown_subcommand_or_option) {
  expect_usage_error({"softmx", "1"}, "unknown subcommand 'softmx'");
  expect_usage_error({}, "no subcommand");
  expect_usage_error({"--", "1"}, "no subcommand");
  expect_usage_error({"--bogus"}, "unknown option '--bogus'");
  expect_usage_error({"softmax", "--bogus", "--", "1"}, "unknown option '--bogus'");
  expect_usage_error({"softmax", "--log", "-x", "--", "1"}, "'-x'");
  expect_usage_error({"log-softmax", "--log", "--", "1"}, "'--log'");
  expect_usage_error({"demo", "extra"}, "'extra'");
  expect_usage_error({"info", "--all"}, "'--all'");
  expect_usage_error({"softmax", "--empty-row", "maybe", "--", "1"},
                     "--empty-row must be nan or zero (got 'maybe')");
  expect_usage_error({"softmax", "--empty-row"}, "empty-row");
}

TEST(cli, error_negative_special_before_dashes_says_how) {
  expect_usage_error({"softmax", "-t", "1", "1", "-inf"}, "put the values after '--'");
}

// No input makes the tool crash: every run ends in 0 or 2, and a 2 comes
// with one line on stderr.
TEST(cli, error_odd_inputs_never_crash) {
  const std::vector<std::vector<std::string>> cases = {
      {""},
      {"-"},
      {"---"},
      {"="},
      {"softmax", "-"},
      {"softmax", "-t", ","},
      {"softmax", "-t", "1e999", "--", "1", "2"},
      {"softmax", "-t", "1e-320", "--", "1", "2"},
      {"softmax", "-t", "0x1p-1074", "--f32", "--", "1", "2"},
      {"softmax", "--", "1e999", "-1e999", "nan(123)"},
      {"softmax", "--", "1.7976931348623157e308", "-1.7976931348623157e308"},
      {"softmax", "--f32", "--", "1e39", "-1e39", "1e-50"},
      {"softmax", "-t", "inf,0", "--", "inf", "inf", "-inf"},
      {"log-partition", "-t", "0", "--", "-inf"},
      {"smooth-max", "-t", "inf", "--", "-inf", "-inf"},
      {"softmax", "--empty-row", "zero", "--empty-row", "nan", "--", "1"},
      {"softmax", "--log", "--log", "--", "1"},
      {"demo", "demo"},
      {"info", "info"},
      {"softmax", "info"},
      {"softmax", "--", "info"},
      {"softmax", "-t", "1\n2", "--", "1"},
      {"softmax", "--", "1\n2"},
  };
  for (const std::vector<std::string>& args : cases) {
    std::string cmd = "kelvin";
    for (const std::string& a : args) cmd += " '" + a + "'";
    SCOPED_TRACE(cmd);
    const command_result r = run_kelvin(args);
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 2) << r.exit_code << ": " << r.err;
    if (r.exit_code == 2) {
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    } else {
      EXPECT_EQ(r.err, "");
    }
  }
}

}  // namespace
}  // namespace kelvin::testing
