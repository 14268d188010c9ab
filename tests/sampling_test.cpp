// kelvin/sampling.hpp: kept sets and probabilities against a sort-based
// reference, chi-square fits of the draws, reproducibility, serial
// independence, greedy ties, both orders, errors, and the kernels per target.
#include "kelvin/sampling.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "src/kernels/kernels.hpp"
#include "src/kernels/sampling.hpp"
#include "tests/support/long_mode.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
using opts = sampling_options;

// ---- the sort-based reference: the chain of docs/sampling.md, written the
// obvious way (full sorts, double weights) ---------------------------------
struct ref_entry {
  double x;
  std::int64_t idx;
};
bool ref_before(const ref_entry& a, const ref_entry& b) {
  return a.x > b.x || (a.x == b.x && a.idx < b.idx);
}

std::vector<double> ref_weights(const std::vector<ref_entry>& s, double t) {
  double m = -kInf;
  for (const auto& e : s) m = std::max(m, e.x);
  std::vector<double> w;
  for (const auto& e : s) w.push_back(t == kInf ? 1.0 : std::exp((e.x - m) / t));
  return w;
}

double ref_dynamic(const opts& c, const std::vector<ref_entry>& s) {
  if (c.dynamic_range <= 0 || s.size() <= 1) return c.temperature;
  const auto w = ref_weights(s, 1.0);
  double m = -kInf, total = 0;
  for (const auto& e : s) m = std::max(m, e.x);
  for (double v : w) total += v;
  double h = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double p = w[i] / total;
    if (p > 0) h -= p * ((s[i].x - m) - std::log(total));
  }
  const double hn = std::clamp(h / std::log(static_cast<double>(s.size())), 0.0, 1.0);
  const double lo = std::max(0.0, c.temperature - c.dynamic_range);
  const double hi = c.temperature + c.dynamic_range;
  if (hi == kInf) return kInf;
  return lo + (hi - lo) * std::pow(hn, c.dynamic_exponent);
}

// Keeps the shortest prefix of s (already in rank order) with weight >= mass *
// total and at least min_keep entries.
void ref_prefix(std::vector<ref_entry>* s, const std::vector<double>& w, double mass,
                std::size_t min_keep) {
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  double cum = 0;
  std::size_t keep = s->size();
  for (std::size_t i = 0; i < s->size(); ++i) {
    cum += w[i];
    if (cum >= mass * total && i + 1 >= min_keep) {
      keep = i + 1;
      break;
    }
  }
  s->resize(keep);
}

std::vector<double> ref_distribution(const std::vector<float>& xf, const opts& c) {
  const std::size_t n = xf.size();
  std::vector<double> x(xf.begin(), xf.end());
  if (std::any_of(x.begin(), x.end(), [](double v) { return v == kInf; })) {
    for (double& v : x) v = v == kInf ? 0.0 : -kInf;
  }
  std::vector<double> out(n, 0.0);
  std::vector<ref_entry> s;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] > -kInf) s.push_back({x[i], static_cast<std::int64_t>(i)});
  }
  std::sort(s.begin(), s.end(), ref_before);
  const auto argmax = [&](const std::vector<ref_entry>& v) {
    return std::min_element(v.begin(), v.end(), ref_before)->idx;
  };
  if (c.temperature == 0) {
    out[argmax(s)] = 1;
    return out;
  }
  const std::size_t min_keep = static_cast<std::size_t>(std::max<std::int64_t>(1, c.min_keep));
  const bool first = c.order == sampling_order::temperature_first;
  const double tau = first ? ref_dynamic(c, s) : 1.0;
  if (tau == 0) {
    out[argmax(s)] = 1;
    return out;
  }
  if (c.top_k > 0) {
    s.resize(
        std::min(s.size(), static_cast<std::size_t>(std::max<std::int64_t>(c.top_k, c.min_keep))));
  }
  if (c.typical_p < 1) {
    const auto w = ref_weights(s, tau);
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    double m = -kInf;
    for (const auto& e : s) m = std::max(m, e.x);
    std::vector<double> logp(s.size());
    double h = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      logp[i] = tau == kInf ? -std::log(total) : (s[i].x - m) / tau - std::log(total);
      if (w[i] / total > 0) h -= (w[i] / total) * logp[i];
    }
    std::vector<std::size_t> ord(s.size());
    std::iota(ord.begin(), ord.end(), 0);
    const auto key = [&](std::size_t i) { return w[i] > 0 ? std::fabs(-logp[i] - h) : kInf; };
    std::sort(ord.begin(), ord.end(), [&](std::size_t a, std::size_t b) {
      return key(a) < key(b) || (key(a) == key(b) && s[a].idx < s[b].idx);
    });
    std::vector<ref_entry> s2;
    std::vector<double> w2;
    for (std::size_t i : ord) {
      s2.push_back(s[i]);
      w2.push_back(w[i]);
    }
    ref_prefix(&s2, w2, c.typical_p, min_keep);
    s = s2;
    std::sort(s.begin(), s.end(), ref_before);
  }
  if (c.top_p < 1) ref_prefix(&s, ref_weights(s, tau), c.top_p, min_keep);
  if (c.min_p > 0) {
    const auto w = ref_weights(s, tau);
    std::vector<ref_entry> kept;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (w[i] >= c.min_p) kept.push_back(s[i]);
    }
    if (kept.size() < min_keep) {
      kept.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(std::min(min_keep, s.size())));
    }
    s = kept;
  }
  const double t = first ? tau : ref_dynamic(c, s);
  if (t == 0) {
    out[argmax(s)] = 1;
    return out;
  }
  const auto w = ref_weights(s, t);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (std::size_t i = 0; i < s.size(); ++i) out[s[i].idx] = w[i] / total;
  return out;
}

