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
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
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
HWY_INLINE void StoreAs(VD v, float* p) {
  const DS<float> df;
  hn::StoreU(hn::DemoteTo(df, v), df, p);
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  // These targets' DemoteTo clamps to +-FLT_MAX; restore IEEE rounding: at or
  // beyond FLT_MAX + ulp/2 (infinities included) the float is +-inf.
  HWY_ALIGN double lanes[hn::MaxLanes(DD())];
  hn::Store(v, DD(), lanes);
  for (size_t k = 0; k < hn::Lanes(DD()); ++k) {
    if (std::abs(lanes[k]) >= 0x1p128 - 0x1p103) {
      p[k] = std::copysign(std::numeric_limits<float>::infinity(), static_cast<float>(lanes[k]));
    }
  }
#endif
}
HWY_INLINE void StoreAs(VD v, double* p) { hn::StoreU(v, DD(), p); }

// Masked tail loads / stores of n < Lanes lanes (targets whose masked memory
// ops cannot fault); masked-off lanes read as -inf.
HWY_INLINE VD LoadTail(DD d, const float* p, size_t n) {
  const DS<float> ds;
  const VD v = hn::PromoteTo(d, hn::MaskedLoad(hn::FirstN(ds, n), ds, p));
  return hn::IfThenElse(hn::FirstN(d, n), v, hn::Set(d, -HUGE_VAL));
}
HWY_INLINE VD LoadTail(DD d, const double* p, size_t n) {
  const auto m = hn::FirstN(d, n);
  return hn::IfThenElse(m, hn::MaskedLoad(m, d, p), hn::Set(d, -HUGE_VAL));
}
HWY_INLINE void StoreTail(VD v, float* p, size_t n) {
  const DS<float> ds;
  hn::BlendedStore(hn::DemoteTo(ds, v), hn::FirstN(ds, n), ds, p);
}
HWY_INLINE void StoreTail(VD v, double* p, size_t n) {
  const DD d;
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
}

// Runs r = f(v) over x[0, n) in double vectors and, when y is not null, stores
// r to y (y may equal x). Tail lanes beyond n read as -inf, which every kernel
// maps to a zero exponential: masked loads where the target's cannot fault,
// else a local padded buffer.
template <class T, class F>
HWY_INLINE void ForEachVec(const T* x, T* y, size_t n, F&& f) {
  const DD d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const VD r = f(LoadAs(d, x + i));
    if (y != nullptr) StoreAs(r, y + i);
  }
  if (i == n) return;
#if !HWY_MEM_OPS_MIGHT_FAULT
  const VD r = f(LoadTail(d, x + i, n - i));
  if (y != nullptr) StoreTail(r, y + i, n - i);
#else
  T buf[hn::MaxLanes(DD())];
  for (size_t k = 0; k < N; ++k) buf[k] = -std::numeric_limits<T>::infinity();
  std::memcpy(buf, x + i, (n - i) * sizeof(T));
  const VD r = f(LoadAs(d, buf));
  if (y != nullptr) {
    StoreAs(r, buf);
    std::memcpy(y + i, buf, (n - i) * sizeof(T));
  }
#endif
}

// ---- pass 1: max, NaN flag (and for double rows the finite min) --------------
// Lanes where a or b is NaN: one unordered compare on AVX-512 (half the
// scan's NaN work), two IsNaN elsewhere.
template <class V>
HWY_INLINE auto EitherNaN(V a, V b) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (sizeof(hn::TFromV<V>) == 4 && hn::MaxLanes(hn::DFromV<V>()) == 16) {
    return hn::Mask512<float>{_mm512_cmp_ps_mask(a.raw, b.raw, _CMP_UNORD_Q)};
  } else {
    return hn::Or(hn::IsNaN(a), hn::IsNaN(b));
  }
#else
  return hn::Or(hn::IsNaN(a), hn::IsNaN(b));
#endif
}

template <class T>
row_scan Scan(const T* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  constexpr bool kMin = sizeof(T) == 8;  // only double rows need the min
  const size_t N = hn::Lanes(d);
  const V inf = hn::Set(d, std::numeric_limits<T>::infinity());
  V vmax = hn::Neg(inf), vmin = inf;
  V vlow = inf;  // double rows: the min with -inf included
  // IsNaN, not Ne(v, v): Highway 1.0.3 compares with _CMP_NEQ_OQ, false for NaN.
  auto nan = hn::IsNaN(vmax);  // all false
  size_t i = 0;
  // float rows: vmin is the min with -inf included (row_scan::low)
  if constexpr (!kMin) {  // four accumulators: Max's latency, not its throughput
    V m1 = vmax, m2 = vmax, m3 = vmax, l1 = vmin;
    for (; i + 4 * N <= n; i += 4 * N) {
      const V v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + N);
      const V v2 = hn::LoadU(d, x + i + 2 * N), v3 = hn::LoadU(d, x + i + 3 * N);
      nan = hn::Or(nan, hn::Or(EitherNaN(v0, v1), EitherNaN(v2, v3)));
      vmax = hn::Max(vmax, v0);
      m1 = hn::Max(m1, v1);
      m2 = hn::Max(m2, v2);
      m3 = hn::Max(m3, v3);
      vmin = hn::Min(vmin, hn::Min(v0, v1));
      l1 = hn::Min(l1, hn::Min(v2, v3));
    }
    vmax = hn::Max(hn::Max(vmax, m1), hn::Max(m2, m3));
    vmin = hn::Min(vmin, l1);
  }
  for (; i + N <= n; i += N) {
    const V v = hn::LoadU(d, x + i);
    nan = hn::Or(nan, hn::IsNaN(v));
    vmax = hn::Max(vmax, v);
    if constexpr (kMin) {
      vmin = hn::Min(vmin, hn::IfThenElse(hn::IsFinite(v), v, inf));
      vlow = hn::Min(vlow, v);
    } else {
      vmin = hn::Min(vmin, v);
    }
  }
