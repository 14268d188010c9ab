// The passes over one row, per Highway target: scan (max, NaN, min), the
// exponent argument, the sum of exponentials, and the outputs (softmax's
// scale, log_softmax). The entries of kernel_table (src/kernels/kernels.hpp).
#if defined(KELVIN_KERNELS_ROW_PASSES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KELVIN_KERNELS_ROW_PASSES_INL_H_
#undef KELVIN_KERNELS_ROW_PASSES_INL_H_
#else
#define KELVIN_KERNELS_ROW_PASSES_INL_H_
#endif

#include <hwy/highway.h>

#include <cmath>
#include <limits>

#include "src/kernels/exp-inl.h"
#include "src/kernels/kernels.hpp"
#include "src/kernels/lanes-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#endif  // KELVIN_KERNELS_ROW_PASSES_INL_H_
