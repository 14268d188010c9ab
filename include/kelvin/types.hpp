// kelvin: vocabulary types shared by every family (views, options, errors).
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kelvin/export.h"

namespace kelvin {

// What a row whose entries are all -inf (or a row with no entries) produces.
// `nan`: 0/0 is undefined, every output is NaN (the default).
// `zero`: every probability is 0 (log_softmax gives -inf), which is what
// attention with a fully masked row usually wants.
enum class empty_row_policy { nan, zero };

// Options for every softmax-family call. Designated-initialiser friendly:
//   kelvin::softmax(x, y, {.temperature = 0.07});
struct options {
  // T >= 0. T == 0 is the exact hardmax, T == +inf the uniform limit.
  double temperature = 1.0;
  // Batched calls only: one temperature per row (size == rows), overriding
  // `temperature`. Each must be >= 0 and not NaN.
  std::span<const double> temperatures = {};
  empty_row_policy empty_row = empty_row_policy::nan;
  // 0: the library default (set_num_threads, initially all cores); 1: run on
  // the calling thread only; n: at most n threads.
  int threads = 0;
};

// A batch of rows: rows x cols elements, row r starting at data + r * row_stride
// (in elements, row_stride >= cols).
template <class T>
struct matrix_view {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;

  constexpr matrix_view() = default;
  constexpr matrix_view(T* d, std::size_t r, std::size_t c, std::size_t stride)
      : data(d), rows(r), cols(c), row_stride(stride) {}
  // Dense row-major.
  constexpr matrix_view(T* d, std::size_t r, std::size_t c)
      : data(d), rows(r), cols(c), row_stride(c) {}
  // matrix_view<float> converts to matrix_view<const float>.
  template <class U>
  requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>) constexpr matrix_view(
      const matrix_view<U>& o)  // NOLINT(google-explicit-constructor)
      : data(o.data), rows(o.rows), cols(o.cols), row_stride(o.row_stride) {}

  constexpr T* row(std::size_t r) const { return data + r * row_stride; }
};

// An N-d array seen as outer x axis x inner, reducing over `axis`.
// Element (o, a, i) lives at data + o*outer_stride + a*axis_stride + i*inner_stride
// (strides in elements, any sign). For a C-contiguous array of shape
// (d0..dk..dn) reduced over dk: outer = d0*..*d(k-1), axis = dk,
// inner = d(k+1)*..*dn; contiguous() fills in the strides.
template <class T>
struct axis_view {
  T* data = nullptr;
  std::size_t outer = 0;
  std::size_t axis = 0;
  std::size_t inner = 0;
  std::ptrdiff_t outer_stride = 0;
  std::ptrdiff_t axis_stride = 0;
  std::ptrdiff_t inner_stride = 0;

  static constexpr axis_view contiguous(T* d, std::size_t outer, std::size_t axis,
                                        std::size_t inner) {
    return {d,
            outer,
            axis,
            inner,
            static_cast<std::ptrdiff_t>(axis * inner),
            static_cast<std::ptrdiff_t>(inner),
            1};
  }
  constexpr operator axis_view<const T>() const  // NOLINT(google-explicit-constructor)
      requires(!std::is_const_v<T>) {
    return {data, outer, axis, inner, outer_stride, axis_stride, inner_stride};
  }
};

// Status codes, shared with the C ABI (kelvin_status).
enum class status : int {
  ok = 0,
  invalid_argument = 1,
  out_of_memory = 2,
  internal_error = 3,
};

// Thrown for bad arguments; the message names the argument and its value.
class KELVIN_API error : public std::invalid_argument {
 public:
  explicit error(const std::string& what, status code = status::invalid_argument)
      : std::invalid_argument(what), code_(code) {}
  status code() const noexcept { return code_; }

 private:
  status code_;
};

}  // namespace kelvin
