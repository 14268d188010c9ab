/* kelvin C ABI: losses with a temperature and their gradients (kelvin/loss.hpp).
 *
 * Every function returns KELVIN_OK (0) or a nonzero kelvin_status with the
 * message in kelvin_last_error(); on error nothing is written. Matrices are
 * row-major with a row stride in elements (ld_*); gradient pointers may be
 * NULL (not computed). `opt` may be NULL (the defaults of
 * kelvin_loss_options_init). `result` receives the loss (reduced; for
 * KELVIN_REDUCTION_NONE the sum of the per-row losses) and its derivative
 * with respect to the temperature-like scalar (NaN when no gradient pointer is
 * given).
 *
 *   kelvin_loss_options o;
 *   kelvin_loss_options_init(&o);
 *   o.temperature = 0.07;
 *   kelvin_loss_result r;
 *   kelvin_info_nce_f64(logits, n, 1 + k, 1 + k, &o, grad, 1 + k, &r);
 */
#ifndef KELVIN_LOSS_H_
#define KELVIN_LOSS_H_

#include <stddef.h>
#include <stdint.h>

#include "kelvin/export.h"
#include "kelvin/kelvin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kelvin_reduction {
  KELVIN_REDUCTION_MEAN = 0,
  KELVIN_REDUCTION_SUM = 1,
  KELVIN_REDUCTION_NONE = 2
} kelvin_reduction;

typedef enum kelvin_margin_type {
  KELVIN_MARGIN_NONE = 0,
  KELVIN_MARGIN_COSFACE = 1,
  KELVIN_MARGIN_ARCFACE = 2
} kelvin_margin_type;

/* Mirrors kelvin::loss_options. `size` = sizeof(kelvin_loss_options) as the
 * caller compiled it, so that later versions can append fields. */
typedef struct kelvin_loss_options {
  size_t size;
  double temperature;     /* 1.0 */
  int reduction;          /* KELVIN_REDUCTION_MEAN */
  int64_t ignore_index;   /* -100 */
  double label_smoothing; /* 0 */
  double alpha;           /* 0.5 (distillation) */
  int normalize;          /* 1 (info_nce_embeddings) */
  double scale;           /* 30 (cosine_softmax) */
  double margin;          /* 0 */
  int margin_type;        /* KELVIN_MARGIN_NONE */
  int threads;            /* 0: the library default */
} kelvin_loss_options;

typedef struct kelvin_loss_result {
  double loss;
  double d_temperature; /* dL/dT, dL/dlog_scale (clip) or dL/dscale (cosine_softmax) */
} kelvin_loss_result;

KELVIN_API void kelvin_loss_options_init(kelvin_loss_options* opt);

