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

// One vector of weights: the argument (x - m) * s formed in double (x - m is
// exact for floats), as in the softmax kernels; ExpNegF32 gives exactly 0
// below -104 (kGuard >= 1; kGuard 0 promises no such argument) and clamps
// -inf (kGuard 2). On AVX-512 the temperature goes into the exponential's
// constants (ExpNegF32Scaled), one product fewer per vector.
// The constants of the AVX-512 scaled exponential; empty elsewhere. Vectors
// are passed as arguments, not held in a struct: SVE's are sizeless.
struct WeightConsts {
#if KELVIN_EXP_TWO_TABLES
  ExpScaledConsts c;
  explicit WeightConsts(double sv) : c(sv, 1.0 / sv) {}
#else
  explicit WeightConsts(double /*sv*/) {}
#endif
};

template <int kGuard, bool kScaled>
HWY_INLINE hn::Vec<DD> Weight(hn::Vec<DD> x, hn::Vec<DD> vm, hn::Vec<DD> vs,
                              const WeightConsts& k) {
  const DD d;
#if KELVIN_EXP_TWO_TABLES
  if constexpr (kScaled) return ExpNegF32Scaled<kGuard>(d, hn::Sub(x, vm), k.c);
#endif
  (void)k;
  return ExpNegF32<kGuard>(d, hn::Mul(hn::Sub(x, vm), vs));
}

template <int kGuard, bool kScaled>
double ExpWeightsLoop(const float* HWY_RESTRICT x, size_t n, double m, double s,
                      double* HWY_RESTRICT w) {
  const DD d;
  const DS ds;
  const size_t N = hn::Lanes(d);
  const auto vm = hn::Set(d, m), vs = hn::Set(d, s);
  const WeightConsts wc(s);
  // Two accumulators: the adds' latency, not the exponential, would bound a
  // single chain on wide targets.
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto w0 = Weight<kGuard, kScaled>(hn::PromoteTo(d, hn::LoadU(ds, x + i)), vm, vs, wc);
    const auto w1 = Weight<kGuard, kScaled>(hn::PromoteTo(d, hn::LoadU(ds, x + i + N)), vm, vs, wc);
    if (w != nullptr) {
      hn::StoreU(w0, d, w + i);
      hn::StoreU(w1, d, w + i + N);
    }
    sum0 = hn::Add(sum0, w0);
    sum1 = hn::Add(sum1, w1);
  }
  if (i < n) {  // the tail through a buffer padded with -inf (weight 0, full guard)
    float buf[2 * hn::MaxLanes(DD())];
    double out[2 * hn::MaxLanes(DD())];
    for (size_t k = 0; k < 2 * N; ++k) {
      buf[k] = i + k < n ? x[i + k] : -std::numeric_limits<float>::infinity();
    }
    const auto w0 = Weight<2, kScaled>(hn::PromoteTo(d, hn::LoadU(ds, buf)), vm, vs, wc);
    const auto w1 = Weight<2, kScaled>(hn::PromoteTo(d, hn::LoadU(ds, buf + N)), vm, vs, wc);
    hn::StoreU(w0, d, out);
    hn::StoreU(w1, d, out + N);
    if (w != nullptr) {
      for (size_t k = 0; i + k < n; ++k) w[i + k] = out[k];
    }
    sum0 = hn::Add(sum0, w0);
    sum1 = hn::Add(sum1, w1);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
}

// One vector of float-lane weights times 2^64: a = x - m in float; where s
// is in [2^-8, 2^8] s sits in the exponential's constants (kScaled), else
// a * s is formed. Clamped to -120 and zeroed below -104 (in units of a s)
// unless kGuard is 0.
struct WeightFConsts {
  ExpF32Consts e;
  float s, live, clamp;
  WeightFConsts(double sv, bool scaled)
      : e(scaled ? sv : 1.0),
        s(static_cast<float>(sv)),
        live(static_cast<float>(scaled ? -104 / sv : -104.0)),
        clamp(static_cast<float>(scaled ? -120 / sv : -120.0)) {}
};

