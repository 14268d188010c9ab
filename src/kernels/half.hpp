// Conversions between 16-bit storage rows (bfloat16, float16) and float rows,
// one table per SIMD target (src/kernels/half.cpp). Each gives exactly the
// results of the scalar conversions in kelvin/half.hpp, NaN bits included.
#pragma once

#include <cstddef>

#include "kelvin/half.hpp"
#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

// Row constants of the float-lane exponential pass (src/half.cpp).
struct half_args {
  float m = 0;          // the row max
  float inv_t = 1;      // 1 / T rounded to float
  float floor = -60;    // where arguments are clamped
  bool clamp = false;   // some argument is below `floor`
  bool fma = false;     // |x| / T <= 256 on the row: t = x * inv_t - m * inv_t by one FMA
  bool scaled = false;  // exponentials times 2^64 (bfloat16 rows with subnormal outputs)
};

struct half_kernels {
  void (*bf16_to_f32)(const bfloat16* in, float* out, std::size_t n);
  void (*f32_to_bf16)(const float* in, bfloat16* out, std::size_t n);
  void (*f16_to_f32)(const float16* in, float* out, std::size_t n);
  void (*f32_to_f16)(const float* in, float16* out, std::size_t n);

  // softmax of 16-bit rows in float lanes, read straight from storage
  // (src/half.cpp's float_lanes; docs/contract.md: 2 ulp of the
  // storage type).
  // The float row scan of x (min = low).
  row_scan (*scan_bf16)(const bfloat16* x, std::size_t n);
  row_scan (*scan_f16)(const float16* x, std::size_t n);
  // sum_i exp(max(t_i, a.floor)) (times 2^64 when a.scaled) with t_i =
  // (x_i - m) * inv_t in float (the clamp only where a.clamp; see half_args
  // for the FMA form), summed in float over blocks of 1024 entries and in
  // double across blocks; e (or null) receives the exponentials, each a
  // normal float. `next` (or null): the next row of n entries, prefetched into
  // L2 meanwhile.
  double (*exp_sum_bf16)(const bfloat16* x, float* e, std::size_t n, const half_args& a,
                         const void* next);
  double (*exp_sum_f16)(const float16* x, float* e, std::size_t n, const half_args& a,
                        const void* next);
  // y_i = e_i * inv rounded to the storage type. Unscaled: every product is
  // a normal float (inv >= 2^-18, e_i >= e^-60). bfloat16 `scaled`: e_i and
  // inv carry 2^64 (e * inv normal), and the product's 2^-64 is applied
  // without multiplies on subnormals.
  void (*scale_bf16)(const float* e, bfloat16* y, std::size_t n, float inv, bool scaled);
  void (*scale_f16)(const float* e, float16* y, std::size_t n, float inv);
  // log_softmax's output: y_i = t_i - c rounded to the storage type (to
  // nearest even), t_i as in exp_sum (unclamped; c: log S as a float). y may
  // be x.
  void (*log_out_bf16)(const bfloat16* x, bfloat16* y, std::size_t n, const half_args& a, float c);
  void (*log_out_f16)(const float16* x, float16* y, std::size_t n, const half_args& a, float c);
  // The same two passes with the exponentials kept in y itself, 16 bits each
  // (null on targets without them: the scalar ones). exp_pack: as exp_sum
  // (unscaled rows only), each exponential rounded into a 16-bit float of
  // kelvin's own (bfloat16 rows: 10 significant bits over e^-60..1; float16:
  // 12 over 2^-25..1, lower ones 0, which only outputs below 2^-25 see); x
  // may be y. scale_pack: y_i = e_i * inv from those, rounded as scale_*.
  double (*exp_pack_bf16)(const bfloat16* x, bfloat16* y, std::size_t n, const half_args& a,
                          const void* next);
  double (*exp_pack_f16)(const float16* x, float16* y, std::size_t n, const half_args& a,
                         const void* next);
  void (*scale_pack_bf16)(bfloat16* y, std::size_t n, float inv);
  void (*scale_pack_f16)(float16* y, std::size_t n, float inv);
};

// The conversions of target t (scalar ones for kelvin's scalar reference).
const half_kernels& half_kernels_for(const target& t);

inline void to_float(const half_kernels& k, const bfloat16* in, float* out, std::size_t n) {
  k.bf16_to_f32(in, out, n);
}
inline void to_float(const half_kernels& k, const float16* in, float* out, std::size_t n) {
  k.f16_to_f32(in, out, n);
}
inline void from_float(const half_kernels& k, const float* in, bfloat16* out, std::size_t n) {
  k.f32_to_bf16(in, out, n);
}
inline void from_float(const half_kernels& k, const float* in, float16* out, std::size_t n) {
  k.f32_to_f16(in, out, n);
}

}  // namespace kelvin::detail
