// kelvin CLI: reading numbers from the command line and printing them the way
// Python does, so that `kelvin demo` lines up digit for digit with the blog
// post's output (which is Python's print of a list of floats).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kelvin::cli {

// Bad command-line input: reported as one line on stderr, exit code 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Python's repr() of a float: the shortest digits that read back to the same
// value, in fixed notation for 1e-4 <= |v| < 1e16 (with ".0" when integral),
// else d.ddde+XX. repr(0.1) == "0.1", repr(1e-05) == "1e-05", "inf", "nan".
std::string format_repr(double v);
// The same rule with the shortest digits that read back to the same float.
std::string format_repr(float v);

// A temperature as the blog prints it: its integral temperatures are Python
// ints ("1", "10000"), the others floats ("0.1", "inf").
std::string format_temperature(double t);

// A whole token in strtod syntax (decimal, hex, "inf", "infinity", "nan",
// any case, optional sign; surrounding blanks ignored). Out-of-range values
// round as strtod rounds them (1e999 is inf). nullopt when the token is not
// a number. The float overload rounds the decimal once (strtof), not twice.
std::optional<double> parse_double(std::string_view token);
std::optional<float> parse_float(std::string_view token);

}  // namespace kelvin::cli
