// The C ABI (include/kelvin/kelvin.h) over the C++ API: exceptions become a
// status plus a thread-local message.
#include "kelvin/kelvin.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

#include "kelvin/half.hpp"
#include "kelvin/runtime.hpp"
#include "kelvin/softmax.hpp"
#include "src/c_api_status.hpp"
#include "src/kernels/kernels.hpp"

namespace {

// The _bf16 / _f16 entry points pass uint16_t arrays as arrays of these.
static_assert(sizeof(kelvin::bfloat16) == 2 && alignof(kelvin::bfloat16) == alignof(uint16_t) &&
              std::is_standard_layout_v<kelvin::bfloat16>);
static_assert(sizeof(kelvin::float16) == 2 && alignof(kelvin::float16) == alignof(uint16_t) &&
              std::is_standard_layout_v<kelvin::float16>);

using kelvin::detail::guarded;

// The first version of kelvin_options ends after `threads`; a caller's struct
// may be that or longer (a later header), never shorter.
constexpr std::size_t kOptionsV1 = offsetof(kelvin_options, threads) + sizeof(int);
static_assert(sizeof(kelvin_options) >= kOptionsV1);

kelvin::empty_row_policy empty_row_policy_of(int empty_row) {
  if (empty_row != KELVIN_EMPTY_ROW_NAN && empty_row != KELVIN_EMPTY_ROW_ZERO) {
    throw kelvin::error(
        "empty_row must be KELVIN_EMPTY_ROW_NAN (0) or KELVIN_EMPTY_ROW_ZERO (1), got " +
        std::to_string(empty_row));
  }
  return empty_row == KELVIN_EMPTY_ROW_ZERO ? kelvin::empty_row_policy::zero
                                            : kelvin::empty_row_policy::nan;
}

// The C++ options of a call over `rows` rows (or slices); null: the defaults.
kelvin::options to_options(const kelvin_options* c, std::size_t rows) {
  kelvin::options o;
  if (c == nullptr) return o;
  if (c->size < kOptionsV1) {
    throw kelvin::error("options.size is " + std::to_string(c->size) + "; at least " +
                        std::to_string(kOptionsV1) + " (set it with kelvin_options_init)");
  }
  o.temperature = c->temperature;
  if (c->temperatures != nullptr) o.temperatures = {c->temperatures, rows};
  o.empty_row = empty_row_policy_of(c->empty_row);
  o.threads = c->threads;
  return o;
}

// The defaults of every field this library knows.
kelvin_options default_options(std::size_t size) {
  kelvin_options o{};
  o.size = size;
  o.temperature = 1.0;
  o.temperatures = nullptr;
  o.empty_row = KELVIN_EMPTY_ROW_NAN;
  o.threads = 0;
  return o;
}

// The _ex forms' arguments as options.
kelvin_options ex_options(double temperature, const double* temperatures, int empty_row) {
  kelvin_options o = default_options(sizeof o);
  o.temperature = temperature;
  o.temperatures = temperatures;
  o.empty_row = empty_row;
  return o;
}

template <class T>
kelvin::axis_view<T> axis_of(T* data, std::size_t outer, std::size_t axis, std::size_t inner,
                             const ptrdiff_t* strides) {
  auto v = kelvin::axis_view<T>::contiguous(data, outer, axis, inner);
  if (strides != nullptr) {
    v.outer_stride = strides[0];
    v.axis_stride = strides[1];
    v.inner_stride = strides[2];
  }
  return v;
}

// C element type -> C++ element type (uint16_t carries bfloat16 / float16).
template <class C, class T>
T* as(C* p) {
  return reinterpret_cast<T*>(p);
}
template <class C, class T>
const T* as(const C* p) {
  return reinterpret_cast<const T*>(p);
}

template <class T, class Fn>
kelvin_status rows_elementwise(Fn fn, const T* x, T* y, size_t rows, size_t cols, size_t xs,
                               size_t ys, const kelvin_options* opt) {
  return guarded([&] {
    fn(kelvin::matrix_view<const T>(x, rows, cols, xs), kelvin::matrix_view<T>(y, rows, cols, ys),
       to_options(opt, rows));
  });
}

template <class T, class Fn>
kelvin_status rows_reduce(Fn fn, const T* x, T* out, size_t rows, size_t cols, size_t xs,
                          const kelvin_options* opt) {
  return guarded([&] {
    if (out == nullptr && rows > 0) {
      throw kelvin::error("out is null but rows is " + std::to_string(rows));
    }
    fn(kelvin::matrix_view<const T>(x, rows, cols, xs), std::span<T>(out, rows),
       to_options(opt, rows));
  });
}

template <class T, class Fn>
kelvin_status axis_call(Fn fn, const T* x, T* y, size_t outer, size_t axis, size_t inner,
                        const ptrdiff_t* xs, const ptrdiff_t* ys, bool reduces,
                        const kelvin_options* opt) {
  return guarded([&] {
    fn(axis_of(x, outer, axis, inner, xs), axis_of(y, outer, reduces ? 1 : axis, inner, ys),
       to_options(opt, outer * inner));
  });
}

kelvin_options plain(double temperature) {
  return ex_options(temperature, nullptr, KELVIN_EMPTY_ROW_NAN);
}

}  // namespace

