// kelvin: temperature scaling for calibration (Guo et al., 2017) and the
// calibration metrics that judge it.
//
// fit_temperature finds the T > 0 minimising the mean negative log-likelihood
//   NLL(T) = mean_i [ log sum_j exp(x_ij / T) - x_i,y_i / T ]
// of held-out logits x (rows x classes) and labels y. NLL is convex in
// beta = 1 / T, so the fit is a safeguarded Newton method in beta whose
// gradient and Hessian (the means of E_p[x] - x_y and Var_p[x] under the
// tempered softmax p) come from one fused pass over the logits per iteration.
//
//   std::vector<float> logits = ...;  // n x c
//   std::vector<std::int64_t> labels = ...;
//   kelvin::matrix_view<const float> x(logits.data(), n, c);
//   kelvin::fit_result r = kelvin::fit_temperature(x, labels);
//   // r.temperature, r.nll_before, r.nll_after, r.iterations, r.passes
//
// The metrics take probabilities (rows x classes, each row a distribution):
//   double ece = kelvin::expected_calibration_error(p, labels, {.bins = 15});
// docs/calibration.md has the conventions (bin edges, ties, the limits).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kelvin/export.h"
#include "kelvin/types.hpp"

namespace kelvin {

struct fit_options {
  // Stop when a Newton step moves beta = 1 / T by at most this much,
  // relatively; the step is then taken, so T is accurate far beyond it (the
  // error after a Newton step is about the square of the one before).
  double tolerance = 1e-8;
  // Newton and bracketing steps together.
  int max_iterations = 100;
  // 0: the library default (all cores); n: at most n threads.
  int threads = 0;
};

// Where the NLL's minimum over T > 0 lies.
enum class fit_outcome {
  // A finite T > 0 where the NLL's derivative vanishes (the usual case).
  optimum,
  // Every label is its row's largest logit (no mistakes): the NLL falls
  // monotonically as T -> 0. temperature is 0, kelvin's exact hardmax, and
  // nll_after its limit (0 when every label wins by a margin, mean log k for
  // ties of k at the top).
  zero_temperature,
  // The labels' logits are on average no larger than their rows' means: the
  // NLL falls as T -> inf. temperature is +inf (uniform predictions) and
  // nll_after is log(classes).
  infinite_temperature,
  // Every row is constant (one class, or equal logits): the NLL does not
  // depend on T. temperature is 1, nll_after == nll_before.
  flat,
};

struct fit_result {
  double temperature = 1;
  double nll_before = 0;  // mean NLL at T = 1
  double nll_after = 0;   // mean NLL at `temperature`
  int iterations = 0;     // Newton or bracketing steps taken
  int passes = 0;         // passes over the logits
  bool converged = false;
  fit_outcome outcome = fit_outcome::optimum;
};

// labels.size() == logits.rows, each in [0, logits.cols); logits finite.
// Errors (kelvin::error): no rows or no columns, a label out of range, a
// non-finite logit, options out of range.
KELVIN_API fit_result fit_temperature(matrix_view<const float> logits,
                                      std::span<const std::int64_t> labels,
                                      const fit_options& opt = {});
KELVIN_API fit_result fit_temperature(matrix_view<const double> logits,
                                      std::span<const std::int64_t> labels,
                                      const fit_options& opt = {});

// The mean NLL -mean_i log softmax(x_i, T)[y_i] at opt.temperature (or one
// temperature per row, opt.temperatures), computed by kelvin's exact
// log_softmax in double: T == 0 is the hardmax limit (+inf for a row whose
// label is not its max, log k for a label tied with k - 1 others), T == +inf
// log(number of entries > -inf). A row with a NaN is an error.
KELVIN_API double nll(matrix_view<const float> logits, std::span<const std::int64_t> labels,
                      const options& opt = {});
KELVIN_API double nll(matrix_view<const double> logits, std::span<const std::int64_t> labels,
                      const options& opt = {});

// --- metrics over probabilities ---------------------------------------------
// Every row's prediction is its largest probability (the first one on ties)
// and its confidence that probability. Probabilities must lie in [0, 1]
// (NaN is an error); rows are not required to sum to exactly 1.

enum class binning {
  // Equal width: bin b of B holds confidences in (b/B, (b+1)/B], bin 0 also
  // holds 0. So a confidence exactly at an edge k/B goes to the bin below it,
  // and 1.0 to the last bin (as in Guo et al.'s code). Edges are k/B rounded
  // to double, compared with the confidence as a double.
  uniform,
  // Equal mass: rows sorted by confidence (ties by row index), bin b holding
  // sorted positions [floor(b N / B), floor((b+1) N / B)). Tied confidences
  // may fall into neighbouring bins, deterministically.
  quantile,
};

struct bin_options {
  int bins = 15;  // >= 1
  binning strategy = binning::uniform;
};

struct reliability_bin {
  double lower = 0;       // uniform: the bin's edges; quantile: its smallest
  double upper = 0;       // and largest confidence (0, 0 when empty)
  std::size_t count = 0;  // rows in the bin
  double confidence = 0;  // their mean confidence (0 when empty)
  double accuracy = 0;    // the fraction of them predicted right (0 when empty)
};

// The per-bin data of a reliability diagram, bins in increasing confidence.
KELVIN_API std::vector<reliability_bin> reliability(matrix_view<const float> probs,
                                                    std::span<const std::int64_t> labels,
                                                    const bin_options& opt = {});
KELVIN_API std::vector<reliability_bin> reliability(matrix_view<const double> probs,
                                                    std::span<const std::int64_t> labels,
                                                    const bin_options& opt = {});

// The fraction of rows whose prediction is the label.
KELVIN_API double accuracy(matrix_view<const float> probs, std::span<const std::int64_t> labels);
KELVIN_API double accuracy(matrix_view<const double> probs, std::span<const std::int64_t> labels);

// mean_i sum_j (p_ij - [j == y_i])^2 (in [0, 2]; some authors divide by the
// number of classes).
KELVIN_API double brier_score(matrix_view<const float> probs, std::span<const std::int64_t> labels);
KELVIN_API double brier_score(matrix_view<const double> probs,
                              std::span<const std::int64_t> labels);

// ECE = sum_b (count_b / N) |accuracy_b - confidence_b| over the bins of
// `reliability` (equal width: the classic ECE; quantile: adaptive ECE).
KELVIN_API double expected_calibration_error(matrix_view<const float> probs,
                                             std::span<const std::int64_t> labels,
                                             const bin_options& opt = {});
KELVIN_API double expected_calibration_error(matrix_view<const double> probs,
                                             std::span<const std::int64_t> labels,
                                             const bin_options& opt = {});

// MCE = max_b |accuracy_b - confidence_b| over the non-empty bins.
KELVIN_API double maximum_calibration_error(matrix_view<const float> probs,
                                            std::span<const std::int64_t> labels,
                                            const bin_options& opt = {});
KELVIN_API double maximum_calibration_error(matrix_view<const double> probs,
                                            std::span<const std::int64_t> labels,
                                            const bin_options& opt = {});

// Classwise ECE (Kull et al., 2019): for each class j, every row's p_ij binned
// (opt's strategy, on p_ij instead of the confidence), each bin's mean p_ij
// against the fraction of its rows labelled j, weighted by count / N; the
// mean of that over the classes.
KELVIN_API double classwise_calibration_error(matrix_view<const float> probs,
                                              std::span<const std::int64_t> labels,
                                              const bin_options& opt = {});
KELVIN_API double classwise_calibration_error(matrix_view<const double> probs,
                                              std::span<const std::int64_t> labels,
                                              const bin_options& opt = {});

}  // namespace kelvin
