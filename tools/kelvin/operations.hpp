// kelvin CLI: the softmax-family operations it runs, one table entry each
// (name, subcommand, help, whether it reduces, the library call). Adding an
// operation to the CLI is one line in operations.cpp.
#pragma once

#include <span>
#include <string_view>

#include "kelvin/types.hpp"

namespace kelvin::cli {

// One operation of the library over rows or over an axis. A reduction (one
// value per row) writes y as a dense rows x 1 matrix, or an outer x 1 x inner
// axis view; the others write y with x's shape.
struct operation {
  template <class T>
  using rows_fn = void (*)(matrix_view<const T> x, matrix_view<T> y, const options& opt);
  template <class T>
  using axis_fn = void (*)(axis_view<const T> x, axis_view<T> y, const options& opt);

  std::string_view name;     // the library's name: "log_softmax" (a reduction's CSV header)
  std::string_view command;  // the subcommand: "log-softmax"
  std::string_view help;
  bool reduces = false;
  rows_fn<float> rows_f32 = nullptr;
  rows_fn<double> rows_f64 = nullptr;
  axis_fn<float> axis_f32 = nullptr;
  axis_fn<double> axis_f64 = nullptr;

  template <class T>
  void rows(matrix_view<const T> x, matrix_view<T> y, const options& opt) const {
    if constexpr (sizeof(T) == 4) {
      rows_f32(x, y, opt);
    } else {
      rows_f64(x, y, opt);
    }
  }
  template <class T>
  void axis(axis_view<const T> x, axis_view<T> y, const options& opt) const {
    if constexpr (sizeof(T) == 4) {
      axis_f32(x, y, opt);
    } else {
      axis_f64(x, y, opt);
    }
  }
};

// Every operation, softmax first.
std::span<const operation> operations();
// The operation of that library name ("log_softmax"); throws for no such.
const operation& find_operation(std::string_view name);

}  // namespace kelvin::cli