template <int kGuard, bool kScaled>
HWY_INLINE hn::Vec<DF> WeightF(hn::Vec<DF> x, hn::Vec<DF> vm, const WeightFConsts& c) {
  const DF df;
  auto a = hn::Sub(x, vm);
  if constexpr (!kScaled) a = hn::Mul(a, hn::Set(df, c.s));
  if constexpr (kGuard == 0) return Exp2p64NegF32Lanes(df, a, c.e);
  const auto live = hn::Ge(a, hn::Set(df, c.live));
  a = hn::Max(a, hn::Set(df, c.clamp));
  return hn::IfThenElseZero(live, Exp2p64NegF32Lanes(df, a, c.e));
}

// The float-lane weights widened to double, summed in double (the block sums
// stay exact to 2^-53, so the draw follows the weights it walks) and, when w
// is not null, stored times 2^-64 (exact: the results are normal doubles).
// Widening goes through a buffer, read back as double halves: portable to
// targets where a float vector is one double vector (compilers turn it into
// lane extracts; forcing the reloads measured slower).
template <int kGuard, bool kScaled>
double ExpWeightsF32Loop(const float* HWY_RESTRICT x, size_t n, float m, double s,
                         double* HWY_RESTRICT w) {
  const DF df;
  const DD d;
  const DS ds;
  const size_t NF = hn::Lanes(df), N = hn::Lanes(d);
  const auto vm = hn::Set(df, m);
  const WeightFConsts c(s, kScaled);
  const auto unscale = hn::Set(d, 0x1p-64);
  HWY_ALIGN float buf[hn::MaxLanes(DF())];
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  const auto widen = [&](hn::Vec<DF> e, double* out) HWY_ATTR {
    hn::Store(e, df, buf);
    for (size_t j = 0; j < NF; j += 2 * N) {
      const auto w0 = hn::PromoteTo(d, hn::Load(ds, buf + j));
      sum0 = hn::Add(sum0, w0);
      if (out != nullptr) hn::StoreU(hn::Mul(w0, unscale), d, out + j);
      if (j + N < NF) {
        const auto w1 = hn::PromoteTo(d, hn::Load(ds, buf + j + N));
        sum1 = hn::Add(sum1, w1);
        if (out != nullptr) hn::StoreU(hn::Mul(w1, unscale), d, out + j + N);
      }
    }
  };
  size_t i = 0;
  for (; i + NF <= n; i += NF) {
    widen(WeightF<kGuard, kScaled>(hn::LoadU(df, x + i), vm, c), w == nullptr ? nullptr : w + i);
  }
  if (i < n) {  // the tail through a buffer padded with -inf (weight 0, full guard)
    HWY_ALIGN float in[hn::MaxLanes(DF())];
    HWY_ALIGN double out[hn::MaxLanes(DF())];
    for (size_t k = 0; k < NF; ++k) {
      in[k] = i + k < n ? x[i + k] : -std::numeric_limits<float>::infinity();
    }
    widen(WeightF<2, kScaled>(hn::Load(df, in), vm, c), out);
    if (w != nullptr) {
      for (size_t k = 0; i + k < n; ++k) w[i + k] = out[k];
    }
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1))) * 0x1p-64;
}

template <int kGuard>
double ExpWeightsGuarded(const float* x, size_t n, double m, double s, double* w) {
  // Float lanes where m and s are floats' business: m a float value (the
  // row max always is) and s far from float's range ends, so that
  // (x - m) * s in float overflows only where the weight is 0 anyway.
  if (s >= 0x1p-100 && s <= 0x1p100 && static_cast<double>(static_cast<float>(m)) == m &&
      !detail::sampling_double_weights()) {
    const float mf = static_cast<float>(m);
    if (s >= 0x1p-8 && s <= 0x1p8) return ExpWeightsF32Loop<kGuard, true>(x, n, mf, s, w);
    return ExpWeightsF32Loop<kGuard, false>(x, n, mf, s, w);
  }
#if KELVIN_EXP_TWO_TABLES
  if (s <= 0x1p300) return ExpWeightsLoop<kGuard, true>(x, n, m, s, w);
#endif
  return ExpWeightsLoop<kGuard, false>(x, n, m, s, w);
}

