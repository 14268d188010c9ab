// bfloat16 / float16 <-> float row conversions, compiled for every target
// (foreach_target.h re-includes this file per target).
//
// Highway 1.0.3's DemoteTo(bfloat16) truncates, and its float16 emulation
// (targets without F16C) truncates and maps NaN to infinity, so rounding is
// done here with integer ops: round to nearest even, overflow to infinity,
// float16 subnormals, NaN kept as a quiet NaN. x86 targets from AVX2 up have
// F16C, whose conversions round the same way (in any MXCSR mode).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/half.cpp"
#include <hwy/cache_control.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kelvin/half.hpp"
#include "src/kernels/half.hpp"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using D16 = hn::Rebind<std::uint16_t, DF>;  // one 16-bit lane per float lane
using VF = hn::Vec<DF>;
using VU = hn::Vec<DU>;
using VI = hn::Vec<DI>;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
#define KELVIN_HAVE_F16C 1
#else
#define KELVIN_HAVE_F16C 0
#endif

HWY_INLINE const std::uint16_t* Bits(const void* p) { return static_cast<const std::uint16_t*>(p); }
HWY_INLINE std::uint16_t* Bits(void* p) { return static_cast<std::uint16_t*>(p); }

// NaN lanes with the quiet bit set.
HWY_INLINE VF Quiet(VF v) {
  const DF df;
  return hn::IfThenElse(hn::IsNaN(v), hn::Or(v, hn::BitCast(df, hn::Set(DU(), 0x400000u))), v);
}

HWY_INLINE hn::Vec<D16> Narrow(VI bits) { return hn::DemoteTo(D16(), bits); }  // bits < 2^16

HWY_INLINE VF LoadBf16(const std::uint16_t* p) {
  const VU u = hn::ShiftLeft<16>(hn::PromoteTo(DU(), hn::LoadU(D16(), p)));
  return Quiet(hn::BitCast(DF(), u));
}

HWY_INLINE hn::Vec<D16> RoundBf16(VF v) {
  const DU du;
  const VU u = hn::BitCast(du, v);
  // u + 0x7fff + (bit 16 of u), then the top half: ties to even.
  const VU odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
  const VU rounded = hn::ShiftRight<16>(hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), odd)));
  const VU nan = hn::Or(hn::ShiftRight<16>(u), hn::Set(du, 0x40u));
  const VU bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), nan, rounded);
  return Narrow(hn::BitCast(DI(), bits));
}

HWY_INLINE VF LoadF16(const std::uint16_t* p) {
#if KELVIN_HAVE_F16C
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(DF(), hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
#else
  const DF df;
  const DI di;
  const VI h = hn::BitCast(di, hn::PromoteTo(DU(), hn::LoadU(D16(), p)));
  const VI em = hn::And(h, hn::Set(di, 0x7fff));  // exponent and fraction
  const VI shifted = hn::ShiftLeft<13>(em);
  // Normal: rebias the exponent by 127 - 15; subnormal: em * 2^-24, exact in
  // float arithmetic (normal results, so DAZ/FTZ do not matter); inf / NaN:
  // the float exponent all ones.
  const VI normal = hn::Add(shifted, hn::Set(di, 112 << 23));
  const VI sub = hn::BitCast(di, hn::Mul(hn::ConvertTo(df, em), hn::Set(df, 0x1p-24f)));
  const VI special = hn::Or(shifted, hn::Set(di, 0x7f800000));
  VI mag = hn::IfThenElse(hn::Gt(hn::Set(di, 0x400), em), sub, normal);
  mag = hn::IfThenElse(hn::Gt(em, hn::Set(di, 0x7bff)), special, mag);
  const VI sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(di, 0x8000)));
  return Quiet(hn::BitCast(df, hn::Or(mag, sign)));
#endif
}

HWY_INLINE hn::Vec<D16> RoundF16(VF v) {
#if KELVIN_HAVE_F16C
  // _MM_FROUND_NO_EXC: round to nearest even whatever MXCSR says; F16C
  // writes subnormal results whatever FTZ says and quiets NaN.
  return hn::BitCast(D16(), hn::DemoteTo(hn::Rebind<hwy::float16_t, DF>(), v));
#else
  const DF df;
  const DI di;
  const VI u = hn::BitCast(di, v);
  const VI a = hn::And(u, hn::Set(di, 0x7fffffff));
  const VI sign = hn::And(hn::ShiftRight<16>(u), hn::Set(di, 0x8000));
  // Normal (|v| >= 2^-14): rebias the exponent to 15, round off 13 bits to
  // nearest even (a carry moves into the exponent).
  const VI r = hn::Sub(a, hn::Set(di, 0x38000000));
  const VI odd = hn::And(hn::ShiftRight<13>(r), hn::Set(di, 1));
  const VI normal = hn::ShiftRight<13>(hn::Add(r, hn::Add(hn::Set(di, 0xfff), odd)));
  // Subnormal: |v| + 0.5 rounds |v| to a multiple of 2^-24 (ulp(0.5)); the
  // multiple is the float16 encoding (1024: the smallest normal).
  const VI sub =
      hn::Sub(hn::BitCast(di, hn::Add(hn::Abs(v), hn::Set(df, 0.5f))), hn::Set(di, 0x3f000000));
  const VI nan = hn::Or(hn::And(hn::ShiftRight<13>(a), hn::Set(di, 0x3ff)), hn::Set(di, 0x7e00));
  VI bits = hn::IfThenElse(hn::Gt(hn::Set(di, 0x38800000), a), sub, normal);
  bits = hn::IfThenElse(hn::Gt(a, hn::Set(di, 0x477fefff)), hn::Set(di, 0x7c00), bits);  // inf
  bits = hn::IfThenElse(hn::Gt(a, hn::Set(di, 0x7f800000)), nan, bits);
  return Narrow(hn::Or(bits, sign));
#endif
}