#if !HWY_MEM_OPS_MIGHT_FAULT
  if (i < n) {  // masked tail: absent lanes are -inf for the max, +inf for the min
    const auto m = hn::FirstN(d, n - i);
    const V v = hn::MaskedLoad(m, d, x + i);
    nan = hn::Or(nan, hn::IsNaN(v));
    vmax = hn::Max(vmax, hn::IfThenElse(m, v, hn::Neg(inf)));
    if constexpr (kMin) {
      vmin = hn::Min(vmin, hn::IfThenElse(hn::And(m, hn::IsFinite(v)), v, inf));
      vlow = hn::Min(vlow, hn::IfThenElse(m, v, inf));
    } else {
      vmin = hn::Min(vmin, hn::IfThenElse(m, v, inf));
    }
    i = n;
  }
#endif
  row_scan s;
  s.has_nan = !hn::AllFalse(d, nan);
  T m = hn::GetLane(hn::MaxOfLanes(d, vmax));
  T lo = hn::GetLane(hn::MinOfLanes(d, vmin));
  T low = hn::GetLane(hn::MinOfLanes(d, vlow));
  for (; i < n; ++i) {
    if (std::isnan(x[i])) s.has_nan = true;
    if (x[i] > m) m = x[i];
    if ((!kMin || std::isfinite(x[i])) && x[i] < lo) lo = x[i];
    if (x[i] < low) low = x[i];
  }
  s.max = static_cast<double>(m);
  if constexpr (kMin) {
    s.min = static_cast<double>(lo);
    s.low = static_cast<double>(low);
  } else {
    s.low = static_cast<double>(lo);
  }
  return s;
}

// ---- the exponent argument ----------------------------------------------------
// float rows: arg = (x - m) * inv_u in double (s0 == s1 == 1 for them).
HWY_INLINE VD ArgF(VD x, VD m, VD inv_u) { return hn::Mul(hn::Sub(x, m), inv_u); }

// double rows: arg = hi + lo (see row_args). Two-sum gives x*s0 - m*s0 exactly
// as D + D_lo; q is the rounded quotient and lo the residual (D - q*u + D_lo)/u.
// Where q or the residual is not finite (masked entries, overflow) lo is 0.
// (Vectors travel as arguments, not struct members: SVE's are sizeless.)
// kSafe (row_args::guard == 0): s0 == s1 == 1 and every argument is finite.
// kUnit (implies kSafe): T == 1, so the argument is the two-sum of x - m
// (what the general formula gives then, without its identity operations).
template <bool kSafe = false, bool kUnit = false>
HWY_INLINE VD ArgDV(VD x, VD ms, VD s0, VD s1, VD u, VD inv_u, VD* lo) {
  const DD d;
  if constexpr (kUnit) {
    const VD d_hi = hn::Sub(x, ms);
    const VD bp = hn::Sub(d_hi, x);
    *lo = hn::Add(hn::Sub(x, hn::Sub(d_hi, bp)), hn::Sub(hn::Neg(ms), bp));
    return d_hi;
  }
  const VD xs = kSafe ? x : hn::Mul(x, s0);
  const VD d_hi = hn::Sub(xs, ms);
  const VD bp = hn::Sub(d_hi, xs);  // ~ -m
  const VD d_lo = hn::Add(hn::Sub(xs, hn::Sub(d_hi, bp)), hn::Sub(hn::Neg(ms), bp));
  const VD big_d = kSafe ? d_hi : hn::Mul(d_hi, s1);
  const VD q = hn::Mul(big_d, inv_u);
  const VD qu = hn::Mul(q, u);
  // D - q*u + D_lo; D - qu is exact (qu is within a few ulp of D).
  const VD err = hn::Sub(hn::Sub(big_d, qu), ProductError(d, q, u, qu));
  const VD rem = kSafe ? hn::Add(d_lo, err) : hn::MulAdd(d_lo, s1, err);
  if (kSafe) {
    *lo = hn::Mul(rem, inv_u);
    return q;
  }
  const auto ok = hn::And(hn::IsFinite(q), hn::IsFinite(rem));
  *lo = hn::IfThenElseZero(ok, hn::Mul(rem, inv_u));
  return q;
}

// The same with the row's constants (ms = m * s0 per lane above).
template <bool kSafe = false, bool kUnit = false>
HWY_INLINE VD ArgD(VD x, const row_args& a, VD* lo) {
  const DD d;
  return ArgDV<kSafe, kUnit>(x, hn::Set(d, a.m * a.s0), hn::Set(d, a.s0), hn::Set(d, a.s1),
                             hn::Set(d, a.u), hn::Set(d, a.inv_u), lo);
}

