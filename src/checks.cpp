// Argument checks shared by every family's drivers (src/checks.hpp).
#include "src/checks.hpp"

#include <cmath>
#include <cstdint>
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

namespace {

constexpr const char* kTooLarge = ": more than the address space can hold";

std::size_t magnitude(std::ptrdiff_t v) {
  return v < 0 ? std::size_t{0} - static_cast<std::size_t>(v) : static_cast<std::size_t>(v);
}

[[noreturn]] void throw_wraps(const void* data, const char* name, const std::string& what) {
  throw error(std::string(name) + " " + what + " at address " +
              std::to_string(reinterpret_cast<std::uintptr_t>(data)) +
              " wraps around the end of memory");
}

}  // namespace

bool address_range_fits(const void* data, std::size_t below, std::size_t bytes) {
  const auto at = reinterpret_cast<std::uintptr_t>(data);
  std::uintptr_t end = 0;
  return at >= below && !__builtin_add_overflow(at, bytes, &end);
}

void check_address_range(const void* data, std::size_t below, std::size_t bytes, const char* name,
                         const std::string& what) {
  if (!address_range_fits(data, below, bytes)) throw_wraps(data, name, what);
}

void check_array_extent(const void* p, std::size_t count, std::size_t size, const char* name) {
  // The messages are built only on failure: these checks run on every call.
  const auto what = [&] {
    return "has " + std::to_string(count) + " elements of " + std::to_string(size) + " bytes";
  };
  std::size_t bytes = 0;
  if (!checked_mul(count, size, bytes)) throw error(std::string(name) + " " + what() + kTooLarge);
  if (!address_range_fits(p, 0, bytes)) throw_wraps(p, name, what());
}

void check_matrix_extent(const void* data, std::size_t rows, std::size_t cols,
                         std::size_t row_stride, std::size_t size, const char* name) {
  const auto what = [&] {
    // Appended, not "(" + ...: GCC 12 warns falsely (-Wrestrict) on that form.
    std::string w = "(";
    w += std::to_string(rows) + " rows x " + std::to_string(cols) + " cols, row stride " +
         std::to_string(row_stride) + ")";
    return w;
  };
  // Elements from the first of row 0 to the last of the last row.
  std::size_t span = 0, elements = 0, bytes = 0;
  if (!checked_mul(rows - 1, row_stride, span) || !checked_add(span, cols, elements) ||
      !checked_mul(elements, size, bytes)) {
    throw error(std::string(name) + " " + what() +
                " spans (rows - 1) x row stride + cols elements of " + std::to_string(size) +
                " bytes" + kTooLarge);
  }
  if (!address_range_fits(data, 0, bytes)) throw_wraps(data, name, what());
}

void check_axis_extent(const void* data, const std::size_t (&dims)[3],
                       const std::ptrdiff_t (&strides)[3], std::size_t size, const char* name) {
  static constexpr const char* kDim[] = {"outer", "axis", "inner"};
  const auto shape = [&] {
    return std::to_string(dims[0]) + " x " + std::to_string(dims[1]) + " x " +
           std::to_string(dims[2]);
  };
  const auto bytes_each = [&] { return " elements of " + std::to_string(size) + " bytes"; };
  std::size_t count = 0, count_bytes = 0;
  if (!checked_mul(dims[0], dims[1], count) || !checked_mul(count, dims[2], count) ||
      !checked_mul(count, size, count_bytes)) {
    throw error(std::string(name) + " has " + shape() + " (outer x axis x inner)" + bytes_each() +
                kTooLarge);
  }
  // The farthest elements above and below data, in elements and in bytes.
  std::size_t above = 0, below = 0;
  for (int d = 0; d < 3; ++d) {
    std::size_t reach = 0, reach_bytes = 0;
    std::size_t& side = strides[d] < 0 ? below : above;
    if (!checked_mul(dims[d] - 1, magnitude(strides[d]), reach) ||
        !checked_mul(reach, size, reach_bytes) || !checked_add(side, reach, side)) {
      throw error(std::string(name) + "." + kDim[d] + "_stride " + std::to_string(strides[d]) +
                  " over " + std::to_string(dims[d]) + " (" + kDim[d] + ") reaches " + "(" +
                  kDim[d] + " - 1) x |" + kDim[d] + "_stride|" + bytes_each() +
                  " from the first element (with the other strides)" + kTooLarge);
    }
  }
  std::size_t above_bytes = 0, below_bytes = 0, total = 0;
  if (!checked_add(above, 1, above) || !checked_mul(above, size, above_bytes) ||
      !checked_mul(below, size, below_bytes) || !checked_add(above_bytes, below_bytes, total)) {
    throw error(std::string(name) + " (" + shape() + ", strides " + std::to_string(strides[0]) +
                ", " + std::to_string(strides[1]) + ", " + std::to_string(strides[2]) +
                ") spans more bytes than the address space can hold");
  }
  if (!address_range_fits(data, below_bytes, above_bytes)) {
    std::string what = "(";  // appended: GCC 12 warns falsely (-Wrestrict) on "(" + ...
    what += shape() + ")";
    throw_wraps(data, name, what);
  }
}

}  // namespace kelvin::detail