void Bf16ToF32(const bfloat16* in, float* out, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(LoadBf16(Bits(in + i)), df, out + i);
  for (; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

void F32ToBf16(const float* in, bfloat16* out, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(RoundBf16(hn::LoadU(df, in + i)), D16(), Bits(out + i));
  for (; i < n; ++i) out[i] = bfloat16(in[i]);
}

void F16ToF32(const float16* in, float* out, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(LoadF16(Bits(in + i)), df, out + i);
  for (; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

void F32ToF16(const float* in, float16* out, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(RoundF16(hn::LoadU(df, in + i)), D16(), Bits(out + i));
  for (; i < n; ++i) out[i] = float16(in[i]);
}

// ---- softmax in float lanes (bfloat16 / float16 rows) ---------------------------
//
// docs/contract.md allows 2 ulp of the storage type, so the argument is
// computed in float and the exponential is a float polynomial: exp(t) = 2^k
// exp(r), k = round(t / ln2), r = t - k ln2 (one FMA with ln2 rounded to
// float: |k| * 1.9e-9 absolute, at most 3e-7 for k >= -150), exp(r) by a
// degree-3 polynomial fitted for relative error on |r| <= ln2/2 (7.5e-5 with
// float Horner, measured on 20001 points: 0.02 bfloat16 ulp, 0.15 float16
// ulp; a degree-4 one, 2.7e-6, cost one FMA more per vector for 3-5% of the
// time). The argument t = (x - m) / T is
// (x - m) * inv_t (relative error <= 3 * 2^-24) or, for rows with |x| / T <=
// 256, x * inv_t - m * inv_t by one FMA (absolute error <= 2^-15). Either
// way the argument's part is within 2^-14 relative: 0.004 bfloat16 ulp, 0.03
// float16 ulp.
constexpr float kLog2e = 0x1.715476p0f, kLn2 = 0x1.62e430p-1f;
constexpr float kC0 = 0x1.fff694p-1f, kC1 = 0x1.000ac2p0f, kC2 = 0x1.028a64p-1f,
                kC3 = 0x1.53496cp-3f;

// exp(r) 2^-k in [0.70, 1.42] (kScaled: times 2^64, folded exactly into the
// coefficients), kf = k + 1.5 * 2^23 (its low bits are k) and k.
template <bool kScaled>
HWY_INLINE VF ExpPoly(VF t, VF* kf, VF* k) {
  const DF df;
  const float s = kScaled ? 0x1p64f : 1.0f;
  const VF magic = hn::Set(df, 0x1.8p23f);  // adding it rounds to an integer
  *kf = hn::MulAdd(t, hn::Set(df, kLog2e), magic);
  *k = hn::Sub(*kf, magic);
  const VF r = hn::NegMulAdd(*k, hn::Set(df, kLn2), t);
  VF p = hn::MulAdd(hn::Set(df, kC3 * s), r, hn::Set(df, kC2 * s));
  p = hn::MulAdd(p, r, hn::Set(df, kC1 * s));
  return hn::MulAdd(p, r, hn::Set(df, kC0 * s));
}

// exp(t) (kScaled: exp(t) 2^64) for t in [-86, 0] (kScaled: [-104, 0]): a
// normal float. 2^k by an integer add of bits(kf) << 23, which is k << 23
// (the magic's bits vanish in the shift); on AVX-512 by vscalefps, one
// operation for the two (the same bits: the result is normal, so exact).
template <bool kScaled>
HWY_INLINE VF ExpNormal(VF t) {
  VF kf, k;
  const VF p = ExpPoly<kScaled>(t, &kf, &k);
#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86
  (void)kf;
  return VF{_mm512_scalef_ps(p.raw, k.raw)};
#else
  (void)k;
  const DI di;
  return hn::BitCast(DF(), hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::BitCast(di, kf))));
#endif
}

// z 2^-64 rounded to float, subnormals included, for a normal z >= 0, with
// no multiply on a subnormal: at or above 2^-62 an exponent subtraction;
// below, z + 2^-62 rounds z to a multiple of 2^-85, and the low bits of the
// sum are the encoding of the subnormal result (which runs on into the
// normal ones).
HWY_INLINE VF Unscale(VF z) {
  const DF df;
  const DI di;
  const VF c = hn::Set(df, 0x1p-62f);
  const VI normal = hn::Sub(hn::BitCast(di, z), hn::Set(di, 64 << 23));
  const VI sub = hn::Sub(hn::BitCast(di, hn::Add(z, c)), hn::BitCast(di, c));
  return hn::BitCast(df, hn::IfThenElse(hn::RebindMask(di, hn::Lt(z, c)), sub, normal));
}

// A vector of 16-bit entries widened (NaN payloads are not quieted: a row
// with a NaN leaves the float lanes after the scan).
HWY_INLINE VF Widen(const bfloat16* p) {
  return hn::BitCast(DF(), hn::ShiftLeft<16>(hn::PromoteTo(DU(), hn::LoadU(D16(), Bits(p)))));
}
HWY_INLINE VF Widen(const float16* p) { return LoadF16(Bits(p)); }

// The first n < lanes entries of p widened, the rest `pad`.
template <class H>
HWY_INLINE VF WidenTail(const H* p, size_t n, float pad) {
  HWY_ALIGN float tail[HWY_MAX_BYTES / sizeof(float)];
  for (size_t j = 0; j < hn::Lanes(DF()); ++j) tail[j] = j < n ? static_cast<float>(p[j]) : pad;
  return hn::Load(DF(), tail);
}

// 2 lanes entries at p as two float vectors. bfloat16 (little-endian): v0
// the even entries and v1 the odd ones, from one load: a bfloat16 is the top
// half of its float, so the 32-bit lanes give the odd entry by a mask and the
// even one by a shift (2 operations per 2 vectors instead of 4). float16: in
// order. ScaleBf16T undoes the bfloat16 order.
#if HWY_TARGET == HWY_SCALAR  // one lane: no pairs of 16-bit lanes
#define KELVIN_BF16_PAIRS 0
#else
#define KELVIN_BF16_PAIRS (std::endian::native == std::endian::little)
#endif
template <class H>
HWY_INLINE void WidenPair(const H* p, VF* v0, VF* v1) {
#if HWY_TARGET != HWY_SCALAR
  if constexpr (std::is_same_v<H, bfloat16> && KELVIN_BF16_PAIRS) {
    const DF df;
    const DU du;
    const VU u = hn::BitCast(du, hn::LoadU(hn::Repartition<std::uint16_t, DF>(), Bits(p)));
    *v0 = hn::BitCast(df, hn::ShiftLeft<16>(u));
    *v1 = hn::BitCast(df, hn::And(u, hn::Set(du, 0xffff0000u)));
    return;
  }
#endif
  *v0 = Widen(p);
  *v1 = Widen(p + hn::Lanes(DF()));
}

// The float row scan of 16-bit entries: max, min and NaN (an entry's bits
// without the sign above infinity's), straight from storage.
template <class H>
detail::row_scan ScanT(const H* x, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  // Two sets of accumulators (Max / Min latency). NaN: the entries' float
  // sum is NaN (or an infinity of each sign met: a false alarm that only
  // sends the row to the float path).
  VF hi0 = hn::Set(df, -HUGE_VALF), lo0 = hn::Set(df, HUGE_VALF), hi1 = hi0, lo1 = lo0;
  VF sum0 = hn::Zero(df), sum1 = sum0;
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    VF v0, v1;
    WidenPair(x + i, &v0, &v1);
    sum0 = hn::Add(sum0, v0);
    sum1 = hn::Add(sum1, v1);
    hi0 = hn::Max(hi0, v0);
    lo0 = hn::Min(lo0, v0);
    hi1 = hn::Max(hi1, v1);
    lo1 = hn::Min(lo1, v1);
  }
  for (; i + lanes <= n; i += lanes) {
    const VF v0 = Widen(x + i);
    sum0 = hn::Add(sum0, v0);
    hi0 = hn::Max(hi0, v0);
    lo0 = hn::Min(lo0, v0);
  }
  const VF hi = hn::Max(hi0, hi1), lo = hn::Min(lo0, lo1);
  detail::row_scan s;
  s.has_nan = std::isnan(hn::GetLane(hn::SumOfLanes(df, hn::Add(sum0, sum1))));
  float mx = hn::GetLane(hn::MaxOfLanes(df, hi)), mn = hn::GetLane(hn::MinOfLanes(df, lo));
  for (; i < n; ++i) {
    const float v = static_cast<float>(x[i]);
    s.has_nan = s.has_nan || std::isnan(v);
    mx = std::max(mx, v);
    mn = std::min(mn, v);
  }
  s.max = mx;
  s.min = s.low = mn;
  return s;
}

#if HWY_TARGET != HWY_SCALAR
// The scan on the 16-bit entries themselves: key = bits ^ (sign ? 0x7fff :
// 0) as a signed 16-bit integer orders the entries as their values (-0
// just below +0), 2 lanes entries per vector and 5 operations per vector
// where ScanT takes 9 per 2 float vectors. NaN keys lie outside those of the
// infinities, so a NaN shows in the max or min key (no sum needed).
HWY_INLINE std::int32_t Key(std::uint16_t b) {
  return static_cast<std::int16_t>(b ^ ((b & 0x8000u) != 0 ? 0x7fffu : 0u));
}
template <class H>
detail::row_scan ScanKeysT(const H* x, size_t n) {
  const hn::Repartition<std::int16_t, DF> dk;
  using VK = hn::Vec<decltype(dk)>;
  const size_t lanes = hn::Lanes(dk);
  const VK low_bits = hn::Set(dk, 0x7fff);
  const auto key = [&](const H* p) HWY_ATTR {
    const VK b = hn::LoadU(dk, reinterpret_cast<const std::int16_t*>(p));
    return hn::Xor(b, hn::And(hn::ShiftRight<15>(b), low_bits));
  };
  VK hi0 = hn::Set(dk, INT16_MIN), lo0 = hn::Set(dk, INT16_MAX), hi1 = hi0, lo1 = lo0;
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const VK k0 = key(x + i), k1 = key(x + i + lanes);
    hi0 = hn::Max(hi0, k0);
    lo0 = hn::Min(lo0, k0);
    hi1 = hn::Max(hi1, k1);
    lo1 = hn::Min(lo1, k1);
  }
  HWY_ALIGN std::int16_t hs[HWY_MAX_BYTES / 2], ls[HWY_MAX_BYTES / 2];
  hn::Store(hn::Max(hi0, hi1), dk, hs);
  hn::Store(hn::Min(lo0, lo1), dk, ls);
  std::int32_t hk = INT16_MIN, lk = INT16_MAX;
  for (size_t j = 0; j < lanes; ++j) {
    hk = std::max<std::int32_t>(hk, hs[j]);
    lk = std::min<std::int32_t>(lk, ls[j]);
  }
  for (; i < n; ++i) {
    const std::int32_t k = Key(x[i].bits);
    hk = std::max(hk, k);
    lk = std::min(lk, k);
  }
  const std::int32_t inf = std::is_same_v<H, bfloat16> ? 0x7f80 : 0x7c00;
  detail::row_scan s;
  s.has_nan = hk > inf || lk < -1 - inf;
  // The key is its own inverse.
  s.max = static_cast<float>(
      H::from_bits(static_cast<std::uint16_t>(Key(static_cast<std::uint16_t>(hk)))));
  s.min = s.low = static_cast<float>(
      H::from_bits(static_cast<std::uint16_t>(Key(static_cast<std::uint16_t>(lk)))));
  return s;
}
detail::row_scan ScanBf16(const bfloat16* x, size_t n) { return ScanKeysT(x, n); }
detail::row_scan ScanF16(const float16* x, size_t n) { return ScanKeysT(x, n); }
#else
detail::row_scan ScanBf16(const bfloat16* x, size_t n) { return ScanT(x, n); }
detail::row_scan ScanF16(const float16* x, size_t n) { return ScanT(x, n); }
#endif

