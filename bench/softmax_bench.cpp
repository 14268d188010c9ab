// Softmax family throughput: bytes (read + written) and items (elements) per
// second, over the shapes of issue 3 (vocabularies 32000..262144, attention
// rows, classifiers), float and double, T = 1 and T = 0.07, and memcpy of the
// same bytes as the bandwidth reference in the same run; softmax at T = 1 also
// for bfloat16 and float16 storage (bytes: 2 per element each way).
//
//   build/release/bench/softmax_bench --benchmark_filter='f32/.*512x32000'
//   build/release/bench/softmax_bench --benchmark_filter='(f32|bf16)/softmax/64x262144/.*threads:1'
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kelvin/kelvin.hpp"

namespace {

struct shape {
  std::size_t rows, cols;
};
const shape kShapes[] = {{1, 1000},    {1, 32000},   {1, 262144}, {1, 4194304}, {4096, 1000},
                         {512, 32000}, {64, 262144}, {65536, 10}, {16384, 128}};

template <class T>
std::vector<T> logits(std::size_t n) {
  std::mt19937 rng(42);
  std::normal_distribution<double> nd(0, 4);
  std::vector<T> x(n);
  for (auto& v : x) v = static_cast<T>(nd(rng));
  return x;
}

enum class op { softmax, log_softmax, log_partition, memcpy };

template <class T>
void run(benchmark::State& st, shape s, op o, double t, int threads) {
  const auto x = logits<T>(s.rows * s.cols);
  std::vector<T> y(x.size()), z(s.rows);
  const kelvin::matrix_view<const T> xv(x.data(), s.rows, s.cols);
  const kelvin::options opt{.temperature = t, .threads = threads};
  for (auto _ : st) {
    switch (o) {
      case op::softmax:
        kelvin::softmax(xv, kelvin::matrix_view<T>(y.data(), s.rows, s.cols), opt);
        break;
      case op::log_softmax:
        kelvin::log_softmax(xv, kelvin::matrix_view<T>(y.data(), s.rows, s.cols), opt);
        break;
      case op::log_partition:
        kelvin::log_partition(xv, std::span<T>(z), opt);
        break;
      case op::memcpy:
        std::memcpy(y.data(), x.data(), x.size() * sizeof(T));
        break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const auto n = static_cast<int64_t>(x.size());
  const int64_t bytes = o == op::log_partition ? n * sizeof(T) : 2 * n * sizeof(T);
  st.SetItemsProcessed(st.iterations() * n);
  st.SetBytesProcessed(st.iterations() * bytes);
  st.counters["ns/elem"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

// Softmax over the middle axis of an outer x axis x inner array (64 x 1000 x 64
// in issue 3): the vectorised-across-inner path.
void axis_softmax(benchmark::State& st, std::size_t outer, std::size_t axis, std::size_t inner,
                  int threads) {
  const auto x = logits<float>(outer * axis * inner);
  std::vector<float> y(x.size());
  const auto xv = kelvin::axis_view<const float>::contiguous(x.data(), outer, axis, inner);
  const auto yv = kelvin::axis_view<float>::contiguous(y.data(), outer, axis, inner);
  for (auto _ : st) {
    kelvin::softmax(xv, yv, {.temperature = 0.07, .threads = threads});
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(x.size()));
  st.SetBytesProcessed(st.iterations() * static_cast<int64_t>(2 * x.size() * sizeof(float)));
}

void register_all() {
  for (int threads : {1, 2}) {
    benchmark::RegisterBenchmark(
        ("f32/softmax_axis1/64x1000x64/T=0.07/threads:" + std::to_string(threads)).c_str(),
        [=](benchmark::State& st) { axis_softmax(st, 64, 1000, 64, threads); })
        ->UseRealTime();
  }
  const std::pair<op, const char*> ops[] = {{op::memcpy, "memcpy"},
                                            {op::softmax, "softmax"},
                                            {op::log_softmax, "log_softmax"},
                                            {op::log_partition, "log_partition"}};
  for (const shape& s : kShapes) {
    const std::string dims = std::to_string(s.rows) + "x" + std::to_string(s.cols);
    for (const auto& [o, name] : ops) {
      for (double t : {1.0, 0.07}) {
        if (o == op::memcpy && t != 1.0) continue;
        for (int threads : {1, 2}) {
          const std::string suffix =
              "/" + dims + (o == op::memcpy ? "" : "/T=" + std::to_string(t).substr(0, 4)) +
              "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(
              ("f32/" + std::string(name) + suffix).c_str(),
              [=](benchmark::State& st) { run<float>(st, s, o, t, threads); })
              ->UseRealTime();
          if (o == op::softmax && t == 1.0) {
            benchmark::RegisterBenchmark(
                ("f64/" + std::string(name) + suffix).c_str(),
                [=](benchmark::State& st) { run<double>(st, s, o, t, threads); })
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("bf16/" + std::string(name) + suffix).c_str(),
                [=](benchmark::State& st) { run<kelvin::bfloat16>(st, s, o, t, threads); })
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("f16/" + std::string(name) + suffix).c_str(),
                [=](benchmark::State& st) { run<kelvin::float16>(st, s, o, t, threads); })
                ->UseRealTime();
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
