#include "tests/support/mpfr_reference.hpp"

#include <mpfr.h>

#include <cmath>
#include <limits>

namespace kelvin::testing {

struct row_reference::impl {
  int bits;
  std::vector<__mpfr_struct> arg;   // (x_i - m) / T
  std::vector<__mpfr_struct> p;     // softmax_i
  std::vector<__mpfr_struct> logp;  // log_softmax_i
  mpfr_t log_z;                     // log_partition
};

namespace {

// |computed - exact| / ulp_f(max(|exact|, floor)), with exact specials.
double ulps(mpfr_srcptr exact, double computed, fp_format f, bool floor_one, int bits) {
  if (std::isinf(computed) && mpfr_number_p(exact) && (mpfr_sgn(exact) > 0) == (computed > 0)) {
    // Overflow is the correct rounding at or beyond max + ulp/2 = 2^(emax+1) - 2^(emax-p).
    mpfr_t lim;
    mpfr_init2(lim, f.precision + 2);
    mpfr_set_ui_2exp(lim, (1ul << (f.precision + 1)) - 1, f.emax - f.precision, MPFR_RNDN);
    const bool overflows = mpfr_cmpabs(exact, lim) >= 0;
    mpfr_clear(lim);
    if (overflows) return 0;
  }
  if (mpfr_inf_p(exact) || std::isinf(computed)) {
    if (mpfr_inf_p(exact) && std::isinf(computed) && (mpfr_sgn(exact) > 0) == (computed > 0)) {
      return 0;
    }
    return std::numeric_limits<double>::infinity();
  }
  if (std::isnan(computed) || mpfr_nan_p(exact)) return std::numeric_limits<double>::infinity();
  mpfr_t diff, mag;
  mpfr_inits2(bits + 64, diff, mag, static_cast<mpfr_ptr>(nullptr));
  mpfr_set_d(diff, computed, MPFR_RNDN);
  mpfr_sub(diff, diff, exact, MPFR_RNDN);
  mpfr_abs(diff, diff, MPFR_RNDN);
  // exponent of the magnitude that sets the ulp
  long e;
  mpfr_abs(mag, exact, MPFR_RNDN);
  if (floor_one && mpfr_cmp_ui(mag, 1) < 0) mpfr_set_ui(mag, 1, MPFR_RNDN);
  if (mpfr_zero_p(mag)) {
    e = f.emin;
  } else {
    e = mpfr_get_exp(mag) - 1;  // mag in [2^e, 2^(e+1))
    if (e < f.emin) e = f.emin;
  }
  // diff / 2^(e - precision + 1)
  mpfr_mul_2si(diff, diff, -(e - f.precision + 1), MPFR_RNDN);
  const double r = mpfr_get_d(diff, MPFR_RNDN);
  mpfr_clears(diff, mag, static_cast<mpfr_ptr>(nullptr));
  return r;
}

}  // namespace

row_reference::row_reference(std::span<const double> x, double temperature, int bits)
    : p_(new impl), n_(x.size()) {
  p_->bits = bits;
  const std::size_t n = x.size();
  p_->arg.resize(n);
  p_->p.resize(n);
  p_->logp.resize(n);
  double m = -std::numeric_limits<double>::infinity();
  for (double v : x) m = std::fmax(m, v);
  mpfr_t t, mm, s, e, log_s;
  mpfr_inits2(bits, t, mm, s, e, log_s, p_->log_z, static_cast<mpfr_ptr>(nullptr));
  mpfr_set_d(t, temperature, MPFR_RNDN);
  mpfr_set_d(mm, m, MPFR_RNDN);
  mpfr_set_zero(s, 1);
  for (std::size_t i = 0; i < n; ++i) {
    mpfr_inits2(bits, &p_->arg[i], &p_->p[i], &p_->logp[i], static_cast<mpfr_ptr>(nullptr));
    mpfr_set_d(&p_->arg[i], x[i], MPFR_RNDN);
    mpfr_sub(&p_->arg[i], &p_->arg[i], mm, MPFR_RNDN);
    mpfr_div(&p_->arg[i], &p_->arg[i], t, MPFR_RNDN);
    mpfr_exp(e, &p_->arg[i], MPFR_RNDN);
    mpfr_set(&p_->p[i], e, MPFR_RNDN);
    mpfr_add(s, s, e, MPFR_RNDN);
  }
  mpfr_log(log_s, s, MPFR_RNDN);
  for (std::size_t i = 0; i < n; ++i) {
    mpfr_div(&p_->p[i], &p_->p[i], s, MPFR_RNDN);
    mpfr_sub(&p_->logp[i], &p_->arg[i], log_s, MPFR_RNDN);
  }
  mpfr_div(p_->log_z, mm, t, MPFR_RNDN);
  mpfr_add(p_->log_z, p_->log_z, log_s, MPFR_RNDN);
  mpfr_clears(t, mm, s, e, log_s, static_cast<mpfr_ptr>(nullptr));
}

row_reference::~row_reference() {
  for (std::size_t i = 0; i < n_; ++i) {
    mpfr_clears(&p_->arg[i], &p_->p[i], &p_->logp[i], static_cast<mpfr_ptr>(nullptr));
  }
  mpfr_clear(p_->log_z);
  delete p_;
}

double row_reference::softmax_ulps(std::size_t i, double computed, fp_format f) const {
  return ulps(&p_->p[i], computed, f, false, p_->bits);
}
double row_reference::log_softmax_ulps(std::size_t i, double computed, fp_format f) const {
  return ulps(&p_->logp[i], computed, f, true, p_->bits);
}
double row_reference::log_partition_ulps(double computed, fp_format f) const {
  return ulps(p_->log_z, computed, f, true, p_->bits);
}
double row_reference::softmax(std::size_t i) const { return mpfr_get_d(&p_->p[i], MPFR_RNDN); }
double row_reference::log_partition() const { return mpfr_get_d(p_->log_z, MPFR_RNDN); }

double sum_minus_one(std::span<const double> p) {
  mpfr_t s;
  mpfr_init2(s, 4200);  // wide enough to add doubles of any exponent exactly
  mpfr_set_si(s, -1, MPFR_RNDN);
  for (double v : p) mpfr_add_d(s, s, v, MPFR_RNDN);
  const double r = std::fabs(mpfr_get_d(s, MPFR_RNDN));
  mpfr_clear(s);
  return r;
}

}  // namespace kelvin::testing