// kClamp: t_i clamped to a.floor; kFma: t = x * inv_t - m * inv_t;
// kScaled: exp(t) 2^64.
template <bool kClamp, bool kFma, bool kScaled, class H>
double ExpSumT(const H* x, float* e, size_t n, const detail::half_args& a, const char* pf) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const float m = a.m, inv_t = a.inv_t;
  const VF vm = hn::Set(df, m), vi = hn::Set(df, inv_t), lo = hn::Set(df, a.floor);
  const VF mi = hn::Set(df, static_cast<float>(-static_cast<double>(m) * inv_t));
  const auto e_of = [&](VF v) HWY_ATTR {
    VF t = kFma ? hn::MulAdd(v, vi, mi) : hn::Mul(hn::Sub(v, vm), vi);
    if (kClamp) t = hn::Max(t, lo);
    return ExpNormal<kScaled>(t);
  };
  double total = 0;
  size_t i = 0;
  // Blocks of 1024 entries: each float lane sums 1024 / (2 lanes) of them
  // (32 on AVX-512, 128 on 4-lane targets), so its rounding errors stay below
  // 2^-17 relative; blocks add up in double.
  const size_t block = 1024;
  while (i < n) {
    const size_t end = n - i > block ? i + block : n;
    VF a0 = hn::Zero(df), a1 = hn::Zero(df);
    for (; i + 2 * lanes <= end; i += 2 * lanes) {
      if (pf != nullptr) {  // 2 bytes per entry of the next row
        hwy::Prefetch(pf);
        pf += 4 * lanes;
      }
      VF v0, v1;
      WidenPair(x + i, &v0, &v1);  // (bfloat16: even, odd entries; stored so)
      const VF e0 = e_of(v0);
      const VF e1 = e_of(v1);
      if (e != nullptr) {
        hn::StoreU(e0, df, e + i);
        hn::StoreU(e1, df, e + i + lanes);
      }
      a0 = hn::Add(a0, e0);
      a1 = hn::Add(a1, e1);
    }
    for (; i + lanes <= end; i += lanes) {
      const VF e0 = e_of(Widen(x + i));
      if (e != nullptr) hn::StoreU(e0, df, e + i);
      a0 = hn::Add(a0, e0);
    }
    if (i < end) {  // the tail padded with m, masked off
      const size_t left = end - i;
      const VF e0 = hn::IfThenElseZero(hn::FirstN(df, left), e_of(WidenTail(x + i, left, m)));
      if (e != nullptr) {
        HWY_ALIGN float tail[HWY_MAX_BYTES / sizeof(float)];
        hn::Store(e0, df, tail);
        for (size_t j = 0; j < left; ++j) e[i + j] = tail[j];
      }
      a0 = hn::Add(a0, e0);
      i = end;
    }
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1))));
  }
  return total;
}

