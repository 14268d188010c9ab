// Many threads calling kelvin at once (docs/threads.md): 8 threads run every
// family (softmax, log_softmax, log_partition, smooth_max) on every storage
// type (float, double, bfloat16, float16) and every shape (span, matrix with a
// row stride, per-row temperatures, short rows, a large batch that splits over
// threads, axis views contiguous and strided), with per-call `threads` options,
// while another thread keeps changing set_num_threads. Every result must equal,
// bit for bit, the same call made alone on one thread before the storm. A second
// test changes set_target while calls run: each call's result must equal the
// serial result of one of the targets (a call never mixes two).
//
// Sized to run in a few seconds (and under ThreadSanitizer in CI, where the
// races would show, in 8 rounds instead of 30); KELVIN_TEST_LONG=1 runs 1000 rounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kelvin/kelvin.h"
#include "kelvin/kelvin.hpp"
#include "tests/support/long_mode.hpp"
#include "tests/support/operations.hpp"

namespace kelvin::testing {
namespace {

constexpr int kWorkers = 8;

// One call: writes its whole output (as bytes) for a given options.threads.
struct stress_case {
  std::string name;
  std::function<std::vector<unsigned char>(int threads)> run;
};

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "float";
  if constexpr (std::is_same_v<T, double>) return "double";
  if constexpr (std::is_same_v<T, bfloat16>) return "bfloat16";
  if constexpr (std::is_same_v<T, float16>) return "float16";
}

template <class T>
std::vector<unsigned char> bytes_of(const std::vector<T>& v) {
  std::vector<unsigned char> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// rows x stride logits with the contract's corners in a few rows: a NaN, a
// fully masked row, +inf, masked entries, a huge and a tiny spread.
template <class T>
std::vector<T> logits(std::size_t rows, std::size_t stride, std::size_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<T> x(rows * stride);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) x[r * stride + c] = T(normal(rng));
    // Padding past cols: a value no call may read into its result.
    for (std::size_t c = cols; c < stride; ++c) x[r * stride + c] = T(1e4f);
  }
  const float inf = std::numeric_limits<float>::infinity();
  auto set = [&](std::size_t r, std::size_t c, float v) {
    if (r < rows && c < cols) x[r * stride + c] = T(v);
  };
  set(1, cols / 2, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t c = 0; c < cols && rows > 2; ++c) set(2, c, -inf);
  set(3, 0, inf);
  for (std::size_t c = 0; c < cols; c += 3) set(4, c, -inf);
  for (std::size_t c = 0; c < cols; ++c) set(5, c, c % 2 == 0 ? 60.0f : -60.0f);
  return x;
}

// Temperatures per row with 0 and +inf among them.
std::vector<double> row_temperatures(std::size_t rows) {
  std::vector<double> t(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    t[r] = r % 7 == 0   ? 0.0
           : r % 7 == 1 ? std::numeric_limits<double>::infinity()
                        : 0.05 * static_cast<double>(r + 1);
  }
  return t;
}

