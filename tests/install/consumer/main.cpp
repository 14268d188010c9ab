#include <kelvin/kelvin.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x{1, 5, 7, 10}, p(4);
  kelvin::softmax(x, p, {.temperature = 10});
  std::printf("kelvin %s on %s: %.6f %.6f %.6f %.6f\n", kelvin::version(), kelvin::active_target(),
              p[0], p[1], p[2], p[3]);
  return p[3] > 0.36f && p[3] < 0.37f ? 0 : 1;
}