std::vector<double> distribution(const std::vector<float>& x, const opts& c) {
  std::vector<double> p(x.size());
  sampling_distribution(x, p, c);
  return p;
}

// The kept sets agree exactly; probabilities within the dense plan's weight
// bound (exp_weight_error of t_i = log(r_i / r_max), the tempered logit less
// the max; zero below e^-104 of the max): p_i = w_i / sum_j w_j is then
// within e(t_i) + sum_j r_j e(t_j) relative. Candidate lists, weighed with
// std::exp in double, are far inside it.
void expect_matches_reference(const std::vector<float>& x, const opts& c, const char* what) {
  const auto p = distribution(x, c);
  const auto r = ref_distribution(x, c);
  const double r_max = *std::max_element(r.begin(), r.end());
  const auto err = [&](double ri) { return detail::exp_weight_error(std::log(ri / r_max)); };
  double mean_err = 0;
  for (double ri : r) mean_err += ri > 0 ? ri * err(ri) : 0;
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sum += p[i];
    if (r[i] < 1e-40) {
      ASSERT_LE(p[i], 1e-40) << what << " i=" << i;
      continue;
    }
    ASSERT_GT(p[i], 0) << what << " kept set differs at i=" << i << " (ref " << r[i] << ")";
    ASSERT_NEAR(p[i], r[i], (err(r[i]) + mean_err) * r[i] + 1e-300) << what << " i=" << i;
  }
  // The plan's total and this sum each add n doubles, in different orders:
  // each may be off by up to about n 2^-53 relative.
  ASSERT_NEAR(sum, 1.0, 1e-12 + 2.0 * static_cast<double>(x.size()) * 0x1p-53) << what;
}

std::vector<float> normal_logits(std::size_t n, std::uint64_t seed, double sd = 3.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(0.0, sd);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(nd(g));
  return x;
}

std::vector<opts> mode_configs() {
  std::vector<opts> out;
  for (auto order : {sampling_order::temperature_last, sampling_order::temperature_first}) {
    for (double t : {0.3, 0.8, 1.0, 2.5}) {
      out.push_back({.temperature = t, .order = order});
      out.push_back({.temperature = t, .top_k = 40, .order = order});
      out.push_back({.temperature = t, .top_k = 1, .order = order});
      out.push_back({.temperature = t, .top_p = 0.9, .order = order});
      out.push_back({.temperature = t, .top_p = 0.3, .min_keep = 5, .order = order});
      out.push_back({.temperature = t, .min_p = 0.05, .order = order});
      out.push_back({.temperature = t, .min_p = 0.5, .min_keep = 3, .order = order});
      out.push_back({.temperature = t, .typical_p = 0.7, .order = order});
      out.push_back({.temperature = t, .top_k = 40, .top_p = 0.95, .min_p = 0.05, .order = order});
      out.push_back({.temperature = t,
                     .top_k = 100,
                     .top_p = 0.8,
                     .min_p = 0.01,
                     .typical_p = 0.9,
                     .min_keep = 2,
                     .order = order});
      out.push_back({.temperature = t, .order = order, .dynamic_range = 0.5});
      out.push_back({.temperature = t,
                     .top_k = 50,
                     .min_p = 0.02,
                     .order = order,
                     .dynamic_range = 0.4,
                     .dynamic_exponent = 2.0});
    }
    out.push_back({.temperature = kInf, .order = order});
    out.push_back({.temperature = kInf, .top_k = 7, .top_p = 0.5, .order = order});
    out.push_back({.temperature = 0.5, .min_keep = 1000000, .order = order});
  }
  return out;
}

