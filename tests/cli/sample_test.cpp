// `kelvin sample`: the tokens and probabilities are the library's, a .npy of
// rows goes in and a file of lines comes out through the crash-safe writer,
// and bad input is one line on stderr with exit code 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kelvin/sampling.hpp"
#include "tests/cli/run_command.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::testing {
namespace {

TEST(cli_sample, tokens_and_logprobs_are_the_librarys) {
  const std::vector<float> x{2, 1, 0, -1, 0.5f};
  const sampling_options o{.temperature = 0.8, .top_k = 4, .top_p = 0.95, .seed = 7};
  const command_result r = run_kelvin(
      {"sample", "-t",      "0.8", "--top-k",    "4",  "--top-p", "0.95", "--seed", "7",  "--step",
       "3",      "--steps", "20",  "--logprobs", "--", "2",       "1",    "0",      "-1", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 20u);
  for (std::size_t s = 0; s < lines.size(); ++s) {
    const sampled_token want = sample_with_logprobs(x, o, 3 + s);
    std::istringstream in(lines[s]);
    std::int64_t tok;
    double lp, raw;
    in >> tok >> lp >> raw;
    EXPECT_EQ(tok, want.token);
    EXPECT_EQ(lp, want.logprob);  // repr round-trips a double
    EXPECT_EQ(raw, want.raw_logprob);
  }
}

TEST(cli_sample, distribution_and_the_two_orders) {
  command_result r =
      run_kelvin({"sample", "--distribution", "-t", "0.5", "--top-p", "0.7", "--", "2", "1", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[0.8807970779778823, 0.11920292202211755, 0.0]\n");
  r = run_kelvin({"sample", "--distribution", "-t", "0.5", "--top-p", "0.7", "--order",
                  "temperature_first", "--", "2", "1", "0"});
  EXPECT_EQ(r.out, "[1.0, 0.0, 0.0]\n");
  r = run_kelvin({"sample", "-t", "0", "--", "1", "3", "-inf", "3"});
  EXPECT_EQ(r.out, "1\n");
}

TEST(cli_sample, npy_rows_in_lines_out) {
  char dir[] = "/tmp/kelvin-sample-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string in = std::string(dir) + "/logits.npy", out = std::string(dir) + "/tokens.txt";
  const std::size_t rows = 3, cols = 50;
  std::vector<float> x(rows * cols);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 11) * 0.5f;
  cli::npy_header h;
  h.type = cli::scalar_type::f32;
  h.shape = {rows, cols};
  {
    std::ofstream f(in, std::ios::binary);
    const std::string head = cli::format_npy_header(h);
    f.write(head.data(), static_cast<std::streamsize>(head.size()));
    f.write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * 4));
  }
  const command_result r = run_kelvin(
      {"sample", "-t", "1.3", "--min-p", "0.1", "--seed", "5", "--input", in, "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  std::vector<std::int64_t> want(rows);
  const sampling_options o{.temperature = 1.3, .min_p = 0.1, .seed = 5};
  sample(matrix_view<const float>(x.data(), rows, cols), want, {&o, 1});
  std::ifstream f(out);
  for (std::size_t r2 = 0; r2 < rows; ++r2) {
    std::int64_t t = -1;
    f >> t;
    EXPECT_EQ(t, want[r2]);
  }
  // A failing run leaves the old output untouched.
  const command_result bad = run_kelvin({"sample", "--top-p", "0", "--input", in, "--output", out});
  EXPECT_EQ(bad.exit_code, 2);
  std::ifstream f2(out);
  std::int64_t t0 = -1;
  f2 >> t0;
  EXPECT_EQ(t0, want[0]);
  std::remove(in.c_str());
  std::remove(out.c_str());
  rmdir(dir);
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& says) {
  const command_result r = run_kelvin(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("kelvin: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
}

TEST(cli_sample, bad_input_is_one_line_and_exit_code_2) {
  expect_usage_error({"sample", "-t", "-1", "--", "1", "2"}, "temperature");
  expect_usage_error({"sample", "--top-p", "1.5", "--", "1", "2"}, "top_p");
  expect_usage_error({"sample", "--min-p", "-1", "--", "1", "2"}, "min_p");
  expect_usage_error({"sample", "--top-k", "-3", "--", "1", "2"}, "top_k");
  expect_usage_error({"sample", "--order", "sideways", "--", "1", "2"}, "--order");
  expect_usage_error({"sample", "--", "1", "nan"}, "NaN");
  expect_usage_error({"sample", "--", "-inf", "-inf"}, "all masked");
  expect_usage_error({"sample"}, "no values");
  expect_usage_error({"sample", "--steps", "0", "--", "1"}, "--steps");
  expect_usage_error({"sample", "--input", "/nonexistent/x.npy"}, "cannot open");
}

}  // namespace
}  // namespace kelvin::testing