double ExpWeights(const float* x, size_t n, double m, double s, int guard, double* w) {
  switch (guard) {
    case 0:
      return ExpWeightsGuarded<0>(x, n, m, s, w);
    case 1:
      return ExpWeightsGuarded<1>(x, n, m, s, w);
    default:
      return ExpWeightsGuarded<2>(x, n, m, s, w);
  }
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

// Four vectors per test as in FirstAbove; the vectors of a group with hits
// one by one, their hits' indices compressed into idx.
size_t CollectAbove(const float* HWY_RESTRICT x, size_t n, float thr, uint32_t* HWY_RESTRICT idx,
                    size_t cap, size_t* end) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const size_t N = hn::Lanes(d);
  const auto t = hn::Set(d, thr);
  const auto iota = hn::Iota(di, 0);
  int32_t* out = reinterpret_cast<int32_t*>(idx);
  size_t count = 0, i = 0;
  while (i + 4 * N <= n && count < cap) {
    const auto m0 = hn::Not(hn::Le(hn::LoadU(d, x + i), t));
    const auto m1 = hn::Not(hn::Le(hn::LoadU(d, x + i + N), t));
    const auto m2 = hn::Not(hn::Le(hn::LoadU(d, x + i + 2 * N), t));
    const auto m3 = hn::Not(hn::Le(hn::LoadU(d, x + i + 3 * N), t));
    if (hn::AllFalse(d, hn::Or(hn::Or(m0, m1), hn::Or(m2, m3)))) {
      i += 4 * N;
      continue;
    }
    for (size_t j = 0; j < 4 && count < cap; ++j, i += N) {
      const auto m = hn::Not(hn::Le(hn::LoadU(d, x + i), t));
      const auto ix = hn::Add(iota, hn::Set(di, static_cast<int32_t>(i)));
      count += hn::CompressStore(ix, hn::RebindMask(di, m), di, out + count);
    }
  }
  for (; i < n && count < cap; ++i) {
    if (!(x[i] <= thr)) idx[count++] = static_cast<uint32_t>(i);
  }
  *end = i;
  return count;
}

// The first index of the max in one pass: per lane the max so far and where
// it was first seen (a strict compare keeps the earlier index on a tie), four
// independent lanes sets, then the lanes with the overall max give their
// smallest index. NaN: *has_nan (the index is then meaningless).
size_t ArgMax(const float* HWY_RESTRICT x, size_t n, bool* has_nan) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  using VF = hn::Vec<DF>;
  using VI = hn::Vec<decltype(di)>;
  const size_t N = hn::Lanes(d);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  size_t best = 0;
  float best_v = kNegInf;
  bool nan = false;
  size_t i = 0;
  // Indices live in int32 lanes: rows up to 2^31 entries per kernel call.
  if (n >= 4 * N && n < (size_t{1} << 31)) {
    VF m0 = hn::Set(d, kNegInf), m1 = m0, m2 = m0, m3 = m0;
    const VI iota = hn::Iota(di, 0);
    VI i0 = iota, i1 = hn::Add(iota, hn::Set(di, static_cast<int32_t>(N))),
       i2 = hn::Add(iota, hn::Set(di, static_cast<int32_t>(2 * N))),
       i3 = hn::Add(iota, hn::Set(di, static_cast<int32_t>(3 * N)));
    VI c0 = i0, c1 = i1, c2 = i2, c3 = i3;
    const VI step = hn::Set(di, static_cast<int32_t>(4 * N));
    auto bad = hn::Lt(m0, m0);  // all false
    for (; i + 4 * N <= n; i += 4 * N) {
      const VF v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + N);
      const VF v2 = hn::LoadU(d, x + i + 2 * N), v3 = hn::LoadU(d, x + i + 3 * N);
      const auto g0 = hn::Gt(v0, m0), g1 = hn::Gt(v1, m1), g2 = hn::Gt(v2, m2), g3 = hn::Gt(v3, m3);
      m0 = hn::IfThenElse(g0, v0, m0);
      m1 = hn::IfThenElse(g1, v1, m1);
      m2 = hn::IfThenElse(g2, v2, m2);
      m3 = hn::IfThenElse(g3, v3, m3);
      i0 = hn::IfThenElse(hn::RebindMask(di, g0), c0, i0);
      i1 = hn::IfThenElse(hn::RebindMask(di, g1), c1, i1);
      i2 = hn::IfThenElse(hn::RebindMask(di, g2), c2, i2);
      i3 = hn::IfThenElse(hn::RebindMask(di, g3), c3, i3);
      c0 = hn::Add(c0, step);
      c1 = hn::Add(c1, step);
      c2 = hn::Add(c2, step);
      c3 = hn::Add(c3, step);
      bad = hn::Or(
          bad, hn::Or(hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)), hn::Or(hn::IsNaN(v2), hn::IsNaN(v3))));
    }
    nan = !hn::AllFalse(d, bad);
    alignas(64) float mv[4 * hn::MaxLanes(DF())];
    alignas(64) int32_t iv[4 * hn::MaxLanes(DF())];
    hn::StoreU(m0, d, mv);
    hn::StoreU(m1, d, mv + N);
    hn::StoreU(m2, d, mv + 2 * N);
    hn::StoreU(m3, d, mv + 3 * N);
    hn::StoreU(i0, di, iv);
    hn::StoreU(i1, di, iv + N);
    hn::StoreU(i2, di, iv + 2 * N);
    hn::StoreU(i3, di, iv + 3 * N);
    best = static_cast<size_t>(iv[0]);
    best_v = mv[0];
    for (size_t k = 1; k < 4 * N; ++k) {
      const size_t ik = static_cast<size_t>(iv[k]);
      if (mv[k] > best_v || (mv[k] == best_v && ik < best)) {
        best_v = mv[k];
        best = ik;
      }
    }
  }
  for (; i < n; ++i) {
    if (std::isnan(x[i])) nan = true;
    if (x[i] > best_v) {
      best_v = x[i];
      best = i;
    }
  }
  *has_nan = nan;
  return best;
}

}  // namespace sampling_detail