// ---- kept sets and probabilities -------------------------------------------
class sampling_reference : public testing::per_target {};

TEST_P(sampling_reference, random_logits_every_mode) {
  const auto configs = mode_configs();
  const std::vector<std::size_t> sizes =
      kelvin::testing::long_mode() ? std::vector<std::size_t>{1, 2, 3, 17, 100, 1000, 5000, 40000}
                                   : std::vector<std::size_t>{1, 2, 17, 300, 2500};
  std::uint64_t seed = 1;
  for (std::size_t n : sizes) {
    const auto x = normal_logits(n, seed++);
    for (const opts& c : configs) expect_matches_reference(x, c, "normal");
  }
}

TEST_P(sampling_reference, adversarial_logits_every_mode) {
  std::vector<std::pair<const char*, std::vector<float>>> rows;
  // Ties everywhere: the top-k and top-p boundaries fall inside runs of equal
  // logits, resolved by index.
  {
    std::mt19937_64 g(7);
    std::vector<float> x(600);
    for (float& v : x) v = static_cast<float>(static_cast<int>(g() % 5)) * -1.0f;
    rows.emplace_back("ties", x);
  }
  rows.emplace_back("all_equal", std::vector<float>(257, 0.25f));
  {
    auto x = normal_logits(500, 11);
    for (std::size_t i = 0; i < x.size(); i += 3) x[i] = -kInfF;
    rows.emplace_back("masked", x);
  }
  {
    auto x = normal_logits(500, 12, 1.0);
    x[123] = 60.0f;
    rows.emplace_back("dominant", x);
  }
  {
    auto x = normal_logits(300, 13);
    x[5] = kInfF;
    x[200] = kInfF;
    x[7] = -kInfF;
    rows.emplace_back("plus_inf", x);
  }
  {
    std::vector<float> x(100, -kInfF);
    x[42] = -3.0f;
    rows.emplace_back("one_live", x);
  }
  {
    std::vector<float> x(3000, 0.0f);
    x[0] = 3.0e38f;
    x[2999] = -3.0e38f;
    rows.emplace_back("huge", x);
  }
  for (const auto& [what, x] : rows) {
    for (const opts& c : mode_configs()) expect_matches_reference(x, c, what);
  }
}

// Long rows: top-k starts from a sampled threshold, redone from -inf when
// fewer than k entries pass it (ties, sorted rows), and top-p alone takes its
// candidates above a sampled threshold, or every entry when they hold too
// little mass. Only those modes (the others do not sample) on the active
// target (the kernels are checked on every target below), to keep it short.
TEST(sampling, long_rows_top_k_and_top_p_from_a_sampled_threshold) {
  // A NaN inside the sample and one outside it.
  for (std::size_t at : {std::size_t{0}, std::size_t{17}, std::size_t{19999}}) {
    auto x = normal_logits(20000, 10);
    x[at] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_THROW(sample(x, {.top_k = 40}), error) << at;
    EXPECT_THROW(sample(x, {.top_p = 0.5}), error) << at;
  }
  std::vector<std::pair<const char*, std::vector<float>>> rows;
  {
    std::mt19937_64 g(8);
    std::vector<float> x(20000);
    for (float& v : x) v = -static_cast<float>(g() % 4);
    rows.emplace_back("long_ties", x);
    rows.emplace_back("long_equal", std::vector<float>(20000, 1.5f));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 1e-3f;
    rows.emplace_back("long_ascending", x);
    std::reverse(x.begin(), x.end());
    rows.emplace_back("long_descending", x);
    x = normal_logits(20000, 9);
    for (std::size_t i = 0; i < x.size(); i += 19) x[i] = 12.0f;  // the sample's entries tie
    rows.emplace_back("long_sample_ties", x);
  }
  for (const auto& [what, x] : rows) {
    for (const opts& c : mode_configs()) {
      if (c.top_k > 0 || (c.top_p < 1 && c.typical_p == 1)) expect_matches_reference(x, c, what);
    }
  }
}