// ---- pass 2: sum of exponentials ----------------------------------------------
// One loop per case: T == 1 skips the product, and the exponential guards
// only against what the row's range of arguments needs (row_args::guard;
// masked tail lanes are -inf: ForEachVec's tail always guards fully).
// kScaled (AVX-512, 1 / T <= 2^300): the temperature goes into the
// exponential's constants instead of a product per entry (ExpNegF32Scaled).
template <bool kUnitT, int kGuard, bool kScaled = false>
HWY_INLINE dd ExpSumF32Loop(const float* x, size_t n, const row_args& a, float* store,
                            const float* pf) {
  const DD d;
  const VD m = hn::Set(d, a.m), inv_u = hn::Set(d, a.inv_u);
  VD sum = hn::Zero(d);
  const size_t N = hn::Lanes(d);
  const size_t body = n / N * N;
#if KELVIN_EXP_TWO_TABLES
  const ExpScaledConsts consts(a.inv_u, a.u);
#endif
  ForEachVec(x, store, body, [&](VD v) HWY_ATTR {
    if (pf != nullptr) {  // into L2 (locality 2), a line per 16 entries, twice
      __builtin_prefetch(pf, 0, 2);
      pf += hn::Lanes(d);
    }
    VD e;
#if KELVIN_EXP_TWO_TABLES
    if constexpr (kScaled) {
      e = ExpNegF32Scaled<kGuard>(d, hn::Sub(v, m), consts);
    } else
#endif
    {
      e = ExpNegF32<kGuard>(d, kUnitT ? hn::Sub(v, m) : ArgF(v, m, inv_u));
    }
    sum = hn::Add(sum, e);
    return e;
  });
  ForEachVec(x + body, store == nullptr ? nullptr : store + body, n - body, [&](VD v) HWY_ATTR {
    const VD e = ExpNegF32(d, ArgF(v, m, inv_u));
    sum = hn::Add(sum, e);
    return e;
  });
  return {hn::GetLane(hn::SumOfLanes(d, sum)), 0.0};
}

template <int kGuard>
dd ExpSumF32Guarded(const float* x, size_t n, const row_args& a, float* store) {
  const auto* pf = static_cast<const float*>(a.prefetch);
  if (a.inv_u == 1.0) return ExpSumF32Loop<true, kGuard>(x, n, a, store, pf);
#if KELVIN_EXP_TWO_TABLES
  if (a.inv_u <= 0x1p300) return ExpSumF32Loop<false, kGuard, true>(x, n, a, store, pf);
#endif
  return ExpSumF32Loop<false, kGuard>(x, n, a, store, pf);
}

dd ExpSumF32(const float* x, size_t n, const row_args& a, float* store) {
  switch (a.guard) {
    case 0:
      return ExpSumF32Guarded<0>(x, n, a, store);
    case 1:
      return ExpSumF32Guarded<1>(x, n, a, store);
    default:
      return ExpSumF32Guarded<2>(x, n, a, store);
  }
}

// *s += e with the rounding error, and e_lo, added to *c (two-sum per lane).
HWY_INLINE void TwoSumAdd(VD* s, VD* c, VD e, VD e_lo) {
  const VD t = hn::Add(*s, e);
  const VD bp = hn::Sub(t, *s);
  *c = hn::Add(*c, hn::Add(hn::Add(hn::Sub(*s, hn::Sub(t, bp)), hn::Sub(e, bp)), e_lo));
  *s = t;
}

// Two-sum accumulation of the exponentials' high parts per lane (their low
// parts go to the compensation), then across lanes. Rows with guard 0 skip
// the masks and the two-step scale (masked tail lanes always take them).
template <bool kSafe, bool kUnit = false>
dd ExpSumF64Loop(const double* x, size_t n, const row_args& a, double* store) {
  const DD d;
  VD s = hn::Zero(d), c = hn::Zero(d);
  const auto add = [&](VD v, auto safe) HWY_ATTR {
    constexpr bool kS = decltype(safe)::value;
    VD arg_lo;
    const VD arg_hi = ArgD < kS, kS && kUnit > (v, a, &arg_lo);
    VD e_lo;
    const VD e = ExpNegF64<kS>(d, arg_hi, arg_lo, &e_lo);
    TwoSumAdd(&s, &c, e, e_lo);
    return e;
  };
  const size_t body = kSafe ? n / hn::Lanes(d) * hn::Lanes(d) : n;
  ForEachVec(x, store, body,
             [&](VD v) HWY_ATTR { return add(v, std::integral_constant<bool, kSafe>()); });
  ForEachVec(x + body, store == nullptr ? nullptr : store + body, n - body,
             [&](VD v) HWY_ATTR { return add(v, std::false_type()); });
  HWY_ALIGN double ls[hn::MaxLanes(DD())], lc[hn::MaxLanes(DD())];
  hn::Store(s, d, ls);
  hn::Store(c, d, lc);
  detail::dd_sum total;
  for (size_t k = 0; k < hn::Lanes(d); ++k) total.add(ls[k], lc[k]);
  return total.result();
}

dd ExpSumF64(const double* x, size_t n, const row_args& a, double* store) {
  if (a.guard != 0) return ExpSumF64Loop<false>(x, n, a, store);
  if (a.u == 1.0 && a.inv_u == 1.0) return ExpSumF64Loop<true, true>(x, n, a, store);
  return ExpSumF64Loop<true>(x, n, a, store);
}

// ---- pass 3: outputs ----------------------------------------------------------
// y * (ih + il) rounded once.
// Without an FMA the product's error comes from Dekker's split, whose partial
// products underflow where y * ih is near or below DBL_MIN (1.94 ulp measured
// there): such targets compute (y * 2^600) * (ih + il) and scale back by
// 2^-600, exact for normal results and one more rounding, of the already
// accurate value, for subnormal ones (y <= 1, so nothing overflows).
HWY_INLINE VD ScaleOnceF64(VD v, VD ih, VD il) {
  const DD d;
#if HWY_NATIVE_FMA
  return MulAddOnce(d, v, ih, hn::Mul(v, il));
#else
  const VD w = hn::Mul(v, hn::Set(d, 0x1p600));
  return hn::Mul(MulAddOnce(d, w, ih, hn::Mul(w, il)), hn::Set(d, 0x1p-600));
#endif
}

