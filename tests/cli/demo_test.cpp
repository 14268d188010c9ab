// `kelvin demo`: the blog post's table, recomputed, checked against the MPFR
// oracle; the bar chart after it; and the claims of its closing note.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "kelvin/runtime.hpp"
#include "tests/cli/run_command.hpp"
#include "tests/support/mpfr_reference.hpp"

namespace kelvin::testing {
namespace {

constexpr std::array<double, 4> kVec = {1, 5, 7, 10};
constexpr std::array<double, 5> kTemperatures = {0.1, 1, 10, 100, 10000};
const std::array<std::string, 5> kTemperatureText = {"0.1", "1", "10", "100", "10000"};

// The blog post's printed output, digit for digit (its Python:
// math.exp(x / t) / sum(math.exp(x / t) for x in vec)).
constexpr std::array<std::array<double, 4>, 5> kBlog = {{
    {8.194012623989748e-40, 1.928749847963737e-22, 9.357622968839298e-14, 0.9999999999999064},
    {0.00011679362893736733, 0.006376716075637758, 0.0471179128098403, 0.9463885774855847},
    {0.14763314666550595, 0.2202427743860977, 0.26900513210002774, 0.3631189468483686},
    {0.23827555570657363, 0.24799976560608047, 0.25300969319764466, 0.2607149854897012},
    {0.2498812648459304, 0.2499812373450356, 0.2500312385924627, 0.2501062592165714},
}};

double to_double(const std::string& token) {
  char* stop = nullptr;
  const double v = std::strtod(token.c_str(), &stop);
  EXPECT_EQ(*stop, '\0') << "not a number: '" << token << "'";
  return v;
}

// On every SIMD target this CPU runs (KELVIN_FORCE_TARGET), not only the best.
TEST(cli, demo_table_is_within_1_ulp_of_mpfr) {
  for (const std::string& target : supported_targets()) {
    SCOPED_TRACE("KELVIN_FORCE_TARGET=" + target);
    const command_result r = run_kelvin({"demo"}, {{"KELVIN_FORCE_TARGET", target}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const std::vector<std::string> lines = r.out_lines();
    ASSERT_GE(lines.size(), 6u);
    for (std::size_t k = 0; k < kTemperatures.size(); ++k) {
      SCOPED_TRACE(lines[k]);
      const output_line line = split_output_line(lines[k]);
      EXPECT_EQ(line.temperature, kTemperatureText[k]);
      ASSERT_EQ(line.values.size(), kVec.size());
      const row_reference exact(kVec, kTemperatures[k], 256);
      for (std::size_t i = 0; i < kVec.size(); ++i) {
        EXPECT_LE(exact.softmax_ulps(i, to_double(line.values[i]), kF64), 1.0) << "entry " << i;
      }
    }
  }
}

TEST(cli, demo_blank_line_then_a_bar_chart_per_temperature) {
  const command_result r = run_kelvin({"demo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = r.out_lines();
  ASSERT_GT(lines.size(), 6u);
  EXPECT_EQ(lines[5], "");

  // Each group: "T = <t>", then "  x = <x> │<bar> <p>" per entry.
  const std::string full_block = "\u2588";
  std::size_t k = 0;
  for (std::size_t i = 6; i < lines.size() && k < kTemperatures.size(); ++i) {
    if (lines[i] != "T = " + kTemperatureText[k]) continue;
    ASSERT_LT(i + kVec.size(), lines.size());
    std::size_t blocks_total = 0;
    for (std::size_t j = 0; j < kVec.size(); ++j) {
      const std::string& bar = lines[i + 1 + j];
      EXPECT_NE(bar.find("x = "), std::string::npos) << bar;
      EXPECT_NE(bar.find(std::to_string(static_cast<int>(kVec[j])) + " \u2502"), std::string::npos)
          << bar;
      for (std::size_t at = bar.find(full_block); at != std::string::npos;
           at = bar.find(full_block, at + 1)) {
        ++blocks_total;
      }
    }
    // Full blocks across a group add up to about the width (p sums to 1).
    EXPECT_GE(blocks_total, 36u) << "T = " << kTemperatureText[k];
    ++k;
  }
  EXPECT_EQ(k, kTemperatures.size()) << "missing chart groups";
  // The one-hot end: at T = 0.1 the last entry gets the whole 40-cell bar.
  std::string whole_bar;
  for (int i = 0; i < 40; ++i) whole_bar += full_block;
  EXPECT_NE(r.out.find("10 \u2502" + whole_bar + " 1.000"), std::string::npos) << r.out;
}

// The note at the end of `kelvin demo` makes numeric claims about the blog's
// digits; these are their proofs.
TEST(cli, demo_note_claims_hold) {
  double worst_t_ge_1 = 0;
  for (std::size_t k = 1; k < kTemperatures.size(); ++k) {
    const row_reference exact(kVec, kTemperatures[k], 256);
    for (std::size_t i = 0; i < kVec.size(); ++i) {
      worst_t_ge_1 = std::max(worst_t_ge_1, exact.softmax_ulps(i, kBlog[k][i], kF64));
    }
  }
  EXPECT_GT(worst_t_ge_1, 1.53);
  EXPECT_LE(worst_t_ge_1, 1.54 + 0.005);  // "up to 1.54 ulp"

  // T = 0.1: far from the softmax at the double 0.1, close to that at 1/10.
  // softmax(x, 1/10) == softmax(10 x, 1), and 10 x is exact here.
  const row_reference at_double(kVec, 0.1, 256);
  const std::array<double, 4> vec_times_10 = {10, 50, 70, 100};
  const row_reference at_one_tenth(vec_times_10, 1.0, 256);
  double worst_double = 0;
  double worst_tenth = 0;
  for (std::size_t i = 0; i < kVec.size(); ++i) {
    worst_double = std::max(worst_double, at_double.softmax_ulps(i, kBlog[0][i], kF64));
    worst_tenth = std::max(worst_tenth, at_one_tenth.softmax_ulps(i, kBlog[0][i], kF64));
    EXPECT_EQ(kVec[i] / 0.1, vec_times_10[i]);  // Python's x / 0.1 is exactly 10 x
  }
  EXPECT_GT(worst_double, 25.4);
  EXPECT_LE(worst_double, 25.5 + 0.05);  // "up to 25.5 ulp"
  EXPECT_LE(worst_tenth, 1.2);           // "to 1.2 ulp"

  const command_result r = run_kelvin({"demo"});
  EXPECT_NE(r.out.find("1.54 ulp"), std::string::npos);
  EXPECT_NE(r.out.find("25.5 ulp"), std::string::npos);
  EXPECT_NE(r.out.find("within 1 ulp"), std::string::npos);
}

}  // namespace
}  // namespace kelvin::testing
