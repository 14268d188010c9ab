// Internal interface between the drivers (src/*.cpp) and the kernels
// (src/kernels/*): one table of row kernels per SIMD target and storage type.
//
// The drivers own the contract's special cases (NaN rows, all -inf rows, +inf
// entries, T == 0, T == +inf); kernels see only the general path: a row whose
// max m is finite and free of NaN, and 0 < T < inf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kelvin::detail {

// A double-double value hi + lo, |lo| <= ulp(hi) / 2.
struct dd {
  double hi = 0;
  double lo = 0;
};

struct row_scan {
  double max = 0;  // row max (meaningless when has_nan)
  bool has_nan = false;
};

// Per-row constants of the general path. The exponent argument of entry i is
// ((x_i - m) * s1) * inv_u, where u = T * s1 and s1 is a power of two that keeps
// 1 / u finite for tiny T (double rows; float rows treat T < 2^-960 as T == 0,
// which gives identical results). double rows carry the argument as a
// double-double: q + (fma(-q, u, D) + D_lo) * inv_u.
struct row_args {
  double m = 0;
  double s1 = 1;
  double u = 1;
  double inv_u = 1;
};

template <class T>
struct kernel_table {
  // max over the row and whether any entry is NaN.
  row_scan (*scan)(const T* x, std::size_t n);
  // sum_i exp(arg_i); when `store` is not null also writes exp(arg_i) to it
  // (store may equal x). Float rows sum in double (lo = 0); double rows carry
  // a compensated sum.
  dd (*exp_sum)(const T* x, std::size_t n, const row_args& a, T* store);
  // y_i = exp(arg_i) * inv_sum (the exponential recomputed from x).
  void (*softmax_out)(const T* x, T* y, std::size_t n, const row_args& a, dd inv_sum);
  // y_i *= inv_sum, in place.
  void (*scale)(T* y, std::size_t n, dd inv_sum);
  // y_i = arg_i - log_sum.
  void (*log_softmax_out)(const T* x, T* y, std::size_t n, const row_args& a, dd log_sum);
};

struct target {
  std::int64_t hwy_bit;  // Highway's target bit; 0 for the scalar reference
  const char* name;
  const kernel_table<float>* f32;
  const kernel_table<double>* f64;
};

// Every compiled target, best first; the last is kelvin's scalar reference.
std::span<const target> compiled_targets();
// The scalar reference kernels (they define the semantics the SIMD ones match).
const target& reference_target();
// The target calls use now.
const target& active_target();
// Selects a target for this process (tests use it to run every target).
void select_target(const target& t);
bool target_supported(const target& t);

template <class T>
const kernel_table<T>& table(const target& t) {
  if constexpr (sizeof(T) == 4) {
    return *t.f32;
  } else {
    return *t.f64;
  }
}

}  // namespace kelvin::detail
