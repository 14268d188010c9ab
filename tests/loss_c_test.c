/* The loss family's C ABI, compiled as C: the seed's InfoNCE number, a
 * gradient, options, and the error path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelvin/kelvin.h"

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  enum { N = 2, C = 1025 };
  static double x[N * C], g[N * C];
  static float xf[N * C];
  for (int i = 0; i < N * C; ++i) x[i] = -1.0;
  x[0] = x[C] = 1.0;
  for (int i = 0; i < N * C; ++i) xf[i] = (float)x[i];

  kelvin_loss_options o;
  kelvin_loss_options_init(&o);
  CHECK(o.size == sizeof o && o.temperature == 1.0 && o.ignore_index == -100);
  o.temperature = 0.07;
  kelvin_loss_result r;
  CHECK(kelvin_info_nce_f64(x, N, C, C, &o, g, C, &r) == KELVIN_OK);
  CHECK(fabs(r.loss - 3.998399531439e-10) <= 1e-12 * 3.998399531439e-10);
  /* the positive's gradient is -(1 - p_0) / N, the negatives' sum is its opposite */
  double s = 0;
  for (int j = 1; j < C; ++j) s += g[j];
  CHECK(g[0] < 0 && fabs(s + g[0]) <= 1e-12 * fabs(g[0]));
  CHECK(isfinite(r.d_temperature) && r.d_temperature > 0);

  o.temperature = 1.0;
  CHECK(kelvin_info_nce_f32(xf, N, C, C, &o, NULL, 0, &r) == KELVIN_OK);
  CHECK(fabs(r.loss - 4.938661770836239) <= 1e-6 * 4.938661770836239);
  CHECK(isnan(r.d_temperature)); /* no gradient asked */

  /* cross-entropy with labels, reduction none */
  int64_t labels[N] = {0, 5};
  double losses[N];
  o.reduction = KELVIN_REDUCTION_NONE;
  CHECK(kelvin_cross_entropy_f64(x, N, C, C, labels, &o, NULL, 0, losses, &r) == KELVIN_OK);
  CHECK(fabs(losses[0] - 4.938661770836239) <= 1e-12 * 4.938661770836239);
  CHECK(losses[1] > losses[0]);

  /* errors: nothing written, a message naming the argument */
  o.temperature = -1.0;
  r.loss = 123.0;
  CHECK(kelvin_info_nce_f64(x, N, C, C, &o, NULL, 0, &r) == KELVIN_INVALID_ARGUMENT);
  CHECK(r.loss == 123.0);
  CHECK(strstr(kelvin_last_error(), "temperature") != NULL);
  labels[1] = C;
  o.temperature = 1.0;
  CHECK(kelvin_cross_entropy_f64(x, N, C, C, labels, &o, NULL, 0, losses, &r) ==
        KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "labels[1]") != NULL);
  o.size = 4;
  CHECK(kelvin_info_nce_f64(x, N, C, C, &o, NULL, 0, &r) == KELVIN_INVALID_ARGUMENT);

  /* NULL options: the defaults (T = 1) */
  CHECK(kelvin_info_nce_f64(x, N, C, C, NULL, NULL, 0, &r) == KELVIN_OK);
  CHECK(fabs(r.loss - 4.938661770836239) <= 1e-12 * 4.938661770836239);

  if (failures == 0) printf("loss_c_test: all checks passed\n");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
