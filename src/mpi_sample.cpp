// sharded_sample (include/kelvin/mpi.hpp): kelvin::sample over a row whose
// vocabulary is split across ranks. The global max first (one allreduce),
// then per row either the sampler's dense inverse-CDF walk across ranks (each
// rank's weight sum, one allgather), or its truncation chain on the union of
// every rank's local candidates (one allgatherv), run identically on every
// rank through src/sampling_detail.hpp; one allreduce hands every rank the
// tokens.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kelvin/mpi.hpp"
#include "src/mpi_checks.hpp"
#include "src/mpi_reduce.hpp"
#include "src/sampling_detail.hpp"

namespace kelvin {
namespace {

using detail::candidate_source;
using detail::sampling_candidate;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::max();

// What the sampler does with a row, decided from the config, the global max
// and the global vocabulary size (src/sampling.cpp's row_sampler::plan).
enum class row_kind { greedy, dense, uniform, candidates };

struct row_job {
  row_kind kind;
  candidate_source source;
  std::size_t k;  // top_k source: max(top_k, min_keep)
};

row_job job_of(const sampling_options& c, std::size_t classes) {
  const double t = c.temperature;
  if (t == 0) return {row_kind::greedy, candidate_source::live, 0};
  const std::size_t k = static_cast<std::size_t>(std::max<std::int64_t>(c.top_k, c.min_keep));
  const bool topk = c.top_k > 0 && k < classes;
  const bool truncates = topk || c.typical_p < 1 || c.top_p < 1 || c.min_p > 0;
  if (!truncates)
    return {t < kInf ? row_kind::dense : row_kind::uniform, candidate_source::live, 0};
  if (topk) return {row_kind::candidates, candidate_source::top_k, k};
  if (c.typical_p < 1 || c.top_p < 1) return {row_kind::candidates, candidate_source::live, 0};
  return {row_kind::candidates, candidate_source::min_p, 0};
}

// A row as the sampler sees it: +inf entries become 0 and the rest -inf when
// the row holds any (the contract's limit), into `buf`.
const float* effective_row(const float* x, std::size_t n, bool has_inf, std::vector<float>& buf) {
  if (!has_inf) return x;
  buf.resize(n);
  for (std::size_t i = 0; i < n; ++i) buf[i] = x[i] == kInfF ? 0.0f : -kInfF;
  return buf.data();
}

// The local candidates of a row, in local index order (global indices).
void local_candidates(const float* x, std::size_t n, std::size_t offset, const row_job& job,
                      const sampling_options& c, double m, std::vector<sampling_candidate>& out) {
  out.clear();
  const auto at = [&](std::size_t i) {
    return sampling_candidate{x[i], static_cast<std::int64_t>(offset + i)};
  };
  if (job.source == candidate_source::live) {
    for (std::size_t i = 0; i < n; ++i)
      if (x[i] > -kInfF) out.push_back(at(i));
    return;
  }
  // top-k, and min-p's fallback to the top min_keep: this rank's best k by
  // the sampler's ranking contain the global best k's share of this rank.
  const std::size_t k = job.source == candidate_source::top_k
                            ? job.k
                            : static_cast<std::size_t>(std::max<std::int64_t>(c.min_keep, 1));
  // The sampler's selection never takes a -inf entry.
  std::vector<sampling_candidate> all;
  all.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (x[i] > -kInfF) all.push_back(at(i));
  const std::size_t kk = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(kk), all.end(),
                    detail::sampling_before);
  all.resize(kk);
  if (job.source == candidate_source::min_p) {
    // The prefilter's entries too (the global max is known).
    const double tau = c.order == sampling_order::temperature_first ? c.temperature : 1.0;
    const float thr = detail::sampling_min_p_threshold(m, tau, c.min_p);
    for (std::size_t i = 0; i < n; ++i)
      if (x[i] > thr) all.push_back(at(i));
    std::sort(all.begin(), all.end(), [](const sampling_candidate& a, const sampling_candidate& b) {
      return a.idx < b.idx;
    });
    all.erase(std::unique(all.begin(), all.end(),
                          [](const sampling_candidate& a, const sampling_candidate& b) {
                            return a.idx == b.idx;
                          }),
              all.end());
  }
  out = std::move(all);
}

}  // namespace

