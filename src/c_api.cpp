// The C ABI (include/kelvin/kelvin.h) over the C++ API: exceptions become a
// status plus a thread-local message.
#include "kelvin/kelvin.h"

#include <new>
#include <string>
#include <type_traits>

#include "kelvin/half.hpp"
#include "kelvin/runtime.hpp"
#include "kelvin/softmax.hpp"
#include "src/c_api_guard.hpp"

namespace {

// The _bf16 / _f16 entry points pass uint16_t arrays as arrays of these.
static_assert(sizeof(kelvin::bfloat16) == 2 && alignof(kelvin::bfloat16) == alignof(uint16_t) &&
              std::is_standard_layout_v<kelvin::bfloat16>);
static_assert(sizeof(kelvin::float16) == 2 && alignof(kelvin::float16) == alignof(uint16_t) &&
              std::is_standard_layout_v<kelvin::float16>);

using kelvin::detail::guarded;

kelvin::options make_options(size_t rows, double temperature, const double* temperatures,
                             int empty_row) {
  kelvin::options o;
  o.temperature = temperature;
  if (temperatures != nullptr) o.temperatures = {temperatures, rows};
  if (empty_row != KELVIN_EMPTY_ROW_NAN && empty_row != KELVIN_EMPTY_ROW_ZERO) {
    throw kelvin::error(
        "empty_row must be KELVIN_EMPTY_ROW_NAN (0) or KELVIN_EMPTY_ROW_ZERO (1), got " +
        std::to_string(empty_row));
  }
  o.empty_row = empty_row == KELVIN_EMPTY_ROW_ZERO ? kelvin::empty_row_policy::zero
                                                   : kelvin::empty_row_policy::nan;
  return o;
}

template <class T, class Fn>
kelvin_status elementwise(Fn fn, const T* x, T* y, size_t rows, size_t cols, size_t xs, size_t ys,
                          double temperature, const double* temperatures, int empty_row) {
  return guarded([&] {
    fn(kelvin::matrix_view<const T>(x, rows, cols, xs), kelvin::matrix_view<T>(y, rows, cols, ys),
       make_options(rows, temperature, temperatures, empty_row));
  });
}

template <class T, class Fn>
kelvin_status reduce(Fn fn, const T* x, T* out, size_t rows, size_t cols, size_t xs,
                     double temperature) {
  return guarded([&] {
    if (out == nullptr && rows > 0)
      throw kelvin::error("out is null but rows is " + std::to_string(rows));
    fn(kelvin::matrix_view<const T>(x, rows, cols, xs), std::span<T>(out, rows),
       make_options(rows, temperature, nullptr, KELVIN_EMPTY_ROW_NAN));
  });
}

// Overload sets as callables.
constexpr auto kSoftmax = [](auto x, auto y, const kelvin::options& o) {
  kelvin::softmax(x, y, o);
};
constexpr auto kLogSoftmax = [](auto x, auto y, const kelvin::options& o) {
  kelvin::log_softmax(x, y, o);
};
constexpr auto kLogPartition = [](auto x, auto y, const kelvin::options& o) {
  kelvin::log_partition(x, y, o);
};
constexpr auto kSmoothMax = [](auto x, auto y, const kelvin::options& o) {
  kelvin::smooth_max(x, y, o);
};

}  // namespace

std::string& kelvin::detail::c_last_error() noexcept {
  thread_local std::string message;
  return message;
}

