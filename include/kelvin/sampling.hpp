// kelvin: drawing the next token from logits with a temperature (greedy,
// top-k, top-p, min-p, typical, dynamic temperature), reproducibly.
//
// A row's token depends only on its logits, its config, the seed, its row id
// and the step: the uniform comes from Philox4x32-10 keyed by the seed, with
// (step, row id) as the counter, so batch size, batch order and thread count
// never change a draw. The draw is an inverse-CDF walk over the same weights
// sampling_distribution returns (docs/sampling.md: the exact chain, ties,
// both orders, limits and errors).
//
//   std::vector<float> logits = ...;                     // one row
//   std::int64_t tok = kelvin::sample(logits, {.temperature = 0.8, .top_k = 40,
//                                              .top_p = 0.95, .min_p = 0.05, .seed = 7},
//                                     /*step=*/3);
//   std::vector<double> p(logits.size());
//   kelvin::sampling_distribution(logits, p, {.temperature = 0.8, .top_k = 40});
#pragma once

#include <cstdint>
#include <span>

#include "kelvin/export.h"
#include "kelvin/types.hpp"

namespace kelvin {

// Where the temperature sits in the chain top_k -> typical_p -> top_p -> min_p.
// temperature_first: the truncations see the tempered distribution (Hugging
// Face transformers' warpers). temperature_last: they see the raw logits and
// the temperature applies to the kept set (llama.cpp's default chain).
enum class sampling_order { temperature_first, temperature_last };

// One row's sampler. 0 / 1 values switch a truncation off (top_k = 0,
// top_p = 1, min_p = 0, typical_p = 1).
struct sampling_options {
  // T >= 0. T == 0 is greedy: the argmax of the raw logits, ties to the lowest
  // index (truncations and dynamic range ignored). T == +inf is uniform over
  // the kept set.
  double temperature = 1.0;
  std::int64_t top_k = 0;     // >= 0; keep the k largest logits
  double top_p = 1.0;         // in (0, 1]; the smallest most-probable set of mass >= top_p
  double min_p = 0.0;         // in [0, 1]; keep p_i >= min_p * max_j p_j
  double typical_p = 1.0;     // in (0, 1]; locally typical sampling (Meister et al. 2022)
  std::int64_t min_keep = 1;  // >= 0; every truncation keeps at least max(min_keep, 1)
  sampling_order order = sampling_order::temperature_last;
  // Dynamic temperature (llama.cpp's temp_ext): with range r > 0 the
  // temperature is max(0, T - r) + (T + r - max(0, T - r)) * (H / log n)^e,
  // H the entropy of the untempered distribution over the n candidates at the
  // temperature's place in the chain. r >= 0, e >= 0.
  double dynamic_range = 0.0;
  double dynamic_exponent = 1.0;
  std::uint64_t seed = 0;
};

// A token and, for sample_with_logprobs, its log-probability under the final
// (truncated, tempered) distribution and under the raw logits (log_softmax at
// T = 1 over the whole row: serving APIs' `logprobs`).
struct sampled_token {
  std::int64_t token = 0;
  double logprob = 0;
  double raw_logprob = 0;
};

// --- one row ------------------------------------------------------------------
KELVIN_API std::int64_t sample(std::span<const float> logits, const sampling_options& opt = {},
                               std::uint64_t step = 0, std::uint64_t row_id = 0);
KELVIN_API sampled_token sample_with_logprobs(std::span<const float> logits,
                                              const sampling_options& opt = {},
                                              std::uint64_t step = 0, std::uint64_t row_id = 0);
// probs[i] = the probability the sampler draws token i with (0 outside the
// kept set). probs.size() == logits.size().
KELVIN_API void sampling_distribution(std::span<const float> logits, std::span<double> probs,
                                      const sampling_options& opt = {});

// --- a batch of rows ----------------------------------------------------------
struct sample_args {
  std::uint64_t step = 0;
  // The ids that key each row's generator (size == rows); empty: 0..rows-1.
  std::span<const std::uint64_t> row_ids = {};
  // When not empty (size == rows): the token's log-probabilities.
  std::span<double> logprobs = {};
  std::span<double> raw_logprobs = {};
  // 0: the library default; 1: the calling thread only; n: at most n.
  int threads = 0;
};

// configs.size() == 1 (every row) or == rows (one config per row);
// tokens.size() == rows. Rows run in parallel; results never depend on it.
KELVIN_API void sample(matrix_view<const float> logits, std::span<std::int64_t> tokens,
                       std::span<const sampling_options> configs, const sample_args& args = {});
KELVIN_API void sampling_distribution(matrix_view<const float> logits, matrix_view<double> probs,
                                      std::span<const sampling_options> configs, int threads = 0);

}  // namespace kelvin
