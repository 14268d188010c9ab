#include "tools/kelvin/csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <type_traits>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

// A row must fit in memory; a "line" without end (binary input, /dev/zero)
// must not take all of it.
constexpr std::size_t kMaxLine = std::size_t{1} << 30;

template <class T>
bool parse_any(std::string_view s, T& out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  // from_chars reads "-x" but not "+x".
  if (*b == '+') {
    ++b;
    if (b == e || *b == '-' || *b == '+') return false;
  }
  T v{};
  const auto [stop, ec] = std::from_chars(b, e, v);
  if (stop != e) return false;
  if (ec == std::errc::result_out_of_range) {
    // Round as strtod does (1e999 -> inf, 1e-999 -> 0); from_chars leaves v.
    const std::string text(b, e);
    if constexpr (std::is_same_v<T, float>) {
      v = std::strtof(text.c_str(), nullptr);
    } else {
      v = std::strtod(text.c_str(), nullptr);
    }
  } else if (ec != std::errc{}) {
    return false;
  }
  out = v;
  return true;
}

template <class T>
char* format_any(T v, char* out) {
  if (std::isnan(v)) {
    std::memcpy(out, "nan", 3);
    return out + 3;
  }
  if (std::isinf(v)) {
    if (v < 0) *out++ = '-';
    std::memcpy(out, "inf", 3);
    return out + 3;
  }
  return std::to_chars(out, out + kMaxNumberChars, v).ptr;
}

// Bytes shown in a message, one line long: printable ASCII as is, the rest
// as \xNN.
std::string quote_field(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr std::size_t kLimit = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kLimit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kLimit) out += "...";
  out += '\'';
  return out;
}

bool is_blank(char c, char delimiter) { return c == ' ' || (c == '\t' && delimiter != '\t'); }

struct field {
  std::string_view text;  // without quotes and surrounding blanks
  std::size_t column;     // 1-based column of the field's first character
  bool plain;             // false when a quoted field holds an escaped quote
};

// Calls on_field for each field of a line; throws through fail(column, what)
// for a malformed quote.
template <class OnField, class Fail>
void split_fields(std::string_view line, char delimiter, OnField&& on_field, Fail&& fail) {
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && is_blank(line[i], delimiter)) ++i;
    field f{{}, i + 1, true};
    if (i < line.size() && line[i] == '"') {
      const std::size_t open = i++;
      std::size_t start = i;
      while (true) {
        const std::size_t q = line.find('"', i);
        if (q == std::string_view::npos) fail(open + 1, "unterminated quote");
        if (q + 1 < line.size() && line[q + 1] == '"') {  // "" inside quotes
          f.plain = false;
          i = q + 2;
          continue;
        }
        f.text = line.substr(start, q - start);
        i = q + 1;
        break;
      }
      while (i < line.size() && is_blank(line[i], delimiter)) ++i;
      if (i < line.size() && line[i] != delimiter) {
        fail(i + 1, "unexpected " + quote_field(line.substr(i, 1)) + " after a quoted field");
      }
      // Blanks inside the quotes are not part of the number either.
      while (!f.text.empty() && (f.text.front() == ' ' || f.text.front() == '\t')) {
        f.text.remove_prefix(1);
      }
      while (!f.text.empty() && (f.text.back() == ' ' || f.text.back() == '\t')) {
        f.text.remove_suffix(1);
      }
    } else {
      std::size_t stop = line.find(delimiter, i);
      if (stop == std::string_view::npos) stop = line.size();
      std::size_t last = stop;
      while (last > i && is_blank(line[last - 1], delimiter)) --last;
      f.text = line.substr(i, last - i);
      i = stop;
    }
    on_field(f);
    if (i >= line.size()) return;
    ++i;  // the delimiter; a line ending in one has an empty last field
  }
}

}  // namespace

bool parse_number(std::string_view s, double& out) { return parse_any(s, out); }
bool parse_number(std::string_view s, float& out) { return parse_any(s, out); }

char* format_shortest(double v, char* out) { return format_any(v, out); }
char* format_shortest(float v, char* out) { return format_any(v, out); }

