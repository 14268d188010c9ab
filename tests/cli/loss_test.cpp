// kelvin loss: the seed's InfoNCE numbers from the command line (checked
// against log1p(K exp((neg - pos) / T)) in long double), and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/cli/run_command.hpp"

namespace kelvin::testing {
namespace {

TEST(cli_loss, info_nce_prints_the_seed_numbers) {
  const command_result r = run_kelvin({"loss", "info-nce", "--positive", "1", "--negative", "-1",
                                       "-K", "1024", "-t", "1,0.5,0.07"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 3u);
  const char* ts[] = {"1", "0.5", "0.07"};
  const double tv[] = {1.0, 0.5, 0.07};
  for (int i = 0; i < 3; ++i) {
    const auto sp = lines[i].find(' ');
    ASSERT_NE(sp, std::string::npos) << lines[i];
    EXPECT_EQ(lines[i].substr(0, sp), ts[i]);
    const double got = std::strtod(lines[i].c_str() + sp + 1, nullptr);
    const long double ref = std::log1p(1024.0L * std::exp(-2.0L / tv[i]));
    EXPECT_NEAR(got, (double)ref, 1e-12 * (double)ref) << lines[i];
  }
  EXPECT_EQ(lines[0], "1 4.938661770836239");  // the seed's 4.94
}

TEST(cli_loss, info_nce_grad_column) {
  const command_result r = run_kelvin({"loss", "info-nce", "-K", "3", "-t", "2", "--grad"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u);
  // L(T) = log1p(3 exp(-2/T)): dL/dT = 6 exp(-2/T) / (T^2 (1 + 3 exp(-2/T)))
  const double e = 3 * std::exp(-1.0);
  const double want = 2 * e / (4 * (1 + e));
  const auto sp = lines[0].rfind(' ');
  EXPECT_NEAR(std::strtod(lines[0].c_str() + sp + 1, nullptr), want, 1e-14);
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& says) {
  const command_result r = run_kelvin(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("kelvin: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
}

TEST(cli_loss, errors) {
  expect_usage_error({"loss", "info-nce", "-t", "-1"}, "temperature must be >= 0");
  expect_usage_error({"loss", "info-nce", "-t", "1,nan"}, "NaN");
  expect_usage_error({"loss", "info-nce", "--negative", "x"}, "--negative must be a number");
  expect_usage_error({"loss", "info-nce", "-K", "-3"}, "-K must be in");
  expect_usage_error({"loss"}, "subcommand");
}

}  // namespace
}  // namespace kelvin::testing
