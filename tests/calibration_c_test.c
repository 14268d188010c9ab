/* The calibration C ABI, compiled as C: the fit is a minimum of kelvin_nll
 * (checked on both sides), the metrics agree with direct computations, and
 * bad arguments return KELVIN_INVALID_ARGUMENT with a message naming them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelvin/kelvin.h"

static int failures = 0;

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

enum { kRows = 400, kCols = 5 };

/* A small LCG: replicable data without the C library's rand(). */
static double uniform(uint64_t* s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * 0x1p-53;
}

int main(void) {
  static float logits[kRows * kCols];
  static double probs[kRows * kCols];
  static int64_t labels[kRows];
  uint64_t seed = 42;
  for (int r = 0; r < kRows; ++r) {
    const int truth = (int)(uniform(&seed) * kCols);
    for (int c = 0; c < kCols; ++c) {
      logits[r * kCols + c] = (float)(4.0 * (uniform(&seed) + (c == truth ? 0.6 : 0.0)));
    }
    labels[r] = uniform(&seed) < 0.7 ? truth : (int64_t)(uniform(&seed) * kCols);
  }

  kelvin_fit_result fit;
  CHECK(kelvin_fit_temperature_f32(logits, kRows, kCols, kCols, labels, 1e-8, 100, &fit) ==
        KELVIN_OK);
  CHECK(fit.converged == 1 && fit.outcome == KELVIN_FIT_OPTIMUM && fit.temperature > 0);
  double at = 0, below = 0, above = 0, before = 0;
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, labels, fit.temperature, &at) == KELVIN_OK);
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, labels, fit.temperature * 0.999, &below) ==
        KELVIN_OK);
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, labels, fit.temperature * 1.001, &above) ==
        KELVIN_OK);
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, labels, 1.0, &before) == KELVIN_OK);
  CHECK(at < below && at < above);
  CHECK(fabs(at - fit.nll_after) < 1e-8 && fabs(before - fit.nll_before) < 1e-8);

  /* Probabilities at the fitted T through the core C ABI, then the metrics. */
  static double x64[kRows * kCols];
  for (int i = 0; i < kRows * kCols; ++i) x64[i] = logits[i];
  CHECK(kelvin_softmax_f64(x64, probs, kRows, kCols, kCols, kCols, fit.temperature) == KELVIN_OK);
  double acc = 0, brier = 0, ece = 0, mce = 0, cw = 0;
  CHECK(kelvin_accuracy_f64(probs, kRows, kCols, kCols, labels, &acc) == KELVIN_OK);
  CHECK(kelvin_brier_score_f64(probs, kRows, kCols, kCols, labels, &brier) == KELVIN_OK);
  CHECK(kelvin_expected_calibration_error_f64(probs, kRows, kCols, kCols, labels, 10,
                                              KELVIN_BINNING_UNIFORM, &ece) == KELVIN_OK);
  CHECK(kelvin_maximum_calibration_error_f64(probs, kRows, kCols, kCols, labels, 10,
                                             KELVIN_BINNING_UNIFORM, &mce) == KELVIN_OK);
  CHECK(kelvin_classwise_calibration_error_f64(probs, kRows, kCols, kCols, labels, 10,
                                               KELVIN_BINNING_QUANTILE, &cw) == KELVIN_OK);
  kelvin_reliability_bin bins[10];
  CHECK(kelvin_reliability_f64(probs, kRows, kCols, kCols, labels, 10, KELVIN_BINNING_UNIFORM,
                               bins) == KELVIN_OK);
  double right = 0, brier_ref = 0, ece_ref = 0, mce_ref = 0;
  size_t total = 0;
  for (int r = 0; r < kRows; ++r) {
    int arg = 0;
    for (int c = 0; c < kCols; ++c) {
      const double d = probs[r * kCols + c] - (c == labels[r] ? 1.0 : 0.0);
      brier_ref += d * d;
      if (probs[r * kCols + c] > probs[r * kCols + arg]) arg = c;
    }
    right += arg == labels[r];
  }
  for (int b = 0; b < 10; ++b) {
    total += bins[b].count;
    if (bins[b].count == 0) continue;
    const double gap = fabs(bins[b].accuracy - bins[b].confidence);
    ece_ref += (double)bins[b].count / kRows * gap;
    if (gap > mce_ref) mce_ref = gap;
  }
  CHECK(total == kRows);
  CHECK(acc == right / kRows);
  CHECK(fabs(brier - brier_ref / kRows) < 1e-14);
  CHECK(fabs(ece - ece_ref) < 1e-15 && mce == mce_ref && cw >= 0 && cw <= 1);

  /* Errors. */
  labels[7] = kCols;
  CHECK(kelvin_fit_temperature_f32(logits, kRows, kCols, kCols, labels, 1e-8, 100, &fit) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "labels[7]") != NULL);
  labels[7] = 0;
  CHECK(kelvin_expected_calibration_error_f64(probs, kRows, kCols, kCols, labels, 10, 7, &ece) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "strategy") != NULL);
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, NULL, 1.0, &at) == KELVIN_INVALID_ARGUMENT);
  CHECK(kelvin_nll_f32(logits, kRows, kCols, kCols, labels, 1.0, NULL) == KELVIN_INVALID_ARGUMENT);
  logits[3] = NAN;
  CHECK(kelvin_fit_temperature_f32(logits, kRows, kCols, kCols, labels, 1e-8, 100, &fit) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "logits[0, 3]") != NULL);
  CHECK(kelvin_accuracy_f64(probs, kRows, kCols, kCols, labels, &acc) == KELVIN_OK);
  CHECK(strcmp(kelvin_last_error(), "") == 0);

  if (failures == 0) printf("calibration_c_test: ok\n");
  return failures == 0 ? 0 : 1;
}
