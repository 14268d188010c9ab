// kelvin: losses with a temperature and their gradients, including the
// gradient with respect to the temperature itself (CLIP learns it).
//
//   cross_entropy   = F.cross_entropy(logits / T, labels or probabilities)
//   distillation    = alpha * CE(student, labels)
//                     + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T))
//   info_nce        = MoCo's loss over N x (1 + K) logits, positive in column 0
//   info_nce_embeddings: the same from q, k (N x D) and a queue (K x D), tiled
//   clip            = CLIP's symmetric loss, scale = min(exp(log_scale), 100)
//   cosine_softmax  = NormFace / CosFace / ArcFace, scale = 1/T
//
// Every loss is computed in double (float data included) on top of the exact
// softmax of kelvin/softmax.hpp, row by row over threads; results never depend
// on the thread count. Gradients are optional: pass an empty view to skip one.
// A gradient view must have the shape of its input; the loss returned (and the
// gradient written) is that of the reduced loss, or of the sum of the per-row
// losses for reduction::none. The limits T == 0 and T == +inf, masks (-inf
// logits) and NaN follow docs/loss.md; bad arguments throw kelvin::error.
//
//   std::vector<double> x(2 * 1025, -1.0), g(x.size());
//   x[0] = x[1025] = 1.0;                      // positives in column 0
//   auto r = kelvin::info_nce(kelvin::matrix_view<const double>(x.data(), 2, 1025),
//                             {.temperature = 0.07},
//                             kelvin::matrix_view<double>(g.data(), 2, 1025));
//   // r.loss == 3.998399531439e-10, r.d_temperature = dL/dT
#pragma once

#include <cstdint>
#include <span>

#include "kelvin/export.h"
#include "kelvin/types.hpp"

