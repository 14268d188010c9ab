// SIMD row kernels for the softmax family, written once with Google Highway and
// compiled for every target (foreach_target.h re-includes this file per target).
//
// Accuracy design (DESIGN.md section 2): the error of naive code comes from
// rounding x / T and x - m in working precision. Here
//  - float rows compute in double: x - m and (x - m) / T carry < 2^-50 relative
//    error, exp is a double polynomial, the sum is in double, and only the
//    final store rounds to float;
//  - double rows carry the argument as a double-double (two-sum of x - m, then
//    an FMA residual of the product by 1 / T), so exp's argument is exact to
//    about 2^-100, and the sum is compensated.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/softmax.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "src/kernels/exp-inl.h"
#include "src/kernels/kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using detail::dd;
using detail::row_args;
using detail::row_scan;

// Compute is always in double; storage is T. DS loads/stores T lanes that
// match the double lanes one to one.
using DD = hn::ScalableTag<double>;
template <class T>
using DS = hn::Rebind<T, DD>;
using VD = hn::Vec<DD>;

// Loads / stores T lanes as double lanes.
HWY_INLINE VD LoadAs(DD d, const float* p) { return hn::PromoteTo(d, hn::LoadU(DS<float>(), p)); }
HWY_INLINE VD LoadAs(DD d, const double* p) { return hn::LoadU(d, p); }
HWY_INLINE void StoreAs(VD v, float* p) { hn::StoreU(hn::DemoteTo(DS<float>(), v), DS<float>(), p); }
HWY_INLINE void StoreAs(VD v, double* p) { hn::StoreU(v, DD(), p); }

// Runs r = f(v) over x[0, n) in double vectors and, when y is not null, stores
// r to y (y may equal x). The tail goes through a local buffer padded with
// -inf, which every kernel maps to a zero exponential.
template <class T, class F>
HWY_INLINE void ForEachVec(const T* x, T* y, size_t n, F&& f) {
  const DD d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const VD r = f(LoadAs(d, x + i));
    if (y != nullptr) StoreAs(r, y + i);
  }
  if (i < n) {
    T buf[hn::MaxLanes(DD())];
    for (size_t k = 0; k < N; ++k) buf[k] = -std::numeric_limits<T>::infinity();
    std::memcpy(buf, x + i, (n - i) * sizeof(T));
    const VD r = f(LoadAs(d, buf));
    if (y != nullptr) {
      StoreAs(r, buf);
      std::memcpy(y + i, buf, (n - i) * sizeof(T));
    }
  }
}

// ---- pass 1: max and NaN flag, in the storage type ----------------------------
template <class T>
row_scan Scan(const T* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t N = hn::Lanes(d);
  V vmax = hn::Set(d, -std::numeric_limits<T>::infinity());
  auto nan = hn::Ne(vmax, vmax);  // all false
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const V v = hn::LoadU(d, x + i);
    nan = hn::Or(nan, hn::Ne(v, v));
    vmax = hn::Max(vmax, v);
  }
  row_scan s;
  s.has_nan = !hn::AllFalse(d, nan);
  T m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  for (; i < n; ++i) {
    if (std::isnan(x[i])) s.has_nan = true;
    if (x[i] > m) m = x[i];
  }
  s.max = static_cast<double>(m);
  return s;
}

// ---- the exponent argument ----------------------------------------------------
// float rows: arg = (x - m) * inv_u in double (s1 == 1 for them).
HWY_INLINE VD ArgF(VD x, VD m, VD inv_u) { return hn::Mul(hn::Sub(x, m), inv_u); }

// double rows: arg = hi + lo. Two-sum gives x - m exactly as D + D_lo; q is the
// rounded product by 1/u and lo the FMA residual (D - q*u + D_lo) / u. Where q
// is not finite (masked entries, overflow to -inf) lo is 0.
struct ArgDD {
  VD hi, lo;
};
HWY_INLINE ArgDD ArgD(VD x, VD m, VD s1, VD u, VD inv_u) {
  const VD d_hi = hn::Sub(x, m);
  const VD bp = hn::Sub(d_hi, x);                                          // ~ -m
  const VD d_lo = hn::Add(hn::Sub(x, hn::Sub(d_hi, bp)), hn::Sub(hn::Neg(m), bp));
  const VD big_d = hn::Mul(d_hi, s1);
  const VD q = hn::Mul(big_d, inv_u);
  const VD qu = hn::Mul(q, u);
  const VD qu_err = ProductError(DD(), q, u, qu);                         // q*u - qu
  // D - q*u + D_lo; D - qu is exact (qu is within a few ulp of D).
  const VD rem = hn::MulAdd(d_lo, s1, hn::Sub(hn::Sub(big_d, qu), qu_err));
  const VD lo = hn::IfThenElseZero(hn::IsFinite(q), hn::Mul(rem, inv_u));
  return {q, lo};
}

// ---- pass 2: sum of exponentials ----------------------------------------------
dd ExpSumF32(const float* HWY_RESTRICT x, size_t n, const row_args& a, float* store) {
  const DD d;
  const VD m = hn::Set(d, a.m), inv_u = hn::Set(d, a.inv_u);
  VD sum = hn::Zero(d);
  ForEachVec(x, store, n, [&](VD v) HWY_ATTR {
    const VD e = ExpNegF32(d, ArgF(v, m, inv_u));
    sum = hn::Add(sum, e);
    return e;
  });
  return {hn::GetLane(hn::SumOfLanes(d, sum)), 0.0};
}

