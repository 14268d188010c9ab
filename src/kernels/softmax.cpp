// SIMD row kernels for the softmax family, written once with Google Highway and
// compiled for every target (foreach_target.h re-includes this file per target).
//
// Accuracy design (docs/contract.md): the error of naive code comes from
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
#include "src/kernels/axis-inl.h"
#include "src/kernels/batched_rows-inl.h"
#include "src/kernels/exp-inl.h"
#include "src/kernels/kernels.hpp"
#include "src/kernels/lanes-inl.h"
#include "src/kernels/row_passes-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

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
  static const detail::kernel_table<float> t{.scan = &ScanF32,
                                             .exp_sum = &ExpSumF32,
                                             .scale = &ScaleF32,
                                             .log_softmax_out = &LogSoftmaxOutF32,
                                             .axis_block = kAxisBlockF32,
                                             .rows = &RowsF32,
                                             .log = &LogF64,
                                             .exp_neg = &ExpNegBatchF32};
  return &t;
}
const detail::kernel_table<double>* TableF64() {
  static const detail::kernel_table<double> t{.scan = &ScanF64,
                                              .exp_sum = &ExpSumF64,
                                              .scale = &ScaleF64,
                                              .log_softmax_out = &LogSoftmaxOutF64,
                                              .axis_block = kAxisBlockF64,
                                              .rows = nullptr,  // float rows only
                                              .log = nullptr,   // float rows only
                                              .exp_neg = &ExpNegBatchF64};
  return &t;
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "src/kernels/targets.inc"
#endif