extern "C" {

// The operations of the C ABI, one line each: (name, reduces). Every storage
// type gets each entry point of kelvin.h's KELVIN_DECLARE_* for it.
#define KELVIN_C_OPERATIONS(X, SUFFIX, C, T) \
  X(softmax, 0, SUFFIX, C, T)                \
  X(log_softmax, 0, SUFFIX, C, T)            \
  X(log_partition, 1, SUFFIX, C, T)          \
  X(smooth_max, 1, SUFFIX, C, T)

// An overload set of the C++ API as a callable.
#define KELVIN_C_CALLABLE(NAME) [](auto... args) { kelvin::NAME(args...); }

#define KELVIN_C_AXIS(NAME, REDUCES, SUFFIX, C, T)                                           \
  kelvin_status kelvin_##NAME##_axis_##SUFFIX(                                               \
      const C* x, C* y, size_t outer, size_t axis, size_t inner, const ptrdiff_t* x_strides, \
      const ptrdiff_t* y_strides, const kelvin_options* opt) {                               \
    return axis_call(KELVIN_C_CALLABLE(NAME), as<C, T>(x), as<C, T>(y), outer, axis, inner,  \
                     x_strides, y_strides, REDUCES, opt);                                    \
  }

#define KELVIN_C_ROWS(NAME, REDUCES, SUFFIX, C, T) \
  KELVIN_C_ROWS_##REDUCES(NAME, SUFFIX, C, T) KELVIN_C_AXIS(NAME, REDUCES, SUFFIX, C, T)

// Elementwise: the plain form, the _ex form and the options form.
#define KELVIN_C_ROWS_0(NAME, SUFFIX, C, T)                                                        \
  kelvin_status kelvin_##NAME##_rows_##SUFFIX(const C* x, C* y, size_t rows, size_t cols,          \
                                              size_t x_row_stride, size_t y_row_stride,            \
                                              const kelvin_options* opt) {                         \
    return rows_elementwise(KELVIN_C_CALLABLE(NAME), as<C, T>(x), as<C, T>(y), rows, cols,         \
                            x_row_stride, y_row_stride, opt);                                      \
  }                                                                                                \
  kelvin_status kelvin_##NAME##_##SUFFIX(const C* x, C* y, size_t rows, size_t cols, size_t xs,    \
                                         size_t ys, double temperature) {                          \
    const kelvin_options o = plain(temperature);                                                   \
    return kelvin_##NAME##_rows_##SUFFIX(x, y, rows, cols, xs, ys, &o);                            \
  }                                                                                                \
  kelvin_status kelvin_##NAME##_ex_##SUFFIX(const C* x, C* y, size_t rows, size_t cols, size_t xs, \
                                            size_t ys, double temperature,                         \
                                            const double* temperatures, int empty_row) {           \
    const kelvin_options o = ex_options(temperature, temperatures, empty_row);                     \
    return kelvin_##NAME##_rows_##SUFFIX(x, y, rows, cols, xs, ys, &o);                            \
  }

