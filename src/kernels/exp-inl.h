// exp for arguments <= 0, per Highway target (included from kernel files).
//
//   n := round(a / ln2)                       (magic-number rounding)
//   r := a - n*ln2_hi - n*ln2_lo (+ a_lo)    (first step exact)
//   exp(r) := 1 + (r + r^2 * P(r))           (Taylor, |r| <= ln2/2)
//   exp(a) := exp(r) * 2^n                    (2^n built in the exponent bits)
//
// ExpNegF32 serves float data computed in double: table-driven (2^(j/K) for
// the K lanes of a vector, one permute) with a short polynomial, relative
// error below 1.7e-9 (0.014 float ulp).
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

// The tables of ExpNegF32: 2^(j/K), j = 0..K-1, correctly rounded, with
// j << (52 - log2 K) subtracted from the bits, so that adding n << (52 - log2 K)
// (n = K * (integer part) + j, in two's complement) to the bits of entry j
// gives 2^(n/K) exactly: the index bits cancel and the rest lands in the
// exponent field.
template <size_t K>
struct Pow2Frac;
template <>
struct Pow2Frac<2> {
  static constexpr uint64_t bits[2] = {0x3ff0000000000000, 0x3feea09e667f3bcd};
};
template <>
struct Pow2Frac<4> {
  static constexpr uint64_t bits[4] = {0x3ff0000000000000, 0x3fef06fe0a31b715, 0x3feea09e667f3bcd,
                                       0x3feee89f995ad3ad};
};
template <>
struct Pow2Frac<8> {
  static constexpr uint64_t bits[8] = {0x3ff0000000000000, 0x3fef72b83c7d517b, 0x3fef06fe0a31b715,
                                       0x3feebfdad5362a27, 0x3feea09e667f3bcd, 0x3feeace5422aa0db,
                                       0x3feee89f995ad3ad, 0x3fef5818dcfba487};
};
template <>
struct Pow2Frac<16> {
  static constexpr uint64_t bits[16] = {
      0x3ff0000000000000, 0x3fefb5586cf9890f, 0x3fef72b83c7d517b, 0x3fef387a6e756238,
      0x3fef06fe0a31b715, 0x3feedea64c123422, 0x3feebfdad5362a27, 0x3feeab07dd485429,
      0x3feea09e667f3bcd, 0x3feea11473eb0187, 0x3feeace5422aa0db, 0x3feec49182a3f090,
      0x3feee89f995ad3ad, 0x3fef199bdd85529c, 0x3fef5818dcfba487, 0x3fefa4afa2a490da};
};

// AVX-512 looks up 16 entries in two registers with one permute.
#undef KELVIN_EXP_TWO_TABLES
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define KELVIN_EXP_TWO_TABLES 1
#else
#define KELVIN_EXP_TWO_TABLES 0
#endif

// Table size of ExpNegF32 on this target: a lookup is one in-register
// permute, so one entry per lane (two registers' worth on AVX-512); 1 = no
// table, on targets with one lane or a length unknown at compile time.
template <class D>
constexpr size_t ExpTableSize() {
#if HWY_HAVE_SCALABLE
  return 1;
#else
  constexpr size_t n = hn::MaxLanes(D());
  if (KELVIN_EXP_TWO_TABLES && n == 8) return 16;
  return n >= 8 ? 8 : n;
#endif
}

// exp(r) - 1 - r = r^2 P(r) on |r| <= ln2 / (2K): Taylor coefficients of
// degree 6 / 5 / 4 for K = 2 / 4 / 8 (remainder below 1.3e-9), and for K = 16
// a degree-3 fit (Lawson's weighted least squares, relative error 1.6e-9).
template <size_t K, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpM1Tail(D d, V r) {
  if constexpr (K == 16) {
    return hn::MulAdd(r, hn::Set(d, 0x1.55559b0d7986fp-3), hn::Set(d, 0x1.00021e28ce677p-1));
  } else {
    constexpr int kDegree = K == 8 ? 4 : K == 4 ? 5 : 6;
    static constexpr ExpCoeffs<kDegree> kC;
    V p = hn::Set(d, kC.c[kDegree]);
    for (int k = kDegree - 1; k >= 2; --k) p = hn::MulAdd(p, r, hn::Set(d, kC.c[k]));
    return p;
  }
}

