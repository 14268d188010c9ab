// Drivers of the softmax family: argument checks, the contract's special
// cases (DESIGN.md section 2), the per-row constants of the general path, and
// the split of rows over threads. Kernels live in src/kernels/.
#include "kelvin/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "src/half.hpp"
#include "src/kernels/kernels.hpp"
#include "src/row.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {

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

double temperature_of_row(const options& opt, std::size_t r) {
  return opt.temperatures.empty() ? opt.temperature : opt.temperatures[r];
}

namespace {

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
}

// Extent in bytes [begin, end) of a matrix view.
template <class T>
std::pair<std::uintptr_t, std::uintptr_t> extent(const matrix_view<T>& m) {
  const auto b = reinterpret_cast<std::uintptr_t>(m.data);
  return {b, b + ((m.rows - 1) * m.row_stride + m.cols) * sizeof(T)};
}

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
  const auto [xb, xe] = extent(x);
  const auto [yb, ye] = extent(y);
  if (xb < ye && yb < xe) {
    throw error("x and y overlap; only x == y with equal strides (in place) is supported");
  }
}

template <class T>
void run_rows(family f, matrix_view<const T> x, T* y, std::size_t y_stride, const options& opt) {
  const int threads = plan_threads(opt.threads, x.rows, x.cols);
  const kernel_table<T>& table_t = table<T>(active_target());
  const double t = opt.temperature;
  // Rows on the general path go to the batched kernel, many per call: one
  // ordinary temperature, rows short enough for one thread each.
  if (table_t.rows != nullptr && opt.temperatures.empty() && x.cols <= kChunk && t > 0 &&
      t < HUGE_VAL && t >= 0x1p-960) {
    const row_exec<T> k(table_t, 1);
    const std::size_t ys = is_reduction(f) ? 1 : y_stride;
    // Rows per work item: fixed groups for short rows (see kShortGroup), else
    // enough items for every thread.
    const std::size_t per_thread = (x.rows + threads - 1) / static_cast<std::size_t>(threads);
    const std::size_t group =
        x.cols <= kShortRow ? kShortGroup : std::clamp<std::size_t>(per_thread, 1, kShortGroup);
    const std::size_t blocks = (x.rows + group - 1) / group;
    parallel_for(blocks, threads, [&](std::size_t b) {
      const std::size_t r0 = b * group, count = std::min(group, x.rows - r0);
      for (std::size_t r = 0; r < count;) {
        r += table_t.rows(f, x.row(r0 + r), x.row_stride, y + (r0 + r) * ys, ys, count - r, x.cols,
                          t);
        if (r < count) {  // a row with a NaN or an infinite max
          compute_row(f, k, x.row(r0 + r), y + (r0 + r) * ys, x.cols, t, opt.empty_row);
          ++r;
        }
      }
    });
    return;
  }
  // One thread per row, or, for fewer rows than threads, threads within rows.
  const int inner = threads > 1 || x.cols <= kChunk
                        ? 1
                        : plan_threads(opt.threads, (x.cols + kChunk - 1) / kChunk, kChunk);
  // table_t, not a second active_target(): a concurrent set_target must not
  // split one call between two targets.
  const row_exec<T> k(table_t, inner);
  parallel_for(x.rows, threads, [&](std::size_t r) {
    T* yr = f == family::softmax || f == family::log_softmax ? y + r * y_stride : y + r;
    compute_row(f, k, x.row(r), yr, x.cols, temperature_of_row(opt, r), opt.empty_row);
  });
}

// bfloat16 and float16 rows: src/half.cpp (this overload is the more
// constrained, so it wins over the template above for them).
template <half_storage H>
void run_rows(family f, matrix_view<const H> x, H* y, std::size_t y_stride, const options& opt) {
  half_rows(f, x, y, y_stride, opt);
}

template <class T>
void rows_elementwise(family f, matrix_view<const T> x, matrix_view<T> y, const options& opt) {
  check_pair(x, y);
  check_options(opt, x.rows);
  if (x.rows == 0 || x.cols == 0) return;
  run_rows(f, x, y.data, y.row_stride, opt);
}

template <class T>
void rows_reduce(family f, matrix_view<const T> x, std::span<T> out, const options& opt) {
  check_matrix(x, "x");
  if (out.size() != x.rows) {
    throw error("out has " + std::to_string(out.size()) + " entries but x has " +
                std::to_string(x.rows) + " rows");
  }
  if (x.rows > 0 && out.data() == nullptr) throw error("out is null");
  check_options(opt, x.rows);
  if (x.rows == 0) return;
  run_rows(f, x, out.data(), 1, opt);
}