/* labels: rows entries; losses: rows entries for KELVIN_REDUCTION_NONE, else NULL. */
KELVIN_API kelvin_status kelvin_cross_entropy_f32(const float* logits, size_t rows, size_t cols,
                                                  size_t ld, const int64_t* labels,
                                                  const kelvin_loss_options* opt, float* grad,
                                                  size_t ld_grad, float* losses,
                                                  kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_cross_entropy_f64(const double* logits, size_t rows, size_t cols,
                                                  size_t ld, const int64_t* labels,
                                                  const kelvin_loss_options* opt, double* grad,
                                                  size_t ld_grad, double* losses,
                                                  kelvin_loss_result* result);
/* Class-probability targets, rows x cols with row stride ld_targets. */
KELVIN_API kelvin_status kelvin_cross_entropy_probs_f32(const float* logits, size_t rows,
                                                        size_t cols, size_t ld,
                                                        const float* targets, size_t ld_targets,
                                                        const kelvin_loss_options* opt, float* grad,
                                                        size_t ld_grad, float* losses,
                                                        kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_cross_entropy_probs_f64(const double* logits, size_t rows,
                                                        size_t cols, size_t ld,
                                                        const double* targets, size_t ld_targets,
                                                        const kelvin_loss_options* opt,
                                                        double* grad, size_t ld_grad,
                                                        double* losses, kelvin_loss_result* result);
/* labels may be NULL (then opt->alpha must be 0); student and teacher share ld. */
KELVIN_API kelvin_status kelvin_distillation_f32(const float* student, const float* teacher,
                                                 size_t rows, size_t cols, size_t ld,
                                                 const int64_t* labels,
                                                 const kelvin_loss_options* opt, float* grad,
                                                 size_t ld_grad, kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_distillation_f64(const double* student, const double* teacher,
                                                 size_t rows, size_t cols, size_t ld,
                                                 const int64_t* labels,
                                                 const kelvin_loss_options* opt, double* grad,
                                                 size_t ld_grad, kelvin_loss_result* result);
/* rows x (1 + K) logits, the positive in column 0. */
KELVIN_API kelvin_status kelvin_info_nce_f32(const float* logits, size_t rows, size_t cols,
                                             size_t ld, const kelvin_loss_options* opt, float* grad,
                                             size_t ld_grad, kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_info_nce_f64(const double* logits, size_t rows, size_t cols,
                                             size_t ld, const kelvin_loss_options* opt,
                                             double* grad, size_t ld_grad,
                                             kelvin_loss_result* result);
/* Dense rows: q, k, grad_q, grad_k are n x d; queue is k x d. */
KELVIN_API kelvin_status kelvin_info_nce_embeddings_f32(
    const float* q, const float* k, const float* queue, size_t n, size_t queue_rows, size_t d,
    const kelvin_loss_options* opt, float* grad_q, float* grad_k, kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_info_nce_embeddings_f64(
    const double* q, const double* k, const double* queue, size_t n, size_t queue_rows, size_t d,
    const kelvin_loss_options* opt, double* grad_q, double* grad_k, kelvin_loss_result* result);
/* Dense n x d features; d_temperature is dL/dlog_scale. */
KELVIN_API kelvin_status kelvin_clip_f32(const float* image, const float* text, size_t n, size_t d,
                                         double log_scale, const kelvin_loss_options* opt,
                                         float* grad_image, float* grad_text,
                                         kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_clip_f64(const double* image, const double* text, size_t n,
                                         size_t d, double log_scale, const kelvin_loss_options* opt,
                                         double* grad_image, double* grad_text,
                                         kelvin_loss_result* result);
/* Dense features n x d, weights c x d, labels n entries; d_temperature is dL/dscale. */
KELVIN_API kelvin_status kelvin_cosine_softmax_f32(const float* features, const float* weights,
                                                   const int64_t* labels, size_t n, size_t c,
                                                   size_t d, const kelvin_loss_options* opt,
                                                   float* grad_features, float* grad_weights,
                                                   kelvin_loss_result* result);
KELVIN_API kelvin_status kelvin_cosine_softmax_f64(const double* features, const double* weights,
                                                   const int64_t* labels, size_t n, size_t c,
                                                   size_t d, const kelvin_loss_options* opt,
                                                   double* grad_features, double* grad_weights,
                                                   kelvin_loss_result* result);
/* y = softmax(x / T) (or z = log_softmax(x / T)), dy = dL/dy, all rows x cols
 * with row stride ld; dx may be dy. d_temperature (NULL or rows entries):
 * dL/dT per row. */
KELVIN_API kelvin_status kelvin_softmax_backward_f32(const float* y, const float* dy, float* dx,
                                                     size_t rows, size_t cols, size_t ld,
                                                     double temperature, double* d_temperature);
KELVIN_API kelvin_status kelvin_softmax_backward_f64(const double* y, const double* dy, double* dx,
                                                     size_t rows, size_t cols, size_t ld,
                                                     double temperature, double* d_temperature);
KELVIN_API kelvin_status kelvin_log_softmax_backward_f32(const float* z, const float* dz, float* dx,
                                                         size_t rows, size_t cols, size_t ld,
                                                         double temperature, double* d_temperature);
KELVIN_API kelvin_status kelvin_log_softmax_backward_f64(const double* z, const double* dz,
                                                         double* dx, size_t rows, size_t cols,
                                                         size_t ld, double temperature,
                                                         double* d_temperature);

#ifdef __cplusplus
}
#endif

#endif /* KELVIN_LOSS_H_ */
