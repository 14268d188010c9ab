#include "tools/kelvin/numbers.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <system_error>

namespace kelvin::cli {
namespace {

// Lays out the shortest round-trip digits (from std::to_chars in scientific
// form, "d.ddde+XX") with the cut-offs of Python's float repr.
template <class T>
std::string repr(T v) {
  if (std::isnan(v)) return "nan";  // Python drops the sign of a NaN
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";

  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  if (ec != std::errc{}) return "nan";  // cannot happen: 64 chars fit any double
  std::string_view s(buf, static_cast<std::size_t>(end - buf));

  std::string out;
  if (s.front() == '-') {
    out += '-';
    s.remove_prefix(1);
  }
  const std::size_t e_pos = s.find('e');
  std::string digits(1, s[0]);
  if (s.size() > 1 && s[1] == '.') digits.append(s.substr(2, e_pos - 2));
  // to_chars writes the exponent as e+XX or e-XX; from_chars takes no '+'.
  std::string_view exp_text = s.substr(e_pos + 1);
  const bool exp_negative = exp_text.front() == '-';
  exp_text.remove_prefix(1);
  int exp = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (exp_negative) exp = -exp;

  const int n = static_cast<int>(digits.size());
  if (exp >= 16 || exp < -4) {
    out += digits[0];
    if (n > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += exp < 0 ? "e-" : "e+";
    const int a = std::abs(exp);
    if (a < 10) out += '0';
    out += std::to_string(a);
  } else if (exp >= 0) {
    // digits d0 d1 ... with the point after d_exp, padded with zeros.
    if (n <= exp + 1) {
      out += digits;
      out.append(static_cast<std::size_t>(exp + 1 - n), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<std::size_t>(exp + 1));
      out += '.';
      out.append(digits, static_cast<std::size_t>(exp + 1));
    }
  } else {
    out += "0.";
    out.append(static_cast<std::size_t>(-exp - 1), '0');
    out += digits;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

template <class T, class Parse>
std::optional<T> parse(std::string_view token, Parse strto) {
  // strto* needs a NUL-terminated string and must consume all of it.
  const std::string s(trim(token));
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const T v = strto(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string format_repr(double v) { return repr(v); }
std::string format_repr(float v) { return repr(v); }

std::string format_temperature(double t) {
  // Integral and below 1e16, where repr would still print every digit.
  if (std::isfinite(t) && t == std::trunc(t) && std::fabs(t) < 1e16) {
    std::string s = repr(t);
    s.resize(s.size() - 2);  // drop ".0"
    return s;
  }
  return repr(t);
}

std::optional<double> parse_double(std::string_view token) {
  return parse<double>(token, [](const char* s, char** end) { return std::strtod(s, end); });
}

std::optional<float> parse_float(std::string_view token) {
  return parse<float>(token, [](const char* s, char** end) { return std::strtof(s, end); });
}

}  // namespace kelvin::cli