const detail::sampling_kernels* SamplingKernels() {
  static const detail::sampling_kernels k{&sampling_detail::ExpWeights,
                                          &sampling_detail::FirstAbove,
                                          &sampling_detail::CollectAbove, &sampling_detail::ArgMax};
  return &k;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <atomic>

#include "src/kernels/target_list.h"
namespace kelvin::detail {

namespace {
std::atomic<bool> g_double_weights{false};
}  // namespace

void set_sampling_double_weights(bool on) { g_double_weights.store(on, std::memory_order_relaxed); }
bool sampling_double_weights() { return g_double_weights.load(std::memory_order_relaxed); }

namespace {

// kelvin's scalar reference: exp of the argument formed in double by
// std::exp (the kernels are within exp_weight_error of it), the same zeroing
// below -104.
double exp_weights_ref(const float* x, std::size_t n, double m, double s, int /*guard*/,
                       double* w) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = (static_cast<double>(x[i]) - m) * s;
    const double e = a >= -104 ? std::exp(a) : 0.0;
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

std::size_t collect_above_ref(const float* x, std::size_t n, float thr, std::uint32_t* idx,
                              std::size_t cap, std::size_t* end) {
  std::size_t count = 0, i = 0;
  for (; i < n && count < cap; ++i) {
    if (!(x[i] <= thr)) idx[count++] = static_cast<std::uint32_t>(i);
  }
  *end = i;
  return count;
}

std::size_t argmax_ref(const float* x, std::size_t n, bool* has_nan) {
  std::size_t best = 0;
  float v = -std::numeric_limits<float>::infinity();
  *has_nan = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) *has_nan = true;
    if (x[i] > v) {
      v = x[i];
      best = i;
    }
  }
  return best;
}

const sampling_kernels kScalarSampling{&exp_weights_ref, &first_above_ref, &collect_above_ref,
                                       &argmax_ref};

}  // namespace

const sampling_kernels& sampling_kernels_for(const target& t) {
#define KELVIN_SAMPLING_ENTRY(BIT, NS, NAME) \
  if (t.hwy_bit == (BIT)) return *kelvin::NS::SamplingKernels();
  KELVIN_FOREACH_TARGET(KELVIN_SAMPLING_ENTRY)
#undef KELVIN_SAMPLING_ENTRY
  return kScalarSampling;  // kelvin's scalar reference (hwy_bit 0)
}

}  // namespace kelvin::detail
#endif  // HWY_ONCE
