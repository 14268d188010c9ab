// sharded_cross_entropy (include/kelvin/mpi.hpp): Megatron's vocab-parallel
// cross-entropy with the target logit and the smoothing sum riding in the same
// MPI_Allreduce as the (max, scaled sum) state.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kelvin/mpi.hpp"
#include "src/mpi_checks.hpp"
#include "src/mpi_reduce.hpp"
#include "src/mpi_shard.hpp"

namespace kelvin {
namespace {

using detail::kInf;
using detail::kNaN;
using detail::row_norm;

// Per row: the shard state, the target logit (from the rank that owns it,
// 0 elsewhere) and the sum of the logits (label smoothing's term).
constexpr int kWidth = detail::kStateDoubles + 2;

// -log p of one entry, and the mean of -log p over the C classes.
double nll_of(const row_norm& n, double x) {
  switch (n.kind) {
    case row_norm::nan:
    case row_norm::empty:
      return kNaN;  // PyTorch: log_softmax of an all -inf row is NaN
    case row_norm::limit:
      return detail::limit_hit(n, x) ? std::log(n.k) : kInf;
    case row_norm::general:
      break;
  }
  const detail::ddv l = detail::log_softmax_dd(n, x);
  return -(l.hi + l.lo);
}

double mean_nll_of(const row_norm& n, double xsum, double classes) {
  switch (n.kind) {
    case row_norm::nan:
    case row_norm::empty:
      return kNaN;
    case row_norm::limit:
      // Finite only when every class shares the mass.
      return n.k == classes ? std::log(n.k) : kInf;
    case row_norm::general:
      break;
  }
  if (xsum == -kInf) return kInf;
  // log Z - mean(x) / T with the max taken out: (m - mean(x)) / T + log S.
  return (n.m - xsum / classes) / n.t + (n.log_s.hi + n.log_s.lo);
}

template <class T>
double cross_entropy_impl(MPI_Comm comm, matrix_view<const T> x,
                          std::span<const std::int64_t> labels, std::size_t offset,
                          const sharded_cross_entropy_options& opt, std::span<T> losses,
                          matrix_view<T> grad, double* grad_t) {
  const bool want_grad = grad.data != nullptr;
  const bool want_grad_t = grad_t != nullptr;
  detail::fingerprint f;
  f.value(sizeof(T))
      .value(opt.temperature + 0.0)
      .value(opt.reduction)
      .value(opt.label_smoothing)
      .value(opt.ignore_index)
      .value(want_grad_t);
  detail::fingerprint lf;
  if (!labels.empty()) lf.add(labels.data(), labels.size() * sizeof(std::int64_t));
  detail::shard_call call{.name = "sharded_cross_entropy",
                          .rows = x.rows,
                          .cols = x.cols,
                          .offset = offset,
                          .has_offset = true,
                          .options = f.get(),
                          .labels = lf.get()};
  const double t = opt.temperature;
  const detail::shard_layout layout = detail::check_collectively(
      comm, call,
      [&] {
        detail::check_view("local_logits", x);
        detail::check_temperature("temperature", t);
        if (opt.reduction != sharded_reduction::mean && opt.reduction != sharded_reduction::sum &&
            opt.reduction != sharded_reduction::none)
          throw error("reduction must be mean, sum or none (got " +
                      std::to_string(static_cast<int>(opt.reduction)) + ")");
        if (!(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0))
          throw error("label_smoothing must be in [0, 1] (got " +
                      detail::format_double(opt.label_smoothing) + ")");
        if (labels.size() != x.rows)
          throw error("labels has " + std::to_string(labels.size()) +
                      " entries but local_logits has " + std::to_string(x.rows) + " rows");
        if (!losses.empty() && losses.size() != x.rows)
          throw error("losses has " + std::to_string(losses.size()) + " entries but there are " +
                      std::to_string(x.rows) + " rows");
        if (want_grad) {
          detail::check_view("grad", grad);
          if (grad.rows != x.rows || grad.cols != x.cols)
            throw error("grad is " + std::to_string(grad.rows) + " x " + std::to_string(grad.cols) +
                        " but local_logits is " + std::to_string(x.rows) + " x " +
                        std::to_string(x.cols));
        }
        if ((want_grad || want_grad_t) && t == 0.0)
          throw error("the gradient at temperature 0 is undefined (the loss is a step function)");
      },
      [&](const detail::shard_layout& l) {
        for (std::size_t r = 0; r < labels.size(); ++r) {
          const std::int64_t y = labels[r];
          if (y == opt.ignore_index) continue;
          if (y < 0 || static_cast<std::uint64_t>(y) >= l.classes)
            throw error("labels[" + std::to_string(r) + "] = " + std::to_string(y) +
                        " is outside [0, " + std::to_string(l.classes) +
                        ") and is not ignore_index (" + std::to_string(opt.ignore_index) + ")");
        }
      });

  const double eps = opt.label_smoothing;
  std::vector<double> buf(x.rows * kWidth);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const T* xr = x.row(r);
    const detail::shard_state s = detail::local_state(xr, x.cols, t);
    double* e = buf.data() + r * kWidth;
    e[0] = s.m;
    e[1] = s.s;
    e[2] = s.s_lo;
    e[3] = s.t;
    const std::int64_t y = labels[r];
    e[4] = 0.0;
    if (y != opt.ignore_index && static_cast<std::uint64_t>(y) >= offset &&
        static_cast<std::uint64_t>(y) - offset < x.cols)
      e[4] = static_cast<double>(xr[static_cast<std::uint64_t>(y) - offset]);
    double sum = 0.0;
    if (eps > 0.0)
      for (std::size_t i = 0; i < x.cols; ++i) sum += static_cast<double>(xr[i]);
    e[5] = sum;
  }
  {
    const detail::state_reduction red(kWidth, &detail::merge_elements<kWidth>);
    red.allreduce(buf.data(), x.rows, comm);
  }

