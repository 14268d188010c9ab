// `kelvin softmax`, `log-softmax`, `log-partition`, `smooth-max` and `info`:
// the CLI prints exactly what the library computes, in the blog's layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "kelvin/runtime.hpp"
#include "kelvin/softmax.hpp"
#include "tests/cli/run_command.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::testing {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A row with a masked entry, a tie at the max and a negative value.
const std::vector<std::string> kRowText = {"1", "-inf", "5", "7", "10", "-3.5", "10"};
const std::vector<double> kRow = {1, -kInf, 5, 7, 10, -3.5, 10};
const std::vector<double> kTemperatures = {0, 0.07, 0.1, 1, 10, 1e300, kInf};
const char* const kTemperatureList = "0,0.07,0.1,1,10,1e300,inf";

std::vector<std::string> with_row(std::vector<std::string> args) {
  args.push_back("--");
  args.insert(args.end(), kRowText.begin(), kRowText.end());
  return args;
}

template <class T>
T parse(const std::string& token) {
  char* stop = nullptr;
  T v;
  if constexpr (std::is_same_v<T, float>) {
    v = std::strtof(token.c_str(), &stop);
  } else {
    v = std::strtod(token.c_str(), &stop);
  }
  EXPECT_EQ(*stop, '\0') << "not a number: '" << token << "'";
  return v;
}

// Bitwise, with NaN equal to NaN: shortest round-trip digits read back exactly.
template <class T>
void expect_same(const std::string& token, T expected) {
  const T v = parse<T>(token);
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(v)) << token;
  } else {
    EXPECT_EQ(v, expected) << token;
  }
}

enum class row_fn { softmax, log_softmax };

template <class T>
void expect_rows_match_library(const command_result& r, row_fn fn) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = r.out_lines();
  ASSERT_EQ(lines.size(), kTemperatures.size()) << r.out;
  const std::vector<T> x(kRow.begin(), kRow.end());
  std::vector<T> y(x.size());
  for (std::size_t k = 0; k < kTemperatures.size(); ++k) {
    SCOPED_TRACE(lines[k]);
    const output_line line = split_output_line(lines[k]);
    EXPECT_EQ(line.temperature, cli::format_temperature(kTemperatures[k]));
    ASSERT_EQ(line.values.size(), x.size());
    const options opt{.temperature = kTemperatures[k]};
    if (fn == row_fn::softmax) {
      softmax(std::span<const T>(x), std::span<T>(y), opt);
    } else {
      log_softmax(std::span<const T>(x), std::span<T>(y), opt);
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      expect_same(line.values[i], y[i]);
      EXPECT_EQ(line.values[i], cli::format_repr(y[i])) << "entry " << i;
    }
  }
}

TEST(cli, softmax_prints_the_library_values) {
  expect_rows_match_library<double>(run_kelvin(with_row({"softmax", "-t", kTemperatureList})),
                                    row_fn::softmax);
}

TEST(cli, softmax_log_prints_log_softmax) {
  expect_rows_match_library<double>(
      run_kelvin(with_row({"softmax", "--log", "-t", kTemperatureList})), row_fn::log_softmax);
}

TEST(cli, softmax_f32_computes_and_prints_float) {
  expect_rows_match_library<float>(
      run_kelvin(with_row({"softmax", "--f32", "-t", kTemperatureList})), row_fn::softmax);
  expect_rows_match_library<float>(
      run_kelvin(with_row({"log-softmax", "--f32", "-t", kTemperatureList})), row_fn::log_softmax);
  // Float digits, not a float printed as a double (0.04711791 would be
  // 0.04711791127920151 in double digits).
  const command_result r = run_kelvin({"softmax", "--f32", "-t", "1", "--", "1", "5", "7", "10"});
  for (const std::string& token : split_output_line(r.out_lines().at(0)).values) {
    EXPECT_LE(token.size(), 13u) << token;
  }
}

TEST(cli, log_softmax_subcommand_equals_softmax_log) {
  const command_result a = run_kelvin(with_row({"log-softmax", "-t", kTemperatureList}));
  const command_result b = run_kelvin(with_row({"softmax", "--log", "-t", kTemperatureList}));
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
}

TEST(cli, log_partition_and_smooth_max_print_t_and_value) {
  for (const char* name : {"log-partition", "smooth-max"}) {
    SCOPED_TRACE(name);
    for (const bool f32 : {false, true}) {
      std::vector<std::string> args = {name, "-t", kTemperatureList};
      if (f32) args.push_back("--f32");
      const command_result r = run_kelvin(with_row(args));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const std::vector<std::string> lines = r.out_lines();
      ASSERT_EQ(lines.size(), kTemperatures.size()) << r.out;
      const std::vector<float> xf(kRow.begin(), kRow.end());
      for (std::size_t k = 0; k < kTemperatures.size(); ++k) {
        const output_line line = split_output_line(lines[k]);
        EXPECT_EQ(line.temperature, cli::format_temperature(kTemperatures[k]));
        ASSERT_EQ(line.values.size(), 1u) << lines[k];
        const options opt{.temperature = kTemperatures[k]};
        const bool lp = std::string(name) == "log-partition";
        if (f32) {
          expect_same(line.values[0], lp ? log_partition(std::span<const float>(xf), opt)
                                         : smooth_max(std::span<const float>(xf), opt));
        } else {
          expect_same(line.values[0], lp ? log_partition(std::span<const double>(kRow), opt)
                                         : smooth_max(std::span<const double>(kRow), opt));
        }
      }
    }
  }
}