template <class T>
void append_rows(std::span<const T> values, std::size_t cols, char delimiter, std::size_t& column,
                 std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + values.size() * (kMaxNumberChars + 1));
  char* p = out.data() + start;
  for (const T v : values) {
    if (column > 0) *p++ = delimiter;
    p = format_shortest(v, p);
    if (++column == cols) {
      *p++ = '\n';
      column = 0;
    }
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

template void append_rows<float>(std::span<const float>, std::size_t, char, std::size_t&,
                                 std::string&);
template void append_rows<double>(std::span<const double>, std::size_t, char, std::size_t&,
                                  std::string&);

template <class T>
csv_reader<T>::csv_reader(byte_reader& in, char delimiter, bool header, std::size_t buffer_bytes)
    : in_(in),
      delimiter_(delimiter),
      has_header_(header),
      buf_(std::max<std::size_t>(buffer_bytes, 1)) {}

template <class T>
void csv_reader<T>::fail(std::size_t column, const std::string& what) const {
  throw usage_error(in_.name() + ":" + std::to_string(line_no_) + ":" + std::to_string(column) +
                    ": " + what);
}

template <class T>
bool csv_reader<T>::next_line(std::string_view& line) {
  std::size_t scanned = begin_;
  while (true) {
    const void* nl = std::memchr(buf_.data() + scanned, '\n', end_ - scanned);
    if (nl != nullptr) {
      const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data());
      line = std::string_view(buf_.data() + begin_, at - begin_);
      begin_ = at + 1;
      break;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      line = std::string_view(buf_.data() + begin_, end_ - begin_);  // no final newline
      begin_ = end_;
      break;
    }
    // Keep the partial line, make room, read more.
    const std::size_t kept = end_ - begin_;
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, kept);
      begin_ = 0;
      end_ = kept;
    }
    scanned = end_;
    if (end_ == buf_.size()) {  // a line longer than the buffer
      if (buf_.size() >= kMaxLine) {
        throw usage_error(in_.name() + ":" + std::to_string(line_no_ + 1) +
                          ":1: line longer than 1 GiB (is this a text table?)");
      }
      buf_.resize(std::min(buf_.size() * 2, kMaxLine));
    }
    const std::size_t got = in_.read_some(buf_.data() + end_, buf_.size() - end_);
    if (got == 0) eof_ = true;
    end_ += got;
  }
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line_no_ == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  return true;
}

template <class T>
bool csv_reader<T>::next_data_line(std::string_view& line) {
  while (next_line(line)) {
    if (line.find_first_not_of(" \t") != std::string_view::npos) return true;
  }
  return false;
}

template <class T>
void csv_reader<T>::parse_row(std::string_view line, T* out) {
  std::size_t k = 0;
  split_fields(
      line, delimiter_,
      [&](const field& f) {
        if (k == cols_) {
          fail(f.column, "row has more than " + std::to_string(cols_) + " fields (line " +
                             std::to_string(first_row_line_) + " has " + std::to_string(cols_) +
                             ")");
        }
        if (f.text.empty()) fail(f.column, "empty field (expected a number)");
        if (!f.plain || !parse_number(f.text, out[k])) {
          std::string hint;
          if (!has_header_ && line_no_ == first_row_line_) {
            hint = " (if the first line names the columns, pass --header)";
          }
          fail(f.column, "not a number: " + quote_field(f.text) + hint);
        }
        ++k;
      },
      [&](std::size_t column, const std::string& what) { fail(column, what); });
  if (k < cols_) {
    fail(line.size() + 1, "row has " + std::to_string(k) + " field" + (k == 1 ? "" : "s") +
                              ", expected " + std::to_string(cols_) + " (as on line " +
                              std::to_string(first_row_line_) + ")");
  }
}

template <class T>
void csv_reader<T>::start() {
  std::string_view line;
  if (has_header_) {
    if (!next_data_line(line)) throw usage_error(in_.name() + ": empty input (no header line)");
    header_.assign(line);
  }
  const std::uint64_t header_line = line_no_;
  if (!next_data_line(line)) {
    throw usage_error(
        in_.name() + (has_header_ ? ": no rows after the header line" : ": empty input (no rows)"));
  }
  if (delimiter_ == 0) {
    const std::string_view probe = has_header_ ? std::string_view(header_) : line;
    delimiter_ = probe.find('\t') != std::string_view::npos ? '\t' : ',';
  }
  // The first row fixes the number of columns.
  std::size_t count = 0;
  split_fields(
      line, delimiter_, [&](const field&) { ++count; },
      [&](std::size_t column, const std::string& what) { fail(column, what); });
  cols_ = count;
  first_row_line_ = line_no_;
  if (has_header_) {
    std::size_t names = 0;
    const std::uint64_t at = line_no_;
    line_no_ = header_line;
    split_fields(
        header_, delimiter_, [&](const field&) { ++names; },
        [&](std::size_t column, const std::string& what) { fail(column, what); });
    line_no_ = at;
    if (names != cols_) {
      fail(1, "row has " + std::to_string(cols_) + " fields but the header (line " +
                  std::to_string(header_line) + ") names " + std::to_string(names));
    }
  }
  first_row_.resize(cols_);
  parse_row(line, first_row_.data());
  first_pending_ = true;
}

template <class T>
std::size_t csv_reader<T>::read_rows(T* out, std::size_t max_rows) {
  std::size_t n = 0;
  if (first_pending_ && max_rows > 0) {
    std::memcpy(out, first_row_.data(), cols_ * sizeof(T));
    first_pending_ = false;
    ++n;
  }
  std::string_view line;
  while (n < max_rows && next_data_line(line)) {
    parse_row(line, out + n * cols_);
    ++n;
  }
  rows_ += n;
  return n;
}

template class csv_reader<float>;
template class csv_reader<double>;

}  // namespace kelvin::cli
