// The sampler's row kernels, compiled for every target (foreach_target.h
// re-includes this file per target): the exponential weights of the
// inverse-CDF draw and the threshold scan behind top-k selection and greedy.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/kernels/sampling.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <limits>

#include "src/kernels/exp-inl.h"
#include "src/kernels/sampling.hpp"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace sampling_detail {

using DD = hn::ScalableTag<double>;
using DS = hn::Rebind<float, DD>;  // one float lane per double lane
using DF = hn::ScalableTag<float>;

// The argument is formed in double (x - m exact for floats, one rounding for
// the product), as in the softmax kernels; ExpNegF32 zeroes arguments below
// -104 and clamps -inf, so no demotion to float underflows into an assist.
HWY_INLINE hn::Vec<DS> Weights(hn::Vec<DD> x, hn::Vec<DD> m, hn::Vec<DD> s) {
  const DD d;
  const DS ds;
  return hn::DemoteTo(ds, ExpNegF32<2>(d, hn::Mul(hn::Sub(x, m), s)));
}

double ExpWeights(const float* HWY_RESTRICT x, size_t n, double m, double s,
                  float* HWY_RESTRICT w) {
  const DD d;
  const DS ds;
  const size_t N = hn::Lanes(d);
  const auto vm = hn::Set(d, m), vs = hn::Set(d, s);
  // Two accumulators: the adds' latency, not the exponential, would bound a
  // single chain on wide targets.
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto w0 = Weights(hn::PromoteTo(d, hn::LoadU(ds, x + i)), vm, vs);
    const auto w1 = Weights(hn::PromoteTo(d, hn::LoadU(ds, x + i + N)), vm, vs);
    if (w != nullptr) {
      hn::StoreU(w0, ds, w + i);
      hn::StoreU(w1, ds, w + i + N);
    }
    sum0 = hn::Add(sum0, hn::PromoteTo(d, w0));
    sum1 = hn::Add(sum1, hn::PromoteTo(d, w1));
  }
  if (i < n) {  // the tail through a buffer padded with -inf (weight 0)
    float buf[2 * hn::MaxLanes(DD())];
    for (size_t k = 0; k < 2 * N; ++k) {
      buf[k] = i + k < n ? x[i + k] : -std::numeric_limits<float>::infinity();
    }
    const auto w0 = Weights(hn::PromoteTo(d, hn::LoadU(ds, buf)), vm, vs);
    const auto w1 = Weights(hn::PromoteTo(d, hn::LoadU(ds, buf + N)), vm, vs);
    hn::StoreU(w0, ds, buf);
    hn::StoreU(w1, ds, buf + N);
    if (w != nullptr) {
      for (size_t k = 0; i + k < n; ++k) w[i + k] = buf[k];
    }
    sum0 = hn::Add(sum0, hn::PromoteTo(d, w0));
    sum1 = hn::Add(sum1, hn::PromoteTo(d, w1));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
}

size_t FirstAbove(const float* HWY_RESTRICT x, size_t n, float thr) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const auto t = hn::Set(d, thr);
  size_t i = 0;
  // Four vectors per test: the branch is almost never taken once a top-k
  // threshold has settled.
  for (; i + 4 * N <= n; i += 4 * N) {
    const auto m0 = hn::Not(hn::Le(hn::LoadU(d, x + i), t));
    const auto m1 = hn::Not(hn::Le(hn::LoadU(d, x + i + N), t));
    const auto m2 = hn::Not(hn::Le(hn::LoadU(d, x + i + 2 * N), t));
    const auto m3 = hn::Not(hn::Le(hn::LoadU(d, x + i + 3 * N), t));
    if (!hn::AllFalse(d, hn::Or(hn::Or(m0, m1), hn::Or(m2, m3)))) break;
  }
  for (; i + N <= n; i += N) {
    const intptr_t f = hn::FindFirstTrue(d, hn::Not(hn::Le(hn::LoadU(d, x + i), t)));
    if (f >= 0) return i + static_cast<size_t>(f);
  }
  for (; i < n; ++i) {
    if (!(x[i] <= thr)) return i;
  }
  return n;
}

}  // namespace sampling_detail

const detail::sampling_kernels* SamplingKernels() {
  static const detail::sampling_kernels k{&sampling_detail::ExpWeights,
                                          &sampling_detail::FirstAbove};
  return &k;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace kelvin::detail {
namespace {

// kelvin's scalar reference: the same weights from std::exp (a different
// rounding of the same exponential, within a float ulp), the same zeroing.
double exp_weights_ref(const float* x, std::size_t n, double m, double s, float* w) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = (static_cast<double>(x[i]) - m) * s;
    const float e = a >= -104 ? static_cast<float>(std::exp(a)) : 0.0f;
    if (w != nullptr) w[i] = e;
    sum += e;
  }
  return sum;
}

std::size_t first_above_ref(const float* x, std::size_t n, float thr) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!(x[i] <= thr)) return i;
  }
  return n;
}

const sampling_kernels kScalarSampling{&exp_weights_ref, &first_above_ref};

}  // namespace

const sampling_kernels& sampling_kernels_for(const target& t) {
#define KELVIN_SAMPLING_ENTRY(BIT, NS) \
  if (t.hwy_bit == (BIT)) return *kelvin::NS::SamplingKernels();
  // The same targets as src/kernels/targets.inc (both files see the same HWY_TARGETS).
#if HWY_TARGETS & HWY_AVX3_DL
  KELVIN_SAMPLING_ENTRY(HWY_AVX3_DL, N_AVX3_DL)
#endif
#if HWY_TARGETS & HWY_AVX3
  KELVIN_SAMPLING_ENTRY(HWY_AVX3, N_AVX3)
#endif
#if HWY_TARGETS & HWY_AVX2
  KELVIN_SAMPLING_ENTRY(HWY_AVX2, N_AVX2)
#endif
#if HWY_TARGETS & HWY_SSE4
  KELVIN_SAMPLING_ENTRY(HWY_SSE4, N_SSE4)
#endif
#if HWY_TARGETS & HWY_SSSE3
  KELVIN_SAMPLING_ENTRY(HWY_SSSE3, N_SSSE3)
#endif
#if HWY_TARGETS & HWY_SVE2
  KELVIN_SAMPLING_ENTRY(HWY_SVE2, N_SVE2)
#endif
#if HWY_TARGETS & HWY_SVE
  KELVIN_SAMPLING_ENTRY(HWY_SVE, N_SVE)
#endif
#if HWY_TARGETS & HWY_NEON
  KELVIN_SAMPLING_ENTRY(HWY_NEON, N_NEON)
#endif
#if HWY_TARGETS & HWY_EMU128
  KELVIN_SAMPLING_ENTRY(HWY_EMU128, N_EMU128)
#endif
#if HWY_TARGETS & HWY_SCALAR
  KELVIN_SAMPLING_ENTRY(HWY_SCALAR, N_SCALAR)
#endif
#undef KELVIN_SAMPLING_ENTRY
  return kScalarSampling;  // kelvin's scalar reference (hwy_bit 0)
}

}  // namespace kelvin::detail
#endif  // HWY_ONCE
