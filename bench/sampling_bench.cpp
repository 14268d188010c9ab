// Sampling throughput, time per sampled token (counter per_token, wall clock),
// over the vocabularies of issue 11 (32000, 128256, 262144), 1 and 64 rows,
// 1 and 2 threads, logits N(0, 3^2): kelvin's greedy, plain temperature
// (T = 0.8) and default chain (top-k 40, top-p 0.95, min-p 0.05, T = 0.8,
// temperature last), beside a sort-based C++ reference of the same chain and
// of plain sampling (exp of every logit, then an inverse-CDF walk, as
// llama.cpp's "temp then dist") in the same run.
// python/bench/bench_sampling.py runs this binary and adds PyTorch.
//
//   build/release/bench/sampling_bench --benchmark_filter='128256/rows:1/threads:1'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kelvin/sampling.hpp"

namespace {

std::vector<float> logits(std::size_t n) {
  std::mt19937 rng(42);
  std::normal_distribution<double> nd(0, 3);
  std::vector<float> x(n);
  for (auto& v : x) v = static_cast<float>(nd(rng));
  return x;
}

enum class mode { greedy, plain, chain, sort_plain, sort_chain };

const kelvin::sampling_options kGreedy{.temperature = 0};
const kelvin::sampling_options kPlain{.temperature = 0.8};
const kelvin::sampling_options kChain{
    .temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05};

// The straightforward sampler: sort the whole vocabulary, truncate, soften,
// walk the CDF (what a sort-based engine does for the same chain).
std::int64_t sort_chain(const float* x, std::size_t n, double u) {
  thread_local std::vector<std::pair<float, std::int64_t>> c;
  c.resize(n);
  for (std::size_t i = 0; i < n; ++i) c[i] = {x[i], static_cast<std::int64_t>(i)};
  std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  c.resize(std::min<std::size_t>(40, n));
  std::vector<double> p(c.size());
  double s = 0;
  for (std::size_t i = 0; i < c.size(); ++i) s += p[i] = std::exp(c[i].first - c[0].first);
  double cum = 0;
  std::size_t keep = c.size();
  for (std::size_t i = 0; i < c.size(); ++i) {
    cum += p[i];
    if (cum >= 0.95 * s) {
      keep = i + 1;
      break;
    }
  }
  std::size_t k2 = 0;
  while (k2 < keep && p[k2] >= 0.05 * p[0]) ++k2;
  double t = 0;
  for (std::size_t i = 0; i < k2; ++i) t += p[i] = std::exp((c[i].first - c[0].first) / 0.8);
  double target = u * t, acc = 0;
  for (std::size_t i = 0; i < k2; ++i) {
    acc += p[i];
    if (acc > target) return c[i].second;
  }
  return c[k2 - 1].second;
}

std::int64_t sort_plain(const float* x, std::size_t n, double u) {
  thread_local std::vector<double> p;
  p.resize(n);
  const float m = *std::max_element(x, x + n);
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += p[i] = std::exp((x[i] - m) / 0.8);
  double target = u * s, acc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    acc += p[i];
    if (acc > target) return static_cast<std::int64_t>(i);
  }
  return static_cast<std::int64_t>(n - 1);
}

void run(benchmark::State& st, std::size_t vocab, std::size_t rows, int threads, mode m) {
  const auto x = logits(vocab * rows);
  std::vector<std::int64_t> tok(rows);
  const kelvin::matrix_view<const float> xv(x.data(), rows, vocab);
  const kelvin::sampling_options& o =
      m == mode::greedy ? kGreedy : (m == mode::plain ? kPlain : kChain);
  std::uint64_t step = 0;
  std::mt19937_64 g(1);
  for (auto _ : st) {
    if (m == mode::sort_chain || m == mode::sort_plain) {
      // Rows over threads as kelvin does (OpenMP static split).
      const double u = std::uniform_real_distribution<double>(0, 1)(g);
#pragma omp parallel for num_threads(threads) if (threads > 1)
      for (long long r = 0; r < static_cast<long long>(rows); ++r) {
        const float* row = x.data() + static_cast<std::size_t>(r) * vocab;
        tok[static_cast<std::size_t>(r)] =
            m == mode::sort_chain ? sort_chain(row, vocab, u) : sort_plain(row, vocab, u);
      }
    } else {
      kelvin::sample(xv, tok, {&o, 1}, {.step = step++, .threads = threads});
    }
    benchmark::DoNotOptimize(tok.data());
  }
  // Seconds per token (wall clock), printed with an SI prefix ("12.3u").
  st.counters["per_token"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * rows));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * rows * vocab * sizeof(float)));
}

const char* name_of(mode m) {
  switch (m) {
    case mode::greedy:
      return "kelvin_greedy";
    case mode::plain:
      return "kelvin_plain";
    case mode::chain:
      return "kelvin_chain";
    case mode::sort_plain:
      return "sortref_plain";
    default:
      return "sortref_chain";
  }
}

const bool kRegistered = [] {
  for (std::size_t vocab : {32000, 128256, 262144}) {
    for (std::size_t rows : {1, 64}) {
      for (int threads : {1, 2}) {
        for (mode m :
             {mode::greedy, mode::plain, mode::chain, mode::sort_plain, mode::sort_chain}) {
          const std::string name = std::string(name_of(m)) + "/" + std::to_string(vocab) +
                                   "/rows:" + std::to_string(rows) +
                                   "/threads:" + std::to_string(threads);
          auto* b = benchmark::RegisterBenchmark(
              name.c_str(), [=](benchmark::State& st) { run(st, vocab, rows, threads, m); });
          b->UseRealTime()->Unit(benchmark::kMicrosecond);
          if (m == mode::sort_chain || m == mode::sort_plain) b->MinTime(0.05);
        }
      }
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
