// Argument checks of the calibration drivers (src/calibration*.cpp), beside
// the shared ones of src/checks.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "kelvin/types.hpp"
#include "src/checks.hpp"

namespace kelvin::detail {

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
