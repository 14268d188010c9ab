// Temperature scaling: fit_temperature on over-confident float32 logits
// (classifier-sized rows, C = 1000), beside one log_partition pass over the
// same logits, so that the fit's cost reads as a number of log_partition
// passes (the `lp_passes` counter) on whatever machine runs it.
//
//   build/release/bench/calibration_bench                       N = 10^5
//   KELVIN_BENCH_ROWS=1000000 build/release/bench/calibration_bench   (4 GB)
//
// The peers (PyTorch LBFGS, SciPy's bounded search) on the same data are in
// bench/calibration_peers.py.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "kelvin/calibration.hpp"
#include "kelvin/softmax.hpp"

namespace {

constexpr std::size_t kCols = 1000;

std::size_t rows() {
  const char* env = std::getenv("KELVIN_BENCH_ROWS");
  return env != nullptr ? static_cast<std::size_t>(std::strtoull(env, nullptr, 10)) : 100000;
}

// The same recipe as bench/calibration_peers.py: per row a true class whose
// logit gets +3, all logits scaled by 2.5 (over-confident), the label the
// true class with probability 0.55, else uniform.
struct data {
  std::vector<float> x;
  std::vector<std::int64_t> y;
  std::size_t n;
};

const data& logits() {
  static const data d = [] {
    data out{std::vector<float>(rows() * kCols), std::vector<std::int64_t>(rows()), rows()};
    std::mt19937_64 rng(2017);
    std::normal_distribution<float> g(0, 1);
    std::uniform_real_distribution<double> u(0, 1);
    std::uniform_int_distribution<std::int64_t> cls(0, kCols - 1);
    for (std::size_t r = 0; r < out.n; ++r) {
      const std::int64_t truth = cls(rng);
      float* row = &out.x[r * kCols];
      for (std::size_t c = 0; c < kCols; ++c) row[c] = g(rng);
      row[truth] += 3.0f;
      for (std::size_t c = 0; c < kCols; ++c) row[c] *= 2.5f;
      out.y[r] = u(rng) < 0.55 ? truth : cls(rng);
    }
    return out;
  }();
  return d;
}

void set_rates(benchmark::State& state, const data& d) {
  const auto items = static_cast<std::int64_t>(d.x.size());
  state.SetItemsProcessed(state.iterations() * items);
  state.SetBytesProcessed(state.iterations() * items * static_cast<std::int64_t>(sizeof(float)));
}

double g_log_partition_seconds = 0;  // one pass, from BM_log_partition (run first)

void BM_log_partition(benchmark::State& state) {
  const data& d = logits();
  std::vector<float> out(d.n);
  const kelvin::matrix_view<const float> x(d.x.data(), d.n, kCols);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    kelvin::log_partition(x, out, {.temperature = 1.85});
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(out.data());
  }
  g_log_partition_seconds = total / static_cast<double>(state.iterations());
  set_rates(state, d);
}

void BM_fit_temperature(benchmark::State& state) {
  const data& d = logits();
  const kelvin::matrix_view<const float> x(d.x.data(), d.n, kCols);
  kelvin::fit_result r;
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    r = kelvin::fit_temperature(x, d.y);
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(r);
  }
  const double seconds = total / static_cast<double>(state.iterations());
  state.counters["T"] = r.temperature;
  state.counters["nll_after"] = r.nll_after;
  state.counters["passes"] = r.passes;
  state.counters["converged"] = r.converged;
  if (g_log_partition_seconds > 0) state.counters["lp_passes"] = seconds / g_log_partition_seconds;
  set_rates(state, d);
}

BENCHMARK(BM_log_partition)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_fit_temperature)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