void sharded_sample(MPI_Comm comm, matrix_view<const float> local_logits,
                    std::span<std::int64_t> tokens, const sampling_options& config,
                    const sample_args& args) {
  const matrix_view<const float> x = local_logits;
  const std::size_t rows = x.rows;
  detail::fingerprint f;
  f.value(config.temperature + 0.0)
      .value(config.top_k)
      .value(config.top_p)
      .value(config.min_p)
      .value(config.typical_p)
      .value(config.min_keep)
      .value(config.order)
      .value(config.dynamic_range)
      .value(config.dynamic_exponent)
      .value(config.seed)
      .value(args.step);
  detail::fingerprint ids;
  if (!args.row_ids.empty())
    ids.add(args.row_ids.data(), args.row_ids.size() * sizeof(std::uint64_t));
  detail::shard_call call{.name = "sharded_sample",
                          .rows = rows,
                          .cols = x.cols,
                          .options = f.get(),
                          .labels = ids.get()};
  const detail::shard_layout layout = detail::check_collectively(comm, call, [&] {
    detail::check_view("local_logits", x);
    // The sampler's own checks, on a config it would accept.
    const float probe = 0.0f;
    sample(std::span<const float>(&probe, 1), config);
    if (config.dynamic_range > 0)
      throw error(
          "config.dynamic_range > 0 (dynamic temperature) is not supported by "
          "sharded_sample");
    if (!args.logprobs.empty() || !args.raw_logprobs.empty())
      throw error("args.logprobs and args.raw_logprobs are not supported by sharded_sample");
    if (tokens.size() != rows)
      throw error("tokens has " + std::to_string(tokens.size()) + " entries but local_logits has " +
                  std::to_string(rows) + " rows");
    if (!args.row_ids.empty() && args.row_ids.size() != rows)
      throw error("args.row_ids has " + std::to_string(args.row_ids.size()) +
                  " entries but there are " + std::to_string(rows) + " rows");
  });
  // This rank's first class: the vocabulary is the shards in rank order.
  std::vector<unsigned long long> cols(static_cast<std::size_t>(layout.size));
  unsigned long long mine = x.cols;
  detail::check_mpi(
      MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, cols.data(), 1, MPI_UNSIGNED_LONG_LONG, comm),
      "MPI_Allgather");
  std::size_t offset = 0;
  for (int r = 0; r < layout.rank; ++r) offset += cols[static_cast<std::size_t>(r)];
  const std::size_t classes = layout.classes;

  // 1. Every row's max and whether it holds a NaN.
  std::vector<double> mx(2 * rows);
  for (std::size_t r = 0; r < rows; ++r) {
    double m = -kInf, nan = 0;
    const float* xr = x.row(r);
    for (std::size_t i = 0; i < x.cols; ++i) {
      if (std::isnan(xr[i]))
        nan = 1;
      else
        m = std::max(m, static_cast<double>(xr[i]));
    }
    mx[2 * r] = m;
    mx[2 * r + 1] = nan;
  }
  detail::check_mpi(
      MPI_Allreduce(MPI_IN_PLACE, mx.data(), static_cast<int>(2 * rows), MPI_DOUBLE, MPI_MAX, comm),
      "MPI_Allreduce");
  for (std::size_t r = 0; r < rows; ++r) {
    const std::string where = "kelvin::sharded_sample: logits row " + std::to_string(r);
    if (mx[2 * r + 1] != 0) throw error(where + " holds a NaN");
    if (mx[2 * r] == -kInf) throw error(where + " has every entry -inf (all masked) or is empty");
  }

  const row_job job = job_of(config, classes);
  std::vector<float> buf;
  std::vector<std::int64_t> token(rows, kNone);
  std::vector<double> u(rows);
  for (std::size_t r = 0; r < rows; ++r)
    u[r] = detail::sampling_uniform(config.seed, args.row_ids.empty() ? r : args.row_ids[r],
                                    args.step);

  // 2. Per row, this rank's part: the greedy candidate, its weight sum (or
  // live count), or its candidates.
  std::vector<double> part(rows, 0.0);
  std::vector<int> counts(rows, 0);
  std::vector<sampling_candidate> flat, one;
  for (std::size_t r = 0; r < rows; ++r) {
    const bool has_inf = mx[2 * r] == kInf;
    const double m = has_inf ? 0.0 : mx[2 * r];
    const float* xr = effective_row(x.row(r), x.cols, has_inf, buf);
    switch (job.kind) {
      case row_kind::greedy:
        for (std::size_t i = 0; i < x.cols; ++i)
          if (static_cast<double>(xr[i]) == m) {
            token[r] = static_cast<std::int64_t>(offset + i);
            break;
          }
        break;
      case row_kind::dense:
        part[r] = detail::sampling_dense_weights(xr, x.cols, m, config.temperature, nullptr);
        break;
      case row_kind::uniform:
        for (std::size_t i = 0; i < x.cols; ++i) part[r] += xr[i] > -kInfF ? 1.0 : 0.0;
        break;
      case row_kind::candidates:
        local_candidates(xr, x.cols, offset, job, config, m, one);
        counts[r] = static_cast<int>(one.size());
        flat.insert(flat.end(), one.begin(), one.end());
        break;
    }
  }
  const std::size_t p = static_cast<std::size_t>(layout.size);
  std::vector<double> parts(rows * p);
  detail::check_mpi(MPI_Allgather(part.data(), static_cast<int>(rows), MPI_DOUBLE, parts.data(),
                                  static_cast<int>(rows), MPI_DOUBLE, comm),
                    "MPI_Allgather");
  if (job.kind == row_kind::dense || job.kind == row_kind::uniform) {
    // The inverse-CDF walk across ranks, in rank (= index) order.
    std::vector<double> weights;  // one buffer for every row this rank draws from
    for (std::size_t r = 0; r < rows; ++r) {
      double total = 0;
      for (std::size_t q = 0; q < p; ++q) total += parts[q * rows + r];
      const double target = u[r] * total;
      if (job.kind == row_kind::uniform) {
        // Unit weights: the floor(target)-th live entry, exactly.
        const double g = std::floor(target);
        double before = 0;
        for (int q = 0; q < layout.rank; ++q)
          before += parts[static_cast<std::size_t>(q) * rows + r];
        if (g >= before && g < before + part[r]) {
          const bool has_inf = mx[2 * r] == kInf;
          const float* xr = effective_row(x.row(r), x.cols, has_inf, buf);
          double seen = before;
          for (std::size_t i = 0; i < x.cols; ++i) {
            if (!(xr[i] > -kInfF)) continue;
            if (seen == g) {
              token[r] = static_cast<std::int64_t>(offset + i);
              break;
            }
            seen += 1;
          }
        }
        continue;
      }
      // The rank whose cumulative interval holds the target (the last with
      // weight where rounding leaves it past the end), then its entries.
      double cum = 0;
      std::size_t owner = p;
      for (std::size_t q = 0; q < p; ++q) {
        const double w = parts[q * rows + r];
        if (w > 0 && cum + w > target) {
          owner = q;
          break;
        }
        cum += w;
      }
      bool last = false;
      if (owner == p) {
        last = true;
        for (std::size_t q = p; q-- > 0;)
          if (parts[q * rows + r] > 0) {
            owner = q;
            break;
          }
        cum = 0;
        for (std::size_t q = 0; q < owner; ++q) cum += parts[q * rows + r];
      }
      if (owner != static_cast<std::size_t>(layout.rank)) continue;
      const bool has_inf = mx[2 * r] == kInf;
      const double m = has_inf ? 0.0 : mx[2 * r];
      const float* xr = effective_row(x.row(r), x.cols, has_inf, buf);
      weights.resize(x.cols);
      detail::sampling_dense_weights(xr, x.cols, m, config.temperature, weights.data());
      std::size_t pick = x.cols;
      for (std::size_t i = 0; i < x.cols && !last; ++i) {
        cum += weights[i];
        if (cum > target) {
          pick = i;
          break;
        }
      }
      if (pick == x.cols) {
        while (pick > 0 && !(weights[pick - 1] > 0)) --pick;
        --pick;
      }
      token[r] = static_cast<std::int64_t>(offset + pick);
    }
  }

  // 3. The candidates of every rank, gathered everywhere, then the chain.
  std::vector<int> all_counts(rows * p);
  detail::check_mpi(MPI_Allgather(counts.data(), static_cast<int>(rows), MPI_INT, all_counts.data(),
                                  static_cast<int>(rows), MPI_INT, comm),
                    "MPI_Allgather");
  if (job.kind == row_kind::candidates) {
    std::vector<int> bytes(p), displs(p);
    std::size_t total = 0;
    for (std::size_t q = 0; q < p; ++q) {
      std::size_t n = 0;
      for (std::size_t r = 0; r < rows; ++r)
        n += static_cast<std::size_t>(all_counts[q * rows + r]);
      // MPI counts and displacements are int; every rank sees the same counts.
      if ((total + n) * sizeof(sampling_candidate) > static_cast<std::size_t>(INT_MAX))
        throw error(
            "kelvin::sharded_sample: the candidates of one call exceed 2 GiB; sample fewer rows "
            "per call or add top_k");
      bytes[q] = static_cast<int>(n * sizeof(sampling_candidate));
      displs[q] = static_cast<int>(total * sizeof(sampling_candidate));
      total += n;
    }
    std::vector<sampling_candidate> every(total);
    detail::check_mpi(
        MPI_Allgatherv(flat.data(), static_cast<int>(flat.size() * sizeof(sampling_candidate)),
                       MPI_BYTE, every.data(), bytes.data(), displs.data(), MPI_BYTE, comm),
        "MPI_Allgatherv");
    // Row r's candidates from rank q start after q's earlier rows.
    std::vector<std::size_t> at(p);
    for (std::size_t q = 0; q < p; ++q)
      at[q] = static_cast<std::size_t>(displs[q]) / sizeof(sampling_candidate);
    std::vector<sampling_candidate> l;
    for (std::size_t r = 0; r < rows; ++r) {
      l.clear();
      for (std::size_t q = 0; q < p; ++q) {
        const std::size_t n = static_cast<std::size_t>(all_counts[q * rows + r]);
        l.insert(l.end(), every.begin() + static_cast<std::ptrdiff_t>(at[q]),
                 every.begin() + static_cast<std::ptrdiff_t>(at[q] + n));
        at[q] += n;
      }
      candidate_source source = job.source;
      if (job.source == candidate_source::top_k) {
        std::sort(l.begin(), l.end(), detail::sampling_before);
        if (l.size() > job.k) l.resize(job.k);
      } else if (job.source == candidate_source::min_p) {
        // The prefilter's list, or the top min_keep when it is shorter.
        const bool has_inf = mx[2 * r] == kInf;
        const double m = has_inf ? 0.0 : mx[2 * r];
        const double tau =
            config.order == sampling_order::temperature_first ? config.temperature : 1.0;
        const float thr = detail::sampling_min_p_threshold(m, tau, config.min_p);
        std::vector<sampling_candidate> passed;
        for (const sampling_candidate& e : l)
          if (e.x > thr) passed.push_back(e);
        const auto keep = static_cast<std::size_t>(std::max<std::int64_t>(config.min_keep, 1));
        if (passed.size() < keep) {
          std::sort(l.begin(), l.end(), detail::sampling_before);
          if (l.size() > keep) l.resize(keep);
        } else {
          l.swap(passed);
        }
      }
      token[r] = detail::sample_from_candidates(l, source, config, u[r]);
    }
  }

  // 4. Every rank gets every token (the owner's, or the lowest greedy one).
  detail::check_mpi(
      MPI_Allreduce(MPI_IN_PLACE, token.data(), static_cast<int>(rows), MPI_INT64_T, MPI_MIN, comm),
      "MPI_Allreduce");
  std::copy(token.begin(), token.end(), tokens.begin());
}

}  // namespace kelvin
