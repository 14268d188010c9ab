// exp for arguments <= 0, per Highway target (included from kernel files).
//
//   n := round(a / ln2)                       (magic-number rounding)
//   r := a - n*ln2_hi - n*ln2_lo (+ a_lo)    (first step exact)
//   exp(r) := 1 + (r + r^2 * P(r))           (Taylor, |r| <= ln2/2)
//   exp(a) := exp(r) * 2^n                    (2^n built in the exponent bits)
//
// ExpNegF32 serves float data computed in double: table-driven (2^(j/K) for
// the K lanes of a vector, one permute) with a short polynomial, relative
// error below 1.4e-9 (0.012 float ulp).
// ExpNegF64 serves double data: a double-double argument and result, degree 13
// (remainder below 0.04 ulp), and subnormal results scaled in two steps so
// that they are rounded once; arguments below -746 give 0.

#if defined(KELVIN_KERNELS_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KELVIN_KERNELS_EXP_INL_H_
#undef KELVIN_KERNELS_EXP_INL_H_
#else
#define KELVIN_KERNELS_EXP_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace exp_detail {
constexpr double kLog2e = 0x1.71547652b82fep0;
// ln2 = kLn2Hi + kLn2Lo with 32 trailing zero bits in kLn2Hi, so that n * kLn2Hi
// is exact for |n| < 2^20 even without FMA (targets below AVX2 have none).
constexpr double kLn2Hi = 0x1.62e42feep-1;
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
// Adding 1.5 * 2^52 rounds a double of magnitude < 2^51 to an integer, which
// then sits in the low mantissa bits.
constexpr double kMagic = 0x1.8p52;
}  // namespace exp_detail

// a * b - p, where p = a * b rounded: exact with an FMA where the target has
// one, else Dekker's product of halves split by masking the low 27 mantissa
// bits (no overflow for any finite input, unlike Veltkamp's split), within
// 2^-105 |p|.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ProductError(D d, V a, V b, V p) {
#if HWY_NATIVE_FMA
  (void)d;
  return hn::MulSub(a, b, p);
#else
  const hn::RebindToUnsigned<D> du;
  const auto high = hn::Set(du, 0xFFFFFFFFF8000000ull);
  const V a_hi = hn::BitCast(d, hn::And(hn::BitCast(du, a), high));
  const V b_hi = hn::BitCast(d, hn::And(hn::BitCast(du, b), high));
  const V a_lo = hn::Sub(a, a_hi), b_lo = hn::Sub(b, b_hi);
  V e = hn::Sub(hn::Mul(a_hi, b_hi), p);
  e = hn::Add(e, hn::Mul(a_hi, b_lo));
  e = hn::Add(e, hn::Mul(a_lo, b_hi));
  return hn::Add(e, hn::Mul(a_lo, b_lo));
#endif
}

// a * (b_hi + b_lo) rounded once (to within 2^-100 relative).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V MulDD(D d, V a, V b_hi, V b_lo) {
  const V p = hn::Mul(a, b_hi);
  return hn::Add(p, hn::MulAdd(a, b_lo, ProductError(d, a, b_hi, p)));
}

// 2^n for integer-valued n in [-1022, 1023].
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Pow2I(D d, V n) {
  const hn::RebindToSigned<D> di;
  const auto bits = hn::BitCast(di, hn::Add(n, hn::Set(d, exp_detail::kMagic)));
  return hn::BitCast(d, hn::ShiftLeft<52>(hn::Add(bits, hn::Set(di, 1023))));
}

// exp(r) - 1 - r = r^2 * P(r), Taylor coefficients 1/k!, k = 2..Degree.
template <int Degree>
struct ExpCoeffs {
  double c[Degree + 1];
  constexpr ExpCoeffs() : c() {
    double f = 1;
    for (int k = 0; k <= Degree; ++k) {
      if (k > 0) f *= k;
      c[k] = 1.0 / f;
    }
  }
};

template <int Degree, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpPoly(D d, V r) {
  static constexpr ExpCoeffs<Degree> kC;
  const double* c = kC.c;
  V p = hn::Set(d, c[Degree]);
  for (int k = Degree - 1; k >= 2; --k) p = hn::MulAdd(p, r, hn::Set(d, c[k]));
  const V r2 = hn::Mul(r, r);
  return hn::Add(hn::Set(d, 1.0), hn::MulAdd(r2, p, r));
}

