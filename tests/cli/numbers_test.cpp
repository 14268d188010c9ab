// Number formatting and parsing of the kelvin CLI: Python's float repr, so
// `kelvin demo` prints what the blog's Python prints, and strtod syntax.
#include "tools/kelvin/numbers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kelvin::cli {
namespace {

TEST(cli, numbers_repr_matches_python) {
  // Expected strings are Python 3's repr(float(text)).
  const struct {
    double v;
    const char* repr;
  } cases[] = {
      {0.1, "0.1"},
      {1.0, "1.0"},
      {-2.5, "-2.5"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {0.00011679362893736733, "0.00011679362893736733"},
      {1e16, "1e+16"},
      {9999999999999998.0, "9999999999999998.0"},
      {123456789.0, "123456789.0"},
      {1.5e300, "1.5e+300"},
      {5e-324, "5e-324"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1e22, "1e+22"},
      {12345678901234567890.0, "1.2345678901234567e+19"},
      {0.9999999999999064, "0.9999999999999064"},
      {8.19401262398979e-40, "8.19401262398979e-40"},
      {100.0, "100.0"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::numeric_limits<double>::quiet_NaN(), "nan"},
  };
  for (const auto& c : cases) EXPECT_EQ(format_repr(c.v), c.repr) << c.repr;
}

TEST(cli, numbers_repr_float_is_shortest_for_float) {
  EXPECT_EQ(format_repr(0.1f), "0.1");
  EXPECT_EQ(format_repr(1.0f / 3.0f), "0.33333334");
  EXPECT_EQ(format_repr(16777216.0f), "16777216.0");
  EXPECT_EQ(format_repr(std::numeric_limits<float>::denorm_min()), "1e-45");
  EXPECT_EQ(format_repr(std::numeric_limits<float>::max()), "3.4028235e+38");
  EXPECT_EQ(format_repr(1e-5f), "1e-05");
}

TEST(cli, numbers_temperature_prints_ints_like_the_blog) {
  EXPECT_EQ(format_temperature(0.1), "0.1");
  EXPECT_EQ(format_temperature(1), "1");
  EXPECT_EQ(format_temperature(10000), "10000");
  EXPECT_EQ(format_temperature(0), "0");
  EXPECT_EQ(format_temperature(2.5), "2.5");
  EXPECT_EQ(format_temperature(1e20), "1e+20");
  EXPECT_EQ(format_temperature(std::numeric_limits<double>::infinity()), "inf");
}

TEST(cli, numbers_parse_accepts_strtod_syntax) {
  EXPECT_EQ(parse_double("1"), 1.0);
  EXPECT_EQ(parse_double(" 2.5 "), 2.5);
  EXPECT_EQ(parse_double("0x1p-2"), 0.25);
  EXPECT_EQ(parse_double("1e3"), 1000.0);
  EXPECT_EQ(parse_double("-INF"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_double("Infinity"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(parse_double("1e999"), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*parse_double("NaN")));
  EXPECT_TRUE(std::isnan(*parse_double("-nan")));
  // strtof rounds the decimal once; strtod then a cast could round twice.
  EXPECT_EQ(parse_float("0.1"), 0.1f);
  EXPECT_EQ(parse_float("1.00000005960464477539062500001"), 1.0000001f);
}

TEST(cli, numbers_parse_rejects_non_numbers) {
  for (const char* bad : {"", " ", "abc", "1abc", "1,2", "--", "-", "1 2", "0x", "e5"}) {
    EXPECT_FALSE(parse_double(bad).has_value()) << "'" << bad << "'";
    EXPECT_FALSE(parse_float(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace kelvin::cli