// exp(a) for a <= 0 (a may be -inf) in double lanes, for float rows: relative
// error below 1.7e-9 (0.014 float ulp), far below what float outputs resolve,
// which is what lets it be short. Table-driven:
//   n := round(a * K / ln2),  r := a - n * RN(ln2 / K)   (one step: the error
//        |n| * ulp(ln2 / K) / 2 < 2^-46 is harmless at this accuracy)
//   exp(a) = 2^(n/K) * (1 + r + r^2 P(r))
// with 2^(n/K) = 2^(n div K) * 2^((n mod K)/K) from a table entry whose bits
// take n directly (see Pow2Frac). Arguments below -120 are clamped there: the
// result (< 2^-173) is not 0 but rounds to 0 as a float, and its share of a
// sum is below 2^-120. kGuard (row_args::guard) relaxes this for callers that
// know their arguments: 1 = all in [-700, 0] (no clamp needed: results down to
// 2^-1010 stay normal doubles, zeroed below -104 all the same); 0 = all in
// [-104, 0] (nothing to zero either).
template <int kGuard = 2, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegF32(D d, V a) {
  using namespace exp_detail;
  constexpr size_t K = ExpTableSize<D>();
  // Lanes below -104 give exactly 0 (the float rounding of what they are),
  // so that no later conversion to float underflows: x86 takes a slow
  // microcode assist for every instruction that does.
  const auto live = hn::Ge(a, hn::Set(d, -104.0));
  if (kGuard == 2 || K == 1) a = hn::Max(a, hn::Set(d, -120.0));
  const auto guard = [&](V e) HWY_ATTR { return kGuard == 0 ? e : hn::IfThenElseZero(live, e); };
  if constexpr (K == 1) {
    const V kf = hn::MulAdd(a, hn::Set(d, kLog2e), hn::Set(d, kMagic));
    const V n = hn::Sub(kf, hn::Set(d, kMagic));
    V r = hn::Sub(a, hn::Mul(n, hn::Set(d, kLn2Hi)));  // exact
    r = hn::NegMulAdd(n, hn::Set(d, kLn2Lo), r);
    return guard(hn::Mul(ExpPoly<8>(d, r), Pow2I(d, n)));
  } else {
    constexpr int kShift = K == 16 ? 4 : K == 8 ? 3 : K == 4 ? 2 : 1;
    const hn::RebindToSigned<D> di;
    const V kf = hn::MulAdd(a, hn::Set(d, K * kLog2e), hn::Set(d, kMagic));
    const V n = hn::Sub(kf, hn::Set(d, kMagic));
    const V r = hn::NegMulAdd(n, hn::Set(d, 0.6931471805599453 / K), a);
    const V q = hn::MulAdd(hn::Mul(r, r), ExpM1Tail<K>(d, r), r);  // exp(r) - 1
    // kf = 1.5 * 2^52 + n: its low mantissa bits are n in two's complement.
    const auto bits = hn::BitCast(di, kf);
    hn::Vec<decltype(di)> entry;
#if KELVIN_EXP_TWO_TABLES
    if constexpr (K == 16) {  // the permute reads the low 4 bits of the index
      const auto* t = reinterpret_cast<const int64_t*>(Pow2Frac<16>::bits);
      entry = decltype(entry){
          _mm512_permutex2var_epi64(hn::LoadU(di, t).raw, bits.raw, hn::LoadU(di, t + 8).raw)};
    } else
#endif
    {
      const auto* t = reinterpret_cast<const int64_t*>(Pow2Frac<K>::bits);
      entry = hn::TableLookupLanes(hn::LoadU(di, t),
                                   hn::IndicesFromVec(di, hn::And(bits, hn::Set(di, K - 1))));
    }
    // 2^(n/K): results stay normal (a >= -120).
    const V scale = hn::BitCast(d, hn::Add(entry, hn::ShiftLeft<52 - kShift>(bits)));
    return guard(hn::MulAdd(scale, q, scale));
  }
}

#if KELVIN_EXP_TWO_TABLES
// exp(a * s) for a <= 0 (a = x - m, s = 1 / T <= 2^300) on AVX-512, without
// forming a * s: the reduction runs in a's units and s goes into the
// coefficients, one operation fewer per vector than ExpNegF32(d, a * s).
//   n := round(a * 16 s / ln2),  r := a - n * (ln2 T / 16)   (|r s| <= ln2/32)
//   exp(a s) = 2^(n/16) * (1 + r (s + r (c2 s^2 + r c3 s^3)))
// The reduction's rounding errors are |a| 2^-53 or so, as for a * s in double;
// the coefficients are ExpM1Tail<16>'s. ExpScaledConsts holds {16 s / ln2,
// ln2 T / 16, s, c2 s^2, c3 s^3, -104 T, -120 T} for s = 1 / T (products only:
// rows of 128 entries pay for them per row). kGuard as for ExpNegF32, in
// units of a * s.
struct ExpScaledConsts {
  double k, l, p1, p2, p3, live, clamp;
  ExpScaledConsts(double s, double t)
      : k(16 * exp_detail::kLog2e * s),
        l(0.6931471805599453 / 16 * t),
        p1(s),
        p2(0x1.00021e28ce677p-1 * s * s),
        p3(0x1.55559b0d7986fp-3 * s * s * s),
        live(-104 * t),
        clamp(-120 * t) {}
};

