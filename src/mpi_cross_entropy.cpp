// sharded_cross_entropy (include/kelvin/mpi.hpp): Megatron's vocab-parallel
// cross-entropy with the target logit and the smoothing sum riding in the same
// MPI_Allreduce as the (max, scaled sum) state.
#include <algorithm>
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
loss_value cross_entropy_impl(MPI_Comm comm, matrix_view<const T> x,
                              std::span<const std::int64_t> labels, std::size_t offset,
                              const loss_options& opt, matrix_view<T> grad, std::span<T> losses) {
  // A rank holding no class passes {nullptr, rows, 0}: rows says it wants one.
  const bool has_g = grad.data != nullptr || grad.rows != 0;
  detail::fingerprint f;
  f.value(sizeof(T))
      .value(opt.temperature + 0.0)
      .value(opt.reduce)
      .value(opt.label_smoothing)
      .value(opt.ignore_index)
      .value(has_g);
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
        if (opt.reduce != reduction::mean && opt.reduce != reduction::sum &&
            opt.reduce != reduction::none)
          throw error("reduce must be reduction::mean, ::sum or ::none (got " +
                      std::to_string(static_cast<int>(opt.reduce)) + ")");
        if (!(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0))
          throw error("label_smoothing must be in [0, 1] (got " +
                      detail::format_double(opt.label_smoothing) + ")");
        if (labels.size() != x.rows)
          throw error("labels has " + std::to_string(labels.size()) +
                      " entries but local_logits has " + std::to_string(x.rows) + " rows");
        if (opt.reduce == reduction::none) {
          if (losses.size() != x.rows)
            throw error("losses has " + std::to_string(losses.size()) +
                        " entries; reduction none needs one per row (" + std::to_string(x.rows) +
                        ")");
        } else if (!losses.empty()) {
          throw error("losses must be empty unless reduction is none");
        }
        if (has_g) {
          detail::check_view("grad", grad);
          if (grad.rows != x.rows || grad.cols != x.cols)
            throw error("grad is " + std::to_string(grad.rows) + " x " + std::to_string(grad.cols) +
                        " but local_logits is " + std::to_string(x.rows) + " x " +
                        std::to_string(x.cols));
        }
      },
      [&](const detail::shard_layout& l) {
        if (x.rows != 0 && l.classes == 0) throw error("the rows have no classes on any rank");
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
  { detail::state_reduction<kWidth>::get().allreduce(buf.data(), x.rows, comm); }

  const double classes = static_cast<double>(layout.classes);
  const double eps_c = eps / classes;
  std::size_t valid = 0;
  for (std::size_t r = 0; r < x.rows; ++r) valid += labels[r] != opt.ignore_index ? 1 : 0;
  // PyTorch's mean divides by the non-ignored rows (0/0 = NaN when none is).
  const double w = opt.reduce == reduction::mean ? 1.0 / static_cast<double>(valid) : 1.0;

  loss_value v{0.0, 0.0};
  double dt_shards = 0.0;  // this rank's sum of g_i (x_i - m) over rows on the general path
  double dt_rows = 0.0;    // dL/dT of the limit and NaN rows: the same on every rank
  for (std::size_t r = 0; r < x.rows; ++r) {
    const double* e = buf.data() + r * kWidth;
    const row_norm n = detail::normaliser({e[0], e[1], e[2], e[3]});
    const std::int64_t y = labels[r];
    T* gr = has_g ? grad.row(r) : nullptr;
    if (y == opt.ignore_index) {
      if (!losses.empty()) losses[r] = T(0);
      if (gr != nullptr) std::fill(gr, gr + x.cols, T(0));
      continue;
    }
    double loss = nll_of(n, e[4]);
    // eps == 0 must not turn an infinite smoothing term into NaN.
    if (eps > 0.0) loss = (1.0 - eps) * loss + eps * mean_nll_of(n, e[5], classes);
    v.loss += w * loss;
    if (!losses.empty()) losses[r] = static_cast<T>(loss);
    if (!has_g) continue;
    const bool bad = n.kind == row_norm::nan || n.kind == row_norm::empty;
    const bool limit = n.kind == row_norm::limit;
    if (bad) {
      dt_rows += w * kNaN;
    } else if (limit) {
      // The loss is constant in T at its limits, except a divergent loss at
      // T -> 0, which falls like c / T (as kelvin::cross_entropy).
      if (t == 0.0 && loss == kInf) dt_rows += w * -kInf;
    }
    const T* xr = x.row(r);
    for (std::size_t i = 0; i < x.cols; ++i) {
      const double xi = static_cast<double>(xr[i]);
      double q = eps_c;
      if (static_cast<std::uint64_t>(y) == offset + i) q += 1.0 - eps;
      double g;
      if (bad) {
        g = kNaN;
      } else if (limit && std::isinf(t)) {
        g = 0.0;  // a finite difference over an infinite temperature
      } else if (limit && t == 0.0) {
        // (p - q) / T -> 0 where the limit of p is q, else it diverges.
        const double d = detail::output_of(n, xi, false, empty_row_policy::nan) - q;
        g = d == 0.0 ? 0.0 : std::copysign(kInf, d) * w;
      } else {
        g = w * (detail::output_of(n, xi, false, empty_row_policy::nan) - q) / t;
        if (!limit && g != 0.0) dt_shards += g * (xi - n.m);
      }
      gr[i] = static_cast<T>(g);
    }
  }
  if (opt.reduce == reduction::mean && valid == 0) v.loss = kNaN;
  if (!has_g) {
    v.d_temperature = kNaN;
    return v;
  }
  // dL/dT = -(1/T) sum_i g_i x_i over every class of every row; the gradient
  // of a row sums to 0, so x_i - m gives the same value without cancellation.
  detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, &dt_shards, 1, MPI_DOUBLE, MPI_SUM, comm),
                    "MPI_Allreduce");
  v.d_temperature = dt_rows + (t > 0.0 && std::isfinite(t) ? -dt_shards / t : 0.0);
  return v;
}

}  // namespace

loss_value sharded_cross_entropy(MPI_Comm comm, matrix_view<const float> local_logits,
                                 std::span<const std::int64_t> labels, std::size_t class_offset,
                                 const loss_options& opt, matrix_view<float> grad,
                                 std::span<float> losses) {
  return cross_entropy_impl(comm, local_logits, labels, class_offset, opt, grad, losses);
}
loss_value sharded_cross_entropy(MPI_Comm comm, matrix_view<const double> local_logits,
                                 std::span<const std::int64_t> labels, std::size_t class_offset,
                                 const loss_options& opt, matrix_view<double> grad,
                                 std::span<double> losses) {
  return cross_entropy_impl(comm, local_logits, labels, class_offset, opt, grad, losses);
}

}  // namespace kelvin
