// The CSV/TSV reader and number formatting of the kelvin CLI
// (tools/kelvin/csv.hpp).
#include "tools/kelvin/csv.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct table {
  std::size_t cols = 0;
  std::vector<double> values;
  std::string header;
  char delimiter = 0;
};

table read_all(const std::string& text, char delimiter = 0, bool header = false) {
  byte_reader in(std::string_view(text), "t.csv");
  csv_reader<double> r(in, delimiter, header);
  r.start();
  table t;
  t.cols = r.cols();
  t.header = r.header();
  t.delimiter = r.delimiter();
  std::vector<double> row(r.cols() * 3);
  while (const std::size_t n = r.read_rows(row.data(), 3)) {
    t.values.insert(t.values.end(), row.begin(), row.begin() + n * r.cols());
  }
  return t;
}

std::string error_of(const std::string& text, bool header = false) {
  try {
    read_all(text, 0, header);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(cli_csv, parse_number_reads_numbers_and_specials) {
  const struct {
    const char* text;
    double value;
  } cases[] = {
      {"1", 1},
      {"+1.5", 1.5},
      {"-2e-3", -2e-3},
      {".5", 0.5},
      {"5.", 5},
      {"1E+2", 100},
      {"inf", kInf},
      {"-INF", -kInf},
      {"+Infinity", kInf},
      {"1e999", kInf},
      {"-1e999", -kInf},
      {"1e-999", 0},
      {"4.9e-324", 4.9e-324},
  };
  for (const auto& c : cases) {
    double v = -7;
    EXPECT_TRUE(parse_number(c.text, v)) << c.text;
    EXPECT_EQ(v, c.value) << c.text;
  }
  for (const char* nan : {"nan", "NaN", "-nan", "NAN", "nan(123)"}) {
    double v = 0;
    EXPECT_TRUE(parse_number(nan, v)) << nan;
    EXPECT_TRUE(std::isnan(v)) << nan;
  }
  for (const char* bad : {"", "+", "-", "++1", "+-1", "1e", "0x10", "1_000", " 1", "1 ", "one",
                          "1,5", "in", "nana", "1.2.3"}) {
    double v = 0;
    EXPECT_FALSE(parse_number(bad, v)) << "'" << bad << "'";
  }
  // The float overload rounds the decimal once (not via double).
  float f = 0;
  ASSERT_TRUE(parse_number("1.00000005960464477539062500000000001", f));
  EXPECT_EQ(f, 1.00000012f);
  ASSERT_TRUE(parse_number("1e-46", f));
  EXPECT_EQ(f, 0.0f);
}

TEST(cli_csv, format_shortest_round_trips) {
  char buf[kMaxNumberChars];
  const auto text = [&](auto v) { return std::string(buf, format_shortest(v, buf)); };
  EXPECT_EQ(text(0.1), "0.1");
  EXPECT_EQ(text(1.0), "1");
  EXPECT_EQ(text(1e-5), "1e-05");
  EXPECT_EQ(text(0.1f), "0.1");
  EXPECT_EQ(text(std::nan("")), "nan");
  EXPECT_EQ(text(-std::nan("")), "nan");
  EXPECT_EQ(text(-kInf), "-inf");
  EXPECT_EQ(text(static_cast<float>(kInf)), "inf");
  EXPECT_EQ(text(-std::numeric_limits<double>::max()), "-1.7976931348623157e+308");
  EXPECT_EQ(text(std::numeric_limits<double>::denorm_min()), "5e-324");
  EXPECT_EQ(text(std::numeric_limits<float>::denorm_min()), "1e-45");
  for (double v : {0.1 + 0.2, 1.0 / 3, 6.02214076e23, -2.5e-300}) {
    double back = 0;
    ASSERT_TRUE(parse_number(text(v), back));
    EXPECT_EQ(back, v);
  }
  std::string out;
  std::size_t column = 0;
  const std::vector<double> v = {1, 2, 3, 4, 5};
  append_rows(std::span<const double>(v).first(3), 2, ',', column, out);
  append_rows(std::span<const double>(v).subspan(3), 2, ',', column, out);
  EXPECT_EQ(out, "1,2\n3,4\n5");
}

TEST(cli_csv, reads_rows_with_the_usual_variations) {
  const table t = read_all(
      "\xEF\xBB\xBF"
      "1, 2 ,3\r\n\n 4,\"5\",-inf\r\n\n\"nan\" ,+6,7e0");
  EXPECT_EQ(t.cols, 3u);
  EXPECT_EQ(t.delimiter, ',');
  ASSERT_EQ(t.values.size(), 9u);
  EXPECT_EQ(t.values[0], 1);
  EXPECT_EQ(t.values[4], 5);
  EXPECT_EQ(t.values[5], -kInf);
  EXPECT_TRUE(std::isnan(t.values[6]));
  EXPECT_EQ(t.values[8], 7);

  const table tsv = read_all("1\t2\n3\t4\n");
  EXPECT_EQ(tsv.delimiter, '\t');
  EXPECT_EQ(tsv.values, (std::vector<double>{1, 2, 3, 4}));
  // A TSV field may hold spaces around the number, not tabs.
  EXPECT_EQ(read_all(" 1 \t 2 \n", '\t').values, (std::vector<double>{1, 2}));

  const table h = read_all("\"a,1\",b\n1,2\n", 0, true);
  EXPECT_EQ(h.header, "\"a,1\",b");
  EXPECT_EQ(h.cols, 2u);
  EXPECT_EQ(read_all("x\ty\n1\t2\n", 0, true).delimiter, '\t');

  EXPECT_EQ(read_all("42").values, std::vector<double>{42});
}

TEST(cli_csv, reads_lines_longer_than_its_buffer) {
  std::string line;
  const std::size_t n = 200000;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) line += ',';
    line += static_cast<char>('0' + i % 10);
  }
  const table t = read_all(line + "\n" + line + "\n");
  EXPECT_EQ(t.cols, n);
  ASSERT_EQ(t.values.size(), 2 * n);
  EXPECT_EQ(t.values[n + 12345], 5);
}

TEST(cli_csv, errors_name_line_and_column) {
  EXPECT_EQ(error_of("1,2\n3,x\n"), "t.csv:2:3: not a number: 'x'");
  EXPECT_EQ(error_of("1,2\n\n3\n"), "t.csv:3:2: row has 1 field, expected 2 (as on line 1)");
  EXPECT_EQ(error_of("\n1,2\n3,4,5\n"), "t.csv:3:5: row has more than 2 fields (line 2 has 2)");
  EXPECT_EQ(error_of("1,2,\n"), "t.csv:1:5: empty field (expected a number)");
  EXPECT_EQ(error_of("1,\"2\"x\n"), "t.csv:1:6: unexpected 'x' after a quoted field");
  EXPECT_EQ(error_of("1,2\n1,\"2\"\"\"\n"), "t.csv:2:3: not a number: '2\"\"'");
  EXPECT_EQ(error_of("a,b\n"),
            "t.csv:1:1: not a number: 'a' (if the first line names the "
            "columns, pass --header)");
  EXPECT_EQ(error_of("a,b\n1,x\n", true), "t.csv:2:3: not a number: 'x'");
  EXPECT_EQ(error_of(""), "t.csv: empty input (no rows)");
  EXPECT_EQ(error_of("a\n", true), "t.csv: no rows after the header line");
  EXPECT_EQ(error_of("1,2\n1,\x01\n"), "t.csv:2:3: not a number: '\\x01'");
}

}  // namespace
}  // namespace kelvin::cli
