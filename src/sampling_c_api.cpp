// The sampler's C ABI (include/kelvin/sampling.h) over kelvin/sampling.hpp.
#include "kelvin/sampling.h"

#include <string>
#include <vector>

#include "kelvin/sampling.hpp"
#include "src/c_api_guard.hpp"
#include "src/checks.hpp"

namespace {

using kelvin::detail::guarded;

kelvin::sampling_options to_cpp(const kelvin_sampling_options& c, std::size_t i) {
  if (c.order != KELVIN_TEMPERATURE_FIRST && c.order != KELVIN_TEMPERATURE_LAST) {
    throw kelvin::error(
        "configs[" + std::to_string(i) +
        "].order must be KELVIN_TEMPERATURE_FIRST or KELVIN_TEMPERATURE_LAST (got " +
        std::to_string(c.order) + ")");
  }
  return {.temperature = c.temperature,
          .top_k = c.top_k,
          .top_p = c.top_p,
          .min_p = c.min_p,
          .typical_p = c.typical_p,
          .min_keep = c.min_keep,
          .order = c.order == KELVIN_TEMPERATURE_FIRST ? kelvin::sampling_order::temperature_first
                                                       : kelvin::sampling_order::temperature_last,
          .dynamic_range = c.dynamic_range,
          .dynamic_exponent = c.dynamic_exponent,
          .seed = c.seed};
}

std::vector<kelvin::sampling_options> configs_of(const kelvin_sampling_options* c, std::size_t n) {
  kelvin::detail::check_not_null(c, n, "configs");
  if (n == 0) throw kelvin::error("n_configs must be 1 or rows (got 0)");
  std::vector<kelvin::sampling_options> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(to_cpp(c[i], i));
  return out;
}

}  // namespace

extern "C" {

void kelvin_sampling_options_default(kelvin_sampling_options* opt) {
  if (opt == nullptr) return;
  const kelvin::sampling_options d;
  *opt = {d.temperature,
          d.top_k,
          d.top_p,
          d.min_p,
          d.typical_p,
          d.min_keep,
          KELVIN_TEMPERATURE_LAST,
          d.dynamic_range,
          d.dynamic_exponent,
          d.seed};
}

kelvin_status kelvin_sample_f32(const float* logits, size_t rows, size_t cols, size_t row_stride,
                                const kelvin_sampling_options* configs, size_t n_configs,
                                uint64_t step, const uint64_t* row_ids, int64_t* tokens,
                                double* logprobs, double* raw_logprobs) {
  return guarded([&] {
    const auto c = configs_of(configs, n_configs);
    kelvin::detail::check_not_null(tokens, rows, "tokens");
    const auto opt = [&](double* p) {
      return p == nullptr ? std::span<double>() : std::span<double>(p, rows);
    };
    kelvin::sample(kelvin::matrix_view<const float>(logits, rows, cols, row_stride),
                   std::span<std::int64_t>(tokens, rows), c,
                   {.step = step,
                    .row_ids = row_ids == nullptr ? std::span<const std::uint64_t>()
                                                  : std::span<const std::uint64_t>(row_ids, rows),
                    .logprobs = opt(logprobs),
                    .raw_logprobs = opt(raw_logprobs)});
  });
}

kelvin_status kelvin_sampling_distribution_f32(const float* logits, size_t rows, size_t cols,
                                               size_t row_stride,
                                               const kelvin_sampling_options* configs,
                                               size_t n_configs, double* probs,
                                               size_t probs_row_stride) {
  return guarded([&] {
    kelvin::sampling_distribution(kelvin::matrix_view<const float>(logits, rows, cols, row_stride),
                                  kelvin::matrix_view<double>(probs, rows, cols, probs_row_stride),
                                  configs_of(configs, n_configs));
  });
}

}  // extern "C"
