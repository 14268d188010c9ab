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
