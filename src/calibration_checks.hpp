// Argument checks shared by the calibration drivers (src/calibration*.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>

#include "kelvin/types.hpp"

namespace kelvin::detail {

inline std::string format_number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

template <class T>
void check_matrix(matrix_view<const T> x, const char* name) {
  if (x.rows > 0 && x.cols > 0 && x.data == nullptr) {
    throw error(std::string(name) + " is null with " + std::to_string(x.rows) + " x " +
                std::to_string(x.cols) + " entries");
  }
  if (x.rows > 1 && x.row_stride < x.cols) {
    throw error(std::string(name) + ".row_stride (" + std::to_string(x.row_stride) +
                ") must be >= cols (" + std::to_string(x.cols) + ")");
  }
}

inline void check_labels(std::span<const std::int64_t> y, std::size_t rows, std::size_t cols) {
  if (y.size() != rows) {
    throw error("labels has " + std::to_string(y.size()) + " entries; one per row is required (" +
                std::to_string(rows) + ")");
  }
  if (rows > 0 && y.data() == nullptr) throw error("labels is null");
  for (std::size_t r = 0; r < rows; ++r) {
    if (y[r] < 0 || static_cast<std::uint64_t>(y[r]) >= cols) {
      throw error("labels[" + std::to_string(r) + "] must be in [0, " + std::to_string(cols) +
                  ") (got " + std::to_string(y[r]) + ")");
    }
  }
}

}  // namespace kelvin::detail