void ScaleF64(double* y, size_t n, dd inv, bool) {
  const DD d;
  const VD ih = hn::Set(d, inv.hi), il = hn::Set(d, inv.lo);
  ForEachVec(y, y, n, [&](VD v) HWY_ATTR { return ScaleOnceF64(v, ih, il); });
}

// y *= 1/S rounded once to float. In double lanes; or, for rows whose
// products are all >= 2^-86 (`normal`), in float lanes with 1/S as two floats
// ih + il and one FMA, y * ih + y * il, whose only rounding of note is the
// last. (Only for such rows: y * il may underflow otherwise, and x86 takes a
// microcode assist for every instruction with a subnormal result, which made
// rows at T = 0.07 cost 6 ns per entry.) il is dropped when below 2^-40 ih.
void ScaleF32(float* y, size_t n, dd inv, bool normal) {
#if HWY_NATIVE_FMA
  if (normal) {
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    const float ih_s = static_cast<float>(inv.hi);
    float il_s = static_cast<float>(inv.hi - ih_s);
    if (std::abs(il_s) < 0x1p-40f * ih_s) il_s = 0;
    const auto ih = hn::Set(d, ih_s), il = hn::Set(d, il_s);
    size_t i = 0;
    for (; i + N <= n; i += N) {
      const auto v = hn::LoadU(d, y + i);
      hn::StoreU(hn::MulAdd(v, ih, hn::Mul(v, il)), d, y + i);
    }
#if !HWY_MEM_OPS_MIGHT_FAULT
    if (i < n) {
      const auto m = hn::FirstN(d, n - i);
      const auto v = hn::MaskedLoad(m, d, y + i);
      hn::BlendedStore(hn::MulAdd(v, ih, hn::Mul(v, il)), m, d, y + i);
    }
#else
    for (; i < n; ++i) y[i] = std::fma(y[i], ih_s, y[i] * il_s);
#endif
    return;
  }
#else
  (void)normal;
#endif
  const DD d;
  const VD ih = hn::Set(d, inv.hi);
  ForEachVec(y, y, n, [&](VD v) HWY_ATTR { return hn::Mul(v, ih); });
}

void LogSoftmaxOutF32(const float* x, float* y, size_t n, const row_args& a, dd log_sum) {
  const DD d;
  const VD m = hn::Set(d, a.m), inv_u = hn::Set(d, a.inv_u), l = hn::Set(d, log_sum.hi);
  ForEachVec(x, y, n, [&](VD v) HWY_ATTR { return hn::Sub(ArgF(v, m, inv_u), l); });
}

// y = (q + q_lo) - (L + L_lo) with a two-sum of q - L, so that the result is
// rounded once; masked entries (q == -inf) give -inf. nl, nll = -L, -L_lo.
HWY_INLINE VD LogSoftmaxOnceF64(VD arg_hi, VD arg_lo, VD nl, VD nll) {
  const VD t = hn::Add(arg_hi, nl);
  const VD bp = hn::Sub(t, arg_hi);
  const VD err = hn::Add(hn::Sub(arg_hi, hn::Sub(t, bp)), hn::Sub(nl, bp));
  const VD r = hn::Add(t, hn::Add(err, hn::Add(arg_lo, nll)));
  return hn::IfThenElse(hn::IsFinite(arg_hi), r, arg_hi);
}

void LogSoftmaxOutF64(const double* x, double* y, size_t n, const row_args& a, dd log_sum) {
  const DD d;
  const VD nl = hn::Set(d, -log_sum.hi), nll = hn::Set(d, -log_sum.lo);
  // Rows with guard 0 at T == 1: the two-sum argument for whole vectors (the
  // masked tail's padding is -inf, so it takes the general one).
  const bool unit = a.guard == 0 && a.u == 1.0 && a.inv_u == 1.0;
  const size_t body = unit ? n / hn::Lanes(d) * hn::Lanes(d) : 0;
  ForEachVec(x, y, body, [&](VD v) HWY_ATTR {
    VD arg_lo;
    const VD arg_hi = ArgD<true, true>(v, a, &arg_lo);
    return LogSoftmaxOnceF64(arg_hi, arg_lo, nl, nll);
  });
  ForEachVec(x + body, y + body, n - body, [&](VD v) HWY_ATTR {
    VD arg_lo;
    const VD arg_hi = ArgD(v, a, &arg_lo);
    return LogSoftmaxOnceF64(arg_hi, arg_lo, nl, nll);
  });
}

// ---- over a non-last axis: lanes are independent rows --------------------------
// (Fixed-size targets only: arrays of vectors are not allowed for SVE's
// sizeless ones, and there the drivers gather rows instead.)
#if !HWY_HAVE_SCALABLE
// The offset of axis entry a.
HWY_INLINE std::ptrdiff_t at(size_t a, std::ptrdiff_t stride) {
  return static_cast<std::ptrdiff_t>(a) * stride;
}

