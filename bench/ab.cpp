// Interleaved A/B timing of two variants of one softmax-family call in one
// process. Separate-process comparisons on shared VMs drift by 30% (clock,
// neighbours); here A and B alternate repetition by repetition (A B B A ...,
// so that a drift within a pair cancels to first order), and the report is
// the ratio of each pair's times, median and spread, beside each side's best
// and median time.
//
//   build/release/bench/ab --a=f32 --b=bf16 --shapes=64x262144,4096x1000 --t=1 --threads=1
//   build/release/bench/ab --a=bf16:widened --b=bf16 --shapes=4096x1000 --t=0.07
//   build/release/bench/ab --a=f32@AVX2 --b=f32@AVX3 --op=log_softmax
//
// A variant is TYPE[:widened][@TARGET]: TYPE f32, f64, bf16 or f16;
// ":widened" runs 16-bit softmax through the float32 path widened (float
// lanes off, detail::set_half_float_lanes); "@TARGET" selects a compiled
// target by name (AVX3, AVX2, SSE4, ..., SCALAR) for that side only. Options:
// --op=softmax|log_softmax|log_partition, --t=T[,T...], --threads=N,
// --reps=N (pairs, default 15), --min_ms=M (each repetition repeats the call
// until it has run M ms, default 20), --seed=S. Inputs are N(0, 4) logits in
// each side's storage type, the same values rounded. Ratio = B time / A time
// (below 1: B is faster).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "bench/ab_common.hpp"
#include "kelvin/kelvin.hpp"
#include "src/half.hpp"
#include "src/kernels/kernels.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

using kelvin::bench::quantile;
using kelvin::bench::split;

[[noreturn]] void fail(const std::string& what) { kelvin::bench::fail("ab", what); }

struct variant {
  std::string name, type;
  bool widened = false;
  const kelvin::detail::target* tgt = nullptr;  // null: the active one
};

variant parse_variant(const std::string& s) {
  variant v;
  v.name = s;
  std::string rest = s;
  if (const auto at = rest.find('@'); at != std::string::npos) {
    const std::string want = rest.substr(at + 1);
    for (const auto& t : kelvin::detail::compiled_targets()) {
      if (want == t.name) v.tgt = &t;
    }
    if (v.tgt == nullptr || !kelvin::detail::target_supported(*v.tgt)) {
      fail("variant '" + s + "': no supported target '" + want + "'");
    }
    rest = rest.substr(0, at);
  }
  if (const auto colon = rest.find(':'); colon != std::string::npos) {
    if (rest.substr(colon + 1) != "widened") fail("variant '" + s + "': unknown modifier");
    v.widened = true;
    rest = rest.substr(0, colon);
  }
  if (rest != "f32" && rest != "f64" && rest != "bf16" && rest != "f16") {
    fail("variant '" + s + "': type must be f32, f64, bf16 or f16");
  }
  v.type = rest;
  return v;
}

// One side's data and its call.
class side {
 public:
  side(const variant& v, const std::string& op, std::size_t rows, std::size_t cols,
       const std::vector<double>& logits, double t, int threads)
      : v_(v) {
    if (v.type == "f32") call_ = make<float>(op, rows, cols, logits, t, threads);
    if (v.type == "f64") call_ = make<double>(op, rows, cols, logits, t, threads);
    if (v.type == "bf16") call_ = make<kelvin::bfloat16>(op, rows, cols, logits, t, threads);
    if (v.type == "f16") call_ = make<kelvin::float16>(op, rows, cols, logits, t, threads);
  }

  // Seconds per call over at least min_s of calls (calls: fixed after the first).
  double time(double min_s) {
    const auto* before = &kelvin::detail::active_target();
    if (v_.tgt != nullptr) kelvin::detail::select_target(*v_.tgt);
    kelvin::detail::set_half_float_lanes(!v_.widened);
    if (calls_ == 0) {  // warm-up and calibration
      call_();
      calls_ = 1;
      for (;;) {
        const auto t0 = clock_type::now();
        for (int i = 0; i < calls_; ++i) call_();
        const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
        if (s >= min_s) break;
        calls_ *= 2;
      }
    }
    const auto t0 = clock_type::now();
    for (int i = 0; i < calls_; ++i) call_();
    const double s = std::chrono::duration<double>(clock_type::now() - t0).count() / calls_;
    kelvin::detail::set_half_float_lanes(true);
    kelvin::detail::select_target(*before);
    return s;
  }

