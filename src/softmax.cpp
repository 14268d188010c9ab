// Drivers of the softmax family: argument checks, the contract's special
// cases (docs/contract.md), the per-row constants of the general path, and
// the split of rows over threads. Kernels live in src/kernels/.
#include "kelvin/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "src/checks.hpp"
#include "src/half.hpp"
#include "src/kernels/kernels.hpp"
#include "src/row.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {

namespace {

template <class T>
void run_rows(family f, matrix_view<const T> x, T* y, std::size_t y_stride, const options& opt) {
  const int threads = plan_threads(opt.threads, x.rows, x.cols);
  const kernel_table<T>& table_t = table<T>(active_target());
  const double t = opt.temperature;
  // Rows on the general path go to the batched kernel, many per call: one
  // ordinary temperature, rows short enough for one thread each.
  if (table_t.rows != nullptr && opt.temperatures.empty() && x.cols <= kChunk && is_general(t)) {
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
  const row_exec<T> k(table<T>(active_target()), inner);
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
  check_row_output(out.data(), out.size(), x.rows, "out");
  check_options(opt, x.rows);
  if (x.rows == 0) return;
  run_rows(f, x, out.data(), 1, opt);
}

template <class T>
void one_row(family f, std::span<const T> x, std::span<T> y, const options& opt) {
  check_same_size(x.size(), y.size());
  check_one_row_temperatures(opt);
  rows_elementwise(f, matrix_view<const T>(x.data(), 1, x.size()),
                   matrix_view<T>(y.data(), 1, y.size()), opt);
}

template <class T>
T one_row_reduce(family f, std::span<const T> x, const options& opt) {
  T out{};
  check_one_row_temperatures(opt);
  rows_reduce(f, matrix_view<const T>(x.data(), 1, x.size()), std::span<T>(&out, 1), opt);
  return out;
}

// ---- over one axis of an N-d array ------------------------------------------

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
                      x.inner > 1 && x.inner_stride == 1 && y.inner_stride == 1 && is_general(t);
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
  check_axis_pair(x, y);
  check_options(opt, x.outer * x.inner);
  if (x.outer * x.axis * x.inner == 0) return;
  axis_slices(f, x, y, opt);
}

template <class T>
void axis_reduce(family f, axis_view<const T> x, axis_view<T> out, const options& opt) {
  check_axis_reduction(x, out);
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
