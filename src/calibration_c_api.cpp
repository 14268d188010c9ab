// The calibration C ABI (include/kelvin/calibration.h) over the C++ API.
#include "kelvin/calibration.h"

#include <span>
#include <string>
#include <vector>

#include "kelvin/calibration.hpp"
#include "src/c_api_status.hpp"

namespace {

using kelvin::detail::guarded;

template <class T>
kelvin::matrix_view<const T> view(const T* x, size_t rows, size_t cols, size_t stride) {
  return {x, rows, cols, stride};
}

std::span<const std::int64_t> labels_of(const int64_t* y, size_t rows) {
  if (y == nullptr && rows > 0)
    throw kelvin::error("labels is null but rows is " + std::to_string(rows));
  return {y, rows};
}

template <class P>
void check_out(const P* out) {
  if (out == nullptr) throw kelvin::error("out is null");
}

kelvin::bin_options bin_options_of(int bins, int strategy) {
  if (strategy != KELVIN_BINNING_UNIFORM && strategy != KELVIN_BINNING_QUANTILE) {
    throw kelvin::error(
        "strategy must be KELVIN_BINNING_UNIFORM (0) or KELVIN_BINNING_QUANTILE (1), got " +
        std::to_string(strategy));
  }
  return {.bins = bins,
          .strategy = strategy == KELVIN_BINNING_QUANTILE ? kelvin::binning::quantile
                                                          : kelvin::binning::uniform};
}

template <class T>
kelvin_status fit(const T* x, size_t rows, size_t cols, size_t stride, const int64_t* y,
                  double tolerance, int max_iterations, kelvin_fit_result* result) {
  return guarded([&] {
    check_out(result);
    const kelvin::fit_result r =
        kelvin::fit_temperature(view(x, rows, cols, stride), labels_of(y, rows),
                                {.tolerance = tolerance, .max_iterations = max_iterations});
    *result = {r.temperature,
               r.nll_before,
               r.nll_after,
               r.iterations,
               r.passes,
               r.converged ? 1 : 0,
               static_cast<int>(r.outcome)};
  });
}

template <class T>
kelvin_status nll(const T* x, size_t rows, size_t cols, size_t stride, const int64_t* y,
                  double temperature, double* out) {
  return guarded([&] {
    check_out(out);
    *out =
        kelvin::nll(view(x, rows, cols, stride), labels_of(y, rows), {.temperature = temperature});
  });
}

// The metrics without bins and with bins, as callables over either type.
template <class T, class Fn>
kelvin_status metric(Fn fn, const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y,
                     double* out) {
  return guarded([&] {
    check_out(out);
    *out = fn(view(p, rows, cols, stride), labels_of(y, rows));
  });
}

template <class T, class Fn>
kelvin_status binned(Fn fn, const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y,
                     int bins, int strategy, double* out) {
  return guarded([&] {
    check_out(out);
    *out = fn(view(p, rows, cols, stride), labels_of(y, rows), bin_options_of(bins, strategy));
  });
}

template <class T>
kelvin_status reliability(const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y,
                          int bins, int strategy, kelvin_reliability_bin* out) {
  return guarded([&] {
    check_out(out);
    const std::vector<kelvin::reliability_bin> r = kelvin::reliability(
        view(p, rows, cols, stride), labels_of(y, rows), bin_options_of(bins, strategy));
    for (size_t b = 0; b < r.size(); ++b) {
      out[b] = {r[b].lower, r[b].upper, r[b].count, r[b].confidence, r[b].accuracy};
    }
  });
}

constexpr auto kAccuracy = [](auto p, auto y) { return kelvin::accuracy(p, y); };
constexpr auto kBrier = [](auto p, auto y) { return kelvin::brier_score(p, y); };
constexpr auto kEce = [](auto p, auto y, const kelvin::bin_options& o) {
  return kelvin::expected_calibration_error(p, y, o);
};
constexpr auto kMce = [](auto p, auto y, const kelvin::bin_options& o) {
  return kelvin::maximum_calibration_error(p, y, o);
};
constexpr auto kClasswise = [](auto p, auto y, const kelvin::bin_options& o) {
  return kelvin::classwise_calibration_error(p, y, o);
};

}  // namespace

extern "C" {

#define KELVIN_C_FIT(NAME, T)                                                               \
  kelvin_status NAME(const T* x, size_t rows, size_t cols, size_t stride, const int64_t* y, \
                     double tolerance, int max_iterations, kelvin_fit_result* result) {     \
    return fit(x, rows, cols, stride, y, tolerance, max_iterations, result);                \
  }
#define KELVIN_C_NLL(NAME, T)                                                               \
  kelvin_status NAME(const T* x, size_t rows, size_t cols, size_t stride, const int64_t* y, \
                     double temperature, double* out) {                                     \
    return nll(x, rows, cols, stride, y, temperature, out);                                 \
  }
#define KELVIN_C_METRIC(NAME, FN, T)                                                        \
  kelvin_status NAME(const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y, \
                     double* out) {                                                         \
    return metric(FN, p, rows, cols, stride, y, out);                                       \
  }
#define KELVIN_C_BINNED(NAME, FN, T)                                                        \
  kelvin_status NAME(const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y, \
                     int bins, int strategy, double* out) {                                 \
    return binned(FN, p, rows, cols, stride, y, bins, strategy, out);                       \
  }
#define KELVIN_C_RELIABILITY(NAME, T)                                                       \
  kelvin_status NAME(const T* p, size_t rows, size_t cols, size_t stride, const int64_t* y, \
                     int bins, int strategy, kelvin_reliability_bin* out) {                 \
    return reliability(p, rows, cols, stride, y, bins, strategy, out);                      \
  }

KELVIN_C_FIT(kelvin_fit_temperature_f32, float)
KELVIN_C_FIT(kelvin_fit_temperature_f64, double)
KELVIN_C_NLL(kelvin_nll_f32, float)
KELVIN_C_NLL(kelvin_nll_f64, double)
KELVIN_C_METRIC(kelvin_accuracy_f32, kAccuracy, float)
KELVIN_C_METRIC(kelvin_accuracy_f64, kAccuracy, double)
KELVIN_C_METRIC(kelvin_brier_score_f32, kBrier, float)
KELVIN_C_METRIC(kelvin_brier_score_f64, kBrier, double)
KELVIN_C_BINNED(kelvin_expected_calibration_error_f32, kEce, float)
KELVIN_C_BINNED(kelvin_expected_calibration_error_f64, kEce, double)
KELVIN_C_BINNED(kelvin_maximum_calibration_error_f32, kMce, float)
KELVIN_C_BINNED(kelvin_maximum_calibration_error_f64, kMce, double)
KELVIN_C_BINNED(kelvin_classwise_calibration_error_f32, kClasswise, float)
KELVIN_C_BINNED(kelvin_classwise_calibration_error_f64, kClasswise, double)
KELVIN_C_RELIABILITY(kelvin_reliability_f32, float)
KELVIN_C_RELIABILITY(kelvin_reliability_f64, double)

}  // extern "C"