// Reductions: the plain form and the options form.
#define KELVIN_C_ROWS_1(NAME, SUFFIX, C, T)                                                       \
  kelvin_status kelvin_##NAME##_rows_##SUFFIX(const C* x, C* out, size_t rows, size_t cols,       \
                                              size_t x_row_stride, const kelvin_options* opt) {   \
    return rows_reduce(KELVIN_C_CALLABLE(NAME), as<C, T>(x), as<C, T>(out), rows, cols,           \
                       x_row_stride, opt);                                                        \
  }                                                                                               \
  kelvin_status kelvin_##NAME##_##SUFFIX(const C* x, C* out, size_t rows, size_t cols, size_t xs, \
                                         double temperature) {                                    \
    const kelvin_options o = plain(temperature);                                                  \
    return kelvin_##NAME##_rows_##SUFFIX(x, out, rows, cols, xs, &o);                             \
  }

// The storage types, one line each: (suffix, C type, C++ type).
KELVIN_C_OPERATIONS(KELVIN_C_ROWS, f32, float, float)
KELVIN_C_OPERATIONS(KELVIN_C_ROWS, f64, double, double)
KELVIN_C_OPERATIONS(KELVIN_C_ROWS, bf16, uint16_t, kelvin::bfloat16)
KELVIN_C_OPERATIONS(KELVIN_C_ROWS, f16, uint16_t, kelvin::float16)

#undef KELVIN_C_OPERATIONS
#undef KELVIN_C_CALLABLE
#undef KELVIN_C_AXIS
#undef KELVIN_C_ROWS
#undef KELVIN_C_ROWS_0
#undef KELVIN_C_ROWS_1

void kelvin_options_init(kelvin_options* opt, size_t size) {
  if (opt == nullptr || size < kOptionsV1) return;
  // Fields this library knows and the caller's struct holds; a longer
  // struct's later fields are the caller's to set.
  const kelvin_options o = default_options(size);
  std::memcpy(opt, &o, std::min(size, sizeof o));
}

const char* kelvin_last_error(void) { return kelvin::detail::c_api_last_error().c_str(); }
void kelvin_set_num_threads(int n) { kelvin::set_num_threads(n); }
int kelvin_get_num_threads(void) { return kelvin::get_num_threads(); }
const char* kelvin_version(void) { return kelvin::version(); }
const char* kelvin_active_target(void) { return kelvin::active_target(); }

kelvin_status kelvin_set_target(const char* name) {
  return guarded([&] {
    if (name == nullptr) throw kelvin::error("name is null (use \"\" or \"BEST\" for the best)");
    kelvin::set_target(name);
  });
}

size_t kelvin_compiled_targets(const char** names, size_t capacity) {
  const auto all = kelvin::detail::compiled_targets();
  for (size_t i = 0; i < all.size() && i < capacity && names != nullptr; ++i) {
    names[i] = all[i].name;
  }
  return all.size();
}

size_t kelvin_supported_targets(const char** names, size_t capacity) {
  size_t count = 0;
  for (const kelvin::detail::target& t : kelvin::detail::compiled_targets()) {
    if (!kelvin::detail::target_supported(t)) continue;
    if (names != nullptr && count < capacity) names[count] = t.name;
    ++count;
  }
  return count;
}

}  // extern "C"

std::string& kelvin::detail::c_api_last_error() noexcept {
  thread_local std::string message;
  return message;
}