template <class T>
void one_row(family f, std::span<const T> x, std::span<T> y, const options& opt) {
  if (x.size() != y.size()) {
    throw error("x has " + std::to_string(x.size()) + " entries but y has " +
                std::to_string(y.size()));
  }
  if (!opt.temperatures.empty() && opt.temperatures.size() != 1) {
    throw error("options.temperatures must be empty or hold one temperature for one row");
  }
  rows_elementwise(f, matrix_view<const T>(x.data(), 1, x.size()),
                   matrix_view<T>(y.data(), 1, y.size()), opt);
}

template <class T>
T one_row_reduce(family f, std::span<const T> x, const options& opt) {
  T out{};
  if (!opt.temperatures.empty() && opt.temperatures.size() != 1) {
    throw error("options.temperatures must be empty or hold one temperature for one row");
  }
  rows_reduce(f, matrix_view<const T>(x.data(), 1, x.size()), std::span<T>(&out, 1), opt);
  return out;
}

// ---- over one axis of an N-d array ------------------------------------------

template <class T>
void check_axis_view(const axis_view<T>& v, const char* name) {
  if (v.outer * v.axis * v.inner != 0 && v.data == nullptr) {
    throw error(std::string(name) + " is null but has " + std::to_string(v.outer) + " x " +
                std::to_string(v.axis) + " x " + std::to_string(v.inner) + " elements");
  }
}

template <class T>
T* at(const axis_view<T>& v, std::size_t o, std::size_t a, std::size_t i) {
  return v.data + static_cast<std::ptrdiff_t>(o) * v.outer_stride +
         static_cast<std::ptrdiff_t>(a) * v.axis_stride +
         static_cast<std::ptrdiff_t>(i) * v.inner_stride;
}

// Runs one slice (o, i) of length x.axis as a row: directly when both x and y
// are contiguous along the axis, else through a per-thread buffer (gather,
// compute in place, scatter), which also makes x == y safe.
template <class T>
void axis_slice(family f, const row_exec<T>& k, const axis_view<const T>& x, const axis_view<T>& y,
                std::size_t o, std::size_t i, double t, empty_row_policy policy) {
  const std::size_t n = x.axis;
  const T* xs = at(x, o, 0, i);
  T* ys = at(y, o, 0, i);
  if (x.axis_stride == 1 && (is_reduction(f) || y.axis_stride == 1)) {
    compute_row(f, k, xs, ys, n, t, policy);
    return;
  }
  thread_local std::vector<T> buf;
  buf.resize(n);
  for (std::size_t a = 0; a < n; ++a) buf[a] = xs[static_cast<std::ptrdiff_t>(a) * x.axis_stride];
  if (is_reduction(f)) {
    compute_row(f, k, buf.data(), ys, n, t, policy);
    return;
  }
  compute_row(f, k, buf.data(), buf.data(), n, t, policy);
  for (std::size_t a = 0; a < n; ++a) ys[static_cast<std::ptrdiff_t>(a) * y.axis_stride] = buf[a];
}

// Inner positions per work item of the vectorised axis path.
constexpr std::size_t kInnerBlock = 512;

template <class T>
void axis_slices(family f, axis_view<const T> x, axis_view<T> y, const options& opt) {
  const kernel_table<T>& table_t = table<T>(active_target());
  const row_exec<T> k(table_t, 1);
  const std::size_t n = x.axis;
  const double t = opt.temperature;
  // Vectorised across the inner positions (lanes = rows) when they are
  // contiguous and one ordinary temperature applies; rows the kernel declines
  // (NaN, infinite max) and the last few positions go through axis_slice.
  const bool across = table_t.axis_block != nullptr && opt.temperatures.empty() && n > 1 &&
                      x.inner > 1 && x.inner_stride == 1 && y.inner_stride == 1 && t > 0 &&
                      t < HUGE_VAL && t >= 0x1p-960;
  if (across) {
    const std::size_t blocks = (x.inner + kInnerBlock - 1) / kInnerBlock;
    const int threads = plan_threads(opt.threads, x.outer * blocks, n * kInnerBlock);
    parallel_for(x.outer * blocks, threads, [&](std::size_t w) {
      const std::size_t o = w / blocks, i0 = (w % blocks) * kInnerBlock;
      const std::size_t count = std::min(kInnerBlock, x.inner - i0);
      for (std::size_t p = 0; p < count;) {
        p += table_t.axis_block(f, at(x, o, 0, i0 + p), x.axis_stride, at(y, o, 0, i0 + p),
                                y.axis_stride, n, count - p, t);
        if (p < count) axis_slice(f, k, x, y, o, i0 + p++, t, opt.empty_row);
      }
    });
    return;
  }
  const std::size_t slices = x.outer * x.inner;
  const int threads = plan_threads(opt.threads, slices, n);
  parallel_for(slices, threads, [&](std::size_t s) {
    axis_slice(f, k, x, y, s / x.inner, s % x.inner, temperature_of_row(opt, s), opt.empty_row);
  });
}