TEST(cli, softmax_limits_at_zero_and_infinite_temperature) {
  // T = 0: the hardmax, ties split; T = inf: uniform over the entries above
  // -inf; -inf entries are masked to 0 at every temperature.
  const command_result r = run_kelvin({"softmax", "-t", "0,inf", "--", "1", "-inf", "3", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "0 [0.0, 0.0, 0.5, 0.5]\n"
            "inf [0.3333333333333333, 0.0, 0.3333333333333333, 0.3333333333333333]\n");
  const command_result lp = run_kelvin({"log-partition", "-t", "0,inf", "--", "1", "-inf", "3"});
  EXPECT_EQ(lp.out, "0 inf\ninf 0.6931471805599453\n");
  const command_result sm = run_kelvin({"smooth-max", "-t", "0", "--", "1", "-inf", "3"});
  EXPECT_EQ(sm.out, "0 3.0\n");
}

TEST(cli, softmax_masked_rows_follow_empty_row_policy) {
  EXPECT_EQ(run_kelvin({"softmax", "--", "-inf", "-inf"}).out, "1 [nan, nan]\n");
  EXPECT_EQ(run_kelvin({"softmax", "--empty-row", "zero", "--", "-inf", "-inf"}).out,
            "1 [0.0, 0.0]\n");
  EXPECT_EQ(run_kelvin({"softmax", "--log", "--empty-row", "zero", "--", "-inf", "-inf"}).out,
            "1 [-inf, -inf]\n");
  EXPECT_EQ(run_kelvin({"softmax", "--empty-row", "nan", "--", "-inf", "2"}).out, "1 [0.0, 1.0]\n");
}

TEST(cli, softmax_reads_strtod_syntax_and_specials) {
  EXPECT_EQ(run_kelvin({"softmax", "-t", "INF", "--", "0x1p-2", "1e3", "-Infinity"}).out,
            "inf [0.5, 0.5, 0.0]\n");
  EXPECT_EQ(run_kelvin({"softmax", "--", "1", "NaN"}).out, "1 [nan, nan]\n");
  EXPECT_EQ(run_kelvin({"softmax", "--", "Inf", "1", "inf"}).out, "1 [0.5, 0.0, 0.5]\n");
}

TEST(cli, softmax_temperatures_and_values_in_any_arrangement) {
  const std::string expected = run_kelvin({"softmax", "-t", "0.1,1,10", "--", "1", "-2", "3"}).out;
  EXPECT_EQ(std::count(expected.begin(), expected.end(), '\n'), 3);
  EXPECT_EQ(run_kelvin({"softmax", "-t", "0.1", "-t", "1,10", "--", "1", "-2", "3"}).out, expected);
  EXPECT_EQ(run_kelvin({"softmax", "--temperature", "0.1, 1, 10", "1", "-2", "3"}).out, expected);
  EXPECT_EQ(run_kelvin({"softmax", "1", "-t", "0.1,1,10", "-2", "--", "3"}).out, expected);
  // No -t: T = 1.
  EXPECT_EQ(run_kelvin({"softmax", "--", "0", "0"}).out, "1 [0.5, 0.5]\n");
}

TEST(cli, info_names_version_targets_and_threads) {
  const command_result r = run_kelvin({"info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("kelvin " + std::string(version()) + "\n"), std::string::npos) << r.out;
  const std::string active = active_target();  // the same CPU and environment
  EXPECT_NE(r.out.find("active target: " + active + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compiled targets: "), std::string::npos);
  EXPECT_NE(r.out.find("supported targets: "), std::string::npos);
  EXPECT_NE(r.out.find(", SCALAR\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("default threads: " + std::to_string(get_num_threads()) + "\n"),
            std::string::npos)
      << r.out;

  const command_result forced = run_kelvin({"info"}, {{"KELVIN_FORCE_TARGET", "SCALAR"}});
  EXPECT_NE(forced.out.find("active target: SCALAR"), std::string::npos) << forced.out;
}

TEST(cli, help_and_version_exit_0_on_stdout) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"-h"}, {"softmax", "--help"}, {"demo", "-h"}}) {
    const command_result r = run_kelvin(args);
    EXPECT_EQ(r.exit_code, 0) << args.front();
    EXPECT_NE(r.out.find("Usage: kelvin"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
  const command_result v = run_kelvin({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out, "kelvin " + std::string(version()) + "\n");
}

}  // namespace
}  // namespace kelvin::testing