template <class H>
double ExpSumH(const H* x, float* e, size_t n, const detail::half_args& a, const void* next) {
  const auto* pf = static_cast<const char*>(next);
  if (a.scaled) {
    if (a.clamp) return ExpSumT<true, false, true>(x, e, n, a, pf);
    return ExpSumT<false, false, true>(x, e, n, a, pf);
  }
  if (a.clamp) return ExpSumT<true, false, false>(x, e, n, a, pf);
  if (a.fma) return ExpSumT<false, true, false>(x, e, n, a, pf);
  return ExpSumT<false, false, false>(x, e, n, a, pf);
}

double ExpSumBf16(const bfloat16* x, float* e, size_t n, const detail::half_args& a,
                  const void* next) {
  return ExpSumH(x, e, n, a, next);
}
double ExpSumF16(const float16* x, float* e, size_t n, const detail::half_args& a,
                 const void* next) {
  return ExpSumH(x, e, n, a, next);
}

// v (>= 0, not NaN, below bfloat16's max) to the nearest bfloat16, ties away
// from zero: 2 integer operations instead of RoundBf16's 5, the same 0.5 ulp
// bound (a tie, 1 case in 2^16, goes up instead of to even).
HWY_INLINE hn::Vec<D16> RoundBf16Number(VF v) {
  const DU du;
  const VU u = hn::BitCast(du, v);
  return Narrow(hn::BitCast(DI(), hn::ShiftRight<16>(hn::Add(u, hn::Set(du, 0x8000u)))));
}

// bits(z) + 0x8000 (kScaled: bits(Unscale(z)) + 0x8000, the constant folded
// into both of Unscale's subtractions: one operation less): the top half is
// the bfloat16 rounded with ties away from zero.
template <bool kScaled>
HWY_INLINE VU RoundingBits(VF z) {
  const DF df;
  const DU du;
  if constexpr (!kScaled) return hn::Add(hn::BitCast(du, z), hn::Set(du, 0x8000u));
  const VF c = hn::Set(df, 0x1p-62f);
  const VU normal = hn::Add(hn::BitCast(du, z), hn::Set(du, 0x8000u - (64u << 23)));
  const VU sub = hn::Add(hn::BitCast(du, hn::Add(z, c)),
                         hn::Set(du, 0x8000u - std::bit_cast<std::uint32_t>(0x1p-62f)));
  return hn::IfThenElse(hn::RebindMask(du, hn::Lt(z, c)), sub, normal);
}

