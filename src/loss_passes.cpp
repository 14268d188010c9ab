// The per-row passes of the losses (src/loss_internal.hpp): reductions over
// a row of logits and its probabilities, in double, written once as plain
// loops that the compiler vectorises (OpenMP simd reductions) and compiled
// per x86 ISA level with target_clones (the library's baseline is SSE2).
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>

#include "src/loss_internal.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KELVIN_LOSS_ISA_VARIANTS 1
#endif
#define KELVIN_INLINE inline __attribute__((always_inline))

// Internal, always-inlined vector helpers: no ABI crosses them.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace kelvin::detail {
namespace {

template <class X>
KELVIN_INLINE void scan_impl(const X* x, std::size_t c, double& m, bool& nan) {
  X mx = -std::numeric_limits<X>::infinity();
  int bad = 0;
#pragma omp simd reduction(max : mx) reduction(| : bad)
  for (std::size_t j = 0; j < c; ++j) {
    const X v = x[j];
    bad |= static_cast<int>(v != v);
    mx = v > mx ? v : mx;
  }
  m = static_cast<double>(mx);
  nan = bad != 0;
}

// Eight lanes of double, whatever the ISA (GCC/Clang vector extensions):
// every clone computes the same sums in the same order, so results do not
// depend on the CPU.
using vd = double __attribute__((vector_size(64)));
using vl = long long __attribute__((vector_size(64)));
constexpr std::size_t kLanes = 8;

using vf = float __attribute__((vector_size(32)));

KELVIN_INLINE vd load8(const double* p) {
  vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
KELVIN_INLINE vd load8(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, vd);
}
KELVIN_INLINE void store8(double* p, vd v) { std::memcpy(p, &v, sizeof v); }
KELVIN_INLINE void store8(float* p, vd v) {
  const vf o = __builtin_convertvector(v, vf);
  std::memcpy(p, &o, sizeof o);
}

KELVIN_INLINE double hsum(vd v) {
  double s = 0;
  for (std::size_t k = 0; k < kLanes; ++k) s += v[k];
  return s;
}

// The lanes' state of one pass: small, nbig, pmax, sp, sx.
struct lanes {
  vd small{}, sp{}, sx{}, pmax{};
  vd xmax = vd{} - std::numeric_limits<double>::infinity();
  vl nbig{}, nan{};
};

KELVIN_INLINE row_pass finish(const lanes& a, const lanes& b) {
  row_pass r;
  r.small = hsum(a.small + b.small);
  r.sp = hsum(a.sp + b.sp);
  r.sx = hsum(a.sx + b.sx);
  const vd pm = a.pmax > b.pmax ? a.pmax : b.pmax;
  const vd xm = a.xmax > b.xmax ? a.xmax : b.xmax;
  const vl nb = a.nbig + b.nbig;
  const vl bad = a.nan | b.nan;
  r.xmax = -std::numeric_limits<double>::infinity();
  for (std::size_t k = 0; k < kLanes; ++k) {
    r.pmax = pm[k] > r.pmax ? pm[k] : r.pmax;
    r.xmax = xm[k] > r.xmax ? xm[k] : r.xmax;
    r.nbig -= static_cast<int>(nb[k]);  // lanes count -1 per entry
    r.nan |= bad[k] != 0;
  }
  return r;
}

// One step of eight entries: p, x - m and the target weight q (labels: the
// smoothing constant; probabilities: keep * q_j + eps_c).
template <bool kGrad, bool kSmooth>
KELVIN_INLINE vd step(lanes& s, vd pj, vd x, vd vr, vd qj, vd weight, double scale) {
  const vd zero{};
  const vd xj = x - vr;
  s.xmax = x > s.xmax ? x : s.xmax;
  s.nan |= x != x;
  const vd half = zero + 0.5;
  s.small += pj <= half ? pj : zero;
  s.nbig += pj > half;
  s.pmax = pj > s.pmax ? pj : s.pmax;
  // selects, not branches: masked x_j are -inf where p_j == 0
  s.sp += pj * (pj > zero ? xj : zero);
  if constexpr (kSmooth) s.sx += qj * (qj != zero ? xj : zero);
  return kGrad ? (weight * pj - qj) * scale : zero;
}

// Sums relative to a reference logit r. Labels: sx = sum (x_j - r) (the
// smoothing term), gradient (p_j - eps_c) * scale. Probabilities: sx = sum
// q_j (x_j - r), gradient (sq p_j - q_j) * scale. Also the row's max and NaN
// flag. Two sets of lanes for instruction-level parallelism.
template <bool kGrad, bool kSmooth, bool kProbs, class X>
KELVIN_INLINE row_pass pass_impl(const X* __restrict x, X* __restrict p, const X* __restrict q,
                                 std::size_t c, double m, double keep, double eps_c, double sq,
                                 double scale) {
  lanes a, b;
  const vd vr = vd{} + m, veps = vd{} + eps_c, vw = vd{} + sq, one = vd{} + 1.0;
  auto target = [&](std::size_t j) {
    if constexpr (kProbs) return keep * load8(q + j) + veps;
    return kSmooth ? one : veps;  // labels: sx sums x_j - m with weight 1
  };
  std::size_t j = 0;
  for (; j + 2 * kLanes <= c; j += 2 * kLanes) {
    const vd p0 = load8(p + j), p1 = load8(p + j + kLanes);
    const vd x0 = load8(x + j), x1 = load8(x + j + kLanes);
    const vd q0 = target(j), q1 = target(j + kLanes);
    const vd g0 = step<kGrad, kSmooth>(a, p0, x0, vr, q0, vw, scale);
    const vd g1 = step<kGrad, kSmooth>(b, p1, x1, vr, q1, vw, scale);
    if constexpr (kGrad) {
      if constexpr (kProbs) {
        store8(p + j, g0), store8(p + j + kLanes, g1);
      } else {
        store8(p + j, (p0 - veps) * scale), store8(p + j + kLanes, (p1 - veps) * scale);
      }
    }
  }
  row_pass r = finish(a, b);
  for (; j < c; ++j) {  // the tail, one at a time
    const double pj = static_cast<double>(p[j]);
    const double xr = static_cast<double>(x[j]);
    const double xj = xr - m;
    r.xmax = xr > r.xmax ? xr : r.xmax;
    r.nan |= xr != xr;
    const double qj = kProbs ? keep * static_cast<double>(q[j]) + eps_c : (kSmooth ? 1.0 : eps_c);
    r.small += pj <= 0.5 ? pj : 0.0;
    r.nbig += pj > 0.5;
    r.pmax = pj > r.pmax ? pj : r.pmax;
    r.sp += pj * (pj > 0 ? xj : 0.0);
    if (kSmooth) r.sx += qj * (qj != 0 ? xj : 0.0);
    if (kGrad) p[j] = static_cast<X>(kProbs ? (sq * pj - qj) * scale : (pj - eps_c) * scale);
  }
  return r;
}

template <class X>
KELVIN_INLINE row_pass mass_impl(const X* p, std::size_t c) {
  double small = 0;
  X pmax = 0;
  int nbig = 0;
#pragma omp simd reduction(+ : small, nbig) reduction(max : pmax)
  for (std::size_t j = 0; j < c; ++j) {
    const double pj = static_cast<double>(p[j]);
    small += pj <= 0.5 ? pj : 0.0;
    nbig += static_cast<int>(pj > 0.5);
    pmax = p[j] > pmax ? p[j] : pmax;
  }
  return {small, 0, 0, static_cast<double>(pmax), nbig};
}

template <class X>
KELVIN_INLINE double sum_impl(const X* v, std::size_t c) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::size_t j = 0; j < c; ++j) s += static_cast<double>(v[j]);
  return s;
}