template <int kGuard, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegF32Scaled(D d, V a, const ExpScaledConsts& c) {
  using namespace exp_detail;
  const hn::RebindToSigned<D> di;
  const auto live = hn::Ge(a, hn::Set(d, c.live));
  if (kGuard == 2) a = hn::Max(a, hn::Set(d, c.clamp));
  const V kf = hn::MulAdd(a, hn::Set(d, c.k), hn::Set(d, kMagic));
  const V n = hn::Sub(kf, hn::Set(d, kMagic));
  const V r = hn::NegMulAdd(n, hn::Set(d, c.l), a);
  V h = hn::MulAdd(hn::Set(d, c.p3), r, hn::Set(d, c.p2));
  h = hn::MulAdd(h, r, hn::Set(d, c.p1));
  const V q = hn::Mul(h, r);  // exp(r s) - 1
  const auto bits = hn::BitCast(di, kf);
  const auto* t = reinterpret_cast<const int64_t*>(Pow2Frac<16>::bits);
  const hn::Vec<decltype(di)> entry{
      _mm512_permutex2var_epi64(hn::LoadU(di, t).raw, bits.raw, hn::LoadU(di, t + 8).raw)};
  const V scale = hn::BitCast(d, hn::Add(entry, hn::ShiftLeft<48>(bits)));
  const V e = hn::MulAdd(scale, q, scale);
  return kGuard == 0 ? e : hn::IfThenElseZero(live, e);
}
#endif

// exp(a s) * 2^64 for a s in [-120, 0], in float lanes, for callers that
// form the argument in float (the sampler's weights): 16 lanes per AVX-512
// vector instead of 8. s goes into the constants (ExpF32Consts), so that a
// = x - m needs no product:
//   k := round(a s / ln2),  r := a - k * RN(ln2 / s)   (one FMA; RN's error
//        is 2^-24 relative, |k| ln2 2^-24 <= |a s| 2^-24 in units of a s)
//   exp(r s) := 1 + c1 (r s) + ... + c5 (r s)^5, with c_j s^j 2^64 rounded
//        to float as the coefficients (|r s| <= ln2 / 2: Lawson's weighted
//        least squares with c0 = 1, so that exp(0) is exactly 1: relative
//        9.2e-8; 1.5e-7 with float coefficients and FMA Horner, 1.7e-7
//        without FMA, measured on 400001 points; degree 6 gave 7e-8 and cost
//        3-4% more per plain sampling call)
//   exp(a s) 2^64 := exp(r s) 2^64 2^k   (2^k by adding k << 23 to the bits)
// The 2^64 keeps every result a normal float (exp(-120) 2^64 > 2^-110), so
// a weight zeroed below -104 by the caller is never a float subnormal on the
// way and no x86 microcode assist is taken. a must not be NaN; the caller
// clamps a s >= -120 (or knows it). s = 1 is the plain exponential.
struct ExpF32Consts {
  float k, l, c[6];
  // For 2^-8 <= s <= 2^8 (c5 s^5 2^64 stays a normal float), or s = 1.
  explicit ExpF32Consts(double s)
      : k(static_cast<float>(1.4426950408889634 * s)),
        l(static_cast<float>(0.6931471805599453 / s)) {
    static constexpr float kC[6] = {1.0f,           0x1.fffff6p-1f, 0x1.fffdc4p-2f,
                                    0x1.555a6ep-3f, 0x1.573ad0p-5f, 0x1.0fa7d2p-7f};
    double sj = 0x1p64;
    for (int j = 0; j < 6; ++j, sj *= s) c[j] = static_cast<float>(kC[j] * sj);
  }
};

template <class DF, class VF = hn::Vec<DF>>
HWY_INLINE VF Exp2p64NegF32Lanes(DF df, VF a, const ExpF32Consts& c) {
  const hn::RebindToSigned<DF> di;
  const VF magic = hn::Set(df, 0x1.8p23f);  // adding it rounds to an integer
  const VF kf = hn::MulAdd(a, hn::Set(df, c.k), magic);
  const VF r = hn::NegMulAdd(hn::Sub(kf, magic), hn::Set(df, c.l), a);
  VF p = hn::MulAdd(hn::Set(df, c.c[5]), r, hn::Set(df, c.c[4]));
  for (int j = 3; j >= 0; --j) p = hn::MulAdd(p, r, hn::Set(df, c.c[j]));
  // kf = 1.5 * 2^23 + k: its bits shifted by 23 are k << 23 (the rest
  // leaves the word).
  return hn::BitCast(df, hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::BitCast(di, kf))));
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
// and 1 + r_hi is split exactly, so only the small terms round. kSafe: the
// caller knows a is finite and >= -708 (results are normal: no clamp, no
// zeroing, a one-step scale).
template <bool kSafe = false, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegF64(D d, V a, V a_lo, V* lo) {
  using namespace exp_detail;
  const auto live = hn::Ge(a, hn::Set(d, -746.0));
  if (!kSafe) a = hn::Max(a, hn::Set(d, -746.0));
  const V one = hn::Set(d, 1.0);
  const V kf = hn::MulAdd(a, hn::Set(d, kLog2e), hn::Set(d, kMagic));
  const V n = hn::Sub(kf, hn::Set(d, kMagic));
  const V r0 = hn::Sub(a, hn::Mul(n, hn::Set(d, kLn2Hi)));  // exact
  const V r1 = hn::NegMulAdd(n, hn::Set(d, kLn2Lo), kSafe ? a_lo : hn::IfThenElseZero(live, a_lo));
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
  if (kSafe) {  // n >= -1022: 2^n is a normal double
    const V s1 = Pow2I(d, n);
    *lo = hn::Mul(y_lo, s1);
    return hn::Mul(y_hi, s1);
  }
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
