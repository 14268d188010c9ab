// The one list of Highway targets kelvin compiles, best first: every kernel
// file that maps a target to its per-target table walks it, so that the lists
// cannot drift apart. KELVIN_FOREACH_TARGET(X) expands X(BIT, NS, NAME) for
// each target in HWY_TARGETS (BIT: Highway's bit, NS: its namespace N_*, NAME:
// the name kelvin::active_target() reports). Include after hwy/highway.h.
#ifndef KELVIN_KERNELS_TARGET_LIST_H_
#define KELVIN_KERNELS_TARGET_LIST_H_

#if HWY_TARGETS & HWY_AVX3_DL
#define KELVIN_TARGET_AVX3_DL(X) X(HWY_AVX3_DL, N_AVX3_DL, "AVX3_DL")
#else
#define KELVIN_TARGET_AVX3_DL(X)
#endif
#if HWY_TARGETS & HWY_AVX3
#define KELVIN_TARGET_AVX3(X) X(HWY_AVX3, N_AVX3, "AVX3")
#else
#define KELVIN_TARGET_AVX3(X)
#endif
#if HWY_TARGETS & HWY_AVX2
#define KELVIN_TARGET_AVX2(X) X(HWY_AVX2, N_AVX2, "AVX2")
#else
#define KELVIN_TARGET_AVX2(X)
#endif
#if HWY_TARGETS & HWY_SSE4
#define KELVIN_TARGET_SSE4(X) X(HWY_SSE4, N_SSE4, "SSE4")
#else
#define KELVIN_TARGET_SSE4(X)
#endif
#if HWY_TARGETS & HWY_SSSE3
#define KELVIN_TARGET_SSSE3(X) X(HWY_SSSE3, N_SSSE3, "SSSE3")
#else
#define KELVIN_TARGET_SSSE3(X)
#endif
#if HWY_TARGETS & HWY_SVE2
#define KELVIN_TARGET_SVE2(X) X(HWY_SVE2, N_SVE2, "SVE2")
#else
#define KELVIN_TARGET_SVE2(X)
#endif
#if HWY_TARGETS & HWY_SVE
#define KELVIN_TARGET_SVE(X) X(HWY_SVE, N_SVE, "SVE")
#else
#define KELVIN_TARGET_SVE(X)
#endif
#if HWY_TARGETS & HWY_NEON
#define KELVIN_TARGET_NEON(X) X(HWY_NEON, N_NEON, "NEON")
#else
#define KELVIN_TARGET_NEON(X)
#endif
#if HWY_TARGETS & HWY_EMU128
#define KELVIN_TARGET_EMU128(X) X(HWY_EMU128, N_EMU128, "EMU128")
#else
#define KELVIN_TARGET_EMU128(X)
#endif
#if HWY_TARGETS & HWY_SCALAR
#define KELVIN_TARGET_SCALAR(X) X(HWY_SCALAR, N_SCALAR, "HWY_SCALAR")
#else
#define KELVIN_TARGET_SCALAR(X)
#endif

// clang-format off (it reflows this list differently on each run)
#define KELVIN_FOREACH_TARGET(X) \
  KELVIN_TARGET_AVX3_DL(X)       \
  KELVIN_TARGET_AVX3(X)          \
  KELVIN_TARGET_AVX2(X)          \
  KELVIN_TARGET_SSE4(X)          \
  KELVIN_TARGET_SSSE3(X)         \
  KELVIN_TARGET_SVE2(X)          \
  KELVIN_TARGET_SVE(X)           \
  KELVIN_TARGET_NEON(X)          \
  KELVIN_TARGET_EMU128(X)        \
  KELVIN_TARGET_SCALAR(X)
// clang-format on

#endif  // KELVIN_KERNELS_TARGET_LIST_H_
