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
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstdint>

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

#undef KELVIN_HAVE_F16C

const detail::half_kernels* HalfKernels() {
  static const detail::half_kernels k{&Bf16ToF32, &F32ToBf16, &F16ToF32, &F32ToF16};
  return &k;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
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

const half_kernels kScalarHalf{&bf16_to_f32, &f32_to_bf16, &f16_to_f32, &f32_to_f16};

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
