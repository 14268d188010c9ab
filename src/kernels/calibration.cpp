// The fused pass of temperature scaling, compiled for every target
// (foreach_target.h re-includes this file per target): per row, the sums that
// give log Z, E_p[x] and Var_p[x] at one beta, from one read of the row.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/calibration.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <cstddef>

#include "src/kernels/calibration.hpp"
#include "src/kernels/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DD = hn::ScalableTag<double>;
using VD = hn::Vec<DD>;

// Adds one vector of d = x - m to the sums (references, not a struct of
// vectors: SVE's vectors are sizeless and cannot be members).
HWY_INLINE void Accumulate(VD e, VD dx, VD& s0, VD& s1, VD& s2, VD& s3, VD& sd) {
  s0 = hn::Add(s0, e);
  const VD ed = hn::Mul(e, dx);
  const VD ed2 = hn::Mul(ed, dx);
  s1 = hn::Add(s1, ed);
  s2 = hn::Add(s2, ed2);
  s3 = hn::MulAdd(ed2, dx, s3);
  sd = hn::Add(sd, dx);
}

template <class T>
HWY_INLINE VD LoadD(DD d, const T* p) {
  if constexpr (sizeof(T) == 4) {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<float, DD>(), p));
  } else {
    return hn::LoadU(d, p);
  }
}

template <class T>
detail::row_moments Moments(const T* x, size_t n, double m, double beta) {
  const DD d;
  const size_t lanes = hn::Lanes(d);
  const VD vm = hn::Set(d, m), vb = hn::Set(d, beta);
  // Two independent chains hide the exponential's latency.
  VD a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0, ad = a0;
  VD b0 = a0, b1 = a0, b2 = a0, b3 = a0, bd = a0;
  size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const VD da = hn::Sub(LoadD(d, x + i), vm);
    const VD db = hn::Sub(LoadD(d, x + i + lanes), vm);
    Accumulate(ExpNegF32<2>(d, hn::Mul(da, vb)), da, a0, a1, a2, a3, ad);
    Accumulate(ExpNegF32<2>(d, hn::Mul(db, vb)), db, b0, b1, b2, b3, bd);
  }
  for (; i + lanes <= n; i += lanes) {
    const VD da = hn::Sub(LoadD(d, x + i), vm);
    Accumulate(ExpNegF32<2>(d, hn::Mul(da, vb)), da, a0, a1, a2, a3, ad);
  }
  if (i < n) {
    // The tail padded with m (d = 0), its e masked off.
    T buf[HWY_MAX_BYTES / sizeof(double)];
    for (size_t k = 0; k < lanes; ++k) buf[k] = i + k < n ? x[i + k] : static_cast<T>(m);
    const VD db = hn::Sub(LoadD(d, buf), vm);
    const VD e = hn::IfThenElseZero(hn::FirstN(d, n - i), ExpNegF32<2>(d, hn::Mul(db, vb)));
    Accumulate(e, db, b0, b1, b2, b3, bd);
  }
  const auto total = [&](VD a, VD b)
                         HWY_ATTR { return hn::GetLane(hn::SumOfLanes(d, hn::Add(a, b))); };
  return {total(a0, b0), total(a1, b1), total(a2, b2), total(a3, b3), total(ad, bd)};
}

detail::row_moments MomentsF32(const float* x, size_t n, double m, double beta) {
  return Moments(x, n, m, beta);
}
detail::row_moments MomentsF64(const double* x, size_t n, double m, double beta) {
  return Moments(x, n, m, beta);
}

const detail::calibration_kernels* CalibrationKernels() {
  static const detail::calibration_kernels k{&MomentsF32, &MomentsF64};
  return &k;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kelvin::detail {
namespace {

template <class T>
row_moments scalar_moments(const T* x, std::size_t n, double m, double beta) {
  row_moments r;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - m;
    const double a = beta * d;
    const double e = a < -104 ? 0.0 : std::exp(a);
    r.s0 += e;
    r.s1 += e * d;
    r.s2 += e * d * d;
    r.s3 += e * d * d * d;
    r.sd += d;
  }
  return r;
}

const calibration_kernels kScalarCalibration{&scalar_moments<float>, &scalar_moments<double>};

}  // namespace

const calibration_kernels& calibration_kernels_for(const target& t) {
#define KELVIN_CALIBRATION_ENTRY(BIT, NS) \
  if (t.hwy_bit == (BIT)) return *kelvin::NS::CalibrationKernels();
  // The same targets as src/kernels/targets.inc (both files see the same HWY_TARGETS).
#if HWY_TARGETS & HWY_AVX3_DL
  KELVIN_CALIBRATION_ENTRY(HWY_AVX3_DL, N_AVX3_DL)
#endif
#if HWY_TARGETS & HWY_AVX3
  KELVIN_CALIBRATION_ENTRY(HWY_AVX3, N_AVX3)
#endif
#if HWY_TARGETS & HWY_AVX2
  KELVIN_CALIBRATION_ENTRY(HWY_AVX2, N_AVX2)
#endif
#if HWY_TARGETS & HWY_SSE4
  KELVIN_CALIBRATION_ENTRY(HWY_SSE4, N_SSE4)
#endif
#if HWY_TARGETS & HWY_SSSE3
  KELVIN_CALIBRATION_ENTRY(HWY_SSSE3, N_SSSE3)
#endif
#if HWY_TARGETS & HWY_SVE2
  KELVIN_CALIBRATION_ENTRY(HWY_SVE2, N_SVE2)
#endif
#if HWY_TARGETS & HWY_SVE
  KELVIN_CALIBRATION_ENTRY(HWY_SVE, N_SVE)
#endif
#if HWY_TARGETS & HWY_NEON
  KELVIN_CALIBRATION_ENTRY(HWY_NEON, N_NEON)
#endif
#if HWY_TARGETS & HWY_EMU128
  KELVIN_CALIBRATION_ENTRY(HWY_EMU128, N_EMU128)
#endif
#if HWY_TARGETS & HWY_SCALAR
  KELVIN_CALIBRATION_ENTRY(HWY_SCALAR, N_SCALAR)
#endif
#undef KELVIN_CALIBRATION_ENTRY
  return kScalarCalibration;  // kelvin's scalar reference (hwy_bit 0)
}

}  // namespace kelvin::detail
#endif  // HWY_ONCE
