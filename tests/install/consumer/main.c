#include <kelvin/kelvin.h>
#include <stdio.h>

int main(void) {
  const double x[4] = {1, 5, 7, 10};
  double p[4];
  if (kelvin_softmax_f64(x, p, 1, 4, 4, 4, 0.1) != KELVIN_OK) return 1;
  if (kelvin_softmax_f64(x, p, 1, 4, 4, 4, -1.0) != KELVIN_INVALID_ARGUMENT) return 2;
  printf("C ABI: %s\n", kelvin_last_error());
  return 0;
}