// The passes compiled once per x86 level (plain functions with a target
// attribute, picked once by CPUID: target_clones would export its ifunc
// symbols whatever the visibility). Built with -ffp-contract=off (CMake), so
// every level computes the same sums.
#define KELVIN_LOSS_LEVEL(NS, ATTR)                                                                \
  namespace NS {                                                                                   \
  template <class X>                                                                               \
  ATTR void scan_row(const X* x, std::size_t c, double& m, bool& nan) {                            \
    scan_impl(x, c, m, nan);                                                                       \
  }                                                                                                \
  template <class X>                                                                               \
  ATTR row_pass pass_labels(const X* x, X* p, std::size_t c, double m, double eps_c, double scale, \
                            bool grad, bool smooth) {                                              \
    if (grad) {                                                                                    \
      return smooth ? pass_impl<true, true, false>(x, p, x, c, m, 1, eps_c, 1, scale)              \
                    : pass_impl<true, false, false>(x, p, x, c, m, 1, eps_c, 1, scale);            \
    }                                                                                              \
    return smooth ? pass_impl<false, true, false>(x, p, x, c, m, 1, eps_c, 1, scale)               \
                  : pass_impl<false, false, false>(x, p, x, c, m, 1, eps_c, 1, scale);             \
  }                                                                                                \
  template <class X>                                                                               \
  ATTR row_pass pass_probs(const X* x, X* p, const X* q, std::size_t c, double m, double keep,     \
                           double eps_c, double sq, double scale, bool grad) {                     \
    return grad ? pass_impl<true, true, true>(x, p, q, c, m, keep, eps_c, sq, scale)               \
                : pass_impl<false, true, true>(x, p, q, c, m, keep, eps_c, sq, scale);             \
  }                                                                                                \
  template <class X>                                                                               \
  ATTR row_pass pass_mass(const X* p, std::size_t c) {                                             \
    return mass_impl(p, c);                                                                        \
  }                                                                                                \
  template <class X>                                                                               \
  ATTR double row_sum(const X* v, std::size_t c) {                                                 \
    return sum_impl(v, c);                                                                         \
  }                                                                                                \
  }