// U vectors of adjacent positions at x (lanes are rows), each pass over the
// axis for all of them, so that the per-lane reductions' latencies overlap.
// Returns false, having written nothing, when a lane holds a NaN or has an
// infinite max.
template <size_t U>
HWY_INLINE bool AxisVecsF32(detail::family f, const float* x, std::ptrdiff_t xs, float* y,
                            std::ptrdiff_t ys, size_t n, double t) {
  using detail::family;
  const DD d;
  const size_t N = hn::Lanes(d);
  const VD inv_t = hn::Set(d, 1.0 / t), inf = hn::Set(d, HUGE_VAL);
  // pass 1: max and min per lane; a NaN or an infinite max is the driver's case
  VD m[U], lo[U];
  auto nan = hn::IsNaN(inf);
  for (size_t u = 0; u < U; ++u) m[u] = hn::Neg(inf), lo[u] = inf;
  for (size_t a = 0; a < n; ++a) {
    for (size_t u = 0; u < U; ++u) {
      const VD v = LoadAs(d, x + u * N + at(a, xs));
      nan = hn::Or(nan, hn::IsNaN(v));
      m[u] = hn::Max(m[u], v);
      lo[u] = hn::Min(lo[u], v);
    }
  }
  VD low = hn::Set(d, 0.0);  // the smallest argument over all lanes
  for (size_t u = 0; u < U; ++u) {
    if (!hn::AllFalse(d, hn::Or(nan, hn::Not(hn::IsFinite(m[u]))))) return false;
    low = hn::Min(low, hn::Mul(hn::Sub(lo[u], m[u]), inv_t));
  }
  // pass 2: exponentials (stored for softmax) and their sums
  VD sum[U];
#if KELVIN_EXP_TWO_TABLES
  const ExpScaledConsts consts(1.0 / t, t);
  const bool scaled = 1.0 / t <= 0x1p300;
#endif
  const auto exp_pass = [&](auto guard) HWY_ATTR {
    for (size_t u = 0; u < U; ++u) sum[u] = hn::Zero(d);
    for (size_t a = 0; a < n; ++a) {
      for (size_t u = 0; u < U; ++u) {
        const VD v = LoadAs(d, x + u * N + at(a, xs));
        constexpr int kG = decltype(guard)::value;
#if KELVIN_EXP_TWO_TABLES
        const VD e = scaled ? ExpNegF32Scaled<kG>(d, hn::Sub(v, m[u]), consts)
                            : ExpNegF32<kG>(d, ArgF(v, m[u], inv_t));
#else
        const VD e = ExpNegF32<kG>(d, ArgF(v, m[u], inv_t));
#endif
        sum[u] = hn::Add(sum[u], e);
        if (f == family::softmax) StoreAs(e, y + u * N + at(a, ys));
      }
    }
  };
  const std::uint8_t guard = detail::exp_guard_for(hn::GetLane(hn::MinOfLanes(d, low)), 0.0, 1.0);
  if (guard == 0) {
    exp_pass(std::integral_constant<int, 0>());
  } else if (guard == 1) {
    exp_pass(std::integral_constant<int, 1>());
  } else {
    exp_pass(std::integral_constant<int, 2>());
  }
  // pass 3
  if (f == family::softmax) {
    VD inv[U];
    for (size_t u = 0; u < U; ++u) inv[u] = hn::Div(hn::Set(d, 1.0), sum[u]);
    for (size_t a = 0; a < n; ++a) {
      for (size_t u = 0; u < U; ++u) {
        float* yo = y + u * N + at(a, ys);
        StoreAs(hn::Mul(LoadAs(d, yo), inv[u]), yo);
      }
    }
    return true;
  }
  VD log_sum[U];
  for (size_t u = 0; u < U; ++u) log_sum[u] = hn::Log(d, sum[u]);
  if (f == family::log_softmax) {
    for (size_t a = 0; a < n; ++a) {
      for (size_t u = 0; u < U; ++u) {
        const VD arg = ArgF(LoadAs(d, x + u * N + at(a, xs)), m[u], inv_t);
        StoreAs(hn::Sub(arg, log_sum[u]), y + u * N + at(a, ys));
      }
    }
    return true;
  }
  HWY_ALIGN double ls[hn::MaxLanes(DD())], ms[hn::MaxLanes(DD())];
  for (size_t u = 0; u < U; ++u) {
    hn::Store(log_sum[u], d, ls);
    hn::Store(m[u], d, ms);
    for (size_t k = 0; k < N; ++k) {
      y[u * N + k] = static_cast<float>(detail::reduction_result(f, ms[k], t, {ls[k], 0.0}));
    }
  }
  return true;
}

// Runs a lanes kernel over `count` positions, two vectors of them per call
// while they last, then one; stops before the first vector it declines.
// vecs(std::integral_constant<size_t, U>, j) runs U vectors from position j.
template <class F>
HWY_INLINE size_t AxisBlock(size_t count, F&& vecs) {
  const size_t N = hn::Lanes(DD());
  size_t j = 0;
  for (; j + 2 * N <= count; j += 2 * N) {
    if (!vecs(std::integral_constant<size_t, 2>(), j)) break;
  }
  for (; j + N <= count; j += N) {
    if (!vecs(std::integral_constant<size_t, 1>(), j)) return j;
  }
  return j;
}

size_t AxisBlockF32(detail::family f, const float* x, std::ptrdiff_t xs, float* y,
                    std::ptrdiff_t ys, size_t n, size_t count, double t) {
  return AxisBlock(count, [&](auto u, size_t j) HWY_ATTR {
    return AxisVecsF32<decltype(u)::value>(f, x + j, xs, y + j, ys, n, t);
  });
}