 private:
  template <class T>
  std::function<void()> make(const std::string& op, std::size_t rows, std::size_t cols,
                             const std::vector<double>& logits, double t, int threads) {
    auto x = std::make_shared<std::vector<T>>(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) {
      (*x)[i] = static_cast<T>(static_cast<float>(logits[i]));
    }
    auto y = std::make_shared<std::vector<T>>(op == "log_partition" ? rows : logits.size());
    const kelvin::options opt{.temperature = t, .threads = threads};
    const kelvin::matrix_view<const T> xv(x->data(), rows, cols);
    // Each call owns x through `keep` (xv only points into it).
    if (op == "softmax") {
      return [=, keep = x] {
        (void)keep;
        kelvin::softmax(xv, kelvin::matrix_view<T>(y->data(), rows, cols), opt);
      };
    }
    if (op == "log_softmax") {
      return [=, keep = x] {
        (void)keep;
        kelvin::log_softmax(xv, kelvin::matrix_view<T>(y->data(), rows, cols), opt);
      };
    }
    if (op == "log_partition") {
      return [=, keep = x] {
        (void)keep;
        kelvin::log_partition(xv, std::span<T>(*y), opt);
      };
    }
    fail("--op must be softmax, log_softmax or log_partition");
  }

  variant v_;
  std::function<void()> call_;
  int calls_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string a = "f32", b = "bf16", op = "softmax", shapes = "64x262144,4096x1000", temps = "1";
  int threads = 1, reps = 15;
  double min_ms = 20;
  unsigned seed = 42;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) fail("expected --key=value: " + arg);
    const std::string key = arg.substr(2, eq - 2), val = arg.substr(eq + 1);
    try {
      if (key == "a")
        a = val;
      else if (key == "b")
        b = val;
      else if (key == "op")
        op = val;
      else if (key == "shapes")
        shapes = val;
      else if (key == "t")
        temps = val;
      else if (key == "threads")
        threads = std::stoi(val);
      else if (key == "reps")
        reps = std::stoi(val);
      else if (key == "min_ms")
        min_ms = std::stod(val);
      else if (key == "seed")
        seed = static_cast<unsigned>(std::stoul(val));
      else
        fail("unknown option --" + key);
    } catch (const std::logic_error&) {
      fail("bad value for --" + key + ": " + val);
    }
  }
  if (reps < 2) fail("--reps must be >= 2");
  const variant va = parse_variant(a), vb = parse_variant(b);
  std::printf("# A = %s, B = %s, %s, %d thread(s), %d A/B pairs (ABBA order), target %s\n",
              a.c_str(), b.c_str(), op.c_str(), threads, reps,
              kelvin::detail::active_target().name);
  std::printf("%-12s %8s %11s %11s %11s %11s %8s %8s %8s\n", "shape", "T", "A best us", "A med us",
              "B best us", "B med us", "B/A med", "B/A q1", "B/A q3");
  for (const std::string& shape : split(shapes, ',')) {
    const auto dims = split(shape, 'x');
    if (dims.size() != 2) fail("shape must be ROWSxCOLS: " + shape);
    const std::size_t rows = std::stoul(dims[0]), cols = std::stoul(dims[1]);
    std::mt19937 rng(seed);
    std::normal_distribution<double> nd(0, 4);
    std::vector<double> logits(rows * cols);
    for (auto& v : logits) v = nd(rng);
    for (const std::string& ts : split(temps, ',')) {
      const double t = std::stod(ts);
      side sa(va, op, rows, cols, logits, t, threads), sb(vb, op, rows, cols, logits, t, threads);
      const auto r = kelvin::bench::interleave(
          reps, [&] { return sa.time(min_ms * 1e-3); }, [&] { return sb.time(min_ms * 1e-3); });
      std::printf("%-12s %8g %11.1f %11.1f %11.1f %11.1f %8.3f %8.3f %8.3f\n", shape.c_str(), t,
                  r.best_a() * 1e6, quantile(r.a, 0.5) * 1e6, r.best_b() * 1e6,
                  quantile(r.b, 0.5) * 1e6, quantile(r.ratio, 0.5), quantile(r.ratio, 0.25),
                  quantile(r.ratio, 0.75));
      std::fflush(stdout);
    }
  }
  return 0;
}
