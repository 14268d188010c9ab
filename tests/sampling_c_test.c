/* The sampler's C ABI, compiled as C: defaults, greedy, the distribution and
 * the draws agree, a batch draws what single rows draw, errors set a status
 * and a message naming the argument. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kelvin/kelvin.h"

static int failures = 0;
#define CHECK(c)                                                     \
  do {                                                               \
    if (!(c)) {                                                      \
      fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #c); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

int main(void) {
  kelvin_sampling_options o;
  kelvin_sampling_options_default(&o);
  CHECK(o.temperature == 1.0 && o.top_k == 0 && o.top_p == 1.0 && o.min_p == 0.0);
  CHECK(o.typical_p == 1.0 && o.min_keep == 1 && o.order == KELVIN_TEMPERATURE_LAST);
  CHECK(o.dynamic_range == 0.0 && o.dynamic_exponent == 1.0 && o.seed == 0);

  enum { rows = 4, cols = 300 };
  float x[rows * cols];
  for (int i = 0; i < rows * cols; ++i) x[i] = (float)(3.0 * sin(0.7 * i + 0.1 * (i / cols)));
  int64_t tok[rows];

  /* greedy: the first maximum */
  const float g[5] = {1, 3, -INFINITY, 3, 2};
  o.temperature = 0;
  CHECK(kelvin_sample_f32(g, 1, 5, 5, &o, 1, 0, NULL, tok, NULL, NULL) == KELVIN_OK);
  CHECK(tok[0] == 1);

  /* the default chain: draws fall in the kept set; logprobs are its logs */
  o.temperature = 0.8;
  o.top_k = 40;
  o.top_p = 0.95;
  o.min_p = 0.05;
  o.seed = 7;
  static double p[rows * cols];
  CHECK(kelvin_sampling_distribution_f32(x, rows, cols, cols, &o, 1, p, cols) == KELVIN_OK);
  for (int r = 0; r < rows; ++r) {
    double s = 0;
    for (int i = 0; i < cols; ++i) s += p[r * cols + i];
    CHECK(fabs(s - 1) < 1e-12);
  }
  double lp[rows], raw[rows];
  const uint64_t ids[rows] = {10, 11, 12, 13};
  for (uint64_t step = 0; step < 50; ++step) {
    CHECK(kelvin_sample_f32(x, rows, cols, cols, &o, 1, step, ids, tok, lp, raw) == KELVIN_OK);
    for (int r = 0; r < rows; ++r) {
      const double pr = p[r * cols + tok[r]];
      CHECK(pr > 0);
      CHECK(fabs(lp[r] - log(pr)) < 1e-9);
      CHECK(raw[r] < lp[r]);
      int64_t one;
      CHECK(kelvin_sample_f32(x + r * cols, 1, cols, cols, &o, 1, step, ids + r, &one, NULL,
                              NULL) == KELVIN_OK);
      CHECK(one == tok[r]);
    }
  }

  /* errors */
  o.top_p = 1.5;
  CHECK(kelvin_sample_f32(x, 1, cols, cols, &o, 1, 0, NULL, tok, NULL, NULL) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "top_p") != NULL);
  o.top_p = 0.9;
  o.order = 7;
  CHECK(kelvin_sample_f32(x, 1, cols, cols, &o, 1, 0, NULL, tok, NULL, NULL) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "order") != NULL);
  o.order = KELVIN_TEMPERATURE_FIRST;
  const float bad[3] = {1, NAN, 2};
  CHECK(kelvin_sample_f32(bad, 1, 3, 3, &o, 1, 0, NULL, tok, NULL, NULL) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "NaN") != NULL);
  CHECK(kelvin_sample_f32(x, 1, cols, cols, &o, 1, 0, NULL, NULL, NULL, NULL) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(kelvin_sample_f32(x, 2, cols, cols, &o, 0, 0, NULL, tok, NULL, NULL) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(kelvin_sample_f32(x, 1, cols, cols, &o, 1, 0, NULL, tok, NULL, NULL) == KELVIN_OK);
  CHECK(strcmp(kelvin_last_error(), "") == 0);

  if (failures == 0) printf("sampling_c_test: ok\n");
  return failures == 0 ? 0 : 1;
}