// Ties at the boundaries, where exact arithmetic decides: equal weights sum
// exactly in any order.
TEST(sampling, ties_at_top_k_and_top_p_boundaries_go_to_the_lowest_index) {
  const std::vector<float> x{0, 1, 1, 1, 1, 0};  // four tied maxima
  auto p = distribution(x, {.top_k = 2});
  EXPECT_GT(p[1], 0);
  EXPECT_GT(p[2], 0);
  EXPECT_EQ(p[3], 0);
  EXPECT_EQ(p[4], 0);
  // T = +inf (temperature_first): six equal weights, ranked by logit then
  // index; top_p = 0.5 needs exactly 3 of them.
  p = distribution(x,
                   {.temperature = kInf, .top_p = 0.5, .order = sampling_order::temperature_first});
  EXPECT_EQ(p, (std::vector<double>{0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 0}));
  // At T = 1 each tied 1 holds e / (4e + 2) = 0.21 of the mass: 0.6 needs
  // three of the four, the three lowest indices.
  p = distribution(x, {.top_p = 0.6});
  EXPECT_GT(p[3], 0);
  EXPECT_EQ(p[4], 0);
  EXPECT_EQ(p[0], 0);
}

TEST(sampling, greedy_is_the_argmax_ties_to_the_lowest_index) {
  const std::vector<float> x{1, 3, -kInfF, 3, 2};
  for (std::uint64_t step = 0; step < 20; ++step) {
    EXPECT_EQ(sample(x, {.temperature = 0, .top_k = 2, .min_p = 0.9, .seed = step}, step), 1);
  }
  const auto r = sample_with_logprobs(x, {.temperature = 0});
  EXPECT_EQ(r.token, 1);
  EXPECT_EQ(r.logprob, 0.0);
  const long double z = std::exp(1.0L) + 2 * std::exp(3.0L) + std::exp(2.0L);
  EXPECT_NEAR(r.raw_logprob, static_cast<double>(3.0L - std::log(z)), 1e-8);
  EXPECT_EQ(distribution(x, {.temperature = 0}), (std::vector<double>{0, 1, 0, 0, 0}));
  // +inf entries: the first of them.
  EXPECT_EQ(sample(std::vector<float>{0, kInfF, 5, kInfF}, {.temperature = 0}), 1);
}

// docs/sampling.md's example: top_p = 0.7 at T = 0.5 keeps {0, 1} when the
// truncation sees the raw logits and {0} when it sees the tempered ones.
TEST(sampling, the_two_orders_keep_different_sets) {
  const std::vector<float> x{2, 1, 0};
  const auto last = distribution(x, {.temperature = 0.5, .top_p = 0.7});
  const auto first = distribution(
      x, {.temperature = 0.5, .top_p = 0.7, .order = sampling_order::temperature_first});
  EXPECT_GT(last[1], 0);
  EXPECT_EQ(last[2], 0);
  EXPECT_NEAR(last[0], 1 / (1 + std::exp(-2.0)), 1e-15);
  EXPECT_EQ(first, (std::vector<double>{1, 0, 0}));
}

TEST(sampling, dynamic_temperature_follows_the_entropy) {
  // All equal: normalised entropy 1, T = T + r; one dominant: near T - r.
  const std::vector<float> flat(10, 0.0f);
  const opts c{.temperature = 1.0, .top_k = 3, .dynamic_range = 0.5};
  auto p = distribution(flat, c);
  EXPECT_NEAR(p[0], 1.0 / 3, 1e-15);
  const std::vector<float> x{0, 1, 2};
  p = distribution(x, {.temperature = 1.0, .dynamic_range = 0.5});
  const auto r = ref_distribution(x, {.temperature = 1.0, .dynamic_range = 0.5});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], r[i], 1e-7);
  // r >= T: entropy 0 (one live entry among masks) gives T = 0, greedy.
  EXPECT_EQ(sample(std::vector<float>{-kInfF, 4, -kInfF}, {.temperature = 0.5, .dynamic_range = 1}),
            1);
}

// ---- draws -------------------------------------------------------------------
// Wilson-Hilferty upper quantile of chi-square(df) at z standard deviations.
double chi2_quantile(double df, double z) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + z * std::sqrt(a), 3);
}

