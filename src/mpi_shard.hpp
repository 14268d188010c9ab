// One row split across ranks: the shard's (max, scaled sum) state, its
// merge (the online normaliser, with the contract's special cases), and the
// global results from the merged state. Shared by src/mpi.cpp,
// src/mpi_cross_entropy.cpp and the benchmark's baselines.
#pragma once

#include "kelvin/mpi.hpp"  // <mpi.h> without the C++ bindings

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

#include "kelvin/types.hpp"

namespace kelvin::detail {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A double-double hi + lo.
struct ddv {
  double hi = 0;
  double lo = 0;
};

inline ddv two_sum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

inline ddv dd_add(ddv a, ddv b) {
  if (!std::isfinite(a.hi) || !std::isfinite(b.hi)) return {a.hi + b.hi, 0.0};
  const ddv s = two_sum(a.hi, b.hi);
  const double lo = s.lo + (a.lo + b.lo);
  const double hi = s.hi + lo;
  return {hi, lo - (hi - s.hi)};
}

// (a - b) / t for a <= b: the exponent of an entry (or of a shard's max)
// relative to the max b, as a double-double. A spread a - b that overflows
// while (a - b) / t does not (t > 1) is halved first, as the core does.
inline ddv scaled_gap(double a, double b, double t) {
  double scale = 1.0;
  if (std::isinf(a - b) && std::isfinite(a)) {
    a *= 0.5;
    b *= 0.5;
    scale = 2.0;
  }
  // a - b rounds unless b / 2 <= a <= 2 b (Sterbenz): keep its error.
  const ddv diff = two_sum(a, -b);
  const double q = diff.hi / t;
  if (!std::isfinite(q)) return {q * scale, 0.0};
  // fma gives the exact residual of the division (no underflow: |q t| ~ |d|).
  const double r = std::fma(-q, t, diff.hi);
  return {q * scale, (r + diff.lo) / t * scale};
}

// exp(g.hi + g.lo), to about 0.5 ulp (glibc's exp) plus the correction.
inline double exp_dd(ddv g) {
  const double e = std::exp(g.hi);
  return e == 0.0 ? 0.0 : std::fma(e, g.lo, e);
}

// log(s) as a double-double, through long double (as src/row.hpp's log_dd).
inline ddv log_dd(ddv s) {
  const long double l = std::log(static_cast<long double>(s.hi) + static_cast<long double>(s.lo));
  const double hi = static_cast<double>(l);
  return {hi, static_cast<double>(l - static_cast<long double>(hi))};
}

// A row's state on one rank, and the element of the MPI reduction. The
// meaning of s follows the contract's precedence, decided by m and t alone so
// that any two states merge without knowing where they came from:
//   m NaN         the shard holds a NaN (the row is NaN)
//   m == -inf     no entry > -inf (s == 0)
//   m == +inf     s = the number of +inf entries
//   t == 0        s = the number of entries equal to m (ties across ranks add)
//   t == +inf     s = the number of entries > -inf
//   otherwise     s = sum exp((x_i - m) / t), a double-double (s, s_lo)
// t travels with the state: MPI hands a user reduction nothing but the
// elements, and it lets every row have its own temperature.
struct shard_state {
  double m;
  double s;
  double s_lo;
  double t;
};
inline constexpr int kStateDoubles = 4;

template <class T>
shard_state local_state(const T* x, std::size_t n, double t) {
  shard_state st{-kInf, 0.0, 0.0, t};
  double m = -kInf;
  bool nan = false;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    nan |= v != v;
    m = v > m ? v : m;
  }
  if (nan) {
    st.m = kNaN;
    st.s = kNaN;
    return st;
  }
  st.m = m;
  if (m == -kInf) return st;
  std::size_t k = 0;
  if (m == kInf || t == 0.0) {
    for (std::size_t i = 0; i < n; ++i) k += static_cast<double>(x[i]) == m ? 1 : 0;
  } else if (std::isinf(t)) {
    for (std::size_t i = 0; i < n; ++i) k += static_cast<double>(x[i]) > -kInf ? 1 : 0;
  } else if constexpr (sizeof(T) < sizeof(double)) {
    // Float entries: x - m is exact or nearly in double, and a plain double
    // sum errs by at most n 2^-53 relative (a sixteenth of a float ulp at
    // n = 2^26); the double-double path below costs twice as much.
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += std::exp((static_cast<double>(x[i]) - m) / t);
    st.s = sum;
    return st;
  } else {
    ddv sum;
    for (std::size_t i = 0; i < n; ++i) {
      const ddv g = scaled_gap(static_cast<double>(x[i]), m, t);
      // Below -746 exp is 0 (and -inf entries are masked).
      if (g.hi > -746.0) sum = dd_add(sum, {exp_dd(g), 0.0});
    }
    st.s = sum.hi;
    st.s_lo = sum.lo;
    return st;
  }
  st.s = static_cast<double>(k);
  return st;
}

