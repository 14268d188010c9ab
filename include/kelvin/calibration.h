/* kelvin C ABI: temperature scaling and calibration metrics, mirroring
 * kelvin/calibration.hpp (docs/calibration.md has the conventions).
 *
 * logits / probs: rows x cols, row r at base + r * row_stride (elements);
 * labels: rows int64 values in [0, cols). Every function returns KELVIN_OK (0)
 * or a nonzero status with the message in kelvin_last_error(); on failure
 * nothing is written.
 *
 *   kelvin_fit_result r;
 *   if (kelvin_fit_temperature_f32(logits, n, c, c, labels, 1e-8, 100, &r) != KELVIN_OK)
 *     fprintf(stderr, "%s\n", kelvin_last_error());
 *   printf("T = %g, NLL %g -> %g\n", r.temperature, r.nll_before, r.nll_after);
 */
#ifndef KELVIN_CALIBRATION_H_
#define KELVIN_CALIBRATION_H_

#include <stddef.h>
#include <stdint.h>

#include "kelvin/export.h"
#include "kelvin/kelvin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kelvin_fit_outcome {
  KELVIN_FIT_OPTIMUM = 0,              /* a finite T > 0 where the NLL's slope vanishes */
  KELVIN_FIT_ZERO_TEMPERATURE = 1,     /* every label its row's max: T = 0 (hardmax limit) */
  KELVIN_FIT_INFINITE_TEMPERATURE = 2, /* NLL falls as T -> inf: T = +inf, NLL log(cols) */
  KELVIN_FIT_FLAT = 3                  /* constant rows: NLL independent of T, T = 1 */
} kelvin_fit_outcome;

typedef struct kelvin_fit_result {
  double temperature;
  double nll_before; /* mean NLL at T = 1 */
  double nll_after;  /* mean NLL at temperature */
  int iterations;
  int passes;    /* passes over the logits */
  int converged; /* 0 or 1 */
  int outcome;   /* a kelvin_fit_outcome */
} kelvin_fit_result;

typedef enum kelvin_binning {
  KELVIN_BINNING_UNIFORM = 0, /* equal width, bins (b/B, (b+1)/B], 0 in bin 0 */
  KELVIN_BINNING_QUANTILE = 1 /* equal mass over the stably sorted confidences */
} kelvin_binning;

typedef struct kelvin_reliability_bin {
  double lower;
  double upper;
  size_t count;
  double confidence; /* mean confidence (0 when empty) */
  double accuracy;   /* fraction right (0 when empty) */
} kelvin_reliability_bin;

/* The T > 0 minimising the mean NLL (tolerance: relative Newton step in 1/T,
 * e.g. 1e-8; max_iterations >= 1, e.g. 100). Non-finite logits are errors. */
KELVIN_API kelvin_status kelvin_fit_temperature_f32(const float* logits, size_t rows, size_t cols,
                                                    size_t row_stride, const int64_t* labels,
                                                    double tolerance, int max_iterations,
                                                    kelvin_fit_result* result);
KELVIN_API kelvin_status kelvin_fit_temperature_f64(const double* logits, size_t rows, size_t cols,
                                                    size_t row_stride, const int64_t* labels,
                                                    double tolerance, int max_iterations,
                                                    kelvin_fit_result* result);

/* *out = -mean_r log softmax(logits_r, T)[labels_r] (exact; T = 0 and inf are limits). */
KELVIN_API kelvin_status kelvin_nll_f32(const float* logits, size_t rows, size_t cols,
                                        size_t row_stride, const int64_t* labels,
                                        double temperature, double* out);
KELVIN_API kelvin_status kelvin_nll_f64(const double* logits, size_t rows, size_t cols,
                                        size_t row_stride, const int64_t* labels,
                                        double temperature, double* out);

/* Metrics over probabilities (entries in [0, 1]); *out receives the value. */
KELVIN_API kelvin_status kelvin_accuracy_f32(const float* probs, size_t rows, size_t cols,
                                             size_t row_stride, const int64_t* labels, double* out);
KELVIN_API kelvin_status kelvin_accuracy_f64(const double* probs, size_t rows, size_t cols,
                                             size_t row_stride, const int64_t* labels, double* out);
KELVIN_API kelvin_status kelvin_brier_score_f32(const float* probs, size_t rows, size_t cols,
                                                size_t row_stride, const int64_t* labels,
                                                double* out);
KELVIN_API kelvin_status kelvin_brier_score_f64(const double* probs, size_t rows, size_t cols,
                                                size_t row_stride, const int64_t* labels,
                                                double* out);
/* bins >= 1; strategy a kelvin_binning. */
KELVIN_API kelvin_status kelvin_expected_calibration_error_f32(const float* probs, size_t rows,
                                                               size_t cols, size_t row_stride,
                                                               const int64_t* labels, int bins,
                                                               int strategy, double* out);
KELVIN_API kelvin_status kelvin_expected_calibration_error_f64(const double* probs, size_t rows,
                                                               size_t cols, size_t row_stride,
                                                               const int64_t* labels, int bins,
                                                               int strategy, double* out);
KELVIN_API kelvin_status kelvin_maximum_calibration_error_f32(const float* probs, size_t rows,
                                                              size_t cols, size_t row_stride,
                                                              const int64_t* labels, int bins,
                                                              int strategy, double* out);
KELVIN_API kelvin_status kelvin_maximum_calibration_error_f64(const double* probs, size_t rows,
                                                              size_t cols, size_t row_stride,
                                                              const int64_t* labels, int bins,
                                                              int strategy, double* out);
KELVIN_API kelvin_status kelvin_classwise_calibration_error_f32(const float* probs, size_t rows,
                                                                size_t cols, size_t row_stride,
                                                                const int64_t* labels, int bins,
                                                                int strategy, double* out);
KELVIN_API kelvin_status kelvin_classwise_calibration_error_f64(const double* probs, size_t rows,
                                                                size_t cols, size_t row_stride,
                                                                const int64_t* labels, int bins,
                                                                int strategy, double* out);
/* out: `bins` entries, in increasing confidence. */
KELVIN_API kelvin_status kelvin_reliability_f32(const float* probs, size_t rows, size_t cols,
                                                size_t row_stride, const int64_t* labels, int bins,
                                                int strategy, kelvin_reliability_bin* out);
KELVIN_API kelvin_status kelvin_reliability_f64(const double* probs, size_t rows, size_t cols,
                                                size_t row_stride, const int64_t* labels, int bins,
                                                int strategy, kelvin_reliability_bin* out);

#ifdef __cplusplus
}
#endif

#endif /* KELVIN_CALIBRATION_H_ */