// 10^6 draws (1000 rows x 1000 steps) against sampling_distribution; bins
// with expected count < 5 are pooled. Fixed seeds: deterministic.
void expect_chi_square_fit(const std::vector<float>& x, const opts& c, const char* what) {
  const std::size_t n = x.size(), rows = 1000, steps = kelvin::testing::long_mode() ? 10000 : 1000;
  std::vector<float> batch(rows * n);
  for (std::size_t r = 0; r < rows; ++r) std::copy(x.begin(), x.end(), batch.begin() + r * n);
  std::vector<std::int64_t> tok(rows);
  std::vector<double> count(n, 0.0);
  for (std::size_t s = 0; s < steps; ++s) {
    sample(matrix_view<const float>(batch.data(), rows, n), tok, {&c, 1},
           {.step = s, .threads = 1});
    for (std::int64_t t : tok) count[t] += 1;
  }
  const auto p = distribution(x, c);
  const double draws = static_cast<double>(rows * steps);
  double chi2 = 0, pool_e = 0, pool_o = 0;
  int bins = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = p[i] * draws;
    if (p[i] == 0) {
      ASSERT_EQ(count[i], 0) << what << " drew a token outside the kept set: " << i;
      continue;
    }
    if (e < 5) {
      pool_e += e;
      pool_o += count[i];
      continue;
    }
    chi2 += (count[i] - e) * (count[i] - e) / e;
    ++bins;
  }
  if (pool_e > 0) {
    chi2 += (pool_o - pool_e) * (pool_o - pool_e) / std::max(pool_e, 1e-300);
    ++bins;
  }
  if (bins < 2) return;  // one token: nothing to fit
  const double df = bins - 1;
  EXPECT_LT(chi2, chi2_quantile(df, 4.75)) << what << " df=" << df;  // p ~ 1e-6
}

TEST(sampling_draws, chi_square_fit_over_a_million_draws_per_mode) {
  const auto x = normal_logits(32, 99);
  const std::vector<std::pair<const char*, opts>> modes{
      {"plain", {.temperature = 0.8, .seed = 1}},
      {"top_k", {.temperature = 0.8, .top_k = 10, .seed = 2}},
      {"top_p", {.temperature = 1.3, .top_p = 0.9, .seed = 3}},
      {"min_p", {.temperature = 1.5, .min_p = 0.02, .seed = 4}},
      {"typical", {.temperature = 1.0, .typical_p = 0.8, .seed = 5}},
      {"chain_last", {.temperature = 0.8, .top_k = 20, .top_p = 0.95, .min_p = 0.05, .seed = 6}},
      {"chain_first",
       {.temperature = 0.8,
        .top_k = 20,
        .top_p = 0.95,
        .min_p = 0.05,
        .order = sampling_order::temperature_first,
        .seed = 7}},
      {"dynamic", {.temperature = 1.0, .dynamic_range = 0.5, .seed = 8}},
      {"uniform", {.temperature = kInf, .seed = 9}},
  };
  for (const auto& [what, c] : modes) expect_chi_square_fit(x, c, what);
  // A dense row over more than one block of the block walk.
  expect_chi_square_fit(normal_logits(1100, 98, 1.0), {.temperature = 0.7, .seed = 10}, "dense");
}