template <class T>
void add_cases(std::vector<stress_case>& cases) {
  const std::string tn = type_name<T>();
  for (int f = 0; f < static_cast<int>(testing::kOperations.size()); ++f) {
    const testing::operation& op = testing::kOperations[static_cast<std::size_t>(f)];
    const testing::operation_calls<T> calls = op.template on<T>();
    const std::string fn = std::string(op.name) + "/" + tn;
    const bool red = op.reduces;
    {  // one row
      auto x = std::make_shared<std::vector<T>>(logits<T>(1, 1000, 1000, 1 + f));
      cases.push_back({fn + "/span", [=](int threads) {
                         std::vector<T> y(red ? 1 : x->size());
                         calls.row(*x, y, {.temperature = 0.3, .threads = threads});
                         return bytes_of(y);
                       }});
    }
    // Rows: strided, per-row temperatures, short rows (transposed path), and
    // a batch large enough to split over threads.
    struct rows_shape {
      const char* what;
      std::size_t rows, cols, stride;
      bool per_row;
    };
    const rows_shape shapes[] = {{"matrix_strided", 23, 257, 263, false},
                                 {"matrix_per_row_t", 23, 129, 129, true},
                                 {"matrix_short_rows", 100, 9, 11, false},
                                 {"matrix_large", 64, 2048, 2048, false}};
    for (const rows_shape& s : shapes) {
      auto x = std::make_shared<std::vector<T>>(logits<T>(s.rows, s.stride, s.cols, 7 + f));
      auto t = std::make_shared<std::vector<double>>(row_temperatures(s.rows));
      cases.push_back({fn + "/" + s.what, [=](int threads) {
                         const std::size_t ys = red ? 1 : s.stride;
                         std::vector<T> y(red ? s.rows : s.rows * s.stride, T(0.0f));
                         options opt{.temperature = 0.7, .threads = threads};
                         if (s.per_row) opt.temperatures = *t;
                         calls.rows(matrix_view<const T>(x->data(), s.rows, s.cols, s.stride),
                                    matrix_view<T>(y.data(), s.rows, red ? 1 : s.cols, ys), opt);
                         return bytes_of(y);
                       }});
    }
    // Axis views: contiguous (the lanes kernel), and the same numbers read
    // through a transposed, strided view (the gather path).
    {
      const std::size_t outer = 3, n = 19, inner = 37;
      auto x = std::make_shared<std::vector<T>>(logits<T>(outer * n, inner, inner, 11 + f));
      cases.push_back({fn + "/axis_contiguous", [=](int threads) {
                         const std::size_t out_axis = red ? 1 : n;
                         std::vector<T> y(outer * out_axis * inner);
                         calls.axis(axis_view<const T>::contiguous(x->data(), outer, n, inner),
                                    axis_view<T>::contiguous(y.data(), outer, out_axis, inner),
                                    {.temperature = 2.5, .threads = threads});
                         return bytes_of(y);
                       }});
      cases.push_back({fn + "/axis_strided", [=](int threads) {
                         // x read as outer x inner x n: the axis has stride inner.
                         const std::size_t out_axis = red ? 1 : inner;
                         std::vector<T> y(outer * out_axis * n);
                         const axis_view<const T> xv{x->data(),
                                                     outer,
                                                     inner,
                                                     n,
                                                     static_cast<std::ptrdiff_t>(n * inner),
                                                     1,
                                                     static_cast<std::ptrdiff_t>(inner)};
                         calls.axis(xv, axis_view<T>::contiguous(y.data(), outer, out_axis, n),
                                    {.temperature = 0.02, .threads = threads});
                         return bytes_of(y);
                       }});
    }
  }
}

std::vector<stress_case> all_cases() {
  std::vector<stress_case> cases;
  add_cases<float>(cases);
  add_cases<double>(cases);
  add_cases<bfloat16>(cases);
  add_cases<float16>(cases);
  return cases;
}

// ThreadSanitizer finds a race from the order of memory accesses, not from
// the luck of timing, so a few rounds are enough there (and keep CI short).
#if defined(__SANITIZE_THREAD__)
constexpr int kDefaultRounds = 8;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr int kDefaultRounds = 8;
#else
constexpr int kDefaultRounds = 30;
#endif
#else
constexpr int kDefaultRounds = 30;
#endif

int rounds() { return long_mode() ? 1000 : kDefaultRounds; }