// kScaled: e holds exp(t) 2^64 and inv is 2^64 / S', so e * inv is the
// output times 2^64, a normal float however small the output.
template <bool kScaled>
void ScaleBf16T(const float* e, bfloat16* y, size_t n, float inv) {
  const DF df;
  const DU du;
  const size_t lanes = hn::Lanes(df);
  const VF vi = hn::Set(df, inv);
  const auto scaled = [&](VF v) HWY_ATTR {
    const VF z = hn::Mul(v, vi);
    return kScaled ? Unscale(z) : z;
  };
  const auto out = [&](VF v) HWY_ATTR { return RoundBf16Number(scaled(v)); };
  size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (KELVIN_BF16_PAIRS) {
    // Pairs of vectors in ExpSumT's order (even entries, then odd ones): each
    // rounded in its 32-bit lanes (+ 0x8000, ties away) and the two halves
    // merged back in order.
    const hn::Repartition<std::uint16_t, DF> d16x2;
    const VU half = hn::Set(du, 0x8000u), top = hn::Set(du, 0xffff0000u);
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
      const VU even = RoundingBits<kScaled>(hn::Mul(hn::LoadU(df, e + i), vi));
      const VU odd = RoundingBits<kScaled>(hn::Mul(hn::LoadU(df, e + i + lanes), vi));
      const VU both = hn::Or(hn::ShiftRight<16>(even), hn::And(odd, top));
      hn::StoreU(hn::BitCast(d16x2, both), d16x2, Bits(y + i));
    }
  }
#else
  (void)du;
#endif
  for (; i + lanes <= n; i += lanes) hn::StoreU(out(hn::LoadU(df, e + i)), D16(), Bits(y + i));
  if (i == n) return;
  HWY_ALIGN float tail[HWY_MAX_BYTES / sizeof(float)];
  HWY_ALIGN std::uint16_t res[HWY_MAX_BYTES / sizeof(float)];
  for (size_t j = 0; j < lanes; ++j) tail[j] = i + j < n ? e[i + j] : 0.0f;
  hn::Store(out(hn::Load(df, tail)), D16(), res);
  for (size_t j = 0; i + j < n; ++j) y[i + j] = bfloat16::from_bits(res[j]);
}

void ScaleBf16(const float* e, bfloat16* y, size_t n, float inv, bool scaled) {
  return scaled ? ScaleBf16T<true>(e, y, n, inv) : ScaleBf16T<false>(e, y, n, inv);
}

void ScaleF16(const float* e, float16* y, size_t n, float inv) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  const VF vi = hn::Set(df, inv);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(RoundF16(hn::Mul(hn::LoadU(df, e + i), vi)), D16(), Bits(y + i));
  }
  if (i == n) return;  // the tail through buffers (the scalar float16() branches)
  HWY_ALIGN float tail[HWY_MAX_BYTES / sizeof(float)];
  HWY_ALIGN std::uint16_t res[HWY_MAX_BYTES / sizeof(float)];
  for (size_t j = 0; j < lanes; ++j) tail[j] = i + j < n ? e[i + j] : 0.0f;
  hn::Store(RoundF16(hn::Mul(hn::Load(df, tail), vi)), D16(), res);
  for (size_t j = 0; i + j < n; ++j) y[i + j] = float16::from_bits(res[j]);
}

#if HWY_TARGET != HWY_SCALAR
// The exponentials kept in y itself (exp_pack / scale_pack), so that a row
// holds its input and output and no 4-byte buffer: at 2^18 entries the
// float buffer (1 MiB) with x and y filled a 2 MiB L2, and the scan of the
// next row (prefetched) came from memory. A code is a float's bits with the
// exponent field lowered by kBias and the fraction rounded (half up) to 23 -
// kShift bits, shifted right by kShift; shifted back it is the float e
// 2^-kBias exactly (a normal one: its field stays >= 1), which the output pass
// multiplies by inv 2^kBias. bfloat16 rows: e >= e^-60 (field >= 40), kBias
// 39, 7 exponent bits and 9 fraction bits: relative error <= 2^-10, 1/4
// bfloat16 ulp in the output. float16 rows: e >= 2^-25 kept (field >= 102,
// kBias 101: 5 exponent bits, 11 fraction bits: 2^-12, 1/2 float16 ulp);
// smaller ones, whose outputs (e / S < 2^-25) round to 0, are coded as 0
// (not as subnormals, which would cost a microcode assist per multiply).
template <class H>
struct Pack;
template <>
struct Pack<bfloat16> {
  static constexpr int kShift = 14, kBias = 39;
  static constexpr bool kFloor = false;
};
template <>
struct Pack<float16> {
  static constexpr int kShift = 12, kBias = 101;
  static constexpr bool kFloor = true;
};

// The codes of v0 (low halves of the 32-bit lanes) and v1 (high halves).
template <class H>
HWY_INLINE VU PackPair(VF v0, VF v1) {
  using P = Pack<H>;
  const DI di;
  const DU du;
  const VI c = hn::Set(di, (1 << (P::kShift - 1)) - (P::kBias << 23));
  VI a0 = hn::Add(hn::BitCast(di, v0), c), a1 = hn::Add(hn::BitCast(di, v1), c);
  if constexpr (P::kFloor) {  // codes that would decode to a subnormal: 0
    const VI normal = hn::Set(di, (1 << 23) - 1);
    a0 = hn::IfThenElseZero(hn::Gt(a0, normal), a0);
    a1 = hn::IfThenElseZero(hn::Gt(a1, normal), a1);
  }
  const VU lo = hn::ShiftRight<P::kShift>(hn::BitCast(du, a0));
  const VU hi =
      hn::And(hn::BitCast(du, hn::ShiftLeft<16 - P::kShift>(a1)), hn::Set(du, 0xffff0000u));
  return hn::Or(lo, hi);
}

