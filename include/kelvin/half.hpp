// kelvin: 16-bit storage types. The softmax family reads and writes them and
// computes in float32 (kelvin/softmax.hpp).
//
// kelvin::bfloat16 (1 sign, 8 exponent, 7 fraction bits: float's top half) and
// kelvin::float16 (IEEE binary16: 5 exponent, 10 fraction bits) hold the raw
// bits. Both formats are subsets of float, so widening is exact; narrowing
// rounds to nearest, ties to even, overflows to +-inf, keeps float16's
// subnormals and turns any NaN into a quiet NaN of the same sign.
//
//   kelvin::bfloat16 h(0.1f);               // h.bits == 0x3dcd
//   float f = static_cast<float>(h);        // 0.10009765625f
//   auto g = kelvin::float16::from_bits(0x3c00);  // 1.0
#pragma once

#include <bit>
#include <cstdint>

namespace kelvin {

namespace detail {

constexpr std::uint32_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }
constexpr float bits_float(std::uint32_t u) { return std::bit_cast<float>(u); }

constexpr float bf16_to_float(std::uint16_t h) {
  const std::uint32_t u = std::uint32_t{h} << 16;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return bits_float(nan ? u | 0x400000u : u);
}

constexpr std::uint16_t float_to_bf16(float f) {
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  // Round to nearest even on the 16 bits dropped; a carry moves into the
  // exponent (and from the largest finite value to infinity) as it should.
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

constexpr float f16_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu;
  const std::uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return bits_float(sign | 0x7f800000u | (m << 13) | (m != 0 ? 0x400000u : 0u));
  if (e != 0) return bits_float(sign | ((e + 112) << 23) | (m << 13));
  const float v = static_cast<float>(m) * 0x1p-24f;  // subnormal or zero: exact
  return sign != 0 ? -v : v;
}

constexpr std::uint16_t float_to_f16(float f) {
  const std::uint32_t u = float_bits(f);
  const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) {  // NaN: quiet, with the top of the payload
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  }
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 = max + ulp/2 (a tie to odd max)
  if (a >= 0x38800000u) {                       // normal: |f| >= 2^-14
    const std::uint32_t r = a - 0x38000000u;    // exponent rebiased from 127 to 15
    return static_cast<std::uint16_t>(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
  }
  // Subnormal or zero: |f| / 2^-24 rounded to an integer (1024 is the
  // smallest normal, which the encoding gets right).
  const std::uint32_t e = a >> 23;
  if (e < 102) return sign;  // |f| < 2^-25: rounds to zero
  const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126 - e;  // 14..24
  const std::uint32_t q = m >> shift;
  const std::uint32_t rest = m & ((1u << shift) - 1);
  const std::uint32_t half = 1u << (shift - 1);
  const std::uint32_t up = rest > half || (rest == half && (q & 1u) != 0) ? 1u : 0u;
  return static_cast<std::uint16_t>(sign | (q + up));
}

}  // namespace detail

// bfloat16: float's sign, exponent and top 7 fraction bits.
struct bfloat16 {
  std::uint16_t bits;

  bfloat16() = default;
  constexpr explicit bfloat16(float f) : bits(detail::float_to_bf16(f)) {}
  constexpr explicit operator float() const { return detail::bf16_to_float(bits); }
  static constexpr bfloat16 from_bits(std::uint16_t b) {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};

// float16: IEEE 754 binary16 (5 exponent bits, 10 fraction bits, subnormals).
struct float16 {
  std::uint16_t bits;

  float16() = default;
  constexpr explicit float16(float f) : bits(detail::float_to_f16(f)) {}
  constexpr explicit operator float() const { return detail::f16_to_float(bits); }
  static constexpr float16 from_bits(std::uint16_t b) {
    float16 h;
    h.bits = b;
    return h;
  }
};

}  // namespace kelvin
