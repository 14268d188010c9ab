// The loss family's C ABI (include/kelvin/loss.h) over kelvin/loss.hpp.
#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <string>

#include "kelvin/loss.h"
#include "kelvin/loss.hpp"
#include "src/c_api_guard.hpp"

namespace {

using kelvin::matrix_view;
using kelvin::detail::guarded;

kelvin_loss_options defaults() {
  kelvin_loss_options o;
  std::memset(&o, 0, sizeof o);
  o.size = sizeof o;
  o.temperature = 1.0;
  o.reduction = KELVIN_REDUCTION_MEAN;
  o.ignore_index = -100;
  o.label_smoothing = 0.0;
  o.alpha = 0.5;
  o.normalize = 1;
  o.scale = 30.0;
  o.margin = 0.0;
  o.margin_type = KELVIN_MARGIN_NONE;
  o.threads = 0;
  return o;
}

// The caller's struct over the defaults, as far as its `size` reaches.
kelvin::loss_options options_of(const kelvin_loss_options* in) {
  kelvin_loss_options c = defaults();
  if (in != nullptr) {
    if (in->size < offsetof(kelvin_loss_options, threads) + sizeof(int)) {
      throw kelvin::error("kelvin_loss_options.size is " + std::to_string(in->size) +
                          "; call kelvin_loss_options_init first");
    }
    std::memcpy(&c, in, std::min(in->size, sizeof c));
  }
  if (c.reduction < KELVIN_REDUCTION_MEAN || c.reduction > KELVIN_REDUCTION_NONE) {
    throw kelvin::error("kelvin_loss_options.reduction must be a kelvin_reduction (got " +
                        std::to_string(c.reduction) + ")");
  }
  if (c.margin_type < KELVIN_MARGIN_NONE || c.margin_type > KELVIN_MARGIN_ARCFACE) {
    throw kelvin::error("kelvin_loss_options.margin_type must be a kelvin_margin_type (got " +
                        std::to_string(c.margin_type) + ")");
  }
  kelvin::loss_options o;
  o.temperature = c.temperature;
  o.reduce = static_cast<kelvin::reduction>(c.reduction);
  o.ignore_index = c.ignore_index;
  o.label_smoothing = c.label_smoothing;
  o.alpha = c.alpha;
  o.normalize = c.normalize != 0;
  o.scale = c.scale;
  o.margin = c.margin;
  o.margin_kind = static_cast<kelvin::margin_type>(c.margin_type);
  o.threads = c.threads;
  return o;
}

template <class T>
matrix_view<const T> in(const T* p, size_t rows, size_t cols, size_t ld) {
  return {p, rows, cols, ld};
}
// A NULL output is "not wanted": an empty view.
template <class T>
matrix_view<T> out(T* p, size_t rows, size_t cols, size_t ld) {
  return p == nullptr ? matrix_view<T>{} : matrix_view<T>{p, rows, cols, ld};
}

void put(kelvin_loss_result* r, const kelvin::loss_value& v) {
  if (r == nullptr) throw kelvin::error("result is null");
  r->loss = v.loss;
  r->d_temperature = v.d_temperature;
}

std::span<const int64_t> labels_of(const int64_t* l, size_t rows) {
  return l == nullptr ? std::span<const int64_t>{} : std::span<const int64_t>{l, rows};
}

template <class T>
kelvin_status cross_entropy_c(const T* x, size_t rows, size_t cols, size_t ld,
                              const int64_t* labels, const kelvin_loss_options* opt, T* grad,
                              size_t ld_grad, T* losses, kelvin_loss_result* result) {
  return guarded([&] {
    if (labels == nullptr && rows != 0) throw kelvin::error("labels is null");
    const auto o = options_of(opt);
    std::span<T> l;
    if (losses != nullptr) l = {losses, rows};
    put(result, kelvin::cross_entropy(in(x, rows, cols, ld), labels_of(labels, rows), o,
                                      out(grad, rows, cols, ld_grad), l));
  });
}

template <class T>
kelvin_status cross_entropy_probs_c(const T* x, size_t rows, size_t cols, size_t ld,
                                    const T* targets, size_t ld_t, const kelvin_loss_options* opt,
                                    T* grad, size_t ld_grad, T* losses,
                                    kelvin_loss_result* result) {
  return guarded([&] {
    const auto o = options_of(opt);
    std::span<T> l;
    if (losses != nullptr) l = {losses, rows};
    put(result, kelvin::cross_entropy(in(x, rows, cols, ld), in(targets, rows, cols, ld_t), o,
                                      out(grad, rows, cols, ld_grad), l));
  });
}

template <class T>
kelvin_status backward_c(bool log, const T* y, const T* dy, T* dx, size_t rows, size_t cols,
                         size_t ld, double temperature, double* dt) {
  return guarded([&] {
    kelvin::options o;
    o.temperature = temperature;
    std::span<double> d;
    if (dt != nullptr) d = {dt, rows};
    if (dx == nullptr && rows * cols != 0) throw kelvin::error("dx is null");
    const matrix_view<T> dxv{dx, rows, cols, ld};
    if (log) {
      kelvin::log_softmax_backward(in(y, rows, cols, ld), in(dy, rows, cols, ld), dxv, d, o);
    } else {
      kelvin::softmax_backward(in(y, rows, cols, ld), in(dy, rows, cols, ld), dxv, d, o);
    }
  });
}

}  // namespace