TEST(sampling_draws, reproducible_across_batch_composition_order_and_threads) {
  const std::size_t rows = 37, n = 3000;
  const auto flat = normal_logits(rows * n, 5);
  std::vector<opts> configs(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    configs[r] = {.temperature = 0.5 + 0.1 * static_cast<double>(r % 7),
                  .top_k = (r % 3 == 0) ? 40 : 0,
                  .top_p = (r % 4 == 1) ? 0.9 : 1.0,
                  .min_p = (r % 5 == 2) ? 0.05 : 0.0,
                  .seed = 1234};
  }
  std::vector<std::uint64_t> ids(rows);
  for (std::size_t r = 0; r < rows; ++r) ids[r] = 1000 + 7 * r;
  for (std::uint64_t step : {0ULL, 1ULL, 99ULL}) {
    std::vector<std::int64_t> base(rows);
    std::vector<double> lp(rows), raw(rows);
    sample(matrix_view<const float>(flat.data(), rows, n), base, configs,
           {.step = step, .row_ids = ids, .logprobs = lp, .raw_logprobs = raw, .threads = 1});
    // One row at a time.
    for (std::size_t r = 0; r < rows; ++r) {
      const auto one = sample_with_logprobs({flat.data() + r * n, n}, configs[r], step, ids[r]);
      ASSERT_EQ(one.token, base[r]);
      ASSERT_EQ(one.logprob, lp[r]);
      ASSERT_EQ(one.raw_logprob, raw[r]);
    }
    // Reversed order, other thread counts.
    std::vector<float> rev(rows * n);
    std::vector<opts> rc(rows);
    std::vector<std::uint64_t> rid(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      std::copy_n(flat.begin() + (rows - 1 - r) * n, n, rev.begin() + r * n);
      rc[r] = configs[rows - 1 - r];
      rid[r] = ids[rows - 1 - r];
    }
    for (int threads : {1, 2, 4}) {
      std::vector<std::int64_t> t(rows);
      sample(matrix_view<const float>(rev.data(), rows, n), t, rc,
             {.step = step, .row_ids = rid, .threads = threads});
      for (std::size_t r = 0; r < rows; ++r) ASSERT_EQ(t[r], base[rows - 1 - r]);
    }
    // A sub-batch.
    std::vector<std::int64_t> t(5);
    sample(matrix_view<const float>(flat.data() + 10 * n, 5, n), t, {configs.data() + 10, 5},
           {.step = step, .row_ids = {ids.data() + 10, 5}, .threads = 2});
    for (std::size_t r = 0; r < 5; ++r) ASSERT_EQ(t[r], base[10 + r]);
  }
}

TEST(sampling_draws, logprobs_are_the_log_of_the_distribution) {
  const auto x = normal_logits(1000, 21);
  for (const opts& c :
       {opts{.temperature = 0.8}, opts{.temperature = 0.8, .top_k = 40, .top_p = 0.95},
        opts{.temperature = 1.7, .min_p = 0.01}}) {
    const auto p = distribution(x, c);
    long double z = 0;
    for (float v : x) z += std::exp(static_cast<long double>(v));
    for (std::uint64_t s = 0; s < 50; ++s) {
      const auto r = sample_with_logprobs(x, c, s);
      ASSERT_GT(p[r.token], 0);
      EXPECT_NEAR(r.logprob, std::log(p[r.token]), 1e-9);
      EXPECT_NEAR(r.raw_logprob, static_cast<double>(x[r.token] - std::log(z)), 1e-8);
    }
  }
}

// Draws at successive steps are independent: the pairs (token_t, token_t+1)
// of one row fit the product distribution, and the lag-1 correlation is
// within noise.
TEST(sampling_draws, no_serial_correlation_across_steps) {
  const std::vector<float> x(16, 0.0f);  // uniform over 16 tokens
  const std::size_t steps = 200000;
  std::vector<std::int64_t> tok(steps);
  for (std::size_t s = 0; s < steps; ++s) tok[s] = sample(x, {.seed = 42}, s, 3);
  std::vector<double> pair(256, 0.0);
  double mean = 0;
  for (std::size_t s = 0; s + 1 < steps; ++s) pair[tok[s] * 16 + tok[s + 1]] += 1;
  for (auto t : tok) mean += static_cast<double>(t);
  mean /= static_cast<double>(steps);
  double num = 0, den = 0;
  for (std::size_t s = 0; s < steps; ++s) {
    den += (tok[s] - mean) * (tok[s] - mean);
    if (s + 1 < steps) num += (tok[s] - mean) * (tok[s + 1] - mean);
  }
  EXPECT_LT(std::fabs(num / den), 5 / std::sqrt(static_cast<double>(steps)));
  const double e = static_cast<double>(steps - 1) / 256;
  double chi2 = 0;
  for (double o : pair) chi2 += (o - e) * (o - e) / e;
  EXPECT_LT(chi2, chi2_quantile(255, 4.75));
  // Neighbouring row ids at one step are independent too.
  std::vector<double> pair_rows(256, 0.0);
  for (std::uint64_t r = 0; r < steps; r += 2) {
    pair_rows[sample(x, {.seed = 42}, 5, r) * 16 + sample(x, {.seed = 42}, 5, r + 1)] += 1;
  }
  chi2 = 0;
  const double er = static_cast<double>(steps / 2) / 256;
  for (double o : pair_rows) chi2 += (o - er) * (o - er) / er;
  EXPECT_LT(chi2, chi2_quantile(255, 4.75));
}