namespace kelvin {

enum class reduction { mean, sum, none };
enum class margin_type { none, cosface, arcface };

// Options of every loss; each function reads the fields its comment names.
struct loss_options {
  // T >= 0 (T == 0 and T == +inf are the limits of docs/loss.md).
  double temperature = 1.0;
  reduction reduce = reduction::mean;
  // cross_entropy with labels: rows whose label equals it count for nothing.
  std::int64_t ignore_index = -100;
  // cross_entropy: epsilon in [0, 1], PyTorch 1.13's definition.
  double label_smoothing = 0.0;
  // distillation: weight of the hard-label term, in [0, 1].
  double alpha = 0.5;
  // info_nce_embeddings, clip-style: L2-normalise q and k first.
  bool normalize = true;
  // cosine_softmax: logits = scale * cos (scale = 1/T), margin m >= 0.
  double scale = 30.0;
  double margin = 0.0;
  margin_type margin_kind = margin_type::none;
  // 0: the library default; 1: the calling thread only; n: at most n threads.
  int threads = 0;
};

// The loss (reduced; for reduction::none the sum of the per-row losses) and
// its derivative with respect to the temperature-like scalar: dL/dT, or
// dL/d(log_scale) for clip, dL/d(scale) for cosine_softmax. d_temperature is
// computed only when at least one gradient view is given (else NaN).
struct loss_value {
  double loss = 0;
  double d_temperature = 0;
};

// --- backward of the core ----------------------------------------------------
// y = softmax(x, T) (or z = log_softmax(x, T)) and dy the gradient of a loss
// with respect to it; writes dx = dL/dx (rows x cols, may alias dy) and, when
// d_temperature is not empty (size == rows), dL/dT per row. opt is the softmax
// options (temperature, temperatures, threads).
KELVIN_API void softmax_backward(matrix_view<const float> y, matrix_view<const float> dy,
                                 matrix_view<float> dx, std::span<double> d_temperature = {},
                                 const options& opt = {});
KELVIN_API void softmax_backward(matrix_view<const double> y, matrix_view<const double> dy,
                                 matrix_view<double> dx, std::span<double> d_temperature = {},
                                 const options& opt = {});
KELVIN_API void log_softmax_backward(matrix_view<const float> z, matrix_view<const float> dz,
                                     matrix_view<float> dx, std::span<double> d_temperature = {},
                                     const options& opt = {});
KELVIN_API void log_softmax_backward(matrix_view<const double> z, matrix_view<const double> dz,
                                     matrix_view<double> dx, std::span<double> d_temperature = {},
                                     const options& opt = {});

// --- cross-entropy ------------------------------------------------------------
// Reads temperature, reduce, ignore_index, label_smoothing, threads.
// labels.size() == logits.rows; losses (reduction::none only, else empty):
// one per row, 0 for ignored rows.
KELVIN_API loss_value cross_entropy(matrix_view<const float> logits,
                                    std::span<const std::int64_t> labels,
                                    const loss_options& opt = {}, matrix_view<float> grad = {},
                                    std::span<float> losses = {});
KELVIN_API loss_value cross_entropy(matrix_view<const double> logits,
                                    std::span<const std::int64_t> labels,
                                    const loss_options& opt = {}, matrix_view<double> grad = {},
                                    std::span<double> losses = {});
// Class-probability targets (same shape as logits; ignore_index unused).
KELVIN_API loss_value cross_entropy(matrix_view<const float> logits,
                                    matrix_view<const float> targets, const loss_options& opt = {},
                                    matrix_view<float> grad = {}, std::span<float> losses = {});
KELVIN_API loss_value cross_entropy(matrix_view<const double> logits,
                                    matrix_view<const double> targets, const loss_options& opt = {},
                                    matrix_view<double> grad = {}, std::span<double> losses = {});

// --- distillation (reads temperature, alpha, threads) -------------------------
// labels empty: alpha must be 0. The hard term is CE at T = 1, mean over rows;
// KL is summed over classes and averaged over rows. grad: d/d(student).
KELVIN_API loss_value distillation(matrix_view<const float> student,
                                   matrix_view<const float> teacher,
                                   std::span<const std::int64_t> labels,
                                   const loss_options& opt = {}, matrix_view<float> grad = {});
KELVIN_API loss_value distillation(matrix_view<const double> student,
                                   matrix_view<const double> teacher,
                                   std::span<const std::int64_t> labels,
                                   const loss_options& opt = {}, matrix_view<double> grad = {});

// --- InfoNCE (reads temperature, threads) -------------------------------------
// N x (1 + K) logits, positive in column 0, mean over rows.
KELVIN_API loss_value info_nce(matrix_view<const float> logits, const loss_options& opt = {},
                               matrix_view<float> grad = {});
KELVIN_API loss_value info_nce(matrix_view<const double> logits, const loss_options& opt = {},
                               matrix_view<double> grad = {});
// From embeddings: logits = [q_i . k_i, q_i . queue^T] / T (q, k normalised
// when opt.normalize; the queue is used as given, as MoCo stores normalised
// keys, and is a constant). Tiled: never more than kInfoNceTileRows x
// kInfoNceTileCols logits per thread. Reads temperature, normalize, threads.
inline constexpr std::size_t kInfoNceTileRows = 64;
inline constexpr std::size_t kInfoNceTileCols = 4096;
KELVIN_API loss_value info_nce_embeddings(matrix_view<const float> q, matrix_view<const float> k,
                                          matrix_view<const float> queue,
                                          const loss_options& opt = {},
                                          matrix_view<float> grad_q = {},
                                          matrix_view<float> grad_k = {});
KELVIN_API loss_value info_nce_embeddings(matrix_view<const double> q, matrix_view<const double> k,
                                          matrix_view<const double> queue,
                                          const loss_options& opt = {},
                                          matrix_view<double> grad_q = {},
                                          matrix_view<double> grad_k = {});

// --- CLIP (reads threads) -----------------------------------------------------
// N x D image and text features (L2-normalised inside); d_temperature is
// dL/d(log_scale), 0 while exp(log_scale) > 100 (the clamp holds).
KELVIN_API loss_value clip(matrix_view<const float> image, matrix_view<const float> text,
                           double log_scale, const loss_options& opt = {},
                           matrix_view<float> grad_image = {}, matrix_view<float> grad_text = {});
KELVIN_API loss_value clip(matrix_view<const double> image, matrix_view<const double> text,
                           double log_scale, const loss_options& opt = {},
                           matrix_view<double> grad_image = {}, matrix_view<double> grad_text = {});

// --- NormFace / CosFace / ArcFace (reads scale, margin, margin_kind, threads) -
// features N x D, weights C x D (both L2-normalised inside), labels in [0, C);
// mean over rows. d_temperature is dL/d(scale).
KELVIN_API loss_value cosine_softmax(matrix_view<const float> features,
                                     matrix_view<const float> weights,
                                     std::span<const std::int64_t> labels,
                                     const loss_options& opt = {},
                                     matrix_view<float> grad_features = {},
                                     matrix_view<float> grad_weights = {});
KELVIN_API loss_value cosine_softmax(matrix_view<const double> features,
                                     matrix_view<const double> weights,
                                     std::span<const std::int64_t> labels,
                                     const loss_options& opt = {},
                                     matrix_view<double> grad_features = {},
                                     matrix_view<double> grad_weights = {});

}  // namespace kelvin