template <class H>
HWY_INLINE void UnpackPair(VU u, VF* v0, VF* v1) {
  using P = Pack<H>;
  const DF df;
  const DU du;
  const VU mask = hn::Set(du, 0xffffu << P::kShift);
  *v0 = hn::BitCast(df, hn::And(hn::ShiftLeft<P::kShift>(u), mask));
  *v1 = hn::BitCast(df, hn::And(hn::ShiftRight<16 - P::kShift>(u), mask));
}

// One vector's codes in entry order (the rows' last entries), and back.
template <class H>
HWY_INLINE hn::Vec<D16> Code(VF v) {
  using P = Pack<H>;
  const DI di;
  VI a = hn::Add(hn::BitCast(di, v), hn::Set(di, (1 << (P::kShift - 1)) - (P::kBias << 23)));
  if constexpr (P::kFloor) a = hn::IfThenElseZero(hn::Gt(a, hn::Set(di, (1 << 23) - 1)), a);
  return Narrow(hn::ShiftRight<P::kShift>(a));
}
template <class H>
HWY_INLINE VF Decode(hn::Vec<D16> c) {
  return hn::BitCast(DF(), hn::ShiftLeft<Pack<H>::kShift>(hn::PromoteTo(DU(), c)));
}

// ExpSumT (unscaled) with the exponentials' codes stored in y.
template <bool kClamp, bool kFma, class H>
double ExpPackT(const H* x, H* y, size_t n, const detail::half_args& a, const char* pf) {
  const DF df;
  const hn::Repartition<std::uint16_t, DF> d16x2;
  const size_t lanes = hn::Lanes(df);
  const float m = a.m, inv_t = a.inv_t;
  const VF vm = hn::Set(df, m), vi = hn::Set(df, inv_t), lo = hn::Set(df, a.floor);
  const VF mi = hn::Set(df, static_cast<float>(-static_cast<double>(m) * inv_t));
  const auto e_of = [&](VF v) HWY_ATTR {
    VF t = kFma ? hn::MulAdd(v, vi, mi) : hn::Mul(hn::Sub(v, vm), vi);
    if (kClamp) t = hn::Max(t, lo);
    return ExpNormal<false>(t);
  };
  double total = 0;
  size_t i = 0;
  const size_t block = 1024;  // as ExpSumT
  while (i < n) {
    const size_t end = n - i > block ? i + block : n;
    VF a0 = hn::Zero(df), a1 = hn::Zero(df);
    for (; i + 2 * lanes <= end; i += 2 * lanes) {
      if (pf != nullptr) {
        hwy::Prefetch(pf);
        pf += 4 * lanes;
      }
      VF v0, v1;
      WidenPair(x + i, &v0, &v1);
      const VF e0 = e_of(v0), e1 = e_of(v1);
      hn::StoreU(hn::BitCast(d16x2, PackPair<H>(e0, e1)), d16x2, Bits(y + i));
      a0 = hn::Add(a0, e0);
      a1 = hn::Add(a1, e1);
    }
    for (; i + lanes <= end; i += lanes) {  // the last entries in order
      const VF e0 = e_of(Widen(x + i));
      hn::StoreU(Code<H>(e0), D16(), Bits(y + i));
      a0 = hn::Add(a0, e0);
    }
    if (i < end) {  // the tail padded with m, masked off
      const size_t left = end - i;
      const VF e0 = hn::IfThenElseZero(hn::FirstN(df, left), e_of(WidenTail(x + i, left, m)));
      HWY_ALIGN std::uint16_t res[HWY_MAX_BYTES / sizeof(float)];
      hn::Store(Code<H>(e0), D16(), res);
      for (size_t j = 0; j < left; ++j) y[i + j] = H::from_bits(res[j]);
      a0 = hn::Add(a0, e0);
      i = end;
    }
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1))));
  }
  return total;
}

template <class H>
double ExpPackH(const H* x, H* y, size_t n, const detail::half_args& a, const void* next) {
  const auto* pf = static_cast<const char*>(next);
  if (a.clamp) return ExpPackT<true, false>(x, y, n, a, pf);
  if (a.fma) return ExpPackT<false, true>(x, y, n, a, pf);
  return ExpPackT<false, false>(x, y, n, a, pf);
}
double ExpPackBf16(const bfloat16* x, bfloat16* y, size_t n, const detail::half_args& a,
                   const void* next) {
  return ExpPackH(x, y, n, a, next);
}
double ExpPackF16(const float16* x, float16* y, size_t n, const detail::half_args& a,
                  const void* next) {
  return ExpPackH(x, y, n, a, next);
}

