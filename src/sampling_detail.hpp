// The pieces of kelvin::sample that kelvin::mpi's sharded_sample reuses, so
// that a row sharded across ranks draws the token the sampler draws from the
// whole row (src/sampling.cpp defines them; exported because kelvin_mpi is
// another library).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kelvin/export.h"
#include "kelvin/sampling.hpp"

namespace kelvin::detail {

// An entry of a row: its logit and its index in the row.
struct sampling_candidate {
  float x;
  std::int64_t idx;
};

// The ranking of every truncation: larger logit first, ties to the lower index.
inline bool sampling_before(const sampling_candidate& a, const sampling_candidate& b) {
  return a.x > b.x || (a.x == b.x && a.idx < b.idx);
}

// The uniform in [0, 1) the sampler draws row `row_id`'s token with at `step`.
KELVIN_API double sampling_uniform(std::uint64_t seed, std::uint64_t row_id, std::uint64_t step);

// The dense plan (no truncation, 0 < T < inf): the weights exp((x_i - m) s),
// s = min(1 / T, 2^960), of entries [0, n) in double, written to w when not
// null, and their sum in the sampler's block order. The exponential's guard
// comes from the entries' own minimum, as the sampler's plan takes it from
// its row's.
KELVIN_API double sampling_dense_weights(const float* x, std::size_t n, double m, double t,
                                         double* w);
inline constexpr std::size_t kSamplingBlock = 1024;

// The min-p prefilter's threshold: entries above it become candidates.
KELVIN_API float sampling_min_p_threshold(double m, double tau, double min_p);

// Where the candidate list of the chain comes from in the sampler's plan:
// the top max(top_k, min_keep) entries sorted by sampling_before (top_k), or
// in index order every entry > -inf (live) or the min-p prefilter's (min_p).
enum class candidate_source { top_k, live, min_p };

// The token kelvin::sample draws with uniform u once a row's candidates are
// `cands` (the row max already taken, +inf entries already rewritten as the
// sampler does, T > 0, no dynamic temperature): the truncation chain, the
// final weights and the inverse-CDF walk of src/sampling.cpp.
KELVIN_API std::int64_t sample_from_candidates(std::vector<sampling_candidate> cands,
                                               candidate_source source, const sampling_options& c,
                                               double u);

}  // namespace kelvin::detail
