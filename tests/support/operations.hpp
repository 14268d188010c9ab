// The softmax-family operations as the tests call them: one table of {name,
// reduces, the kelvin:: call on one row, on rows and on an axis, for every
// storage type}, so that a test sweeps every operation with one loop and a new
// operation is one line here.
#pragma once

#include <array>
#include <span>

#include "kelvin/half.hpp"
#include "kelvin/softmax.hpp"

namespace kelvin::testing {

template <class T>
struct operation_calls {
  // softmax / log_softmax: y has x's size; reductions: y[0] gets the value.
  void (*row)(std::span<const T> x, std::span<T> y, const options& opt);
  // Reductions: y is rows x 1, dense.
  void (*rows)(matrix_view<const T> x, matrix_view<T> y, const options& opt);
  // Reductions: y is outer x 1 x inner.
  void (*axis)(axis_view<const T> x, axis_view<T> y, const options& opt);
};

template <bool Reduces, class F, class T>
constexpr operation_calls<T> calls_of() {
  return {+[](std::span<const T> x, std::span<T> y, const options& opt) {
            if constexpr (Reduces) {
              y[0] = F{}(x, opt);
            } else {
              F{}(x, y, opt);
            }
          },
          +[](matrix_view<const T> x, matrix_view<T> y, const options& opt) {
            if constexpr (Reduces) {
              F{}(x, std::span<T>(y.data, x.rows), opt);
            } else {
              F{}(x, y, opt);
            }
          },
          +[](axis_view<const T> x, axis_view<T> y, const options& opt) { F{}(x, y, opt); }};
}

struct operation {
  const char* name;
  bool reduces;
  operation_calls<float> f32;
  operation_calls<double> f64;
  operation_calls<bfloat16> bf16;
  operation_calls<float16> f16;

  template <class T>
  const operation_calls<T>& on() const {
    if constexpr (std::is_same_v<T, float>) return f32;
    if constexpr (std::is_same_v<T, double>) return f64;
    if constexpr (std::is_same_v<T, bfloat16>) return bf16;
    if constexpr (std::is_same_v<T, float16>) return f16;
  }
};

template <bool Reduces, class F>
constexpr operation make_operation(const char* name, F) {
  return {name,
          Reduces,
          calls_of<Reduces, F, float>(),
          calls_of<Reduces, F, double>(),
          calls_of<Reduces, F, bfloat16>(),
          calls_of<Reduces, F, float16>()};
}

#define KELVIN_TEST_CALL(NAME) [](auto&&... args) { return kelvin::NAME(args...); }

inline constexpr std::array kOperations = {
    make_operation<false>("softmax", KELVIN_TEST_CALL(softmax)),
    make_operation<false>("log_softmax", KELVIN_TEST_CALL(log_softmax)),
    make_operation<true>("log_partition", KELVIN_TEST_CALL(log_partition)),
    make_operation<true>("smooth_max", KELVIN_TEST_CALL(smooth_max)),
};

#undef KELVIN_TEST_CALL

}  // namespace kelvin::testing
