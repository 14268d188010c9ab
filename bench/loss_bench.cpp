// The losses (kelvin/loss.hpp), each against memcpy of its logits measured in
// the same run, and the plain softmax of the same rows (the cost floor of
// a row loss): cross-entropy forward + backward at vocabulary sizes, InfoNCE
// on materialised logits and from embeddings (MoCo's N x K x D). The PyTorch
// comparison is python/bench/bench_losses.py.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kelvin/loss.hpp"
#include "kelvin/softmax.hpp"

namespace {

std::vector<float> random_floats(std::size_t n, float scale, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void counters(benchmark::State& state, std::size_t elements) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * elements));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * elements * 8));
}

// args: rows, cols, threads
void BM_cross_entropy_fwd_bwd(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto c = static_cast<std::size_t>(state.range(1));
  const auto x = random_floats(n * c, 3.0f, 1);
  std::vector<float> g(n * c);
  std::vector<std::int64_t> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>((i * 7919) % c);
  const kelvin::loss_options o{.temperature = 0.7, .threads = static_cast<int>(state.range(2))};
  for (auto _ : state) {
    auto v = kelvin::cross_entropy(kelvin::matrix_view<const float>(x.data(), n, c), y, o,
                                   kelvin::matrix_view<float>(g.data(), n, c));
    benchmark::DoNotOptimize(v);
  }
  counters(state, n * c);
}

void BM_softmax_same_rows(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto c = static_cast<std::size_t>(state.range(1));
  const auto x = random_floats(n * c, 3.0f, 1);
  std::vector<float> p(n * c);
  kelvin::options o;
  o.temperature = 0.7;
  o.threads = static_cast<int>(state.range(2));
  for (auto _ : state) {
    kelvin::softmax(kelvin::matrix_view<const float>(x.data(), n, c),
                    kelvin::matrix_view<float>(p.data(), n, c), o);
    benchmark::DoNotOptimize(p.data());
  }
  counters(state, n * c);
}

void BM_memcpy_same_rows(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0) * state.range(1));
  const auto x = random_floats(n, 1.0f, 1);
  std::vector<float> y(n);
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), n * sizeof(float));
    benchmark::DoNotOptimize(y.data());
  }
  counters(state, n);
}

// args: N, K, D, threads
void BM_info_nce_embeddings(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto k = static_cast<std::size_t>(state.range(1));
  const auto d = static_cast<std::size_t>(state.range(2));
  const auto q = random_floats(n * d, 1.0f, 2), kk = random_floats(n * d, 1.0f, 3);
  auto queue = random_floats(k * d, 1.0f, 4);
  std::vector<float> gq(n * d), gk(n * d);
  const kelvin::loss_options o{.temperature = 0.07, .threads = static_cast<int>(state.range(3))};
  for (auto _ : state) {
    auto v = kelvin::info_nce_embeddings(kelvin::matrix_view<const float>(q.data(), n, d),
                                         kelvin::matrix_view<const float>(kk.data(), n, d),
                                         kelvin::matrix_view<const float>(queue.data(), k, d), o,
                                         kelvin::matrix_view<float>(gq.data(), n, d),
                                         kelvin::matrix_view<float>(gk.data(), n, d));
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n * k));
}

void BM_info_nce_logits(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto c = static_cast<std::size_t>(state.range(1)) + 1;
  const auto x = random_floats(n * c, 0.3f, 5);
  std::vector<float> g(n * c);
  const kelvin::loss_options o{.temperature = 0.07, .threads = static_cast<int>(state.range(2))};
  for (auto _ : state) {
    auto v = kelvin::info_nce(kelvin::matrix_view<const float>(x.data(), n, c), o,
                              kelvin::matrix_view<float>(g.data(), n, c));
    benchmark::DoNotOptimize(v);
  }
  counters(state, n * c);
}

void row_shapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    b->Args({4096, 1000, threads});
    b->Args({512, 32000, threads});
    b->Args({4096, 32000, threads});
    b->Args({64, 128256, threads});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_cross_entropy_fwd_bwd)->Apply(row_shapes);
BENCHMARK(BM_softmax_same_rows)->Apply(row_shapes);
BENCHMARK(BM_memcpy_same_rows)->Apply(row_shapes);
BENCHMARK(BM_info_nce_logits)
    ->Args({256, 65536, 1})
    ->Args({256, 65536, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_info_nce_embeddings)
    ->Args({256, 65536, 128, 1})
    ->Args({256, 65536, 128, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
