// MPFR oracle for the softmax family: the exact results for the exact inputs
// and the exact (double) temperature, and ulp distances against them.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace kelvin::testing {

// A floating-point format by its precision and its smallest normal exponent.
struct fp_format {
  int precision;  // 24 or 53
  int emin;       // -126 or -1022 (smallest normal is 2^emin)
  int emax;       // 127 or 1023 (largest finite is just below 2^(emax+1))
};
inline constexpr fp_format kF32{24, -126, 127};
inline constexpr fp_format kF64{53, -1022, 1023};

template <class T>
constexpr fp_format format_of() {
  return sizeof(T) == 4 ? kF32 : kF64;
}

// The exact softmax family of one row for 0 < T < inf, finite row max, no NaN
// (-inf entries allowed), computed with `bits` bits of precision.
class row_reference {
 public:
  row_reference(std::span<const double> x, double temperature, int bits);
  ~row_reference();
  row_reference(const row_reference&) = delete;
  row_reference& operator=(const row_reference&) = delete;

  std::size_t size() const { return n_; }

  // Distance of `computed` from the exact value, in units of the format's ulp
  // at the exact value (subnormal ulp below the normal range; exact zeros and
  // infinities must match exactly, else the distance is +inf).
  double softmax_ulps(std::size_t i, double computed, fp_format f) const;
  // In units of ulp(max(|exact|, 1)).
  double log_softmax_ulps(std::size_t i, double computed, fp_format f) const;
  double log_partition_ulps(double computed, fp_format f) const;

  // The exact values rounded to nearest double.
  double softmax(std::size_t i) const;
  double log_partition() const;

 private:
  struct impl;
  impl* p_;
  std::size_t n_;
};

// |sum(p) - 1| for computed probabilities, summed exactly.
double sum_minus_one(std::span<const double> p);

}  // namespace kelvin::testing
