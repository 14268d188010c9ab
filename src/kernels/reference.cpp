// The scalar reference kernels: plain loops over the C library's exp that
// define what every SIMD kernel computes. They use the same arithmetic plan
// (double for float rows; double-double arguments, exponentials and sums for
// double rows, the exponential through long double) with the C library in
// place of the polynomial; the tests hold every SIMD target to these within
// an ulp, and these to MPFR.
#include <cmath>
#include <limits>

#include "src/kernels/kernels.hpp"

namespace kelvin::detail {
namespace {

template <class T>
row_scan scan(const T* x, std::size_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  row_scan r{.max = -kInf, .min = kInf, .low = kInf, .has_nan = false};
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) r.has_nan = true;
    if (x[i] > r.max) r.max = x[i];
    if (std::isfinite(x[i]) && x[i] < r.min) r.min = x[i];
    if (x[i] < r.low) r.low = x[i];
  }
  if (sizeof(T) == 4) r.min = 0;  // only double rows use it
  return r;
}

// float rows: the argument in double.
inline double arg_f(float x, const row_args& a) { return (double(x) - a.m) * a.inv_u; }

// double rows: the argument as hi + lo (see kernels.hpp).
inline dd arg_d(double x, const row_args& a) {
  const double xs = x * a.s0, ms = a.m * a.s0;
  const double d_hi = xs - ms;
  const double bp = d_hi - xs;
  const double d_lo = (xs - (d_hi - bp)) + (-ms - bp);
  const double big_d = d_hi * a.s1;
  const double q = big_d * a.inv_u;
  if (!std::isfinite(q)) return {q, 0.0};
  const double rem = std::fma(-q, a.u, big_d) + d_lo * a.s1;
  return {q, std::isfinite(rem) ? rem * a.inv_u : 0.0};
}

inline double exp_f(float x, const row_args& a) { return std::exp(arg_f(x, a)); }

// exp(hi + lo) as a double-double, through long double's 64-bit exp.
inline dd exp_dd(double hi, double lo) {
  if (hi == -std::numeric_limits<double>::infinity()) return {0.0, 0.0};
  const long double e = std::exp(static_cast<long double>(hi) + static_cast<long double>(lo));
  const double e_hi = static_cast<double>(e);
  return {e_hi, static_cast<double>(e - static_cast<long double>(e_hi))};
}

inline dd exp_d(double x, const row_args& a) {
  const dd arg = arg_d(x, a);
  return exp_dd(arg.hi, arg.lo);
}

dd exp_sum_f32(const float* x, std::size_t n, const row_args& a, float* store) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = exp_f(x[i], a);
    s += e;
    if (store != nullptr) store[i] = static_cast<float>(e);
  }
  return {s, 0.0};
}

dd exp_sum_f64(const double* x, std::size_t n, const row_args& a, double* store) {
  dd_sum s;
  for (std::size_t i = 0; i < n; ++i) {
    const dd e = exp_d(x[i], a);
    s.add(e.hi, e.lo);
    if (store != nullptr) store[i] = e.hi;
  }
  return s.result();
}

// y * (inv.hi + inv.lo) rounded once.
void scale_f64(double* y, std::size_t n, dd inv, bool) {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::fma(y[i], inv.hi, y[i] * inv.lo);
}

void scale_f32(float* y, std::size_t n, dd inv, bool) {
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(y[i] * inv.hi);
}

void log_softmax_out_f32(const float* x, float* y, std::size_t n, const row_args& a, dd log_sum) {
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(arg_f(x[i], a) - log_sum.hi);
}

void log_softmax_out_f64(const double* x, double* y, std::size_t n, const row_args& a, dd log_sum) {
  for (std::size_t i = 0; i < n; ++i) {
    const dd arg = arg_d(x[i], a);
    if (!std::isfinite(arg.hi)) {
      y[i] = arg.hi;
      continue;
    }
    const double t = arg.hi - log_sum.hi;
    const double bp = t - arg.hi;
    const double err = (arg.hi - (t - bp)) + (-log_sum.hi - bp);
    y[i] = t + (err + (arg.lo - log_sum.lo));
  }
}

void exp_neg_f32(const double* hi, const double*, double* out, double*, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = std::exp(hi[i]);
}

void exp_neg_f64(const double* hi, const double* lo, double* out, double* out_lo, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const dd e = exp_dd(hi[i], lo[i]);
    out[i] = e.hi;
    out_lo[i] = e.lo;
  }
}

void log_f64(const double* in, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = std::log(in[i]);
}

row_scan scan_f32(const float* x, std::size_t n) { return scan(x, n); }
row_scan scan_f64(const double* x, std::size_t n) { return scan(x, n); }

// No axis or batched kernels: the drivers run the reference a row at a time.
const kernel_table<float> kRefF32{.scan = &scan_f32,
                                  .exp_sum = &exp_sum_f32,
                                  .scale = &scale_f32,
                                  .log_softmax_out = &log_softmax_out_f32,
                                  .axis_block = nullptr,
                                  .rows = nullptr,
                                  .log = &log_f64,
                                  .exp_neg = &exp_neg_f32};
const kernel_table<double> kRefF64{.scan = &scan_f64,
                                   .exp_sum = &exp_sum_f64,
                                   .scale = &scale_f64,
                                   .log_softmax_out = &log_softmax_out_f64,
                                   .axis_block = nullptr,
                                   .rows = nullptr,
                                   .log = nullptr,
                                   .exp_neg = &exp_neg_f64};

}  // namespace

const target& scalar_reference_target() {
  static const target t{.hwy_bit = 0, .name = "SCALAR", .f32 = &kRefF32, .f64 = &kRefF64};
  return t;
}

}  // namespace kelvin::detail
