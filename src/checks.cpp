// Argument checks shared by every family's drivers (src/checks.hpp).
#include "src/checks.hpp"

#include <cmath>
#include <sstream>

namespace kelvin::detail {

std::string format_double(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

void check_temperature(double t, const char* what) {
  if (std::isnan(t) || t < 0) {
    throw error(std::string(what) + " must be >= 0 and not NaN (got " + format_double(t) + ")");
  }
}

void check_options(const options& opt, std::size_t rows) {
  if (opt.empty_row != empty_row_policy::nan && opt.empty_row != empty_row_policy::zero) {
    throw error("options.empty_row must be empty_row_policy::nan or ::zero (got " +
                std::to_string(static_cast<int>(opt.empty_row)) + ")");
  }
  if (opt.threads < 0) {
    throw error("options.threads must be >= 0 (got " + std::to_string(opt.threads) + ")");
  }
  if (opt.temperatures.empty()) {
    check_temperature(opt.temperature, "temperature");
    return;
  }
  if (opt.temperatures.size() != rows) {
    throw error("options.temperatures has " + std::to_string(opt.temperatures.size()) +
                " entries; one per row is required (" + std::to_string(rows) + ")");
  }
  if (opt.temperatures.data() == nullptr) throw error("options.temperatures is null");
  for (std::size_t r = 0; r < rows; ++r) {
    const double t = opt.temperatures[r];
    if (std::isnan(t) || t < 0) {
      throw error("options.temperatures[" + std::to_string(r) + "] must be >= 0 and not NaN (got " +
                  format_double(t) + ")");
    }
  }
}

void check_one_row_temperatures(const options& opt) {
  if (!opt.temperatures.empty() && opt.temperatures.size() != 1) {
    throw error("options.temperatures must be empty or hold one temperature for one row");
  }
}

void check_not_null(const void* p, std::size_t count, const char* name) {
  if (count > 0 && p == nullptr) throw error(std::string(name) + " is null");
}

void check_row_output(const void* p, std::size_t size, std::size_t rows, const char* name) {
  if (size != rows) {
    throw error(std::string(name) + " has " + std::to_string(size) + " entries but x has " +
                std::to_string(rows) + " rows");
  }
  check_not_null(p, rows, name);
}

void check_same_size(std::size_t x_size, std::size_t y_size) {
  if (x_size != y_size) {
    throw error("x has " + std::to_string(x_size) + " entries but y has " + std::to_string(y_size));
  }
}

}  // namespace kelvin::detail
