// One row of the softmax family: the contract's special cases and the general
// path over a kernel table. Shared by every driver (rows, axes, C ABI, and the
// bfloat16 / float16 rows of src/half.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <vector>

#include "kelvin/half.hpp"
#include "kelvin/types.hpp"
#include "src/kernels/kernels.hpp"
#include "src/threads.hpp"

namespace kelvin::detail {

inline bool is_reduction(family f) { return f == family::log_partition || f == family::smooth_max; }

// The type a row stored as S is computed in: float and double rows in their
// own type, bfloat16 and float16 rows in float (each result rounded once to
// S). static_cast converts between S and compute_t<S> either way.
template <class S>
using compute_t = std::conditional_t<sizeof(S) == 2, float, S>;

// 1 / (s.hi + s.lo) as a double-double.
inline dd reciprocal(dd s) {
  const double ih = 1.0 / s.hi;
  const double e = std::fma(-s.hi, ih, 1.0);  // exact: 1 - s.hi * ih
  return {ih, ih * (e - s.lo * ih)};
}

// log(s.hi + s.lo) as a double-double, through long double so that the sum of
// a tiny m / T and log S in log_partition is still right to 2^-60 or so.
inline dd log_dd(dd s) {
  const long double l = std::log(static_cast<long double>(s.hi) + static_cast<long double>(s.lo));
  const double hi = static_cast<double>(l);
  return {hi, static_cast<double>(l - static_cast<long double>(hi))};
}

// Writes the limit distribution that puts equal mass on the k entries where
// `hit(x_i)` holds and none elsewhere (hardmax, uniform, +inf entries).
template <class S, class Hit>
void fill_limit(family f, const S* x, S* y, std::size_t n, Hit hit) {
  using T = compute_t<S>;
  std::size_t k = 0;
  for (std::size_t i = 0; i < n; ++i) k += hit(static_cast<T>(x[i])) ? 1 : 0;
  const double kd = static_cast<double>(k);
  const T on = f == family::softmax ? static_cast<T>(1.0 / kd) : static_cast<T>(0.0 - std::log(kd));
  const T off = f == family::softmax ? T(0) : -std::numeric_limits<T>::infinity();
  const S on_s = static_cast<S>(on), off_s = static_cast<S>(off);
  // k is known before any write; y may alias x entry by entry.
  for (std::size_t i = 0; i < n; ++i) y[i] = hit(static_cast<T>(x[i])) ? on_s : off_s;
}

template <class S>
std::size_t count_if_row(const S* x, std::size_t n, auto pred) {
  std::size_t k = 0;
  for (std::size_t i = 0; i < n; ++i) k += pred(static_cast<compute_t<S>>(x[i])) ? 1 : 0;
  return k;
}

// Long rows are cut into chunks of kChunk entries whatever the thread count,
// so that a row's sums, and so its results, do not depend on it; the chunks
// of one pass run on `threads` threads, and their (max, sum) partial results
// merge in chunk order.
inline constexpr std::size_t kChunk = std::size_t{1} << 16;

inline std::size_t chunk_count(std::size_t n) { return (n + kChunk - 1) / kChunk; }
inline std::size_t chunk_size(std::size_t n, std::size_t c) {
  return std::min(kChunk, n - c * kChunk);
}

// A row's scan from its chunks' scans.
inline row_scan merge_scans(const std::vector<row_scan>& part) {
  row_scan s = part[0];
  for (const row_scan& p : part) {
    s.has_nan = s.has_nan || p.has_nan;
    s.max = std::fmax(s.max, p.max);
    s.min = std::fmin(s.min, p.min);
    s.low = std::fmin(s.low, p.low);
  }
  return s;
}

// A row's sum from its chunks' sums, in chunk order.
inline dd merge_sums(const std::vector<dd>& part) {
  dd_sum total;
  for (const dd& p : part) total.add(p.hi, p.lo);
  return total.result();
}

// Long rows in two passes (see row_exec::two_pass): each chunk's scan and its
// exponential sum relative to its own max.
struct chunk_part {
  row_scan s;
  dd sum;
};

// Row constants of chunk c's sum relative to its own max.
inline row_args chunk_args(const row_scan& s, double t) {
  row_args a;
  a.m = s.max;
  a.u = t;
  a.inv_u = 1.0 / t;
  a.guard = exp_guard_for(s.low, a.m, a.inv_u);
  return a;
}

// The end of two_pass for log_softmax and the reductions, given the row max m
// and the sum S (the same for every executor; S is the storage type).
template <class S, class Exec>
void two_pass_logs(const Exec& k, family f, const S* x, S* y, std::size_t n, double t, double m,
                   double sum) {
  const dd log_sum{k.log(sum), 0.0};
  if (f == family::log_softmax) {
    row_args a;
    a.m = m;
    a.u = t;
    a.inv_u = 1.0 / t;
    k.log_softmax_out(x, y, n, a, log_sum);
  } else {
    *y = static_cast<S>(static_cast<compute_t<S>>(reduction_result(f, m, t, log_sum)));
  }
}

// Merges the parts of a float row: its max *m, the weights w_c = exp((m_c - m)
// / t) that rescale chunk sums to it, and the sum *sum. False for a row with a
// NaN or an infinite max (the caller then takes the three-pass path).
inline bool merge_parts(const std::vector<chunk_part>& p, double t, double* m,
                        std::vector<double>* w, double* sum) {
  *m = -HUGE_VAL;
  for (const chunk_part& c : p) {
    if (c.s.has_nan || c.s.max == HUGE_VAL) return false;
    *m = std::fmax(*m, c.s.max);
  }
  if (*m == -HUGE_VAL) return false;
  w->resize(p.size());
  dd_sum total;
  for (std::size_t c = 0; c < p.size(); ++c) {
    (*w)[c] = p[c].s.max == -HUGE_VAL ? 0.0 : std::exp((p[c].s.max - *m) / t);
    total.add(p[c].sum.hi * (*w)[c]);
  }
  *sum = total.result().hi;
  return true;
}

// The kernels of one target applied to a whole row, chunked as above.
template <class T>
class row_exec {
 public:
  row_exec(const kernel_table<T>& k, int threads) : k_(k), threads_(threads) {}