// float64 over a non-last axis: per lane, the row path's arithmetic (ArgD's
// double-double argument, ExpNegF64, the two-sum of ExpSumF64, 1 / S and log S
// as double-doubles), so that lanes give the row path's results. Returns
// false, having written nothing, when a lane holds a NaN, has an infinite
// max, or has x - m overflowing (the row path scales those arguments).
template <size_t U>
HWY_INLINE bool AxisVecsF64(detail::family f, const double* x, std::ptrdiff_t xs, double* y,
                            std::ptrdiff_t ys, size_t n, double t) {
  using detail::family;
  const DD d;
  const size_t N = hn::Lanes(d);
  const VD inf = hn::Set(d, HUGE_VAL), one = hn::Set(d, 1.0);
  const VD u = hn::Set(d, t), inv_u = hn::Set(d, 1.0 / t);
  // pass 1: max, finite min and min per lane
  VD m[U], lo[U], low[U];
  auto nan = hn::IsNaN(inf);
  for (size_t k = 0; k < U; ++k) m[k] = hn::Neg(inf), lo[k] = inf, low[k] = inf;
  for (size_t a = 0; a < n; ++a) {
    for (size_t k = 0; k < U; ++k) {
      const VD v = hn::LoadU(d, x + k * N + at(a, xs));
      nan = hn::Or(nan, hn::IsNaN(v));
      m[k] = hn::Max(m[k], v);
      lo[k] = hn::Min(lo[k], hn::IfThenElse(hn::IsFinite(v), v, inf));
      low[k] = hn::Min(low[k], v);
    }
  }
  bool safe = true;  // exp_guard_for_f64 == 0 in every lane
  for (size_t k = 0; k < U; ++k) {
    if (!hn::AllFalse(d, hn::Or(nan, hn::Not(hn::IsFinite(m[k]))))) return false;
    if (!hn::AllTrue(d, hn::IsFinite(hn::Sub(m[k], lo[k])))) return false;
    safe =
        safe && hn::AllTrue(d, hn::Ge(hn::Mul(hn::Sub(low[k], m[k]), inv_u), hn::Set(d, -708.0)));
  }
  // pass 2: exponentials (stored for softmax) and their two-sums per lane
  VD sum[U], sum_lo[U];
  const auto exp_pass = [&](auto safe_c, auto unit_c) HWY_ATTR {
    constexpr bool kS = decltype(safe_c)::value;
    constexpr bool kU = decltype(unit_c)::value;
    VD c[U];
    for (size_t k = 0; k < U; ++k) sum[k] = hn::Zero(d), c[k] = hn::Zero(d);
    for (size_t a = 0; a < n; ++a) {
      for (size_t k = 0; k < U; ++k) {
        VD arg_lo, e_lo;
        const VD arg = ArgDV < kS, kS && kU > (hn::LoadU(d, x + k * N + at(a, xs)), m[k], one, one,
                                               u, inv_u, &arg_lo);
        const VD e = ExpNegF64<kS>(d, arg, arg_lo, &e_lo);
        TwoSumAdd(&sum[k], &c[k], e, e_lo);
        if (f == family::softmax) hn::StoreU(e, d, y + k * N + at(a, ys));
      }
    }
    for (size_t k = 0; k < U; ++k) {  // normalised: sum + sum_lo, |sum_lo| <= ulp(sum) / 2
      const VD h = hn::Add(sum[k], c[k]);
      sum_lo[k] = hn::Sub(c[k], hn::Sub(h, sum[k]));
      sum[k] = h;
    }
  };
  if (safe && t == 1.0) {
    exp_pass(std::true_type(), std::true_type());
  } else if (safe) {
    exp_pass(std::true_type(), std::false_type());
  } else {
    exp_pass(std::false_type(), std::false_type());
  }
  // pass 3
  if (f == family::softmax) {
    VD ih[U], il[U];
    for (size_t k = 0; k < U; ++k) {  // 1 / S as row.hpp's reciprocal
      ih[k] = hn::Div(one, sum[k]);
      const VD p = hn::Mul(sum[k], ih[k]);
      const VD e = hn::Sub(hn::Sub(one, p), ProductError(d, sum[k], ih[k], p));  // 1 - S * ih
      il[k] = hn::Mul(ih[k], hn::Sub(e, hn::Mul(sum_lo[k], ih[k])));
    }
    for (size_t a = 0; a < n; ++a) {
      for (size_t k = 0; k < U; ++k) {
        double* yo = y + k * N + at(a, ys);
        hn::StoreU(ScaleOnceF64(hn::LoadU(d, yo), ih[k], il[k]), d, yo);
      }
    }
    return true;
  }
  // log S per lane as a double-double, as row.hpp's log_dd
  HWY_ALIGN double sh[U * hn::MaxLanes(DD())], sl[U * hn::MaxLanes(DD())];
  HWY_ALIGN double ms[U * hn::MaxLanes(DD())];
  for (size_t k = 0; k < U; ++k) {
    hn::Store(sum[k], d, sh + k * N);
    hn::Store(sum_lo[k], d, sl + k * N);
    hn::Store(m[k], d, ms + k * N);
  }
  for (size_t j = 0; j < U * N; ++j) {
    const long double l =
        std::log(static_cast<long double>(sh[j]) + static_cast<long double>(sl[j]));
    sh[j] = static_cast<double>(l);
    sl[j] = static_cast<double>(l - static_cast<long double>(sh[j]));
  }
  if (f == family::log_softmax) {
    VD nl[U], nll[U];
    for (size_t k = 0; k < U; ++k) {
      nl[k] = hn::Neg(hn::Load(d, sh + k * N));
      nll[k] = hn::Neg(hn::Load(d, sl + k * N));
    }
    for (size_t a = 0; a < n; ++a) {
      for (size_t k = 0; k < U; ++k) {
        VD arg_lo;
        const VD arg =
            ArgDV(hn::LoadU(d, x + k * N + at(a, xs)), m[k], one, one, u, inv_u, &arg_lo);
        hn::StoreU(LogSoftmaxOnceF64(arg, arg_lo, nl[k], nll[k]), d, y + k * N + at(a, ys));
      }
    }
    return true;
  }
  for (size_t j = 0; j < U * N; ++j) y[j] = detail::reduction_result(f, ms[j], t, {sh[j], sl[j]});
  return true;
}