// Two-sum accumulation per lane, then across lanes.
dd ExpSumF64(const double* HWY_RESTRICT x, size_t n, const row_args& a, double* store) {
  const DD d;
  const VD m = hn::Set(d, a.m), s1 = hn::Set(d, a.s1), u = hn::Set(d, a.u),
           inv_u = hn::Set(d, a.inv_u);
  VD s = hn::Zero(d), c = hn::Zero(d);
  ForEachVec(x, store, n, [&](VD v) HWY_ATTR {
    const ArgDD arg = ArgD(v, m, s1, u, inv_u);
    const VD e = ExpNegF64(d, arg.hi, arg.lo);
    const VD t = hn::Add(s, e);
    const VD bp = hn::Sub(t, s);
    c = hn::Add(c, hn::Add(hn::Sub(s, hn::Sub(t, bp)), hn::Sub(e, bp)));
    s = t;
    return e;
  });
  HWY_ALIGN double ls[hn::MaxLanes(DD())], lc[hn::MaxLanes(DD())];
  hn::Store(s, d, ls);
  hn::Store(c, d, lc);
  double hi = 0, lo = 0;
  for (size_t k = 0; k < hn::Lanes(d); ++k) {
    const double t = hi + ls[k];
    const double bp = t - hi;
    lo += (hi - (t - bp)) + (ls[k] - bp) + lc[k];
    hi = t;
  }
  const double t = hi + lo;
  return {t, lo - (t - hi)};
}

// ---- pass 3: outputs ----------------------------------------------------------
void SoftmaxOutF32(const float* x, float* y, size_t n, const row_args& a, dd inv) {
  const DD d;
  const VD m = hn::Set(d, a.m), inv_u = hn::Set(d, a.inv_u), vinv = hn::Set(d, inv.hi);
  ForEachVec(x, y, n, [&](VD v) HWY_ATTR {
    return hn::Mul(ExpNegF32(d, ArgF(v, m, inv_u)), vinv);
  });
}

void SoftmaxOutF64(const double* x, double* y, size_t n, const row_args& a, dd inv) {
  const DD d;
  const VD m = hn::Set(d, a.m), s1 = hn::Set(d, a.s1), u = hn::Set(d, a.u),
           inv_u = hn::Set(d, a.inv_u), ih = hn::Set(d, inv.hi), il = hn::Set(d, inv.lo);
  ForEachVec(x, y, n, [&](VD v) HWY_ATTR {
    const ArgDD arg = ArgD(v, m, s1, u, inv_u);
    const VD e = ExpNegF64(d, arg.hi, arg.lo);
    return MulDD(d, e, ih, il);
  });
}

void ScaleF32(float* y, size_t n, dd inv) {
  const DD d;
  const VD ih = hn::Set(d, inv.hi);
  ForEachVec(y, y, n, [&](VD v) HWY_ATTR { return hn::Mul(v, ih); });
}

void ScaleF64(double* y, size_t n, dd inv) {
  const DD d;
  const VD ih = hn::Set(d, inv.hi), il = hn::Set(d, inv.lo);
  ForEachVec(y, y, n, [&](VD v) HWY_ATTR { return MulDD(d, v, ih, il); });
}

void LogSoftmaxOutF32(const float* x, float* y, size_t n, const row_args& a, dd log_sum) {
  const DD d;
  const VD m = hn::Set(d, a.m), inv_u = hn::Set(d, a.inv_u), l = hn::Set(d, log_sum.hi);
  ForEachVec(x, y, n,
                    [&](VD v) HWY_ATTR { return hn::Sub(ArgF(v, m, inv_u), l); });
}

// y = (q + q_lo) - (L + L_lo) with a two-sum of q - L, so that the result is
// rounded once; masked entries (q == -inf) give -inf.
void LogSoftmaxOutF64(const double* x, double* y, size_t n, const row_args& a, dd log_sum) {
  const DD d;
  const VD m = hn::Set(d, a.m), s1 = hn::Set(d, a.s1), u = hn::Set(d, a.u),
           inv_u = hn::Set(d, a.inv_u), nl = hn::Set(d, -log_sum.hi),
           nll = hn::Set(d, -log_sum.lo);
  ForEachVec(x, y, n, [&](VD v) HWY_ATTR {
    const ArgDD arg = ArgD(v, m, s1, u, inv_u);
    const VD t = hn::Add(arg.hi, nl);
    const VD bp = hn::Sub(t, arg.hi);
    const VD err = hn::Add(hn::Sub(arg.hi, hn::Sub(t, bp)), hn::Sub(nl, bp));
    const VD r = hn::Add(t, hn::Add(err, hn::Add(arg.lo, nll)));
    return hn::IfThenElse(hn::IsFinite(arg.hi), r, arg.hi);
  });
}

row_scan ScanF32(const float* x, size_t n) { return Scan(x, n); }
row_scan ScanF64(const double* x, size_t n) { return Scan(x, n); }

const detail::kernel_table<float>* TableF32() {
  static const detail::kernel_table<float> t{&ScanF32, &ExpSumF32, &SoftmaxOutF32, &ScaleF32,
                                             &LogSoftmaxOutF32};
  return &t;
}
const detail::kernel_table<double>* TableF64() {
  static const detail::kernel_table<double> t{&ScanF64, &ExpSumF64, &SoftmaxOutF64, &ScaleF64,
                                              &LogSoftmaxOutF64};
  return &t;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/kernels/targets.inc"
#endif