// The online-normaliser merge of two states of the same row (same t).
// Commutative bit for bit, so every rank of an allreduce ends with the same
// state whatever the pairing.
inline shard_state merge_states(shard_state a, shard_state b) {
  if (std::isnan(a.m) || std::isnan(b.m)) return {kNaN, kNaN, 0.0, a.t};
  if (a.m < b.m) std::swap(a, b);
  const double t = a.t;
  ddv s{a.s, a.s_lo};
  if (b.m == a.m || (std::isinf(t) && b.m > -kInf && a.m < kInf)) {
    // Equal maxima (ties, +inf entries, all masked), or T == +inf's counts.
    s = dd_add(s, {b.s, b.s_lo});
  } else if (b.m > -kInf && a.m < kInf && t > 0.0) {
    const double w = exp_dd(scaled_gap(b.m, a.m, t));
    if (w > 0.0) {
      // b.s * w exactly as hi + lo, plus b.s_lo * w.
      const double p = b.s * w;
      s = dd_add(s, {p, std::fma(b.s, w, -p) + b.s_lo * w});
    }
  }
  // Otherwise b holds no mass: masked, below a +inf entry, or below the max
  // at T == 0.
  return {a.m, s.hi, s.lo, t};
}

// MPI_User_function over arrays of `Width`-double elements whose first
// kStateDoubles are a shard_state and the rest plain sums.
template <int Width>
void merge_elements(void* in, void* inout, int* len, MPI_Datatype*) {
  const double* a = static_cast<const double*>(in);
  double* b = static_cast<double*>(inout);
  for (int i = 0; i < *len; ++i, a += Width, b += Width) {
    const shard_state r = merge_states({a[0], a[1], a[2], a[3]}, {b[0], b[1], b[2], b[3]});
    b[0] = r.m;
    b[1] = r.s;
    b[2] = r.s_lo;
    b[3] = r.t;
    for (int j = kStateDoubles; j < Width; ++j) b[j] = a[j] + b[j];
  }
}

// The global quantities of a row from its merged state.
struct row_norm {
  enum kind_t { nan, empty, limit, general } kind;
  double m;
  double t;
  double k;   // limit: the number of entries sharing the mass
  ddv log_s;  // general: log S
};

inline row_norm normaliser(const shard_state& g) {
  row_norm r{row_norm::general, g.m, g.t, 0.0, {}};
  if (std::isnan(g.m)) {
    r.kind = row_norm::nan;
  } else if (g.m == -kInf) {
    r.kind = row_norm::empty;
  } else if (g.m == kInf || g.t == 0.0 || std::isinf(g.t)) {
    r.kind = row_norm::limit;
    r.k = g.s;
  } else {
    r.log_s = log_dd({g.s, g.s_lo});
  }
  return r;
}

// Whether x holds mass in a limit row.
inline bool limit_hit(const row_norm& r, double x) {
  if (r.m == kInf || r.t == 0.0) return x == r.m;
  return x > -kInf;
}

// log Z of the whole row.
inline double log_partition_of(const row_norm& r) {
  switch (r.kind) {
    case row_norm::nan:
      return kNaN;
    case row_norm::empty:
      return -kInf;
    case row_norm::limit:
      if (r.m == kInf) return kInf;
      if (r.t == 0.0 && r.m != 0.0) return r.m > 0 ? kInf : -kInf;
      return std::log(r.k);
    case row_norm::general:
      break;
  }
  const double q = r.m / r.t;
  if (!std::isfinite(q)) return q;  // |m / T| beyond the range: log S cannot matter
  const double q_lo = std::fma(-q, r.t, r.m) / r.t;
  const ddv s = two_sum(q, r.log_s.hi);
  return s.hi + (s.lo + q_lo + r.log_s.lo);
}

// log_softmax of an entry x of the row, (x - m) / T - log S, as a double-double.
inline ddv log_softmax_dd(const row_norm& r, double x) {
  const ddv g = scaled_gap(x, r.m, r.t);
  if (!std::isfinite(g.hi)) return {g.hi, 0.0};
  const ddv s = two_sum(g.hi, -r.log_s.hi);
  return {s.hi, s.lo + (g.lo - r.log_s.lo)};
}

// One output entry of softmax (log_output false) or log_softmax (true).
inline double output_of(const row_norm& r, double x, bool log_output, empty_row_policy policy) {
  switch (r.kind) {
    case row_norm::nan:
      return kNaN;
    case row_norm::empty:
      if (policy == empty_row_policy::nan) return kNaN;
      return log_output ? -kInf : 0.0;
    case row_norm::limit:
      if (!limit_hit(r, x)) return log_output ? -kInf : 0.0;
      return log_output ? 0.0 - std::log(r.k) : 1.0 / r.k;
    case row_norm::general:
      break;
  }
  const ddv l = log_softmax_dd(r, x);
  if (log_output) return l.hi + l.lo;
  return exp_dd(l);
}

}  // namespace kelvin::detail