size_t AxisBlockF64(detail::family f, const double* x, std::ptrdiff_t xs, double* y,
                    std::ptrdiff_t ys, size_t n, size_t count, double t) {
  if (t < detail::kTinyTemperature) return 0;  // the row path scales 1 / T (row_args::s1)
  return AxisBlock(count, [&](auto u, size_t j) HWY_ATTR {
    return AxisVecsF64<decltype(u)::value>(f, x + j, xs, y + j, ys, n, t);
  });
}

#endif  // !HWY_HAVE_SCALABLE

// ---- many rows per call ---------------------------------------------------------
void LogF64(const double* in, double* out, size_t n) {
  const DD d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Log(d, hn::LoadU(d, in + i)), d, out + i);
  if (i == n) return;
  HWY_ALIGN double buf[hn::MaxLanes(DD())];
  for (size_t k = 0; k < N; ++k) buf[k] = i + k < n ? in[i + k] : 1.0;
  hn::Store(hn::Log(d, hn::Load(d, buf)), d, buf);
  for (size_t k = 0; i + k < n; ++k) out[i + k] = buf[k];
}

// Up to kBatch rows at a time, each pass over all of them before the next, so
// that the rows' reductions overlap and 1 / S and log S are vector operations;
// fewer when the rows are long (a batch's inputs stay within kBatchEntries,
// 16 KiB, so that they are still in L1 at the second pass; eight rows of
// 32000 entries thrashed L2: 512x32000 was 7-9% slower). While the exponential
// pass runs over row i of a batch it prefetches row i of the next batch, whose
// scan would otherwise wait on memory (10-16% on 4096x1000, 512x32000 and
// 16384x128).
constexpr size_t kBatch = 8;
constexpr size_t kBatchEntries = 4096;

size_t RowsBlockedF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
                      size_t n, double t) {
  using detail::family;
  row_args a;
  a.inv_u = 1.0 / t;
  a.u = t;
  size_t r = 0;
  while (r < rows) {
    HWY_ALIGN double m[kBatch], s[kBatch], low[kBatch];
    std::uint8_t guard[kBatch];
    size_t nb = 0;
    bool stop = false;
    const size_t batch = n == 0 ? kBatch : std::clamp<size_t>(kBatchEntries / n, 1, kBatch);
    for (; nb < batch && r + nb < rows; ++nb) {
      const row_scan sc = Scan(x + (r + nb) * xs, n);
      if (sc.has_nan || !std::isfinite(sc.max)) {
        stop = true;
        break;
      }
      m[nb] = sc.max;
      guard[nb] = detail::exp_guard_for(sc.low, sc.max, a.inv_u);
      low[nb] = sc.low;
    }
    for (size_t i = 0; i < nb; ++i) {
      a.m = m[i];
      a.guard = guard[i];
      float* store = f == family::softmax ? y + (r + i) * ys : nullptr;
      a.prefetch = r + nb + i < rows ? x + (r + nb + i) * xs : nullptr;
      s[i] = ExpSumF32(x + (r + i) * xs, n, a, store).hi;
    }
    if (f == family::softmax) {
      for (size_t i = 0; i < nb; ++i) {
        ScaleF32(y + (r + i) * ys, n, {1.0 / s[i], 0.0},
                 detail::scale_is_normal(low[i], m[i], a.inv_u, s[i]));
      }
    } else {
      LogF64(s, s, nb);
      for (size_t i = 0; i < nb; ++i) {
        if (f == family::log_softmax) {
          a.m = m[i];
          LogSoftmaxOutF32(x + (r + i) * xs, y + (r + i) * ys, n, a, {s[i], 0.0});
        } else {
          y[(r + i) * ys] = static_cast<float>(detail::reduction_result(f, m[i], t, {s[i], 0.0}));
        }
      }
    }
    r += nb;
    if (stop) return r;
  }
  return rows;
}