extern "C" {

void kelvin_loss_options_init(kelvin_loss_options* opt) {
  if (opt != nullptr) *opt = defaults();
}

#define KELVIN_LOSS_C(SUFFIX, T)                                                                  \
  kelvin_status kelvin_cross_entropy_##SUFFIX(                                                    \
      const T* logits, size_t rows, size_t cols, size_t ld, const int64_t* labels,                \
      const kelvin_loss_options* opt, T* grad, size_t ld_grad, T* losses,                         \
      kelvin_loss_result* result) {                                                               \
    return cross_entropy_c(logits, rows, cols, ld, labels, opt, grad, ld_grad, losses, result);   \
  }                                                                                               \
  kelvin_status kelvin_cross_entropy_probs_##SUFFIX(                                              \
      const T* logits, size_t rows, size_t cols, size_t ld, const T* targets, size_t ld_targets,  \
      const kelvin_loss_options* opt, T* grad, size_t ld_grad, T* losses,                         \
      kelvin_loss_result* result) {                                                               \
    return cross_entropy_probs_c(logits, rows, cols, ld, targets, ld_targets, opt, grad, ld_grad, \
                                 losses, result);                                                 \
  }                                                                                               \
  kelvin_status kelvin_distillation_##SUFFIX(const T* student, const T* teacher, size_t rows,     \
                                             size_t cols, size_t ld, const int64_t* labels,       \
                                             const kelvin_loss_options* opt, T* grad,             \
                                             size_t ld_grad, kelvin_loss_result* result) {        \
    return guarded([&] {                                                                          \
      put(result, kelvin::distillation(in(student, rows, cols, ld), in(teacher, rows, cols, ld),  \
                                       labels_of(labels, rows), options_of(opt),                  \
                                       out(grad, rows, cols, ld_grad)));                          \
    });                                                                                           \
  }                                                                                               \
  kelvin_status kelvin_info_nce_##SUFFIX(const T* logits, size_t rows, size_t cols, size_t ld,    \
                                         const kelvin_loss_options* opt, T* grad, size_t ld_grad, \
                                         kelvin_loss_result* result) {                            \
    return guarded([&] {                                                                          \
      put(result, kelvin::info_nce(in(logits, rows, cols, ld), options_of(opt),                   \
                                   out(grad, rows, cols, ld_grad)));                              \
    });                                                                                           \
  }                                                                                               \
  kelvin_status kelvin_info_nce_embeddings_##SUFFIX(                                              \
      const T* q, const T* k, const T* queue, size_t n, size_t queue_rows, size_t d,              \
      const kelvin_loss_options* opt, T* grad_q, T* grad_k, kelvin_loss_result* result) {         \
    return guarded([&] {                                                                          \
      put(result, kelvin::info_nce_embeddings(in(q, n, d, d), in(k, n, d, d),                     \
                                              in(queue, queue_rows, d, d), options_of(opt),       \
                                              out(grad_q, n, d, d), out(grad_k, n, d, d)));       \
    });                                                                                           \
  }                                                                                               \
  kelvin_status kelvin_clip_##SUFFIX(const T* image, const T* text, size_t n, size_t d,           \
                                     double log_scale, const kelvin_loss_options* opt,            \
                                     T* grad_image, T* grad_text, kelvin_loss_result* result) {   \
    return guarded([&] {                                                                          \
      put(result, kelvin::clip(in(image, n, d, d), in(text, n, d, d), log_scale, options_of(opt), \
                               out(grad_image, n, d, d), out(grad_text, n, d, d)));               \
    });                                                                                           \
  }                                                                                               \
  kelvin_status kelvin_cosine_softmax_##SUFFIX(                                                   \
      const T* features, const T* weights, const int64_t* labels, size_t n, size_t c, size_t d,   \
      const kelvin_loss_options* opt, T* grad_features, T* grad_weights,                          \
      kelvin_loss_result* result) {                                                               \
    return guarded([&] {                                                                          \
      if (labels == nullptr && n != 0) throw kelvin::error("labels is null");                     \
      put(result, kelvin::cosine_softmax(                                                         \
                      in(features, n, d, d), in(weights, c, d, d), labels_of(labels, n),          \
                      options_of(opt), out(grad_features, n, d, d), out(grad_weights, c, d, d))); \
    });                                                                                           \
  }                                                                                               \
  kelvin_status kelvin_softmax_backward_##SUFFIX(const T* y, const T* dy, T* dx, size_t rows,     \
                                                 size_t cols, size_t ld, double temperature,      \
                                                 double* d_temperature) {                         \
    return backward_c(false, y, dy, dx, rows, cols, ld, temperature, d_temperature);              \
  }                                                                                               \
  kelvin_status kelvin_log_softmax_backward_##SUFFIX(const T* z, const T* dz, T* dx, size_t rows, \
                                                     size_t cols, size_t ld, double temperature,  \
                                                     double* d_temperature) {                     \
    return backward_c(true, z, dz, dx, rows, cols, ld, temperature, d_temperature);               \
  }

KELVIN_LOSS_C(f32, float)
KELVIN_LOSS_C(f64, double)

#undef KELVIN_LOSS_C

}  // extern "C"