// Runs every case in a shuffled order on each of kWorkers threads, `rounds`
// times, while `meddle` runs on another thread; `check` sees each result.
template <class Check, class Meddle>
void storm(const std::vector<stress_case>& cases, Check check, Meddle meddle) {
  std::atomic<bool> done{false};
  std::thread meddler([&] {
    std::mt19937 rng(99);
    while (!done.load()) meddle(rng);
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      std::vector<std::size_t> order(cases.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      const int thread_choices[] = {0, 1, 2, 3, 8};
      for (int round = 0; round < rounds(); ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        for (std::size_t i : order) {
          const int threads = thread_choices[rng() % 5];
          check(i, threads, cases[i].run(threads));
        }
        // The C ABI's last error is per thread: each thread sees its own.
        const float x[2] = {1, 2};
        float y[2];
        const double bad_t = -(w + 1);
        if (kelvin_softmax_f32(x, y, 1, 2, 2, 2, bad_t) != KELVIN_INVALID_ARGUMENT ||
            std::string(kelvin_last_error()).find("got " + std::to_string(-(w + 1)) + ")") ==
                std::string::npos) {
          ADD_FAILURE() << "thread " << w
                        << " read another thread's error: " << kelvin_last_error();
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  done.store(true);
  meddler.join();
}

TEST(stress, every_family_type_and_shape_from_8_threads_with_set_num_threads) {
  const std::vector<stress_case> cases = all_cases();
  std::vector<std::vector<unsigned char>> expected;
  for (const stress_case& c : cases) expected.push_back(c.run(1));
  // Results never depend on the thread count: the serial run is the answer
  // for every `threads`.
  for (std::size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(cases[i].run(0), expected[i]) << cases[i].name;
  }

  std::mutex m;
  std::vector<std::string> mismatches;
  std::atomic<long> calls{0};
  storm(
      cases,
      [&](std::size_t i, int threads, const std::vector<unsigned char>& got) {
        calls.fetch_add(1);
        if (got != expected[i]) {
          std::lock_guard lock(m);
          mismatches.push_back(cases[i].name + " threads=" + std::to_string(threads));
        }
      },
      [](std::mt19937& rng) {
        set_num_threads(static_cast<int>(rng() % 5));
        if (get_num_threads() < 1) ADD_FAILURE() << "get_num_threads() < 1";
        kelvin_set_num_threads(static_cast<int>(rng() % 3));
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      });
  set_num_threads(0);
  EXPECT_TRUE(mismatches.empty()) << mismatches.size()
                                  << " mismatches, first: " << mismatches.front();
  EXPECT_EQ(calls.load(), static_cast<long>(kWorkers) * rounds() * static_cast<long>(cases.size()));
  std::printf("[ stress   ] %zu cases x %d rounds x %d threads = %ld calls\n", cases.size(),
              rounds(), kWorkers, calls.load());
}

TEST(stress, set_target_while_calls_run) {
  // Three targets: the best, the next one, and the scalar reference.
  const std::vector<std::string> supported = supported_targets();
  std::vector<std::string> targets = {supported.front()};
  if (supported.size() > 2) targets.push_back(supported[1]);
  if (supported.back() != targets.front()) targets.push_back(supported.back());
  const std::string before = active_target();

  std::vector<stress_case> cases;
  for (stress_case& c : all_cases()) {
    if (c.name.find("matrix_large") == std::string::npos) cases.push_back(std::move(c));
  }
  std::vector<std::vector<std::vector<unsigned char>>> expected(cases.size());
  for (const std::string& t : targets) {
    set_target(t);
    for (std::size_t i = 0; i < cases.size(); ++i) expected[i].push_back(cases[i].run(1));
  }
  set_target(before);

  std::mutex m;
  std::vector<std::string> mismatches;
  storm(
      cases,
      [&](std::size_t i, int threads, const std::vector<unsigned char>& got) {
        if (std::find(expected[i].begin(), expected[i].end(), got) == expected[i].end()) {
          std::lock_guard lock(m);
          mismatches.push_back(cases[i].name + " threads=" + std::to_string(threads));
        }
      },
      [&](std::mt19937& rng) {
        set_target(targets[rng() % targets.size()]);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      });
  set_target(before);
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " results match no single target, first: "
                                  << mismatches.front();
}

}  // namespace
}  // namespace kelvin::testing
