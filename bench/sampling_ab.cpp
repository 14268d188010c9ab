// Interleaved A/B timing of kelvin::sample on one row, 1 thread: A with the
// dense plan's weights in double lanes, B in float lanes
// (detail::set_sampling_double_weights), alternating A B B A per repetition
// so that drift on a shared machine cancels to first order. Reports the
// median thread CPU time per call of each side and the median B/A ratio.
//
//   build/release/bench/sampling_ab [--reps=N] [--calls=N]
//
// Rows: N(0, 3^2) logits at vocab 32000, 128256 and 262144; plain
// temperature sampling (T 0.8) and the default chain (top-k 40, top-p 0.95,
// min-p 0.05, T 0.8), whose candidate path does not use the dense weights
// (its ratio shows the noise floor).
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench/ab_common.hpp"
#include "kelvin/sampling.hpp"
#include "src/kernels/sampling.hpp"

namespace {

double cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

double median(const std::vector<double>& v) { return kelvin::bench::quantile(v, 0.5); }

}  // namespace

int main(int argc, char** argv) {
  int reps = 31, calls = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    if (std::strncmp(argv[i], "--calls=", 8) == 0) calls = std::atoi(argv[i] + 8);
  }
  const kelvin::sampling_options plain{.temperature = 0.8};
  const kelvin::sampling_options chain{
      .temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05};
  std::printf("%-7s %-6s %10s %10s %8s\n", "vocab", "mode", "A f64 us", "B f32 us", "B/A");
  for (std::size_t n : {32000, 128256, 262144}) {
    std::vector<float> x(n);
    std::mt19937_64 g(n);
    std::normal_distribution<float> nd(0, 3);
    for (float& v : x) v = nd(g);
    for (const auto* c : {&plain, &chain}) {
      std::uint64_t step = 0, sink = 0;
      const auto run = [&](bool dbl) {
        kelvin::detail::set_sampling_double_weights(dbl);
        const double t0 = cpu_us();
        for (int k = 0; k < calls; ++k) {
          sink += static_cast<std::uint64_t>(kelvin::sample(x, *c, step++));
        }
        return (cpu_us() - t0) / calls;
      };
      run(true);
      run(false);  // warm both
      const auto r = kelvin::bench::interleave(
          reps, [&] { return run(true); }, [&] { return run(false); });
      std::printf("%-7zu %-6s %10.2f %10.2f %8.3f  (sink %llu)\n", n,
                  c == &plain ? "plain" : "chain", median(r.a), median(r.b), median(r.ratio),
                  static_cast<unsigned long long>(sink % 7));
    }
  }
  kelvin::detail::set_sampling_double_weights(false);
}
