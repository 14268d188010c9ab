// Internal interface between the drivers (src/*.cpp) and the kernels
// (src/kernels/*): one table of row kernels per SIMD target and storage type.
//
// The drivers own the contract's special cases (NaN rows, all -inf rows, +inf
// entries, T == 0, T == +inf); kernels see only the general path: a row whose
// max m is finite and free of NaN, and 0 < T < inf.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace kelvin::detail {

// Rows of at most this many entries go through the batched row kernel
// transposed (lanes are rows), in groups whose boundaries must not depend on
// the thread count (the transposed and the row-wise sums round differently).
inline constexpr std::size_t kShortRow = 16;
inline constexpr std::size_t kShortGroup = 64;

// A double-double value hi + lo, |lo| <= ulp(hi) / 2.
struct dd {
  double hi = 0;
  double lo = 0;
};

// A compensated (two-sum) running sum of doubles or double-doubles: exact
// until the final normalisation, whatever the order of magnitudes.
class dd_sum {
 public:
  void add(double v, double v_lo = 0) {
    const double t = hi_ + v;
    const double bp = t - hi_;
    lo_ += (hi_ - (t - bp)) + (v - bp) + v_lo;
    hi_ = t;
  }
  dd result() const {
    const double t = hi_ + lo_;
    return {t, lo_ - (t - hi_)};
  }

 private:
  double hi_ = 0;
  double lo_ = 0;
};

enum class family { softmax, log_softmax, log_partition, smooth_max };

// Temperatures below this are "tiny": 1 / T overflows for differences the
// general formula must still scale. float rows treat 0 < T < kTinyTemperature
// as T == 0 (every |x_i - m| / T > 2^811 then, so the results are the
// hardmax's); double rows scale T up by row_args::s1 = 2^100 first.
inline constexpr double kTinyTemperature = 0x1p-960;

// Whether temperature t takes the kernels' general path without rescaling
// (kTinyTemperature <= t < inf): what the batched row and axis kernels accept.
inline bool is_general(double t) { return t >= kTinyTemperature && t < HUGE_VAL; }

// hi + lo rounded once (two-sum of a + b, plus the tails).
inline double add_dd(double a, double a_lo, double b, double b_lo) {
  const double t = a + b;
  if (!std::isfinite(t)) return t;
  const double bp = t - a;
  const double err = (a - (t - bp)) + (b - bp);
  return t + (err + (a_lo + b_lo));
}

// The reductions of a general-path row (max m finite, 0 < t < inf) from its
// log S = log sum_i exp((x_i - m) / t), one formula for every path:
//   log_partition = m / t + log S  (m / t as a double-double)
//   smooth_max    = m + t * log S  (the product split exactly with an FMA)
inline double reduction_result(family f, double m, double t, dd log_sum) {
  if (f == family::log_partition) {
    const double q = m / t;
    const double q_lo = std::isfinite(q) ? std::fma(-q, t, m) / t : 0.0;
    return add_dd(q, q_lo, log_sum.hi, log_sum.lo);
  }
  const double p = t * log_sum.hi;
  const double p_lo = std::isfinite(p) ? std::fma(t, log_sum.hi, -p) + t * log_sum.lo : 0.0;
  return add_dd(m, 0.0, p, p_lo);
}

struct row_scan {
  double max = 0;  // row max (meaningless when has_nan)
  double min = 0;  // double rows: the finite min (infinities and NaN ignored)
  double low = 0;  // the min, -inf included (meaningless when has_nan)
  bool has_nan = false;
};

// Per-row constants of the general path. The exponent argument of entry i is
// ((x_i*s0 - m*s0) * s1) * inv_u = (x_i - m) / T, with u = T * s0 * s1:
//  - s0 = 1/2 when x_i - m overflows (double rows with |values| near DBL_MAX
//    and T > 1, where the quotient is finite), else 1;
//  - s1 = 2^100 keeps 1 / u finite for T < kTinyTemperature (double rows; float rows
//    treat such T as T == 0, which gives identical results), else 1.
// double rows carry the argument as a double-double: q + (D - q*u + D_lo) / u.
struct row_args {
  double m = 0;
  double s0 = 1;
  double s1 = 1;
  double u = 1;
  double inv_u = 1;
  // What the exponential must guard against: float rows see exp_guard_for;
  // double rows 0 when s0 == s1 == 1 and every argument is finite and >= -708
  // (exp_guard_for_f64), else 2.
  std::uint8_t guard = 2;
  // Data the caller reads next (the next row or chunk), or null: float kernels
  // prefetch n entries of it into L2 while they compute, so that the next scan
  // does not wait on memory (prefetches never fault: a shorter next chunk, at
  // the end of a row, is harmless).
  const void* prefetch = nullptr;
};