KELVIN_LOSS_LEVEL(level_base, )
#ifdef KELVIN_LOSS_ISA_VARIANTS
KELVIN_LOSS_LEVEL(level_avx2, __attribute__((target("avx2,fma"))))
KELVIN_LOSS_LEVEL(level_avx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))))

// 2: AVX-512, 1: AVX2 + FMA, 0: the baseline.
int level() {
  static const int l = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl")) {
      return 2;
    }
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
  }();
  return l;
}
#define KELVIN_LOSS_DISPATCH(CALL) \
  switch (level()) {               \
    case 2:                        \
      return level_avx512::CALL;   \
    case 1:                        \
      return level_avx2::CALL;     \
    default:                       \
      return level_base::CALL;     \
  }
#else
#define KELVIN_LOSS_DISPATCH(CALL) return level_base::CALL;
#endif

}  // namespace

#define KELVIN_LOSS_PASSES(X)                                                                   \
  void scan_row(const X* x, std::size_t c, double& m,                                           \
                bool& nan){KELVIN_LOSS_DISPATCH(scan_row(x, c, m, nan))} row_pass               \
  pass_labels(const X* x, X* p, std::size_t c, double m, double eps_c, double scale, bool grad, \
              bool smooth){                                                                     \
      KELVIN_LOSS_DISPATCH(pass_labels(x, p, c, m, eps_c, scale, grad, smooth))} row_pass       \
  pass_probs(const X* x, X* p, const X* q, std::size_t c, double m, double keep, double eps_c,  \
             double sq, double scale, bool grad){                                               \
      KELVIN_LOSS_DISPATCH(pass_probs(x, p, q, c, m, keep, eps_c, sq, scale, grad))} row_pass   \
  pass_mass(const X* p, std::size_t c) {                                                        \
    KELVIN_LOSS_DISPATCH(pass_mass(p, c))                                                       \
  }                                                                                             \
  double row_sum(const X* v, std::size_t c) { KELVIN_LOSS_DISPATCH(row_sum(v, c)) }

KELVIN_LOSS_PASSES(float)
KELVIN_LOSS_PASSES(double)

#undef KELVIN_LOSS_PASSES
#undef KELVIN_LOSS_DISPATCH
#undef KELVIN_LOSS_LEVEL

}  // namespace kelvin::detail