// 2^(j/K), j = 0..K-1, correctly rounded: the table of ExpNegF32.
template <size_t K>
struct Pow2Frac;
template <>
struct Pow2Frac<2> {
  static constexpr double v[2] = {1.0, 0x1.6a09e667f3bcdp+0};
};
template <>
struct Pow2Frac<4> {
  static constexpr double v[4] = {1.0, 0x1.306fe0a31b715p+0, 0x1.6a09e667f3bcdp+0,
                                  0x1.ae89f995ad3adp+0};
};
template <>
struct Pow2Frac<8> {
  static constexpr double v[8] = {1.0,
                                  0x1.172b83c7d517bp+0,
                                  0x1.306fe0a31b715p+0,
                                  0x1.4bfdad5362a27p+0,
                                  0x1.6a09e667f3bcdp+0,
                                  0x1.8ace5422aa0dbp+0,
                                  0x1.ae89f995ad3adp+0,
                                  0x1.d5818dcfba487p+0};
};

// Table size of ExpNegF32 on this target: one lane per entry, so that the
// lookup is one in-register permute (at most 8 entries; 1 = no table on
// targets with one lane or a length unknown at compile time).
template <class D>
constexpr size_t ExpTableSize() {
#if HWY_HAVE_SCALABLE
  return 1;
#else
  constexpr size_t n = hn::MaxLanes(D());
  return n >= 8 ? 8 : n;
#endif
}

// Polynomial degree for |r| <= ln2 / (2K): the Taylor remainder
// |r|^(deg+1) / (deg+1)! stays below 1.3e-9; with rounding, 1.32e-9 measured (0.011 float ulp).
constexpr int ExpDegree(size_t k) { return k >= 8 ? 4 : k == 4 ? 5 : k == 2 ? 6 : 8; }

// exp(a) for a <= 0 (a may be -inf) in double lanes, accurate to 1.4e-9
// relative (0.011 float ulp), for float rows. Table-driven:
//   n := round(a * K / ln2),  j := n mod K,  r := a - n * ln2 / K
//   exp(a) = 2^((n - j) / K) * 2^(j/K) * exp(r)
// with 2^(j/K) from an in-register table and exp(r) - 1 a short polynomial.
// Arguments below -120 are clamped there: the result (< 2^-173) is not 0 but
// rounds to 0 as a float, and its share of a sum is below 2^-120.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegF32(D d, V a) {
  using namespace exp_detail;
  constexpr size_t K = ExpTableSize<D>();
  a = hn::Max(a, hn::Set(d, -120.0));
  if constexpr (K == 1) {
    const V kf = hn::MulAdd(a, hn::Set(d, kLog2e), hn::Set(d, kMagic));
    const V n = hn::Sub(kf, hn::Set(d, kMagic));
    V r = hn::Sub(a, hn::Mul(n, hn::Set(d, kLn2Hi)));  // exact
    r = hn::NegMulAdd(n, hn::Set(d, kLn2Lo), r);
    return hn::Mul(ExpPoly<8>(d, r), Pow2I(d, n));
  } else {
    constexpr int kShift = K == 8 ? 3 : K == 4 ? 2 : 1;
    const hn::RebindToSigned<D> di;
    const V kf = hn::MulAdd(a, hn::Set(d, K * kLog2e), hn::Set(d, kMagic));
    const V n = hn::Sub(kf, hn::Set(d, kMagic));
    // n * kLn2Hi / K is exact (|n| < 2^11), and so is a minus it (Sterbenz).
    V r = hn::NegMulAdd(n, hn::Set(d, kLn2Hi / K), a);
    r = hn::NegMulAdd(n, hn::Set(d, kLn2Lo / K), r);
    static constexpr ExpCoeffs<ExpDegree(K)> kC;
    V p = hn::Set(d, kC.c[ExpDegree(K)]);
    for (int k = ExpDegree(K) - 1; k >= 2; --k) p = hn::MulAdd(p, r, hn::Set(d, kC.c[k]));
    const V em1 = hn::MulAdd(hn::Mul(r, r), p, r);  // exp(r) - 1
    // kf = 1.5 * 2^52 + n: its low mantissa bits are n in two's complement.
    const auto bits = hn::BitCast(di, kf);
    const V tj = hn::TableLookupLanes(hn::LoadU(d, Pow2Frac<K>::v),
                                      hn::IndicesFromVec(d, hn::And(bits, hn::Set(di, K - 1))));
    const V e = hn::MulAdd(tj, em1, tj);  // in [1, 2)
    // 2^((n - j) / K) added to the exponent field: (n - j) << (52 - log2 K);
    // the high bits of kf shift out. Results stay normal (a >= -120).
    const auto scale = hn::ShiftLeft<52 - kShift>(hn::And(bits, hn::Set(di, -int64_t{K})));
    return hn::BitCast(d, hn::Add(hn::BitCast(di, e), scale));
  }
}

