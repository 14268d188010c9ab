// kelvin CLI: tables of numbers as CSV (comma-separated) or TSV (tab).
//
// One row per line, every row the same number of fields; an optional header
// line; blank lines are skipped; "\r\n" line ends and a UTF-8 byte order
// mark are accepted; a field may be double-quoted ("1.5"). A field is a
// number in decimal or scientific notation, or nan, inf, -inf, infinity in
// any case: those are values, not errors. Errors name the input, the line
// and the column ("data.csv:3:7: not a number: 'abc'"). Fuzzed by
// fuzz/csv_fuzzer.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tools/kelvin/byte_io.hpp"

namespace kelvin::cli {

// A whole field as a number: optional sign, then what std::from_chars reads
// (decimal, scientific, inf, infinity, nan, nan(...), any case). Values out
// of range round as strtod rounds them (1e999 is inf, 1e-999 is 0). The
// float overload rounds the decimal once. False when it is not a number.
bool parse_number(std::string_view s, double& out);
bool parse_number(std::string_view s, float& out);

// Shortest digits that read back to the same value (std::to_chars), or
// "nan", "inf", "-inf". Writes at most kMaxNumberChars characters; returns
// the end.
inline constexpr std::size_t kMaxNumberChars = 32;
char* format_shortest(double v, char* out);
char* format_shortest(float v, char* out);

// Appends values as lines of `cols` fields separated by `delimiter`.
// `column` is where the previous call stopped within a line (0 at the
// start), so a row may span calls.
template <class T>
void append_rows(std::span<const T> values, std::size_t cols, char delimiter, std::size_t& column,
                 std::string& out);

template <class T>
class csv_reader {
 public:
  // delimiter: ',' or '\t'; 0 takes '\t' when the first line holds a tab
  // and ',' otherwise. header: the first line names the columns.
  // buffer_bytes: the initial line buffer (it grows to hold a longer line).
  csv_reader(byte_reader& in, char delimiter, bool header,
             std::size_t buffer_bytes = std::size_t{256} << 10);

  // Reads the header (when asked) and the first row, which fixes cols().
  // Throws usage_error for an input without rows.
  void start();

  std::size_t cols() const { return cols_; }
  char delimiter() const { return delimiter_; }
  // The header line as read, without its line end ("" without a header).
  const std::string& header() const { return header_; }
  // Up to max_rows rows of cols() values each into out; returns how many
  // rows, 0 at the end. Throws usage_error for a bad field or a ragged row.
  std::size_t read_rows(T* out, std::size_t max_rows);
  // Rows returned so far.
  std::uint64_t rows() const { return rows_; }
  // Input bytes consumed so far.
  std::uint64_t bytes_read() const { return in_.position(); }

 private:
  bool next_line(std::string_view& line);
  bool next_data_line(std::string_view& line);
  void parse_row(std::string_view line, T* out);
  [[noreturn]] void fail(std::size_t column, const std::string& what) const;

  byte_reader& in_;
  char delimiter_;
  bool has_header_;
  std::string header_;
  std::size_t cols_ = 0;
  std::uint64_t line_no_ = 0;         // the line last returned by next_line
  std::uint64_t first_row_line_ = 0;  // where cols_ was fixed
  std::uint64_t rows_ = 0;
  std::vector<T> first_row_;
  bool first_pending_ = false;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
};

extern template class csv_reader<float>;
extern template class csv_reader<double>;

}  // namespace kelvin::cli