// ---- errors --------------------------------------------------------------------
void expect_error(const std::vector<float>& x, const opts& c, const char* needle) {
  try {
    sample(x, c);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(sampling, bad_arguments_throw_naming_them) {
  const std::vector<float> x{1, 2, 3};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_error(x, {.temperature = -1}, "temperature");
  expect_error(x, {.temperature = nan}, "temperature");
  expect_error(x, {.top_k = -1}, "top_k");
  expect_error(x, {.top_p = 0}, "top_p");
  expect_error(x, {.top_p = 1.5}, "top_p");
  expect_error(x, {.top_p = nan}, "top_p");
  expect_error(x, {.min_p = -0.1}, "min_p");
  expect_error(x, {.min_p = 1.1}, "min_p");
  expect_error(x, {.typical_p = 0}, "typical_p");
  expect_error(x, {.min_keep = -2}, "min_keep");
  expect_error(x, {.dynamic_range = -1}, "dynamic_range");
  expect_error(x, {.dynamic_exponent = nan}, "dynamic_exponent");
  expect_error({1, std::numeric_limits<float>::quiet_NaN(), 3}, {}, "NaN");
  expect_error({1, std::numeric_limits<float>::quiet_NaN(), 3}, {.top_k = 1}, "NaN");
  expect_error({1, std::numeric_limits<float>::quiet_NaN(), 3}, {.temperature = 0}, "NaN");
  expect_error({-kInfF, -kInfF}, {}, "all masked");
  expect_error({-kInfF, -kInfF}, {.top_k = 1}, "all masked");
  expect_error({}, {}, "all masked");
  std::vector<double> p(2);
  EXPECT_THROW(sampling_distribution(x, p), error);
  std::vector<std::int64_t> tok(2);
  const opts two[2] = {};
  EXPECT_THROW(sample(matrix_view<const float>(x.data(), 1, 3), tok, two), error);
  // A bad row in a batch names the row.
  std::vector<float> b{1, 2, 3, 4, std::numeric_limits<float>::quiet_NaN(), 6};
  std::vector<std::int64_t> t2(2);
  const opts one{};
  try {
    sample(matrix_view<const float>(b.data(), 2, 3), t2, {&one, 1});
    ADD_FAILURE();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
}

// ---- kernels, on every target ---------------------------------------------
class sampling_kernels_test : public testing::per_target {};

TEST_P(sampling_kernels_test, first_above_and_exp_weights) {
  const auto& k = detail::sampling_kernels_for(*GetParam());
  std::vector<float> buf(300);
  std::mt19937_64 g(3);
  std::normal_distribution<float> nd(0, 4);
  for (float& v : buf) v = nd(g);
  for (std::size_t off : {0, 1, 3}) {
    for (std::size_t n = 0; n + off <= 200; ++n) {
      const float* x = buf.data() + off;
      for (float thr : {-kInfF, -2.0f, 3.0f, 100.0f, x[n / 2]}) {
        std::size_t want = n;
        for (std::size_t i = 0; i < n; ++i) {
          if (!(x[i] <= thr)) {
            want = i;
            break;
          }
        }
        ASSERT_EQ(k.first_above(x, n, thr), want) << n << " " << off;
        // collect_above: every hit in order, stopping once cap is reached.
        for (std::size_t cap : {1, 3, 17, 1000}) {
          std::vector<std::uint32_t> idx(cap + 128);
          std::size_t end = 0;
          const std::size_t got = k.collect_above(x, n, thr, idx.data(), cap, &end);
          ASSERT_LE(end, n);
          std::vector<std::uint32_t> hits;
          for (std::size_t i = 0; i < end; ++i) {
            if (!(x[i] <= thr)) hits.push_back(static_cast<std::uint32_t>(i));
          }
          ASSERT_EQ(std::vector<std::uint32_t>(idx.begin(), idx.begin() + got), hits)
              << n << " " << off << " cap " << cap;
          if (end < n) {
            ASSERT_GE(got, cap);
          }
          ASSERT_LE(got, cap + 64);
        }
      }
      double m = -kInf;
      for (std::size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
      if (n == 0) m = 0;
      double low = kInf;
      for (std::size_t i = 0; i < n; ++i) low = std::min(low, static_cast<double>(x[i]));
      // Float lanes with s in the constants (0.37..25), float lanes with a
      // product (1e-3, 1000), double lanes (2^310, 2^960).
      for (double s : {1.0, 0.37, 25.0, 1e-3, 1000.0, 0x1p310, 0x1p960}) {
        // Every guard the row allows (2 always; 1 and 0 where its range
        // fits), each giving the same weights.
        const int tightest = n == 0 ? 2 : detail::exp_weights_guard(low, m, s);
        std::vector<double> w2;
        for (int guard = 2; guard >= tightest; --guard) {
          std::vector<double> w(n + 1, -1.0);
          const double sum = k.exp_weights(x, n, m, s, guard, w.data());
          if (guard == 2) w2 = w;
          ASSERT_EQ(w, w2) << n << " guard " << guard;
          double sw = 0;
          for (std::size_t i = 0; i < n; ++i) {
            const double a = (static_cast<double>(x[i]) - m) * s;
            const double e = std::exp(a);
            const double tol = e * detail::exp_weight_error(a);
            if (a < -104 - 1e-3) {
              ASSERT_EQ(w[i], 0.0);
            } else if (a < -104 + 1e-3) {
              ASSERT_TRUE(w[i] == 0.0 || std::abs(w[i] - e) <= tol) << a;
            } else {
              ASSERT_NEAR(w[i], e, tol) << a;
            }
            sw += w[i];
          }
          ASSERT_EQ(w[n], -1.0);             // no write past the end
          ASSERT_NEAR(sum, sw, 1e-13 * sw);  // another order of the same additions
          ASSERT_EQ(k.exp_weights(x, n, m, s, guard, nullptr), sum);
        }
      }
    }
  }
  // The bound's constant term, where |a| is small: every float in [-2, 0]
  // at a stride, against std::exp, at s = 1 and at a scaled s.
  {
    std::vector<float> x;
    for (float v = 0; v >= -2; v -= 0x1p-12f) x.push_back(v);
    std::vector<double> w(x.size());
    for (double s : {1.0, 0.8, 3.0}) {
      k.exp_weights(x.data(), x.size(), 0.0, s, 0, w.data());
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double a = static_cast<double>(x[i]) * s, e = std::exp(a);
        ASSERT_NEAR(w[i], e, e * detail::exp_weight_error(a)) << a << " s " << s;
      }
    }
  }
  // argmax: the first max, on rows with ties, masks, +inf and NaN.
  for (std::size_t n = 0; n <= 300; n += (n < 70 ? 1 : 23)) {
    for (int kind = 0; kind < 5; ++kind) {
      std::vector<float> a(n);
      for (std::size_t i = 0; i < n; ++i) {
        a[i] = static_cast<float>(static_cast<int>(g() % 7)) - 3.0f;  // many ties
        if (kind == 1 && i % 3 == 0) a[i] = -kInfF;
        if (kind == 2) a[i] = -kInfF;
      }
      if (kind == 3 && n > 0) a[(n * 5) / 7] = kInfF;
      if (kind == 4 && n > 0) a[n / 3] = std::numeric_limits<float>::quiet_NaN();
      std::size_t want = 0;
      bool want_nan = false;
      for (std::size_t i = 0; i < n; ++i) {
        want_nan = want_nan || std::isnan(a[i]);
        if (a[i] > a[want] || (std::isnan(a[want]) && !std::isnan(a[i]))) want = i;
      }
      bool nan = false;
      const std::size_t got = k.argmax(a.data(), n, &nan);
      ASSERT_EQ(nan, want_nan) << n << " kind " << kind;
      if (!want_nan) {
        ASSERT_EQ(got, want) << n << " kind " << kind;
      }
    }
  }
  // NaN is never <= a threshold; -inf entries weigh 0.
  std::vector<float> y{1, 2, std::numeric_limits<float>::quiet_NaN(),
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1,
                       1, 1, 1};
  EXPECT_EQ(k.first_above(y.data(), y.size(), 10.0f), 2u);
  std::vector<std::uint32_t> idx(200);
  std::size_t end = 0;
  ASSERT_EQ(k.collect_above(y.data(), y.size(), 1.5f, idx.data(), 64, &end), 2u);
  EXPECT_EQ(idx[0], 1u);
  EXPECT_EQ(idx[1], 2u);
  EXPECT_EQ(end, y.size());
  std::vector<float> z(40, -kInfF);
  z[17] = 0;
  EXPECT_EQ(k.exp_weights(z.data(), z.size(), 0.0, 1.0, 2, nullptr), 1.0);
}

KELVIN_INSTANTIATE_PER_TARGET(sampling_reference);
KELVIN_INSTANTIATE_PER_TARGET(sampling_kernels_test);

}  // namespace
}  // namespace kelvin