// The guards a float row's exponential needs, from its smallest argument
// (low - m) / T: 0 when it is >= -104 (every exp is a normal or subnormal
// float's worth), 1 when >= -700 (lanes below -104 are set to exactly 0),
// 2 otherwise (-inf masks, huge spreads: the argument is also clamped).
inline std::uint8_t exp_guard_for(double low, double m, double inv_u) {
  const double a = (low - m) * inv_u;
  return a >= -104 ? 0 : a >= -700 ? 1 : 2;
}

inline std::uint8_t exp_guard_for_f64(double low, double m, const row_args& a) {
  const bool safe = a.s0 == 1 && a.s1 == 1 && low > -HUGE_VAL && (low - m) * a.inv_u >= -708;
  return safe ? 0 : 2;
}

// Whether every softmax output of a float row is >= 2^-86, from its smallest
// argument (low - m) / T and its sum S (e^-59 / 2^(ilogb S + 1) >= 2^-86).
// ilogb from the bits where S >= DBL_MIN (always: S >= 1, the max's own term;
// inf reads 1024 as std::ilogb's INT_MAX would, so false): std::ilogb is a
// libm call once per row, ~1% of 16384x128 softmax.
inline bool scale_is_normal(double low, double m, double inv_u, double sum) {
  const int e = sum >= 0x1p-1022 ? static_cast<int>(std::bit_cast<std::uint64_t>(sum) >> 52) - 1023
                                 : std::ilogb(sum);
  return (low - m) * inv_u - 0.6932 * (e + 1) >= -59;
}

template <class T>
struct kernel_table {
  // max over the row and whether any entry is NaN.
  row_scan (*scan)(const T* x, std::size_t n);
  // sum_i exp(arg_i). Float rows sum in double (lo = 0); double rows sum
  // double-double exponentials with a compensated sum. When `store` is not
  // null, exp(arg_i) rounded to T is also written to store[i] (store may be x).
  dd (*exp_sum)(const T* x, std::size_t n, const row_args& a, T* store);
  // softmax's last pass, after exp_sum stored exp(arg_i) rounded to T in y:
  // y_i = y_i * (inv.hi + inv.lo) rounded once (float rows use inv.hi only,
  // in double). One exponential per entry, for one more rounding.
  // `normal`: every product y_i * inv.hi is >= 2^-86 (see scale_is_normal),
  // which lets float rows scale in float lanes without subnormal slow paths.
  void (*scale)(T* y, std::size_t n, dd inv, bool normal);
  // y_i = arg_i - log_sum.
  void (*log_softmax_out)(const T* x, T* y, std::size_t n, const row_args& a, dd log_sum);
  // Over one axis of an N-d array for `count` adjacent inner positions (inner
  // stride 1 in x and y): x points to (o, 0, i0), entry a of position j is at
  // x[a * xs + j]; softmax / log_softmax write y[a * ys + j], the reductions
  // y[j]. Lanes of one vector are independent rows. Requires n >= 1 and
  // is_general(t). Returns how many leading positions it handled: it stops
  // before a vector of positions holding a NaN or an infinite max, or (double)
  // one whose x - m overflows (the caller handles that position as a row, and
  // may call again after it), and leaves fewer than a vector's positions at the
  // end. Null on targets whose vectors have no fixed length (SVE; the caller
  // gathers rows there).
  std::size_t (*axis_block)(family f, const T* x, std::ptrdiff_t xs, T* y, std::ptrdiff_t ys,
                            std::size_t n, std::size_t count, double t);
  // The general path of many rows in one call (float rows; null elsewhere):
  // rows r in [0, rows) of n entries at x + r * xs, all at temperature t
  // (is_general(t)); softmax / log_softmax write y + r * ys, the
  // reductions y[r * ys]. Same results as the row-at-a-time path, with the
  // per-row steps (reductions across lanes, 1 / S, log S) batched over rows
  // and rows of at most 16 entries transposed so that lanes are rows. Returns
  // how many leading rows it handled: it stops before a row holding a NaN or
  // an infinite max (the caller computes that one, and may call again).
  std::size_t (*rows)(family f, const T* x, std::size_t xs, T* y, std::size_t ys, std::size_t rows,
                      std::size_t n, double t);
  // out_i = log(in_i) for in_i >= 1: the log S of every float path.
  void (*log)(const double* in, double* out, std::size_t n);
  // The exponential these kernels use, exposed for its tests:
  // out_i + out_lo_i = exp(hi_i + lo_i) for hi_i <= 0 (float rows ignore lo
  // and out_lo, which may be null for them).
  void (*exp_neg)(const double* hi, const double* lo, double* out, double* out_lo, std::size_t n);
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