extern "C" {

#define KELVIN_C_ELEMENTWISE(NAME, FN, T)                                              \
  kelvin_status NAME(const T* x, T* y, size_t rows, size_t cols, size_t xs, size_t ys, \
                     double temperature) {                                             \
    return elementwise<T>(FN, x, y, rows, cols, xs, ys, temperature, nullptr,          \
                          KELVIN_EMPTY_ROW_NAN);                                       \
  }
#define KELVIN_C_ELEMENTWISE_EX(NAME, FN, T)                                                   \
  kelvin_status NAME(const T* x, T* y, size_t rows, size_t cols, size_t xs, size_t ys,         \
                     double temperature, const double* temperatures, int empty_row) {          \
    return elementwise<T>(FN, x, y, rows, cols, xs, ys, temperature, temperatures, empty_row); \
  }
#define KELVIN_C_REDUCE(NAME, FN, T)                                          \
  kelvin_status NAME(const T* x, T* out, size_t rows, size_t cols, size_t xs, \
                     double temperature) {                                    \
    return reduce<T>(FN, x, out, rows, cols, xs, temperature);                \
  }
// 16-bit storage: the C type is uint16_t, the C++ type H.
#define KELVIN_C_ELEMENTWISE_16(NAME, FN, H)                                                      \
  kelvin_status NAME(const uint16_t* x, uint16_t* y, size_t rows, size_t cols, size_t xs,         \
                     size_t ys, double temperature) {                                             \
    return elementwise<H>(FN, reinterpret_cast<const H*>(x), reinterpret_cast<H*>(y), rows, cols, \
                          xs, ys, temperature, nullptr, KELVIN_EMPTY_ROW_NAN);                    \
  }
#define KELVIN_C_ELEMENTWISE_EX_16(NAME, FN, H)                                                   \
  kelvin_status NAME(const uint16_t* x, uint16_t* y, size_t rows, size_t cols, size_t xs,         \
                     size_t ys, double temperature, const double* temperatures, int empty_row) {  \
    return elementwise<H>(FN, reinterpret_cast<const H*>(x), reinterpret_cast<H*>(y), rows, cols, \
                          xs, ys, temperature, temperatures, empty_row);                          \
  }
#define KELVIN_C_REDUCE_16(NAME, FN, H)                                                            \
  kelvin_status NAME(const uint16_t* x, uint16_t* out, size_t rows, size_t cols, size_t xs,        \
                     double temperature) {                                                         \
    return reduce<H>(FN, reinterpret_cast<const H*>(x), reinterpret_cast<H*>(out), rows, cols, xs, \
                     temperature);                                                                 \
  }

KELVIN_C_ELEMENTWISE(kelvin_softmax_f32, kSoftmax, float)
KELVIN_C_ELEMENTWISE(kelvin_softmax_f64, kSoftmax, double)
KELVIN_C_ELEMENTWISE(kelvin_log_softmax_f32, kLogSoftmax, float)
KELVIN_C_ELEMENTWISE(kelvin_log_softmax_f64, kLogSoftmax, double)
KELVIN_C_ELEMENTWISE_EX(kelvin_softmax_ex_f32, kSoftmax, float)
KELVIN_C_ELEMENTWISE_EX(kelvin_softmax_ex_f64, kSoftmax, double)
KELVIN_C_ELEMENTWISE_EX(kelvin_log_softmax_ex_f32, kLogSoftmax, float)
KELVIN_C_ELEMENTWISE_EX(kelvin_log_softmax_ex_f64, kLogSoftmax, double)
KELVIN_C_REDUCE(kelvin_log_partition_f32, kLogPartition, float)
KELVIN_C_REDUCE(kelvin_log_partition_f64, kLogPartition, double)
KELVIN_C_REDUCE(kelvin_smooth_max_f32, kSmoothMax, float)
KELVIN_C_REDUCE(kelvin_smooth_max_f64, kSmoothMax, double)
KELVIN_C_ELEMENTWISE_16(kelvin_softmax_bf16, kSoftmax, kelvin::bfloat16)
KELVIN_C_ELEMENTWISE_16(kelvin_softmax_f16, kSoftmax, kelvin::float16)
KELVIN_C_ELEMENTWISE_16(kelvin_log_softmax_bf16, kLogSoftmax, kelvin::bfloat16)
KELVIN_C_ELEMENTWISE_16(kelvin_log_softmax_f16, kLogSoftmax, kelvin::float16)
KELVIN_C_ELEMENTWISE_EX_16(kelvin_softmax_ex_bf16, kSoftmax, kelvin::bfloat16)
KELVIN_C_ELEMENTWISE_EX_16(kelvin_softmax_ex_f16, kSoftmax, kelvin::float16)
KELVIN_C_ELEMENTWISE_EX_16(kelvin_log_softmax_ex_bf16, kLogSoftmax, kelvin::bfloat16)
KELVIN_C_ELEMENTWISE_EX_16(kelvin_log_softmax_ex_f16, kLogSoftmax, kelvin::float16)
KELVIN_C_REDUCE_16(kelvin_log_partition_bf16, kLogPartition, kelvin::bfloat16)
KELVIN_C_REDUCE_16(kelvin_log_partition_f16, kLogPartition, kelvin::float16)
KELVIN_C_REDUCE_16(kelvin_smooth_max_bf16, kSmoothMax, kelvin::bfloat16)
KELVIN_C_REDUCE_16(kelvin_smooth_max_f16, kSmoothMax, kelvin::float16)

const char* kelvin_last_error(void) { return kelvin::detail::c_last_error().c_str(); }
void kelvin_set_num_threads(int n) { kelvin::set_num_threads(n); }
int kelvin_get_num_threads(void) { return kelvin::get_num_threads(); }
const char* kelvin_version(void) { return kelvin::version(); }
const char* kelvin_active_target(void) { return kelvin::active_target(); }

}  // extern "C"
