// Conversions between 16-bit storage rows (bfloat16, float16) and float rows,
// one table per SIMD target (src/kernels/half.cpp). Each gives exactly the
// results of the scalar conversions in kelvin/half.hpp, NaN bits included.
#pragma once

#include <cstddef>

#include "kelvin/half.hpp"
#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

struct half_kernels {
  void (*bf16_to_f32)(const bfloat16* in, float* out, std::size_t n);
  void (*f32_to_bf16)(const float* in, bfloat16* out, std::size_t n);
  void (*f16_to_f32)(const float16* in, float* out, std::size_t n);
  void (*f32_to_f16)(const float* in, float16* out, std::size_t n);

  // softmax of 16-bit rows in float lanes (src/half.cpp's float_lanes_softmax;
  // docs/contract.md: 2 ulp of the storage type). b holds the widened row.
  // sum_i exp(max(t_i, -60)) with t_i = (b_i - m) * inv_t in float, summed in
  // float over blocks of 1024 entries and in double across blocks; when
  // `store`, the exponentials replace b_i (each >= e^-60, a normal float).
  double (*exp_sum)(float* b, std::size_t n, float m, float inv_t, bool store);
  // y_i = e_i * inv rounded to the storage type (inv >= 2^-18, e_i >= e^-60:
  // every product is a normal float).
  void (*scale_bf16)(const float* e, bfloat16* y, std::size_t n, float inv);
  void (*scale_f16)(const float* e, float16* y, std::size_t n, float inv);
  // y_i = exp((b_i - m) * inv_t - log_s) rounded to bfloat16, subnormal
  // results included, computed without multiplies on subnormals.
  void (*exp_out_bf16)(const float* b, bfloat16* y, std::size_t n, float m, float inv_t,
                       float log_s);
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