  row_scan scan(const T* x, std::size_t n) const {
    if (n <= kChunk) return k_.scan(x, n);
    std::vector<row_scan> part(chunk_count(n));
    parallel_for(part.size(), threads_,
                 [&](std::size_t c) { part[c] = k_.scan(x + c * kChunk, chunk_size(n, c)); });
    return merge_scans(part);
  }

  dd exp_sum(const T* x, std::size_t n, const row_args& a, T* store = nullptr) const {
    if (n <= kChunk) return k_.exp_sum(x, n, a, store);
    std::vector<dd> part(chunk_count(n));
    parallel_for(part.size(), threads_, [&](std::size_t c) {
      part[c] = k_.exp_sum(x + c * kChunk, chunk_size(n, c), a,
                           store == nullptr ? nullptr : store + c * kChunk);
    });
    return merge_sums(part);
  }

  // softmax's general path: store exp rounded to T while summing, then
  // scale (one exponential per entry; two roundings to T, within 1.5 ulp).
  // `low` is the row's min (float rows: decides the scale's lanes).
  void softmax(const T* x, T* y, std::size_t n, const row_args& a, double low) const {
    const dd sum = exp_sum(x, n, a, y);
    scale(y, n, reciprocal(sum), sizeof(T) == 4 && scale_is_normal(low, a.m, a.inv_u, sum.hi));
  }

  void scale(T* y, std::size_t n, dd inv, bool normal) const {
    each_chunk(n, [&](std::size_t o, std::size_t m) { k_.scale(y + o, m, inv, normal); });
  }

  // Long float rows off the special cases, in two passes over the chunks
  // instead of three: the first computes each chunk's max and its sum
  // relative to it (storing the exponentials for softmax: y != x), the second
  // scales each chunk by exp((m_c - M) / t) / S or writes log_softmax.
  // Returns false, having written nothing that matters, for a row holding a
  // NaN or an infinite max (the caller's three-pass path handles it).
  bool two_pass(family f, const T* x, T* y, std::size_t n, double t) const {
    std::vector<chunk_part> p(chunk_count(n));
    parallel_for(p.size(), threads_, [&](std::size_t c) {
      const std::size_t o = c * kChunk, len = chunk_size(n, c);
      p[c].s = k_.scan(x + o, len);
      if (p[c].s.has_nan || !std::isfinite(p[c].s.max)) return;
      row_args a = chunk_args(p[c].s, t);
      if (c + 1 < p.size()) a.prefetch = x + o + kChunk;  // the next chunk
      p[c].sum = k_.exp_sum(x + o, len, a, f == family::softmax ? y + o : nullptr);
    });
    double m, sum;
    std::vector<double> w;
    if (!merge_parts(p, t, &m, &w, &sum)) return false;
    if (f == family::softmax) {
      each_chunk(n, [&](std::size_t o, std::size_t len) {
        k_.scale(y + o, len, {w[o / kChunk] / sum, 0.0}, false);
      });
      return true;
    }
    two_pass_logs(*this, f, x, y, n, t, m, sum);
    return true;
  }

  // log S of a float row, by the kernels' log (every float path uses it).
  double log(double s) const {
    double out;
    k_.log(&s, &out, 1);
    return out;
  }
  void log_softmax_out(const T* x, T* y, std::size_t n, const row_args& a, dd log_sum) const {
    each_chunk(
        n, [&](std::size_t o, std::size_t m) { k_.log_softmax_out(x + o, y + o, m, a, log_sum); });
  }

