// What the interleaved A/B tools (ab.cpp, ab_lib.cpp, sampling_ab.cpp) share:
// the ABBA alternation, the quantiles they report and their option parsing.
// On a shared VM separate processes drift by 30%; alternating A B B A in one
// process cancels the drift to first order, and the ratio is taken per pair.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace kelvin::bench {

[[noreturn]] inline void fail(const char* tool, const std::string& what) {
  std::fprintf(stderr, "%s: error: %s\n", tool, what.c_str());
  std::exit(2);
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

// The q-quantile of v, linearly interpolated.
inline double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Each side's times and the per-pair ratios B/A of `reps` repetitions.
struct ab_times {
  std::vector<double> a, b, ratio;
  double best_a() const { return *std::min_element(a.begin(), a.end()); }
  double best_b() const { return *std::min_element(b.begin(), b.end()); }
};

// Times A and B alternately, A B on even repetitions and B A on odd ones.
template <class A, class B>
ab_times interleave(int reps, A&& time_a, B&& time_b) {
  ab_times t;
  for (int r = 0; r < reps; ++r) {
    double x, y;
    if (r % 2 == 0) {
      x = time_a();
      y = time_b();
    } else {
      y = time_b();
      x = time_a();
    }
    t.a.push_back(x);
    t.b.push_back(y);
    t.ratio.push_back(y / x);
  }
  return t;
}

}  // namespace kelvin::bench