#if !HWY_HAVE_SCALABLE
// Rows of at most kShortRow entries: kShortBlock rows at a time are transposed
// into a local buffer (entry a of row j at a * kShortBlock + j) and run by the
// axis kernel, whose lanes are rows.
using detail::kShortRow;
constexpr size_t kShortBlock = detail::kShortGroup;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// Transposes a 16 x 16 float block held as 16 row vectors, in registers.
HWY_INLINE void Transpose16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // 32-bit interleave of row pairs
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 64-bit interleave
    for (int k = 0; k < 2; ++k) {
      const __m512d a = _mm512_castps_pd(t[i + k]), b = _mm512_castps_pd(t[i + k + 2]);
      v[i + 2 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      v[i + 2 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  }
  for (int i = 0; i < 16; i += 8) {  // 128-bit blocks, rows i..i+7
    for (int k = 0; k < 4; ++k) {
      t[i + k] = _mm512_shuffle_f32x4(v[i + k], v[i + k + 4], 0x88);
      t[i + k + 4] = _mm512_shuffle_f32x4(v[i + k], v[i + k + 4], 0xdd);
    }
  }
  for (int k = 0; k < 8; ++k) {
    v[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
    v[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
  }
}

// 16 rows of n <= 16 entries at x (row stride xs) into columns: entry a of
// row j to col[a * cs + j].
HWY_INLINE void RowsToColumns16(const float* x, size_t xs, size_t n, float* col, size_t cs) {
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  __m512 v[16];
  for (size_t j = 0; j < 16; ++j) v[j] = _mm512_maskz_loadu_ps(m, x + j * xs);
  Transpose16(v);
  for (size_t a = 0; a < n; ++a) _mm512_storeu_ps(col + a * cs, v[a]);
}

// The inverse: col[a * cs + j] to entry a of row j at y (row stride ys).
HWY_INLINE void ColumnsToRows16(const float* col, size_t cs, size_t n, float* y, size_t ys) {
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  __m512 v[16];
  for (size_t a = 0; a < 16; ++a)
    v[a] = a < n ? _mm512_loadu_ps(col + a * cs) : _mm512_setzero_ps();
  Transpose16(v);
  for (size_t j = 0; j < 16; ++j) _mm512_mask_storeu_ps(y + j * ys, m, v[j]);
}
#define KELVIN_TRANSPOSE16 1
#else
#define KELVIN_TRANSPOSE16 0
#endif

size_t RowsShortF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
                    size_t n, double t) {
  using detail::family;
  const size_t N = hn::Lanes(DD());
  HWY_ALIGN float in[kShortRow * kShortBlock];
  HWY_ALIGN float out[kShortRow * kShortBlock];
  const bool reduce = f == family::log_partition || f == family::smooth_max;
  size_t r = 0;
  while (r < rows) {
    const size_t count = std::min(kShortBlock, rows - r);
    const size_t full = count / N * N;  // the rest goes row by row
    size_t j = 0;
#if KELVIN_TRANSPOSE16
    for (; j + 16 <= full; j += 16) RowsToColumns16(x + (r + j) * xs, xs, n, in + j, kShortBlock);
#endif
    for (; j < full; ++j) {
      const float* xr = x + (r + j) * xs;
      for (size_t a = 0; a < n; ++a) in[a * kShortBlock + j] = xr[a];
    }
    const size_t done =
        full == 0 ? 0 : AxisBlockF32(f, in, kShortBlock, out, kShortBlock, n, full, t);
    j = 0;
    if (reduce) {
      for (; j < done; ++j) y[(r + j) * ys] = out[j];
    }
#if KELVIN_TRANSPOSE16
    for (; j + 16 <= done; j += 16) ColumnsToRows16(out + j, kShortBlock, n, y + (r + j) * ys, ys);
#endif
    for (; j < done; ++j) {
      float* yr = y + (r + j) * ys;
      for (size_t a = 0; a < n; ++a) yr[a] = out[a * kShortBlock + j];
    }
    r += done;
    if (done < count) {
      // a vector of rows holding a NaN or an infinite max, or the tail
      const size_t m = std::min(done < full ? N : count - done, rows - r);
      const size_t k = RowsBlockedF32(f, x + r * xs, xs, y + r * ys, ys, m, n, t);
      r += k;
      if (k < m) return r;
    }
  }
  return rows;
}

#endif  // !HWY_HAVE_SCALABLE

size_t RowsF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
               size_t n, double t) {
#if !HWY_HAVE_SCALABLE
  if (n <= detail::kShortRow && hn::Lanes(DD()) > 1) {
    return RowsShortF32(f, x, xs, y, ys, rows, n, t);
  }
#endif
  return RowsBlockedF32(f, x, xs, y, ys, rows, n, t);
}

void ExpNegBatchF32(const double* hi, const double*, double* out, double*, size_t n) {
  const DD d;
  ForEachVec(hi, out, n, [&](VD v) HWY_ATTR { return ExpNegF32(d, v); });
}

void ExpNegBatchF64(const double* hi, const double* lo, double* out, double* out_lo, size_t n) {
  const DD d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    VD e_lo;
    hn::StoreU(ExpNegF64(d, hn::LoadU(d, hi + i), hn::LoadU(d, lo + i), &e_lo), d, out + i);
    hn::StoreU(e_lo, d, out_lo + i);
  }
  for (; i < n; ++i) {  // the tail one lane at a time, in a padded vector
    HWY_ALIGN double h[hn::MaxLanes(DD())] = {}, l[hn::MaxLanes(DD())] = {};
    h[0] = hi[i];
    l[0] = lo[i];
    VD e_lo;
    hn::Store(ExpNegF64(d, hn::Load(d, h), hn::Load(d, l), &e_lo), d, h);
    hn::Store(e_lo, d, l);
    out[i] = h[0];
    out_lo[i] = l[0];
  }
}

row_scan ScanF32(const float* x, size_t n) { return Scan(x, n); }
row_scan ScanF64(const double* x, size_t n) { return Scan(x, n); }

#if HWY_HAVE_SCALABLE
constexpr auto kAxisBlockF32 = nullptr;
constexpr auto kAxisBlockF64 = nullptr;
#else
constexpr auto kAxisBlockF32 = &AxisBlockF32;
constexpr auto kAxisBlockF64 = &AxisBlockF64;
#endif

const detail::kernel_table<float>* TableF32() {
  static const detail::kernel_table<float> t{&ScanF32,          &ExpSumF32,     &ScaleF32,
                                             &LogSoftmaxOutF32, kAxisBlockF32,  &RowsF32,
                                             &LogF64,           &ExpNegBatchF32};
  return &t;
}
const detail::kernel_table<double>* TableF64() {
  static const detail::kernel_table<double> t{&ScanF64,          &ExpSumF64,     &ScaleF64,
                                              &LogSoftmaxOutF64, kAxisBlockF64,  nullptr,
                                              nullptr,           &ExpNegBatchF64};
  return &t;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/kernels/targets.inc"
#endif