// a * b + c rounded once (c small against a * b): an FMA where the target has
// one, else the exact product error folded into the sum.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V MulAddOnce(D d, V a, V b, V c) {
#if HWY_NATIVE_FMA
  (void)d;
  return hn::MulAdd(a, b, c);
#else
  const V p = hn::Mul(a, b);
  const V s = hn::Add(p, c);
  return hn::Add(s, hn::Add(hn::Add(hn::Sub(p, s), c), ProductError(d, a, b, p)));
#endif
}

// exp(a + a_lo) for a <= 0 (a may be -inf; a_lo is then ignored) as a
// double-double hi + *lo (lo may underflow where hi is subnormal), within
// about 0.1 ulp of hi. With r = r_hi + r_lo:
//   exp(r) = 1 + r_hi + r_hi^2 P(r_hi) + r_lo (1 + r_hi) + O(2^-110)
// and 1 + r_hi is split exactly, so only the small terms round.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegF64(D d, V a, V a_lo, V* lo) {
  using namespace exp_detail;
  const auto live = a >= hn::Set(d, -746.0);
  a = hn::Max(a, hn::Set(d, -746.0));
  const V one = hn::Set(d, 1.0);
  const V kf = hn::MulAdd(a, hn::Set(d, kLog2e), hn::Set(d, kMagic));
  const V n = hn::Sub(kf, hn::Set(d, kMagic));
  const V r0 = hn::Sub(a, hn::Mul(n, hn::Set(d, kLn2Hi)));  // exact
  const V r1 = hn::NegMulAdd(n, hn::Set(d, kLn2Lo), hn::IfThenElseZero(live, a_lo));
  // r_hi + r_lo = r0 + r1 (two-sum), so that r_lo is below ulp(r_hi) and the
  // linearisation in r_lo below is exact to 2^-106.
  const V r_hi = hn::Add(r0, r1);
  const V bp = hn::Sub(r_hi, r0);
  const V r_lo = hn::Add(hn::Sub(r0, hn::Sub(r_hi, bp)), hn::Sub(r1, bp));
  // P(r) = sum_{k=2}^{13} r^(k-2) / k!
  static constexpr ExpCoeffs<13> kC;
  V p = hn::Set(d, kC.c[13]);
  for (int k = 12; k >= 2; --k) p = hn::MulAdd(p, r_hi, hn::Set(d, kC.c[k]));
  const V s = hn::Add(one, r_hi);
  const V s_err = hn::Add(hn::Sub(one, s), r_hi);  // exact: |r_hi| < 1
  const V t = hn::Add(hn::MulAdd(hn::Mul(r_hi, r_hi), p, hn::MulAdd(r_lo, r_hi, r_lo)), s_err);
  const V y_hi = hn::Add(s, t);
  const V y_lo = hn::Add(hn::Sub(s, y_hi), t);
  // n may reach -1077: 2^n = 2^n1 * 2^n2 with n1 >= -1000, n2 in [-77, 0]; the
  // first product is exact, the second rounds once (into the subnormals).
  const V n1 = hn::Max(n, hn::Set(d, -1000.0));
  const V s1 = Pow2I(d, n1), s2 = Pow2I(d, hn::Sub(n, n1));
  *lo = hn::IfThenElseZero(live, hn::Mul(hn::Mul(y_lo, s1), s2));
  return hn::IfThenElseZero(live, hn::Mul(hn::Mul(y_hi, s1), s2));
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#endif  // KELVIN_KERNELS_EXP_INL_H_
