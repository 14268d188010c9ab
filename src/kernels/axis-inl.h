// Over a non-last axis, per Highway target: the lanes of a vector are
// independent rows (kernel_table::axis_block). Also the engine of the short
// rows of batched_rows-inl.h, transposed.
#if defined(KELVIN_KERNELS_AXIS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KELVIN_KERNELS_AXIS_INL_H_
#undef KELVIN_KERNELS_AXIS_INL_H_
#else
#define KELVIN_KERNELS_AXIS_INL_H_
#endif

#include <hwy/highway.h>

#include <cstddef>

#include "src/kernels/exp-inl.h"
#include "src/kernels/kernels.hpp"
#include "src/kernels/lanes-inl.h"
#include "src/kernels/row_passes-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#endif  // KELVIN_KERNELS_AXIS_INL_H_
