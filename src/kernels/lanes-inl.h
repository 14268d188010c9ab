// The softmax kernels' shared vocabulary, per Highway target: compute in
// double lanes, storage in float or double lanes, tail loads and stores, and
// the loop over a row's vectors (included from the kernel files).
#if defined(KELVIN_KERNELS_LANES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KELVIN_KERNELS_LANES_INL_H_
#undef KELVIN_KERNELS_LANES_INL_H_
#else
#define KELVIN_KERNELS_LANES_INL_H_
#endif

#include <hwy/highway.h>

#include <cstring>
#include <limits>

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

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#endif  // KELVIN_KERNELS_LANES_INL_H_
