// Shapes whose extents overflow (docs/contract.md, "Extents"): element
// counts, rows x row stride, axis strides, in elements or in bytes, past what
// size_t / ptrdiff_t can hold. Every entry point must reject them at once with
// invalid_argument and a message naming the argument, before touching memory
// or allocating: never run on, crash, or report out-of-memory. The views point
// at small real buffers, so a check that lets one through reads past them and
// crashes (or, for the first C ABI case, runs for hours).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kelvin/kelvin.h"
#include "kelvin/kelvin.hpp"

namespace kelvin::testing {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
constexpr auto kPtrMax = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());

// Runs f, which must throw kelvin::error with status invalid_argument and
// every one of `words` in its message, within a second.
template <class F>
void expect_rejected(F&& f, std::initializer_list<const char*> words, const std::string& what) {
  SCOPED_TRACE(what);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    f();
    ADD_FAILURE() << "accepted";
  } catch (const error& e) {
    EXPECT_EQ(e.code(), status::invalid_argument) << e.what();
    for (const char* w : words) {
      EXPECT_NE(std::string(e.what()).find(w), std::string::npos)
          << "'" << w << "' not in: " << e.what();
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something else: " << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

template <class T>
void matrix_cases() {
  std::vector<T> x(64), y(64);
  const auto mx = [&](std::size_t rows, std::size_t cols, std::size_t stride) {
    return matrix_view<const T>(x.data(), rows, cols, stride);
  };
  const auto my = [&](std::size_t rows, std::size_t cols, std::size_t stride) {
    return matrix_view<T>(y.data(), rows, cols, stride);
  };
  // rows x row stride overflows size_t (in elements).
  expect_rejected([&] { softmax(mx(kMax / 2, 4, 4), my(kMax / 2, 4, 4)); }, {"x", "rows"},
                  "rows x stride overflows");
  // Fits size_t in elements, not in bytes (nor ptrdiff_t).
  const std::size_t n = kMax / sizeof(T) / 2 + 1;
  expect_rejected([&] { log_softmax(mx(1, n, n), my(1, n, n)); }, {"x", "cols"},
                  "one row larger than the address space");
  // x is fine, y's stride is not.
  expect_rejected([&] { softmax(mx(1 << 20, 1, 1), my(1 << 20, 1, kPtrMax)); }, {"y"},
                  "y's stride overflows");
  // The reductions: the crash of issue 15 (2^62 rows of 8).
  std::vector<T> out(64);
  expect_rejected(
      [&] { log_partition(mx(std::size_t{1} << 62, 8, 8), std::span<T>(out.data(), 1ull << 62)); },
      {"x"}, "2^62 rows of 8");
  expect_rejected([&] { smooth_max(mx(kMax / 3, 3, 3), std::span<T>(out.data(), kMax / 3)); },
                  {"x"}, "smooth_max rows");
  // A row span larger than the address space.
  expect_rejected([&] { softmax(std::span<const T>(x.data(), n), std::span<T>(y.data(), n)); },
                  {"x"}, "span");
  expect_rejected([&] { (void)log_partition(std::span<const T>(x.data(), n)); }, {"x"},
                  "span reduction");
  // A pointer so high that the view wraps around the address space.
  const auto* high = reinterpret_cast<const T*>(std::uintptr_t{0} - 64 * sizeof(T));
  expect_rejected([&] { softmax(matrix_view<const T>(high, 2, 64, 64), my(2, 64, 64)); }, {"x"},
                  "wraps past the end of memory");
}

template <class T>
void axis_cases() {
  std::vector<T> x(64), y(64);
  const auto ax = [&](std::size_t outer, std::size_t axis, std::size_t inner, std::ptrdiff_t os,
                      std::ptrdiff_t as, std::ptrdiff_t is) {
    return axis_view<const T>{x.data(), outer, axis, inner, os, as, is};
  };
  const auto ay = [&](std::size_t outer, std::size_t axis, std::size_t inner, std::ptrdiff_t os,
                      std::ptrdiff_t as, std::ptrdiff_t is) {
    return axis_view<T>{y.data(), outer, axis, inner, os, as, is};
  };
  // 2^32 x 2^32 x 2^32 elements: the product wraps to 0 in size_t, which
  // must not read as an empty array.
  const std::size_t g = std::size_t{1} << 32;
  expect_rejected([&] { softmax(ax(g, g, g, 0, 0, 0), ay(g, g, g, 0, 0, 0)); }, {"x", "elements"},
                  "element count wraps to zero");
  // Broadcast (zero strides) is fine in memory but the count still overflows.
  expect_rejected([&] { log_partition(ax(g, g, 2, 0, 0, 0), ay(g, 1, 2, 0, 1, 0)); },
                  {"x", "elements"}, "count overflow with zero strides");
  // Strides whose extent overflows ptrdiff_t (in elements, then in bytes).
  const auto big = std::numeric_limits<std::ptrdiff_t>::max() / 2;
  expect_rejected([&] { softmax(ax(1, 4, 1, 0, big, 1), ay(1, 4, 1, 4, 1, 1)); },
                  {"x", "axis_stride"}, "axis stride overflows");
  expect_rejected([&] { softmax(ax(3, 4, 1, -big, 1, 1), ay(3, 4, 1, 4, 1, 1)); },
                  {"x", "outer_stride"}, "negative outer stride overflows");
  const auto bytes_only = static_cast<std::ptrdiff_t>(kPtrMax / sizeof(T) + 1);
  expect_rejected([&] { softmax(ax(1, 2, 1, 0, bytes_only, 1), ay(1, 2, 1, 2, 1, 1)); }, {"x"},
                  "fits in elements, not in bytes");
  expect_rejected([&] { softmax(ax(1, 2, 1, 2, 1, 1), ay(1, 2, 1, 0, bytes_only, 1)); }, {"y"},
                  "y's stride");
  // A reduction over an empty axis still has outer x inner outputs.
  expect_rejected([&] { log_partition(ax(g, 0, g, 0, 1, 0), ay(g, 1, g, 0, 1, 0)); }, {"out"},
                  "out of an empty axis overflows");
}

TEST(extents, matrix_and_span_views_that_overflow_are_rejected) {
  matrix_cases<float>();
  matrix_cases<double>();
  matrix_cases<bfloat16>();
  matrix_cases<float16>();
}

TEST(extents, axis_views_that_overflow_are_rejected) {
  axis_cases<float>();
  axis_cases<double>();
  axis_cases<bfloat16>();
  axis_cases<float16>();
}

TEST(extents, large_views_that_fit_are_still_accepted) {
  // Zero-size and broadcast views near the limits are valid and cheap.
  std::vector<float> x(8, 1.0f), y(8);
  softmax(matrix_view<const float>(x.data(), kMax / 2, 0, 0),
          matrix_view<float>(y.data(), kMax / 2, 0, 0));
  softmax(matrix_view<const float>(x.data(), 0, kMax / 8, kMax / 8),
          matrix_view<float>(y.data(), 0, kMax / 8, kMax / 8));
  // One row whose stride is huge: only the first row is ever read.
  softmax(matrix_view<const float>(x.data(), 1, 8, kPtrMax / 8),
          matrix_view<float>(y.data(), 1, 8, 8));
  for (float v : y) EXPECT_FLOAT_EQ(v, 0.125f);
  // A 2 x 4 view reading row 1 through a negative outer stride.
  const axis_view<const float> back{x.data() + 4, 2, 4, 1, -4, 1, 1};
  softmax(back, axis_view<float>::contiguous(y.data(), 2, 4, 1));
  for (float v : y) EXPECT_FLOAT_EQ(v, 0.25f);
}

// The C ABI: the three calls, and the other entry points.
TEST(extents, c_abi_returns_invalid_argument_at_once) {
  std::vector<float> x(64), y(64);
  std::vector<std::uint16_t> hx(64), hy(64);
  std::vector<double> dx(64), dy(64);
  const auto check = [](kelvin_status s, const char* word, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(s, KELVIN_INVALID_ARGUMENT) << kelvin_last_error();
    EXPECT_NE(std::string(kelvin_last_error()).find(word), std::string::npos)
        << kelvin_last_error();
  };
  const auto t0 = std::chrono::steady_clock::now();
  check(kelvin_softmax_f32(x.data(), y.data(), kMax / 2, 4, 4, 4, 1.0), "x", "issue: SIZE_MAX/2");
  check(kelvin_softmax_f32(x.data(), y.data(), 1, kMax / 2, kMax / 2, kMax / 2, 1.0), "x",
        "issue: huge cols is not out of memory");
  check(kelvin_log_partition_f32(x.data(), y.data(), std::size_t{1} << 62, 8, 8, 1.0), "x",
        "issue: 2^62 rows");
  check(kelvin_log_softmax_f64(dx.data(), dy.data(), 3, 8, 8, kMax / 2, 1.0), "y", "y stride");
  check(kelvin_smooth_max_f64(dx.data(), dy.data(), kMax / 4, 8, 8, 1.0), "x", "smooth_max");
  check(kelvin_softmax_ex_f32(x.data(), y.data(), kMax / 2, 4, 4, 4, 1.0, nullptr,
                              KELVIN_EMPTY_ROW_NAN),
        "x", "_ex");
  check(kelvin_softmax_bf16(hx.data(), hy.data(), kMax / 2, 4, 4, 4, 1.0), "x", "bf16");
  check(kelvin_log_partition_f16(hx.data(), hy.data(), std::size_t{1} << 62, 8, 8, 1.0), "x",
        "f16");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
}  // namespace kelvin::testing