// y_i = e_i * inv from the codes in y, rounded as ScaleBf16T / ScaleF16.
template <class H>
void ScalePackT(H* y, size_t n, float inv) {
  const DF df;
  const DU du;
  const hn::Repartition<std::uint16_t, DF> d16x2;
  const size_t lanes = hn::Lanes(df);
  const VF vi = hn::Set(df, std::ldexp(inv, Pack<H>::kBias));
  const VU half = hn::Set(du, 0x8000u), top = hn::Set(du, 0xffff0000u);
  const auto pair = [&](H* to) HWY_ATTR {
    VF e0, e1;
    UnpackPair<H>(hn::BitCast(du, hn::LoadU(d16x2, Bits(to))), &e0, &e1);
    const VF z0 = hn::Mul(e0, vi), z1 = hn::Mul(e1, vi);
    if constexpr (std::is_same_v<H, bfloat16> && KELVIN_BF16_PAIRS) {
      const VU even = hn::Add(hn::BitCast(du, z0), half), odd = hn::Add(hn::BitCast(du, z1), half);
      const VU both = hn::Or(hn::ShiftRight<16>(even), hn::And(odd, top));
      hn::StoreU(hn::BitCast(d16x2, both), d16x2, Bits(to));
    } else if constexpr (std::is_same_v<H, bfloat16>) {
      hn::StoreU(RoundBf16Number(z0), D16(), Bits(to));
      hn::StoreU(RoundBf16Number(z1), D16(), Bits(to + lanes));
    } else {
      hn::StoreU(RoundF16(z0), D16(), Bits(to));
      hn::StoreU(RoundF16(z1), D16(), Bits(to + lanes));
    }
  };
  const auto one = [&](VF e) HWY_ATTR {
    if constexpr (std::is_same_v<H, bfloat16>) {
      return RoundBf16Number(hn::Mul(e, vi));
    } else {
      return RoundF16(hn::Mul(e, vi));
    }
  };
  size_t i = 0;
  // ExpPackT's blocks: pairs from the start of each, then single vectors in
  // entry order.
  const size_t block = 1024;
  while (i < n) {
    const size_t end = n - i > block ? i + block : n;
    for (; i + 2 * lanes <= end; i += 2 * lanes) pair(y + i);
    for (; i + lanes <= end; i += lanes) {
      hn::StoreU(one(Decode<H>(hn::LoadU(D16(), Bits(y + i)))), D16(), Bits(y + i));
    }
    if (i < end) {
      const size_t left = end - i;
      HWY_ALIGN std::uint16_t res[HWY_MAX_BYTES / sizeof(float)] = {};
      for (size_t j = 0; j < left; ++j) res[j] = y[i + j].bits;
      hn::Store(one(Decode<H>(hn::Load(D16(), res))), D16(), res);
      for (size_t j = 0; j < left; ++j) y[i + j] = H::from_bits(res[j]);
      i = end;
    }
  }
}
void ScalePackBf16(bfloat16* y, size_t n, float inv) { ScalePackT(y, n, inv); }
void ScalePackF16(float16* y, size_t n, float inv) { ScalePackT(y, n, inv); }
#endif  // HWY_TARGET != HWY_SCALAR

HWY_INLINE hn::Vec<D16> Round(VF v, const bfloat16*) { return RoundBf16(v); }
HWY_INLINE hn::Vec<D16> Round(VF v, const float16*) { return RoundF16(v); }

// One pass, every lane's result rounded to nearest even; the entries are
// loaded before their results are stored, so y may be x. bfloat16 as
// ExpSumT and ScaleBf16T pair them (one load, even and odd entries, the two
// rounded halves merged back): the results are never NaN (the row has none,
// and c is finite), so rounding is u + 0x7fff + (bit 16 of u) on the bits,
// sign, -inf and overflow to -inf included, without RoundBf16's NaN select
// and narrowing.
template <bool kFma, class H>
void LogOutT(const H* x, H* y, size_t n, const detail::half_args& a, float c) {
  const DF df;
  const DU du;
  const size_t lanes = hn::Lanes(df);
  const VF vm = hn::Set(df, a.m), vi = hn::Set(df, a.inv_t), vc = hn::Set(df, c);
  const VF mi = hn::Set(df, static_cast<float>(-static_cast<double>(a.m) * a.inv_t));
  const auto r = [&](VF v) HWY_ATTR {
    const VF t = kFma ? hn::MulAdd(v, vi, mi) : hn::Mul(hn::Sub(v, vm), vi);
    return hn::Sub(t, vc);
  };
  const auto out = [&](VF v) HWY_ATTR { return Round(r(v), x); };
  size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (std::is_same_v<H, bfloat16> && KELVIN_BF16_PAIRS) {
    const hn::Repartition<std::uint16_t, DF> d16x2;
    const VU one = hn::Set(du, 1u), bias = hn::Set(du, 0x7fffu), top = hn::Set(du, 0xffff0000u);
    const auto rne = [&](VF v) HWY_ATTR {
      const VU u = hn::BitCast(du, r(v));
      return hn::Add(u, hn::Add(bias, hn::And(hn::ShiftRight<16>(u), one)));
    };
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
      VF v0, v1;
      WidenPair(x + i, &v0, &v1);
      const VU both = hn::Or(hn::ShiftRight<16>(rne(v0)), hn::And(rne(v1), top));
      hn::StoreU(hn::BitCast(d16x2, both), d16x2, Bits(y + i));
    }
  }
#else
  (void)du;
#endif
  for (; i + lanes <= n; i += lanes) hn::StoreU(out(Widen(x + i)), D16(), Bits(y + i));
  if (i == n) return;
  HWY_ALIGN std::uint16_t res[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(out(WidenTail(x + i, n - i, a.m)), D16(), res);
  for (size_t j = 0; i + j < n; ++j) y[i + j] = H::from_bits(res[j]);
}

template <class H>
void LogOutH(const H* x, H* y, size_t n, const detail::half_args& a, float c) {
  return a.fma ? LogOutT<true>(x, y, n, a, c) : LogOutT<false>(x, y, n, a, c);
}
void LogOutBf16(const bfloat16* x, bfloat16* y, size_t n, const detail::half_args& a, float c) {
  LogOutH(x, y, n, a, c);
}
void LogOutF16(const float16* x, float16* y, size_t n, const detail::half_args& a, float c) {
  LogOutH(x, y, n, a, c);
}

