// Argument checks and per-row parameter lookups shared by every family's
// drivers: each throws kelvin::error with a message naming the argument and
// its value, so that the C ABI, the CLI and Python report the same words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "kelvin/types.hpp"

namespace kelvin::detail {

// v with enough digits to read it back (17 significant).
std::string format_double(double v);

// t >= 0 and not NaN; `what` names the argument ("temperature").
void check_temperature(double t, const char* what);

// The options of a call over `rows` rows: the empty-row policy, the thread
// count, and either the one temperature or one valid temperature per row.
void check_options(const options& opt, std::size_t rows);

// The temperature of row r of a call whose options passed check_options.
inline double temperature_of_row(const options& opt, std::size_t r) {
  return opt.temperatures.empty() ? opt.temperature : opt.temperatures[r];
}

// Single-row calls: options.temperatures is empty or holds one temperature.
void check_one_row_temperatures(const options& opt);

// A pointer that must not be null when it addresses `count` > 0 elements.
void check_not_null(const void* p, std::size_t count, const char* name);

// An output of one value per row: `size` entries at p for `rows` rows.
void check_row_output(const void* p, std::size_t size, std::size_t rows, const char* name);

// Two same-length single rows (x and y of an elementwise call).
void check_same_size(std::size_t x_size, std::size_t y_size);

// [begin, end) in bytes, for overlap checks; empty when the view is.
using byte_range = std::pair<std::uintptr_t, std::uintptr_t>;

// Whether two byte ranges share a byte.
inline bool overlaps(byte_range a, byte_range b) {
  return a.first < b.second && b.first < a.second;
}

// ---- extents -----------------------------------------------------------------
// A view must fit in the address space: its element count, and the distance
// from its lowest to its highest element, in elements and in bytes, must be
// representable in ptrdiff_t, and its bytes must not wrap past the end of
// memory. Every size or offset the drivers compute later is then exact, so a
// view whose arithmetic would overflow is an invalid argument at once, not a
// call that runs on, crashes, or asks for an impossible buffer.

inline constexpr std::size_t kMaxExtent = static_cast<std::size_t>(PTRDIFF_MAX);

// a * b, false when it exceeds kMaxExtent (or size_t).
inline bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) {
  return !__builtin_mul_overflow(a, b, &out) && out <= kMaxExtent;
}
// a + b, false when it exceeds kMaxExtent (or size_t).
inline bool checked_add(std::size_t a, std::size_t b, std::size_t& out) {
  return !__builtin_add_overflow(a, b, &out) && out <= kMaxExtent;
}

// Whether `bytes` from `data` (and `below` bytes before it, for negative
// strides) stay inside the address space.
bool address_range_fits(const void* data, std::size_t below, std::size_t bytes);
// The same as a check; `what` describes the view for the message.
void check_address_range(const void* data, std::size_t below, std::size_t bytes, const char* name,
                         const std::string& what);

// An array of `count` elements of `size` bytes at p (a row output).
void check_array_extent(const void* p, std::size_t count, std::size_t size, const char* name);

// A matrix view's data is not null, its row stride is >= its columns, and
// its extent (rows - 1) * row_stride + cols fits in the address space.
void check_matrix_extent(const void* data, std::size_t rows, std::size_t cols,
                         std::size_t row_stride, std::size_t size, const char* name);

template <class T>
void check_matrix(const matrix_view<T>& m, const char* name) {
  if (m.rows == 0 || m.cols == 0) return;
  if (m.data == nullptr) {
    throw error(std::string(name) + " is null but has " + std::to_string(m.rows) + " x " +
                std::to_string(m.cols) + " elements");
  }
  if (m.row_stride < m.cols) {
    throw error(std::string(name) + " row stride " + std::to_string(m.row_stride) +
                " is less than its number of columns " + std::to_string(m.cols));
  }
  check_matrix_extent(m.data, m.rows, m.cols, m.row_stride, sizeof(T), name);
}

// An axis view: outer x axis x inner elements (an empty view when any is 0),
// whose count, strides and byte range fit in the address space.
void check_axis_extent(const void* data, const std::size_t (&dims)[3],
                       const std::ptrdiff_t (&strides)[3], std::size_t size, const char* name);

// Whether an axis view has no elements (a product would wrap around).
template <class T>
bool is_empty(const axis_view<T>& v) {
  return v.outer == 0 || v.axis == 0 || v.inner == 0;
}

// The bytes a non-empty matrix view spans.
template <class T>
byte_range extent(const matrix_view<T>& m) {
  const auto b = reinterpret_cast<std::uintptr_t>(m.data);
  return {b, b + ((m.rows - 1) * m.row_stride + m.cols) * sizeof(T)};
}

// x and y of an elementwise call over rows: each valid, the same shape, and
// either the same memory with the same strides (in place) or disjoint.
template <class T>
void check_pair(const matrix_view<const T>& x, const matrix_view<T>& y) {
  check_matrix(x, "x");
  check_matrix(y, "y");
  if (x.rows != y.rows || x.cols != y.cols) {
    throw error("x is " + std::to_string(x.rows) + " x " + std::to_string(x.cols) + " but y is " +
                std::to_string(y.rows) + " x " + std::to_string(y.cols));
  }
  if (x.rows == 0 || x.cols == 0) return;
  if (x.data == y.data && (x.rows == 1 || x.row_stride == y.row_stride)) return;  // in place
  if (overlaps(extent(x), extent(y))) {
    throw error("x and y overlap; only x == y with equal strides (in place) is supported");
  }
}

// An axis view's data is not null when it has elements, and it fits in the
// address space.
template <class T>
void check_axis_view(const axis_view<T>& v, const char* name) {
  if (is_empty(v)) return;
  if (v.data == nullptr) {
    throw error(std::string(name) + " is null but has " + std::to_string(v.outer) + " x " +
                std::to_string(v.axis) + " x " + std::to_string(v.inner) + " elements");
  }
  check_axis_extent(v.data, {v.outer, v.axis, v.inner},
                    {v.outer_stride, v.axis_stride, v.inner_stride}, sizeof(T), name);
}

// x and y of an elementwise call over an axis: each valid, the same extents.
template <class T>
void check_axis_pair(const axis_view<const T>& x, const axis_view<T>& y) {
  check_axis_view(x, "x");
  check_axis_view(y, "y");
  if (x.outer != y.outer || x.axis != y.axis || x.inner != y.inner) {
    throw error("x and y extents differ (outer x axis x inner " + std::to_string(x.outer) + "x" +
                std::to_string(x.axis) + "x" + std::to_string(x.inner) + " vs " +
                std::to_string(y.outer) + "x" + std::to_string(y.axis) + "x" +
                std::to_string(y.inner) + ")");
  }
}

// x and the output of a reduction over an axis: out is outer x 1 x inner.
template <class T>
void check_axis_reduction(const axis_view<const T>& x, const axis_view<T>& out) {
  check_axis_view(x, "x");
  check_axis_view(out, "out");
  if (out.outer != x.outer || out.inner != x.inner || out.axis != 1) {
    throw error("out must be outer x 1 x inner = " + std::to_string(x.outer) + " x 1 x " +
                std::to_string(x.inner) + " (got " + std::to_string(out.outer) + " x " +
                std::to_string(out.axis) + " x " + std::to_string(out.inner) + ")");
  }
  check_not_null(out.data, x.outer * x.inner, "out");
}

}  // namespace kelvin::detail
