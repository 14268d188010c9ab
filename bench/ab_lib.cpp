// Interleaved A/B of two builds of libkelvin in one process: each library is
// dlopen'ed privately (RTLD_LOCAL | RTLD_DEEPBIND, so each resolves its own
// symbols) and the two kelvin_softmax_f32 entry points are timed alternately,
// A B B A per repetition, as bench/ab.cpp does for variants of one build. It
// measures what a code change costs or saves per call without a runtime toggle
// in the library, e.g. the per-call overhead of short rows:
//
//   cp /work/main/build/release/libkelvin.so.0.1.0 /tmp/old.so
//   build/release/bench/ab_lib /tmp/old.so build/release/libkelvin.so.0.1.0
//       --shapes=1x1,1x16,1x1000,1x4000,1x32000 --t=1,0.07
//
// Options: --shapes=ROWSxCOLS[,...], --t=T[,...], --reps=N (pairs, default
// 21), --min_ms=M (calls per repetition fixed so that one takes >= M ms,
// default 20), --threads=N (kelvin_set_num_threads on both; default 0, the
// library's default: all cores the process may use). Inputs are
// N(0, 4) logits. Prints each side's best and median ns per call and the B/A
// ratio's median and quartiles over the pairs.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench/ab_common.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using softmax_fn = int (*)(const float*, float*, std::size_t, std::size_t, std::size_t, std::size_t,
                           double);
using set_threads_fn = void (*)(int);

using kelvin::bench::quantile;
using kelvin::bench::split;

[[noreturn]] void fail(const std::string& what) { kelvin::bench::fail("ab_lib", what); }

struct library {
  softmax_fn softmax = nullptr;
  set_threads_fn set_threads = nullptr;
};

library open_library(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (h == nullptr) fail("dlopen " + path + ": " + dlerror());
  library lib;
  lib.softmax = reinterpret_cast<softmax_fn>(dlsym(h, "kelvin_softmax_f32"));
  lib.set_threads = reinterpret_cast<set_threads_fn>(dlsym(h, "kelvin_set_num_threads"));
  if (lib.softmax == nullptr) fail(path + ": no kelvin_softmax_f32");
  return lib;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> libs;
  std::string shapes = "1x16,1x1000,1x4000,1x32000", temps = "1,0.07";
  int reps = 21, threads = 0;
  double min_ms = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      libs.push_back(arg);
      continue;
    }
    const auto eq = arg.find('=');
    if (eq == std::string::npos) fail("expected --key=value: " + arg);
    const std::string key = arg.substr(2, eq - 2), val = arg.substr(eq + 1);
    if (key == "shapes")
      shapes = val;
    else if (key == "t")
      temps = val;
    else if (key == "reps")
      reps = std::atoi(val.c_str());
    else if (key == "min_ms")
      min_ms = std::atof(val.c_str());
    else if (key == "threads")
      threads = std::atoi(val.c_str());
    else
      fail("unknown option --" + key);
  }
  if (libs.size() != 2) fail("usage: ab_lib LIB_A LIB_B [--shapes=...] [--t=...]");
  if (reps < 2) fail("--reps must be >= 2");
  const library la = open_library(libs[0]), lb = open_library(libs[1]);
  if (la.softmax == lb.softmax) fail("both paths resolved to one library: copy one elsewhere");
  for (const library* l : {&la, &lb}) {
    if (l->set_threads != nullptr && threads > 0) l->set_threads(threads);
  }
  std::printf(
      "# A = %s\n# B = %s\n# kelvin_softmax_f32, threads %d (0: the default), %d A/B pairs "
      "(ABBA)\n",
      libs[0].c_str(), libs[1].c_str(), threads, reps);
  std::printf("%-10s %6s %10s %10s %10s %10s %7s %7s %7s\n", "shape", "T", "A best ns", "A med ns",
              "B best ns", "B med ns", "B/A med", "q1", "q3");
  for (const std::string& shape : split(shapes, ',')) {
    const auto dims = split(shape, 'x');
    if (dims.size() != 2) fail("shape must be ROWSxCOLS: " + shape);
    const std::size_t rows = std::stoul(dims[0]), cols = std::stoul(dims[1]);
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0, 4);
    std::vector<float> x(rows * cols), y(rows * cols);
    for (auto& v : x) v = nd(rng);
    for (const std::string& ts : split(temps, ',')) {
      const double t = std::stod(ts);
      auto once = [&](const library& l) {
        if (l.softmax(x.data(), y.data(), rows, cols, cols, cols, t) != 0) fail("call failed");
      };
      // Calls per repetition: from A, so both sides run the same count.
      long calls = 1;
      once(la);
      once(lb);
      for (;;) {
        const auto t0 = clock_type::now();
        for (long c = 0; c < calls; ++c) once(la);
        if (std::chrono::duration<double>(clock_type::now() - t0).count() >= min_ms * 1e-3) break;
        calls *= 2;
      }
      auto time = [&](const library& l) {
        const auto t0 = clock_type::now();
        for (long c = 0; c < calls; ++c) once(l);
        return std::chrono::duration<double>(clock_type::now() - t0).count() / calls * 1e9;
      };
      const auto r = kelvin::bench::interleave(
          reps, [&] { return time(la); }, [&] { return time(lb); });
      std::printf("%-10s %6g %10.1f %10.1f %10.1f %10.1f %7.3f %7.3f %7.3f\n", shape.c_str(), t,
                  r.best_a(), quantile(r.a, 0.5), r.best_b(), quantile(r.b, 0.5),
                  quantile(r.ratio, 0.5), quantile(r.ratio, 0.25), quantile(r.ratio, 0.75));
      std::fflush(stdout);
    }
  }
  return 0;
}