#undef KELVIN_HAVE_F16C
#undef KELVIN_BF16_PAIRS

const detail::half_kernels* HalfKernels() {
#if HWY_TARGET == HWY_SCALAR
  static const detail::half_kernels k{
      &Bf16ToF32, &F32ToBf16, &F16ToF32,   &F32ToF16,  &ScanBf16, &ScanF16, &ExpSumBf16, &ExpSumF16,
      &ScaleBf16, &ScaleF16,  &LogOutBf16, &LogOutF16, nullptr,   nullptr,  nullptr,     nullptr};
#else
  static const detail::half_kernels k{&Bf16ToF32,   &F32ToBf16,  &F16ToF32,      &F32ToF16,
                                      &ScanBf16,    &ScanF16,    &ExpSumBf16,    &ExpSumF16,
                                      &ScaleBf16,   &ScaleF16,   &LogOutBf16,    &LogOutF16,
                                      &ExpPackBf16, &ExpPackF16, &ScalePackBf16, &ScalePackF16};
#endif
  return &k;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <bit>
#include <cmath>

#include "src/kernels/target_list.h"
namespace kelvin::detail {
namespace {

void bf16_to_f32(const bfloat16* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}
void f32_to_bf16(const float* in, bfloat16* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bfloat16(in[i]);
}
void f16_to_f32(const float16* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}
void f32_to_f16(const float* in, float16* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = float16(in[i]);
}

// The float-lane softmax's steps one entry at a time, with the vector
// kernels' formulas (and so their error bounds).
float exp_poly(float t, int* k) {
  const float kf = std::nearbyint(t * 0x1.715476p0f);
  *k = static_cast<int>(kf);
  const float r = std::fma(-kf, 0x1.62e430p-1f, t);
  float p = 0x1.53496cp-3f;
  for (float c : {0x1.028a64p-1f, 0x1.000ac2p0f, 0x1.fff694p-1f}) p = std::fma(p, r, c);
  return p;
}
float exp_scalar(float t, bool scaled) {  // exp(t), or exp(t) 2^64: normal floats
  int k;
  const float p = exp_poly(t, &k);
  return std::ldexp(p, scaled ? k + 64 : k);
}
template <class H>
row_scan scan(const H* x, std::size_t n) {
  row_scan s{.max = -HUGE_VAL, .min = HUGE_VAL, .low = HUGE_VAL, .has_nan = false};
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<float>(x[i]);
    s.has_nan = s.has_nan || std::isnan(v);
    s.max = std::fmax(s.max, v);
    s.min = s.low = std::fmin(s.low, v);
  }
  return s;
}
template <class H>
double exp_sum(const H* x, float* e, std::size_t n, const half_args& a, const void*) {
  const float m = a.m, inv_t = a.inv_t;
  const auto mi = static_cast<float>(-static_cast<double>(m) * inv_t);
  double total = 0;
  for (std::size_t i = 0; i < n;) {
    const std::size_t end = std::min(n, i + 128);  // float sums of <= 128 terms
    float s = 0;
    for (; i < end; ++i) {
      const auto xi = static_cast<float>(x[i]);
      const float t = a.fma ? std::fma(xi, inv_t, mi) : (xi - m) * inv_t;
      const float v = exp_scalar(a.clamp ? std::max(t, a.floor) : t, a.scaled);
      if (e != nullptr) e[i] = v;
      s += v;
    }
    total += s;
  }
  return total;
}
// v (>= 0, finite) to bfloat16, ties away from zero (as RoundBf16Number).
bfloat16 round_up_ties(float v) {
  return bfloat16::from_bits(
      static_cast<std::uint16_t>((std::bit_cast<std::uint32_t>(v) + 0x8000u) >> 16));
}
void scale_bf16(const float* e, bfloat16* y, std::size_t n, float inv, bool scaled) {
  for (std::size_t i = 0; i < n; ++i) {
    const float z = e[i] * inv;  // scaled: the output times 2^64, normal
    y[i] = round_up_ties(scaled ? std::ldexp(z, -64) : z);
  }
}
void scale_f16(const float* e, float16* y, std::size_t n, float inv) {
  for (std::size_t i = 0; i < n; ++i) y[i] = float16(e[i] * inv);
}
template <class H>
void log_out(const H* x, H* y, std::size_t n, const half_args& a, float c) {
  const float m = a.m, inv_t = a.inv_t;
  const auto mi = static_cast<float>(-static_cast<double>(m) * inv_t);
  for (std::size_t i = 0; i < n; ++i) {
    const auto xi = static_cast<float>(x[i]);
    y[i] = H((a.fma ? std::fma(xi, inv_t, mi) : (xi - m) * inv_t) - c);
  }
}
const half_kernels kScalarHalf{&bf16_to_f32,
                               &f32_to_bf16,
                               &f16_to_f32,
                               &f32_to_f16,
                               &scan<bfloat16>,
                               &scan<float16>,
                               &exp_sum<bfloat16>,
                               &exp_sum<float16>,
                               &scale_bf16,
                               &scale_f16,
                               &log_out<bfloat16>,
                               &log_out<float16>,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr};

}  // namespace

const half_kernels& half_kernels_for(const target& t) {
#define KELVIN_HALF_ENTRY(BIT, NS, NAME) \
  if (t.hwy_bit == (BIT)) return *kelvin::NS::HalfKernels();
  KELVIN_FOREACH_TARGET(KELVIN_HALF_ENTRY)
#undef KELVIN_HALF_ENTRY
  return kScalarHalf;  // kelvin's scalar reference (hwy_bit 0)
}

}  // namespace kelvin::detail
#endif  // HWY_ONCE
