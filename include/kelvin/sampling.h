/* kelvin C ABI: temperature sampling for decoding (kelvin/sampling.hpp).
 *
 * The same sampler as the C++ API: a token per row of float logits, keyed by
 * (seed, row id, step) so that a row's draw never depends on the batch.
 *
 *   kelvin_sampling_options o;
 *   kelvin_sampling_options_default(&o);
 *   o.temperature = 0.8; o.top_k = 40; o.top_p = 0.95; o.min_p = 0.05; o.seed = 7;
 *   int64_t token;
 *   if (kelvin_sample_f32(logits, 1, vocab, vocab, &o, 1, step, NULL, &token, NULL, NULL))
 *     fprintf(stderr, "%s\n", kelvin_last_error());
 */
#ifndef KELVIN_SAMPLING_H_
#define KELVIN_SAMPLING_H_

#include <stddef.h>
#include <stdint.h>

#include "kelvin/export.h"
#include "kelvin/kelvin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kelvin_sampling_order {
  KELVIN_TEMPERATURE_FIRST = 0, /* truncations see the tempered distribution */
  KELVIN_TEMPERATURE_LAST = 1   /* truncations see the raw logits (default) */
} kelvin_sampling_order;

/* One row's sampler; field for field kelvin::sampling_options. */
typedef struct kelvin_sampling_options {
  double temperature; /* >= 0; 0 = greedy */
  int64_t top_k;      /* >= 0; 0 = off */
  double top_p;       /* (0, 1]; 1 = off */
  double min_p;       /* [0, 1]; 0 = off */
  double typical_p;   /* (0, 1]; 1 = off */
  int64_t min_keep;   /* >= 0 */
  int order;          /* a kelvin_sampling_order */
  double dynamic_range;
  double dynamic_exponent;
  uint64_t seed;
} kelvin_sampling_options;

/* The defaults: T = 1, no truncation, temperature last, no dynamic range, seed 0. */
KELVIN_API void kelvin_sampling_options_default(kelvin_sampling_options* opt);

/* tokens[r] for each of `rows` rows of `cols` logits at logits + r * row_stride.
 * configs: n_configs == 1 (every row) or rows. row_ids: NULL (0..rows-1) or
 * rows ids. logprobs, raw_logprobs: NULL or rows doubles (the token's
 * log-probability under the final distribution and under the raw logits). */
KELVIN_API kelvin_status kelvin_sample_f32(const float* logits, size_t rows, size_t cols,
                                           size_t row_stride,
                                           const kelvin_sampling_options* configs, size_t n_configs,
                                           uint64_t step, const uint64_t* row_ids, int64_t* tokens,
                                           double* logprobs, double* raw_logprobs);

/* probs[r * probs_row_stride + i]: the probability kelvin_sample_f32 draws
 * token i of row r with (0 outside the kept set). */
KELVIN_API kelvin_status kelvin_sampling_distribution_f32(const float* logits, size_t rows,
                                                          size_t cols, size_t row_stride,
                                                          const kelvin_sampling_options* configs,
                                                          size_t n_configs, double* probs,
                                                          size_t probs_row_stride);

#ifdef __cplusplus
}
#endif

#endif /* KELVIN_SAMPLING_H_ */