template <half_storage H>
void axis_slices(family f, axis_view<const H> x, axis_view<H> y, const options& opt) {
  half_axis(f, x, y, opt);
}

template <class T>
void axis_elementwise(family f, axis_view<const T> x, axis_view<T> y, const options& opt) {
  check_axis_view(x, "x");
  check_axis_view(y, "y");
  if (x.outer != y.outer || x.axis != y.axis || x.inner != y.inner) {
    throw error("x and y extents differ (outer x axis x inner " + std::to_string(x.outer) + "x" +
                std::to_string(x.axis) + "x" + std::to_string(x.inner) + " vs " +
                std::to_string(y.outer) + "x" + std::to_string(y.axis) + "x" +
                std::to_string(y.inner) + ")");
  }
  check_options(opt, x.outer * x.inner);
  if (x.outer * x.axis * x.inner == 0) return;
  axis_slices(f, x, y, opt);
}

template <class T>
void axis_reduce(family f, axis_view<const T> x, axis_view<T> out, const options& opt) {
  check_axis_view(x, "x");
  check_axis_view(out, "out");
  if (out.outer != x.outer || out.inner != x.inner || out.axis != 1) {
    throw error("out must be outer x 1 x inner = " + std::to_string(x.outer) + " x 1 x " +
                std::to_string(x.inner) + " (got " + std::to_string(out.outer) + " x " +
                std::to_string(out.axis) + " x " + std::to_string(out.inner) + ")");
  }
  if (x.outer * x.inner != 0 && out.data == nullptr) throw error("out is null");
  check_options(opt, x.outer * x.inner);
  if (x.outer * x.inner == 0) return;
  axis_slices(f, x, out, opt);
}

}  // namespace
}  // namespace detail

using detail::family;

#define KELVIN_DEFINE_FAMILY(T)                                                      \
  void softmax(std::span<const T> x, std::span<T> y, const options& opt) {           \
    detail::one_row(family::softmax, x, y, opt);                                     \
  }                                                                                  \
  void log_softmax(std::span<const T> x, std::span<T> y, const options& opt) {       \
    detail::one_row(family::log_softmax, x, y, opt);                                 \
  }                                                                                  \
  T log_partition(std::span<const T> x, const options& opt) {                        \
    return detail::one_row_reduce(family::log_partition, x, opt);                    \
  }                                                                                  \
  T smooth_max(std::span<const T> x, const options& opt) {                           \
    return detail::one_row_reduce(family::smooth_max, x, opt);                       \
  }                                                                                  \
  void softmax(matrix_view<const T> x, matrix_view<T> y, const options& opt) {       \
    detail::rows_elementwise(family::softmax, x, y, opt);                            \
  }                                                                                  \
  void log_softmax(matrix_view<const T> x, matrix_view<T> y, const options& opt) {   \
    detail::rows_elementwise(family::log_softmax, x, y, opt);                        \
  }                                                                                  \
  void log_partition(matrix_view<const T> x, std::span<T> out, const options& opt) { \
    detail::rows_reduce(family::log_partition, x, out, opt);                         \
  }                                                                                  \
  void smooth_max(matrix_view<const T> x, std::span<T> out, const options& opt) {    \
    detail::rows_reduce(family::smooth_max, x, out, opt);                            \
  }                                                                                  \
  void softmax(axis_view<const T> x, axis_view<T> y, const options& opt) {           \
    detail::axis_elementwise(family::softmax, x, y, opt);                            \
  }                                                                                  \
  void log_softmax(axis_view<const T> x, axis_view<T> y, const options& opt) {       \
    detail::axis_elementwise(family::log_softmax, x, y, opt);                        \
  }                                                                                  \
  void log_partition(axis_view<const T> x, axis_view<T> out, const options& opt) {   \
    detail::axis_reduce(family::log_partition, x, out, opt);                         \
  }                                                                                  \
  void smooth_max(axis_view<const T> x, axis_view<T> out, const options& opt) {      \
    detail::axis_reduce(family::smooth_max, x, out, opt);                            \
  }

KELVIN_DEFINE_FAMILY(float)
KELVIN_DEFINE_FAMILY(double)
KELVIN_DEFINE_FAMILY(bfloat16)
KELVIN_DEFINE_FAMILY(float16)

#undef KELVIN_DEFINE_FAMILY

}  // namespace kelvin