 private:
  template <class F>
  void each_chunk(std::size_t n, F&& f) const {
    if (n <= kChunk) return f(0, n);
    parallel_for(chunk_count(n), threads_, [&](std::size_t c) { f(c * kChunk, chunk_size(n, c)); });
  }

  const kernel_table<T>& k_;
  int threads_;
};

// Computes one row. softmax / log_softmax write y[0, n); log_partition and
// smooth_max write *y. t is a validated temperature (>= 0, not NaN).
// S is the storage type of x and y and Exec a row_exec<S> (float, double), or
// for bfloat16 / float16 rows longer than a chunk src/half.cpp's executor,
// which runs the float kernels chunk by chunk; results are computed in
// T = compute_t<S> and rounded once to S.
template <class Exec, class S>
void compute_row(family f, const Exec& k, const S* x, S* y, std::size_t n, double t,
                 empty_row_policy policy) {
  using T = compute_t<S>;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const S kNaN = static_cast<S>(std::numeric_limits<T>::quiet_NaN());
  const auto as_s = [](double v) { return static_cast<S>(static_cast<T>(v)); };
  const bool reduce = is_reduction(f);

  // Long float rows: two passes (unless in place: the first pass stores).
  // (bfloat16 / float16 rows: their first pass stores nothing.)
  if constexpr (sizeof(T) == 4) {
    if (n > kChunk && is_general(t) && (reduce || x != y || sizeof(S) == 2) &&
        k.two_pass(f, x, y, n, t)) {
      return;
    }
  }
  const row_scan s =
      n == 0 ? row_scan{.max = -kInf, .min = kInf, .low = kInf, .has_nan = false} : k.scan(x, n);
  if (s.has_nan) {  // any NaN: the whole row is NaN
    if (reduce) {
      *y = kNaN;
    } else {
      for (std::size_t i = 0; i < n; ++i) y[i] = kNaN;
    }
    return;
  }
  const double m = s.max;
  if (m == -kInf) {  // empty or all -inf: by policy; reductions give -inf
    if (reduce) {
      *y = as_s(-kInf);
      return;
    }
    const S v = policy == empty_row_policy::nan ? kNaN : as_s(f == family::softmax ? 0.0 : -kInf);
    for (std::size_t i = 0; i < n; ++i) y[i] = v;
    return;
  }
  if (m == kInf) {  // +inf entries share the mass (any T)
    if (reduce) {
      *y = as_s(kInf);
    } else {
      fill_limit(f, x, y, n, [](T v) { return v == static_cast<T>(kInf); });
    }
    return;
  }
  // float rows: a tiny T gives the T == 0 results (see kTinyTemperature).
  const bool hard = t == 0 || (sizeof(T) == 4 && t < kTinyTemperature);
  if (hard) {  // exact hardmax, ties split
    const auto at_max = [m](T v) { return static_cast<double>(v) == m; };
    if (f == family::log_partition) {
      const double kd = static_cast<double>(count_if_row(x, n, at_max));
      *y = as_s(m > 0 ? kInf : (m < 0 ? -kInf : std::log(kd)));
    } else if (f == family::smooth_max) {
      *y = as_s(m);
    } else {
      fill_limit(f, x, y, n, at_max);
    }
    return;
  }
  if (t == kInf) {  // uniform over the entries > -inf
    const auto live = [](T v) { return v > -std::numeric_limits<T>::infinity(); };
    if (f == family::log_partition) {
      *y = as_s(std::log(static_cast<double>(count_if_row(x, n, live))));
    } else if (f == family::smooth_max) {
      *y = as_s(count_if_row(x, n, live) >= 2 ? kInf : m);
    } else {
      fill_limit(f, x, y, n, live);
    }
    return;
  }

  // General path: 0 < t < inf, m finite.
  row_args a;
  a.m = m;
  if constexpr (sizeof(T) == 8) {
    if (t > 1 && std::isinf(m - s.min)) a.s0 = 0.5;  // (x - m) / T finite, x - m not
    if (t < kTinyTemperature) a.s1 = 0x1p100;
  }
  a.u = t * a.s0 * a.s1;
  a.inv_u = 1.0 / a.u;
  if constexpr (sizeof(T) == 4) {
    a.guard = exp_guard_for(s.low, m, a.inv_u);
  } else {
    a.guard = exp_guard_for_f64(s.low, m, a);
  }
  if (f == family::softmax) {
    k.softmax(x, y, n, a, s.low);
    return;
  }
  const dd sum = k.exp_sum(x, n, a);
  const dd log_sum = sizeof(T) == 8 ? log_dd(sum) : dd{k.log(sum.hi), 0.0};
  if (f == family::log_softmax) {
    k.log_softmax_out(x, y, n, a, log_sum);
  } else {
    *y = as_s(reduction_result(f, m, t, log_sum));
  }
}

}  // namespace kelvin::detail