  const double classes = static_cast<double>(layout.classes);
  std::size_t valid = 0;
  for (std::size_t r = 0; r < x.rows; ++r) valid += labels[r] != opt.ignore_index ? 1 : 0;
  // d(result)/d(row loss): PyTorch's mean divides by the non-ignored rows.
  const double w =
      opt.reduction == sharded_reduction::mean ? 1.0 / static_cast<double>(valid) : 1.0;

  double total = 0.0;
  double dt_local = 0.0;  // sum over local entries of g_i (x_i - m)
  for (std::size_t r = 0; r < x.rows; ++r) {
    const double* e = buf.data() + r * kWidth;
    const row_norm n = detail::normaliser({e[0], e[1], e[2], e[3]});
    const std::int64_t y = labels[r];
    const bool ignored = y == opt.ignore_index;
    double loss = 0.0;
    if (!ignored) {
      loss = nll_of(n, e[4]);
      // eps == 0 must not turn an infinite smoothing term into NaN.
      if (eps > 0.0) loss = (1.0 - eps) * loss + eps * mean_nll_of(n, e[5], classes);
    }
    total += loss;
    if (!losses.empty()) losses[r] = static_cast<T>(loss);
    if (!want_grad && !want_grad_t) continue;
    const T* xr = x.row(r);
    T* gr = want_grad ? grad.row(r) : nullptr;
    // T == +inf: the loss no longer depends on the logits nor on T.
    const double scale = ignored || std::isinf(t) ? 0.0 : w / t;
    for (std::size_t i = 0; i < x.cols; ++i) {
      double g = 0.0;
      if (scale != 0.0) {
        const double xi = static_cast<double>(xr[i]);
        double q = eps / classes;
        if (static_cast<std::uint64_t>(y) == offset + i) q += 1.0 - eps;
        g = scale * (detail::output_of(n, xi, false, empty_row_policy::nan) - q);
        if (g != 0.0) dt_local += g * (xi - n.m);
      }
      if (gr != nullptr) gr[i] = static_cast<T>(g);
    }
  }
  const double result =
      opt.reduction == sharded_reduction::mean ? total / static_cast<double>(valid) : total;
  if (want_grad_t) {
    // dL/dT = -(1/T) sum_i g_i x_i over every class of every row; the
    // gradient of a row sums to 0, so x_i - m gives the same value without
    // cancellation.
    double dt = dt_local;
    detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_SUM, comm),
                      "MPI_Allreduce");
    *grad_t = std::isinf(t) ? 0.0 : -dt / t;
  }
  return result;
}

}  // namespace

double sharded_cross_entropy(MPI_Comm comm, matrix_view<const float> local_logits,
                             std::span<const std::int64_t> labels, std::size_t class_offset,
                             const sharded_cross_entropy_options& opt, std::span<float> losses,
                             matrix_view<float> grad, double* grad_temperature) {
  return cross_entropy_impl(comm, local_logits, labels, class_offset, opt, losses, grad,
                            grad_temperature);
}
double sharded_cross_entropy(MPI_Comm comm, matrix_view<const double> local_logits,
                             std::span<const std::int64_t> labels, std::size_t class_offset,
                             const sharded_cross_entropy_options& opt, std::span<double> losses,
                             matrix_view<double> grad, double* grad_temperature) {
  return cross_entropy_impl(comm, local_logits, labels, class_offset, opt, losses, grad,
                            grad_temperature);
}

}  // namespace kelvin
