// The sampler's driver: argument checks, the truncation chain on a candidate
// list, the final distribution of a row and the inverse-CDF draw from it.
//
// A row becomes one of three plans (row_plan): greedy (T == 0), a dense plan
// over the whole row (no truncation: weights from the exponential kernel in
// blocks, only block sums kept; the drawn block is recomputed), or a list of
// candidates (any truncation: top-k by selection, the rest by thresholds and
// quickselect on the candidates; double weights). sample() draws from the plan
// and sampling_distribution() writes it, so both see the same numbers.
#include "kelvin/sampling.hpp"

#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "src/checks.hpp"
#include "src/kernels/kernels.hpp"
#include "src/kernels/sampling.hpp"
#include "src/sampling_detail.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Entries per block of the dense plan: the drawn block is recomputed, so a
// block costs about half a microsecond on top of the pass over the row.
constexpr std::size_t kBlock = 1024;

void check_config(const sampling_options& c, const std::string& where) {
  const auto fail = [&](const char* name, const std::string& rule, double v) {
    throw error(where + "." + name + " must be " + rule + " (got " + format_double(v) + ")");
  };
  if (!(c.temperature >= 0)) fail("temperature", ">= 0 (not NaN)", c.temperature);
  if (c.top_k < 0) fail("top_k", ">= 0", static_cast<double>(c.top_k));
  if (!(c.top_p > 0 && c.top_p <= 1)) fail("top_p", "in (0, 1]", c.top_p);
  if (!(c.min_p >= 0 && c.min_p <= 1)) fail("min_p", "in [0, 1]", c.min_p);
  if (!(c.typical_p > 0 && c.typical_p <= 1)) fail("typical_p", "in (0, 1]", c.typical_p);
  if (c.min_keep < 0) fail("min_keep", ">= 0", static_cast<double>(c.min_keep));
  if (!(c.dynamic_range >= 0)) fail("dynamic_range", ">= 0 (not NaN)", c.dynamic_range);
  if (!(c.dynamic_exponent >= 0 && c.dynamic_exponent < kInf)) {
    fail("dynamic_exponent", "finite and >= 0", c.dynamic_exponent);
  }
  if (c.order != sampling_order::temperature_first && c.order != sampling_order::temperature_last) {
    fail("order", "temperature_first or temperature_last", static_cast<double>(c.order));
  }
}

// One uniform in [0, 1) with 53 bits, from Philox4x32-10: key = seed,
// counter = (step, row id). Nothing else enters, so the draw of a row never
// depends on the batch around it.
double uniform(std::uint64_t seed, std::uint64_t row_id, std::uint64_t step) {
  using philox = r123::Philox4x32;
  const philox::ctr_type ctr = {
      {static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(step >> 32),
       static_cast<std::uint32_t>(row_id), static_cast<std::uint32_t>(row_id >> 32)}};
  const philox::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const philox::ctr_type r = philox()(ctr, key);
  const std::uint64_t bits = (static_cast<std::uint64_t>(r[0]) << 32) | r[1];
  return static_cast<double>(bits >> 11) * 0x1p-53;
}

using cand = sampling_candidate;
// The order of every ranking by logit: larger first, ties to the lower index.
// A function object, not a function: std::sort and std::nth_element inline
// it (a function pointer was a call per comparison, 7% of the default chain
// at vocab 32000).
constexpr auto before = [](const cand& a, const cand& b) { return sampling_before(a, b); };

enum class row_error { none, nan_logit, all_masked };

struct row_plan {
  enum kind_t { greedy, dense, list } kind = greedy;
  std::int64_t token = 0;    // greedy
  const float* x = nullptr;  // dense: the (possibly rewritten) row
  std::size_t n = 0;
  double m = 0, s = 1;         // dense: weights exp((x - m) * s)
  int guard = 2;               // dense: the exponential's guard (exp_weights_guard)
  std::vector<double> blocks;  // dense: block sums
  std::vector<cand> cands;     // list
  std::vector<double> w;       // list: weights
  double mc = 0, t = 1;        // list: weights exp((x - mc) / t)
  double total = 0;
};

struct scratch {
  std::vector<cand> cands, tmp;
  std::vector<float> row;     // a row with +inf entries, rewritten
  std::vector<float> sample;  // select_top's strided sample
  std::vector<cand> sample_top;
  std::vector<std::uint32_t> ix;  // select_above's batch of indices
  std::vector<double> w, w_kept;
  std::vector<std::pair<double, std::int64_t>> keyed;
};

scratch& thread_scratch() {
  thread_local scratch s;
  return s;
}

class row_sampler {
 public:
  row_sampler(const sampling_options& c, scratch& sc)
      : c_(c),
        sc_(sc),
        tab_(*active_target().f32),
        k_(sampling_kernels_for(active_target())),
        min_keep_(static_cast<std::size_t>(std::max<std::int64_t>(c.min_keep, 1))) {}

  // Builds the plan of row x; returns what is wrong with the row, if anything.
  row_error plan(const float* x, std::size_t n, row_plan* p) {
    p->kind = row_plan::greedy;
    p->cands.clear();
    p->w.clear();
    p->blocks.clear();
    const double temp = c_.temperature;
    if (temp == 0) {  // greedy: one pass (the first max, NaN check on the way)
      bool nan = false;
      const std::size_t i = k_.argmax(x, n, &nan);
      if (nan) return row_error::nan_logit;
      if (n == 0 || !(x[i] > -kInfF)) return row_error::all_masked;
      p->token = static_cast<std::int64_t>(i);
      return row_error::none;
    }
    const bool topk =
        c_.top_k > 0 && static_cast<std::size_t>(std::max<std::int64_t>(c_.top_k, c_.min_keep)) < n;
    double m;
    if (topk) {
      // Selection finds NaN (never <= the threshold) and the max on its way.
      const std::size_t k = static_cast<std::size_t>(std::max<std::int64_t>(c_.top_k, c_.min_keep));
      if (!select_top(x, n, k, &p->cands)) return row_error::nan_logit;
      if (p->cands.empty()) return row_error::all_masked;
      m = p->cands[0].x;
      if (m == kInf) {
        x = rewrite_inf(x, n);
        m = 0;
        select_top(x, n, k, &p->cands);
      }
    } else {
      const row_scan s = n == 0 ? row_scan{.max = -kInf} : tab_.scan(x, n);
      if (s.has_nan) return row_error::nan_logit;
      m = s.max;
      low_ = s.low;
      if (m == -kInf) return row_error::all_masked;
      if (m == kInf) {
        x = rewrite_inf(x, n);
        m = 0;
        low_ = -kInf;
      }
    }
    p->x = x;
    p->n = n;
    const bool first = c_.order == sampling_order::temperature_first;
    const bool dynamic = c_.dynamic_range > 0;
    // temperature_first: the (dynamic) temperature from the whole row.
    const double t_first = first && dynamic ? dynamic_t(x, n, m) : temp;
    if (first && t_first == 0) return greedy(x, n, m, p);
    const bool truncates = topk || c_.typical_p < 1 || c_.top_p < 1 || c_.min_p > 0;
    if (!truncates) {
      const double t = first ? t_first : (dynamic ? dynamic_t(x, n, m) : temp);
      if (t == 0) return greedy(x, n, m, p);
      if (t < kInf) {
        dense_plan(x, n, m, t, p);
        return row_error::none;
      }
      live_list(x, n, &p->cands);  // T == +inf: uniform over the live entries
      return list_plan(t, p);
    }
    const double tau = first ? t_first : 1.0;  // the truncations' temperature
    std::vector<cand>& l = p->cands;
    double row_mass = 0;  // > 0: top-p's candidates are a subset, this the row's mass
    if (!topk) {
      if (c_.typical_p < 1) {
        live_list(x, n, &l);
      } else if (c_.top_p < 1) {
        if (!top_p_candidates(x, n, m, tau, &l, &row_mass)) {
          live_list(x, n, &l);
          row_mass = 0;
        }
      } else {
        min_p_prefilter(x, n, m, tau, &l);
      }
    }
    if (c_.typical_p < 1) typical(tau, &l);
    if (c_.top_p < 1) top_p(tau, &l, row_mass);
    if (c_.min_p > 0) min_p(tau, &l);
    double t = t_first;
    if (!first) t = dynamic ? dynamic_t_list(l) : temp;
    if (t == 0) {
      p->kind = row_plan::greedy;
      p->token = std::min_element(l.begin(), l.end(), before)->idx;
      return row_error::none;
    }
    return list_plan(t, p);
  }

  // The chain from a candidate list chosen elsewhere on (p->cands, as
  // described at sample_from_candidates): the end of plan() for T > 0
  // without dynamic temperature.
  void plan_list(bool topk, row_plan* p) {
    const double temp = c_.temperature;
    const double tau = c_.order == sampling_order::temperature_first ? temp : 1.0;
    std::vector<cand>& l = p->cands;
    if (c_.typical_p < 1) typical(tau, &l);
    if (c_.top_p < 1) top_p(tau, &l);
    if (c_.min_p > 0) min_p(tau, &l);
    (void)topk;
    list_plan(temp, p);
  }

  static float min_p_threshold(double m, double tau, double min_p) {
    return std::nextafter(static_cast<float>(m + tau * (std::log(min_p) - 1e-6)), -kInfF);
  }

 private:
  // Greedy where a dynamic temperature came out 0: the first max of the row.
  row_error greedy(const float* x, std::size_t n, double m, row_plan* p) {
    p->kind = row_plan::greedy;
    // The first entry > the float below m is the first entry equal to m.
    const float below = std::nextafter(static_cast<float>(m), -kInfF);
    p->token = static_cast<std::int64_t>(k_.first_above(x, n, below));
    return row_error::none;
  }

  // A row with +inf entries: the limit T -> anything of the contract, uniform
  // over the +inf entries (as logit 0, the rest masked).
  const float* rewrite_inf(const float* x, std::size_t n) {
    sc_.row.resize(n);
    for (std::size_t i = 0; i < n; ++i) sc_.row[i] = x[i] == kInfF ? 0.0f : -kInfF;
    return sc_.row.data();
  }

  // The k first entries in `before` order, sorted; false on a NaN. Entries
  // enter a buffer only above the k-th largest seen so far (a strict compare:
  // a later equal entry loses the tie), so the scan is the kernel's threshold
  // test almost everywhere. Long rows start from a guess: a value of a sample
  // (64 evenly spaced runs of 16) that about 4k entries should exceed. Any start t is exact as long
  // as k entries exceed it (then the k largest all do); when fewer do (ties,
  // odd data) the pass is redone from -inf.
  bool select_top(const float* x, std::size_t n, std::size_t k, std::vector<cand>* out) const {
    float start = -kInfF;
    constexpr std::size_t kSample = 1024, kRun = 16;  // 64 runs of 16: a cache line each
    if (n >= 8 * kSample && k * 64 <= n) {
      std::vector<float>& smp = sc_.sample;
      smp.resize(kSample);
      const std::size_t stride = n / (kSample / kRun);
      for (std::size_t j = 0; j < kSample / kRun; ++j) {
        std::copy_n(x + j * stride, kRun, smp.begin() + static_cast<std::ptrdiff_t>(j * kRun));
      }
      // The (q+1)-th largest of the sample by the same threshold scan (a
      // nth_element over the whole sample was 1 us of the 6.5 of the default
      // chain at vocab 32000; q is 6 there).
      const std::size_t q = std::min(kSample - 1, 4 * k * kSample / n + 1);
      std::vector<cand>& top = sc_.sample_top;
      if (!select_above(smp.data(), kSample, q + 1, -kInfF, &top)) return false;  // a NaN
      start = top.size() == q + 1 ? top[q].x : -kInfF;
    }
    if (!select_above(x, n, k, start, out)) return false;
    if (out->size() < k && start > -kInfF) return select_above(x, n, k, -kInfF, out);
    return true;
  }

  bool select_above(const float* x, std::size_t n, std::size_t k, float thr,
                    std::vector<cand>* out) const {
    std::vector<cand>& buf = *out;
    buf.clear();
    const std::size_t cap = std::max<std::size_t>(2 * k, 64);
    buf.reserve(cap + 128);
    // The kernel collects up to the free room at a time (one call per
    // batch, not per entry: a call per entry was a third of the default
    // chain at vocab 32000).
    std::vector<std::uint32_t>& ix = sc_.ix;
    ix.resize(cap + 128);
    std::size_t i = 0;
    while (i < n) {
      const std::size_t chunk = std::min<std::size_t>(n - i, std::size_t{1} << 30);
      std::size_t end = 0;
      const std::size_t got =
          k_.collect_above(x + i, chunk, thr, ix.data(), cap - buf.size(), &end);
      for (std::size_t j = 0; j < got; ++j) {
        const std::size_t at = i + ix[j];
        if (std::isnan(x[at])) return false;
        buf.push_back({x[at], static_cast<std::int64_t>(at)});
      }
      i += end;
      if (buf.size() >= cap) {
        std::nth_element(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k - 1), buf.end(),
                         before);
        buf.resize(k);
        thr = buf[k - 1].x;
      }
    }
    std::sort(buf.begin(), buf.end(), before);
    if (buf.size() > k) buf.resize(k);
    return true;
  }

  void live_list(const float* x, std::size_t n, std::vector<cand>* l) const {
    l->clear();
    for (std::size_t i = 0; i < n; ++i) {
      if (x[i] > -kInfF) l->push_back({x[i], static_cast<std::int64_t>(i)});
    }
  }

  // top-p without top-k or typical on a long row: the candidates are the
  // entries above a logit threshold read off a strided sample, kept only if
  // they hold clearly more than top_p of the row's mass (the exponential
  // kernel's sum), so that the nucleus, a prefix of the logit ranking, lies
  // inside them; and at least min_keep of them. False: use every entry.
  bool top_p_candidates(const float* x, std::size_t n, double m, double tau, std::vector<cand>* l,
                        double* row_mass) const {
    constexpr std::size_t kSample = 1024;
    if (n < 8 * kSample || !(tau < kInf)) return false;
    const double s = std::min(1.0 / tau, 0x1p960);
    const double full = k_.exp_weights(x, n, m, s, exp_weights_guard(low_, m, s), nullptr);
    std::vector<float>& smp = sc_.sample;
    smp.resize(kSample);
    const std::size_t stride = n / kSample;
    for (std::size_t j = 0; j < kSample; ++j) smp[j] = x[j * stride];
    std::sort(smp.begin(), smp.end(), std::greater<>());
    double sample_mass = 0;
    for (float v : smp) sample_mass += std::exp((static_cast<double>(v) - m) * s);
    // Where the sample reaches half way between top_p and 1, then twice as
    // deep: a margin against the sample's error.
    const double want = (c_.top_p + (1 - c_.top_p) / 2) * sample_mass;
    double cum = 0;
    std::size_t j = 0;
    while (j + 1 < kSample && cum < want) cum += std::exp((static_cast<double>(smp[j++]) - m) * s);
    const float theta = smp[std::min(kSample - 1, 2 * j + 16)];
    if (!(theta > -kInfF)) return false;
    l->clear();
    double mass = 0;
    for (std::size_t i = 0; i < n;) {
      i += k_.first_above(x + i, n - i, theta);
      if (i >= n) break;
      l->push_back({x[i], static_cast<std::int64_t>(i)});
      mass += std::exp((static_cast<double>(x[i]) - m) / tau);
      ++i;
    }
    if (l->size() < min_keep_ || !(mass >= c_.top_p * full * (1 + 1e-6))) return false;
    *row_mass = full;
    return true;
  }

  // min-p alone on a whole row: only entries that can pass (a threshold a
  // little below m + tau * log(min_p)) become candidates; min_p() decides.
  void min_p_prefilter(const float* x, std::size_t n, double m, double tau,
                       std::vector<cand>* l) const {
    l->clear();
    const float thr_f = min_p_threshold(m, tau, c_.min_p);
    for (std::size_t i = 0; i < n;) {
      i += k_.first_above(x + i, n - i, thr_f);
      if (i >= n) break;
      l->push_back({x[i], static_cast<std::int64_t>(i)});
      ++i;
    }
    if (l->size() < min_keep_) select_top(x, n, min_keep_, l);
  }

  // w_i = exp((x_i - max) / tau) over the list, into sc_.w; returns the sum.
  double list_weights(const std::vector<cand>& l, double tau, double* mc) const {
    double m = -kInf;
    for (const cand& e : l) m = std::max(m, static_cast<double>(e.x));
    sc_.w.resize(l.size());
    double s = 0;
    for (std::size_t i = 0; i < l.size(); ++i) {
      sc_.w[i] = tau == kInf ? 1.0 : std::exp((static_cast<double>(l[i].x) - m) / tau);
      s += sc_.w[i];
    }
    *mc = m;
    w_tau_ = tau;
    w_mc_ = m;
    return s;
  }

  // Keeps the shortest prefix, in the order of (key, index), whose weight
  // reaches mass * total and holds at least min_keep entries. No sort: a
  // quickselect on the keys that carries the mass of everything before the
  // current range.
  void nucleus(std::vector<cand>* l, double mass, double total) {
    auto& kv = sc_.keyed;  // (key, position in l)
    const std::size_t size = kv.size();
    const double target = mass * total;
    const auto lt = [&](const std::pair<double, std::int64_t>& a,
                        const std::pair<double, std::int64_t>& b) {
      return a.first < b.first || (a.first == b.first && (*l)[a.second].idx < (*l)[b.second].idx);
    };
    const auto wsum = [&](std::size_t a, std::size_t b) {
      double s = 0;
      for (std::size_t i = a; i < b; ++i) s += sc_.w[kv[i].second];
      return s;
    };
    std::size_t lo = 0, hi = size, keep = size;
    double acc = 0;  // the weight of kv[0, lo), which precedes kv[lo, hi)
    while (hi - lo > 16) {
      // Median of three as the pivot, moved to the end of the range.
      const std::size_t mid = lo + (hi - lo) / 2;
      if (lt(kv[mid], kv[lo])) std::swap(kv[mid], kv[lo]);
      if (lt(kv[hi - 1], kv[lo])) std::swap(kv[hi - 1], kv[lo]);
      if (lt(kv[mid], kv[hi - 1])) std::swap(kv[mid], kv[hi - 1]);
      const auto pivot = kv[hi - 1];
      const auto cut = std::partition(kv.begin() + lo, kv.begin() + (hi - 1),
                                      [&](const auto& e) { return lt(e, pivot); });
      const std::size_t c = static_cast<std::size_t>(cut - kv.begin());
      std::swap(kv[c], kv[hi - 1]);  // the pivot at c, everything before it precedes it
      const double left = wsum(lo, c);
      if (acc + left >= target) {
        hi = c;
      } else if (acc + left + sc_.w[kv[c].second] >= target) {
        keep = c + 1;
        lo = hi = c + 1;
      } else {
        acc += left + sc_.w[kv[c].second];
        lo = c + 1;
      }
    }
    if (lo < hi) {
      std::sort(kv.begin() + lo, kv.begin() + hi, lt);
      keep = hi;
      for (std::size_t i = lo; i < hi; ++i) {
        acc += sc_.w[kv[i].second];
        if (acc >= target) {
          keep = i + 1;
          break;
        }
      }
    } else if (keep == size) {
      keep = lo;
    }
    if (keep == 0) keep = std::min<std::size_t>(1, size);
    if (keep < min_keep_ && keep < size) {
      const std::size_t want = std::min(min_keep_, size);
      std::nth_element(kv.begin() + keep, kv.begin() + (want - 1), kv.end(), lt);
      keep = want;
    }
    // The kept entries and, in the same order, their weights: a later stage
    // at the same temperature and max (min-p after top-p) reuses them.
    sc_.tmp.clear();
    sc_.w_kept.clear();
    for (std::size_t i = 0; i < keep; ++i) {
      sc_.tmp.push_back((*l)[kv[i].second]);
      sc_.w_kept.push_back(sc_.w[kv[i].second]);
    }
    l->swap(sc_.tmp);
    sc_.w.swap(sc_.w_kept);
  }

  // Locally typical: rank by |-log p_i - H|, keep mass typical_p.
  void typical(double tau, std::vector<cand>* l) {
    double mc;
    const double total = list_weights(*l, tau, &mc);
    const double log_total = std::log(total);
    double h = 0;  // H = -sum p log p, with log p_i = log w_i - log S
    std::vector<double> logp(l->size());
    for (std::size_t i = 0; i < l->size(); ++i) {
      logp[i] = tau == kInf ? -log_total : (static_cast<double>((*l)[i].x) - mc) / tau - log_total;
      const double pi = sc_.w[i] / total;
      if (pi > 0) h -= pi * logp[i];
    }
    sc_.keyed.resize(l->size());
    for (std::size_t i = 0; i < l->size(); ++i) {
      const double key = sc_.w[i] > 0 ? std::fabs(-logp[i] - h) : kInf;
      sc_.keyed[i] = {key, static_cast<std::int64_t>(i)};
    }
    nucleus(l, c_.typical_p, total);
  }

  // `row_mass` > 0: l holds only the largest logits of the row (it includes
  // the max) and the mass to reach is top_p times this, the whole row's.
  void top_p(double tau, std::vector<cand>* l, double row_mass = 0) {
    double mc;
    double total = list_weights(*l, tau, &mc);
    if (row_mass > 0) total = row_mass;
    sc_.keyed.resize(l->size());
    for (std::size_t i = 0; i < l->size(); ++i) {
      sc_.keyed[i] = {-static_cast<double>((*l)[i].x), static_cast<std::int64_t>(i)};
    }
    nucleus(l, c_.top_p, total);
  }

  // p_i >= min_p * p_max  <=>  exp((x_i - max) / tau) >= min_p, in double.
  void min_p(double tau, std::vector<cand>* l) {
    double mc = -kInf;
    for (const cand& e : *l) mc = std::max(mc, static_cast<double>(e.x));
    // sc_.w already holds these weights when the stage before kept the max
    // at this temperature (same inputs, same std::exp: the same doubles).
    if (!(w_tau_ == tau && w_mc_ == mc && sc_.w.size() == l->size())) list_weights(*l, tau, &mc);
    sc_.tmp.clear();
    for (std::size_t i = 0; i < l->size(); ++i) {
      if (sc_.w[i] >= c_.min_p) sc_.tmp.push_back((*l)[i]);
    }
    if (sc_.tmp.size() < min_keep_ && sc_.tmp.size() < l->size()) {
      const std::size_t want = std::min(min_keep_, l->size());
      std::nth_element(l->begin(), l->begin() + (want - 1), l->end(), before);
      l->resize(want);
      w_tau_ = kNaN;  // l reordered: sc_.w no longer matches it
      return;
    }
    l->swap(sc_.tmp);
  }

  // llama.cpp's temp_ext from a normalised entropy h in [0, 1].
  double dynamic_from(double h) const {
    const double t = c_.temperature, r = c_.dynamic_range;
    const double lo = std::max(0.0, t - r), hi = t + r;
    if (hi == kInf) return kInf;
    return lo + (hi - lo) * std::pow(std::clamp(h, 0.0, 1.0), c_.dynamic_exponent);
  }

  // The dynamic temperature from the untempered distribution over the live
  // entries of the row: H = log S - sum w_i (x_i - m) / S.
  double dynamic_t(const float* x, std::size_t n, double m) const {
    double s = 0, sa = 0;
    std::size_t live = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!(x[i] > -kInfF)) continue;
      ++live;
      const double a = static_cast<double>(x[i]) - m;
      const double w = std::exp(a);
      s += w;
      sa += w * a;
    }
    if (live <= 1) return c_.temperature;
    return dynamic_from((std::log(s) - sa / s) / std::log(static_cast<double>(live)));
  }

  double dynamic_t_list(const std::vector<cand>& l) const {
    if (l.size() <= 1) return c_.temperature;
    double mc;
    const double s = list_weights(l, 1.0, &mc);
    double sa = 0;
    for (std::size_t i = 0; i < l.size(); ++i) sa += sc_.w[i] * (static_cast<double>(l[i].x) - mc);
    return dynamic_from((std::log(s) - sa / s) / std::log(static_cast<double>(l.size())));
  }

  void dense_plan(const float* x, std::size_t n, double m, double t, row_plan* p) const {
    p->kind = row_plan::dense;
    p->m = m;
    // Below 2^-960 every x != m has weight 0 in float, as at 2^-960.
    p->s = std::min(1.0 / t, 0x1p960);
    p->guard = exp_weights_guard(low_, m, p->s);
    const std::size_t nb = (n + kBlock - 1) / kBlock;
    p->blocks.resize(nb);
    double total = 0;
    for (std::size_t b = 0; b < nb; ++b) {
      const std::size_t o = b * kBlock;
      p->blocks[b] = k_.exp_weights(x + o, std::min(kBlock, n - o), m, p->s, p->guard, nullptr);
      total += p->blocks[b];
    }
    p->total = total;
  }

  row_error list_plan(double t, row_plan* p) const {
    p->kind = row_plan::list;
    p->t = t;
    p->total = list_weights(p->cands, t, &p->mc);
    p->w.assign(sc_.w.begin(), sc_.w.end());
    return row_error::none;
  }

  const sampling_options& c_;
  scratch& sc_;
  const kernel_table<float>& tab_;
  const sampling_kernels& k_;
  std::size_t min_keep_;
  double low_ = -kInf;  // the row's min, from the scan (dense plans only)
  // sc_.w holds exp((l_i - w_mc_) / w_tau_) for the current list l, in its
  // order, where w_tau_ is not NaN.
  mutable double w_tau_ = kNaN, w_mc_ = 0;
};

// The token of uniform u under plan p, and its log-probability under it.
std::int64_t draw(const row_plan& p, double u, double* logprob) {
  if (p.kind == row_plan::greedy) {
    *logprob = 0;
    return p.token;
  }
  const double target = u * p.total;
  if (p.kind == row_plan::list) {
    double cum = 0;
    std::size_t pick = p.w.size();
    for (std::size_t i = 0; i < p.w.size(); ++i) {
      cum += p.w[i];
      if (cum > target) {
        pick = i;
        break;
      }
    }
    // Rounding left target at the end: the last entry of positive weight.
    if (pick == p.w.size()) {
      while (pick > 0 && !(p.w[pick - 1] > 0)) --pick;
      --pick;
    }
    *logprob = p.t == kInf
                   ? -std::log(static_cast<double>(p.w.size()))
                   : (static_cast<double>(p.cands[pick].x) - p.mc) / p.t - std::log(p.total);
    return p.cands[pick].idx;
  }
  // dense: the block, then the entry within its recomputed weights. The
  // block sums and the walk add the same doubles in different orders: where
  // rounding leaves the target past a block's end, the block's last entry of
  // positive weight is drawn (a 2^-50 relative effect).
  double cum = 0;
  std::size_t b = 0;
  for (; b + 1 < p.blocks.size(); ++b) {
    if (cum + p.blocks[b] > target) break;
    cum += p.blocks[b];
  }
  bool last = false;
  if (!(p.blocks[b] > 0)) {
    while (b > 0 && !(p.blocks[b] > 0)) --b;
    last = true;
  }
  const std::size_t o = b * kBlock, len = std::min(kBlock, p.n - o);
  thread_local std::vector<double> w;
  w.resize(len);
  sampling_kernels_for(active_target()).exp_weights(p.x + o, len, p.m, p.s, p.guard, w.data());
  std::size_t pick = len;
  for (std::size_t i = 0; i < len && !last; ++i) {
    cum += w[i];
    if (cum > target) {
      pick = i;
      break;
    }
  }
  if (pick == len) {
    while (pick > 0 && !(w[pick - 1] > 0)) --pick;
    --pick;
  }
  *logprob = std::log(w[pick]) - std::log(p.total);
  return static_cast<std::int64_t>(o + pick);
}

void write_distribution(const row_plan& p, double* out, std::size_t n) {
  std::fill(out, out + n, 0.0);
  if (p.kind == row_plan::greedy) {
    out[p.token] = 1;
  } else if (p.kind == row_plan::list) {
    for (std::size_t i = 0; i < p.cands.size(); ++i) out[p.cands[i].idx] = p.w[i] / p.total;
  } else {
    std::vector<double> w(kBlock);
    const auto& k = sampling_kernels_for(active_target());
    for (std::size_t o = 0; o < n; o += kBlock) {
      const std::size_t len = std::min(kBlock, n - o);
      k.exp_weights(p.x + o, len, p.m, p.s, p.guard, w.data());
      for (std::size_t i = 0; i < len; ++i) out[o + i] = w[i] / p.total;
    }
  }
}

// log_softmax at T = 1 of entry `token`, from the core's exponential kernel
// (a double sum), for rows without NaN and with a live entry.
double raw_logprob(const float* x, std::size_t n, std::int64_t token) {
  const auto& tab = *active_target().f32;
  const row_scan s = tab.scan(x, n);
  const double xt = x[token];
  if (s.max == kInf) {
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) k += x[i] == kInfF ? 1 : 0;
    return xt == kInf ? -std::log(static_cast<double>(k)) : -kInf;
  }
  row_args a;
  a.m = s.max;
  a.u = a.inv_u = 1;
  a.guard = exp_guard_for(s.low, s.max, 1.0);
  const dd sum = tab.exp_sum(x, n, a, nullptr);
  return (xt - s.max) - std::log(sum.hi);
}

[[noreturn]] void throw_row(row_error e, std::size_t row, bool batch) {
  const std::string where = batch ? "kelvin::sample: logits row " + std::to_string(row) + " "
                                  : std::string("kelvin::sample: logits ");
  if (e == row_error::nan_logit) throw error(where + "holds a NaN");
  throw error(where + "has every entry -inf (all masked) or is empty");
}

std::string config_name(std::size_t i, std::size_t count) {
  return count == 1 ? std::string("kelvin::sample: config")
                    : "kelvin::sample: configs[" + std::to_string(i) + "]";
}

void check_configs(std::span<const sampling_options> configs, std::size_t rows) {
  if (configs.size() != 1 && configs.size() != rows) {
    throw error("kelvin::sample: configs.size() must be 1 or rows (" + std::to_string(rows) +
                "), got " + std::to_string(configs.size()));
  }
  for (std::size_t i = 0; i < configs.size(); ++i) {
    check_config(configs[i], config_name(i, configs.size()));
  }
}

}  // namespace

double sampling_uniform(std::uint64_t seed, std::uint64_t row_id, std::uint64_t step) {
  return uniform(seed, row_id, step);
}

double sampling_dense_weights(const float* x, std::size_t n, double m, double t, double* w) {
  if (n == 0) return 0;
  const auto& k = sampling_kernels_for(active_target());
  const double s = std::min(1.0 / t, 0x1p960);  // as dense_plan
  const int guard = exp_weights_guard(*std::min_element(x, x + n), m, s);
  double total = 0;
  for (std::size_t o = 0; o < n; o += kBlock) {
    total +=
        k.exp_weights(x + o, std::min(kBlock, n - o), m, s, guard, w == nullptr ? nullptr : w + o);
  }
  return total;
}

float sampling_min_p_threshold(double m, double tau, double min_p) {
  return row_sampler::min_p_threshold(m, tau, min_p);
}

std::int64_t sample_from_candidates(std::vector<sampling_candidate> cands, candidate_source source,
                                    const sampling_options& c, double u) {
  row_plan p;
  p.cands = std::move(cands);
  row_sampler(c, thread_scratch()).plan_list(source == candidate_source::top_k, &p);
  double lp;
  return draw(p, u, &lp);
}

static_assert(kSamplingBlock == kBlock);

}  // namespace detail

using detail::row_error;
using detail::row_plan;

void sample(matrix_view<const float> logits, std::span<std::int64_t> tokens,
            std::span<const sampling_options> configs, const sample_args& args) {
  const std::size_t rows = logits.rows, n = logits.cols;
  detail::check_configs(configs, rows);
  const auto size_check = [&](std::size_t got, const char* name) {
    if (got != rows) {
      throw error(std::string("kelvin::sample: ") + name + ".size() must be rows (" +
                  std::to_string(rows) + "), got " + std::to_string(got));
    }
  };
  size_check(tokens.size(), "tokens");
  detail::check_not_null(tokens.data(), tokens.size(), "tokens");
  if (!args.row_ids.empty()) size_check(args.row_ids.size(), "row_ids");
  if (!args.logprobs.empty()) size_check(args.logprobs.size(), "logprobs");
  if (!args.raw_logprobs.empty()) size_check(args.raw_logprobs.size(), "raw_logprobs");
  detail::check_matrix(logits, "logits");
  std::vector<row_error> errs(rows, row_error::none);
  const int threads = detail::plan_threads(args.threads, rows, n + detail::kGrainElements / 8);
  detail::parallel_for(rows, threads, [&](std::size_t r) {
    const sampling_options& c = configs[configs.size() == 1 ? 0 : r];
    detail::scratch& sc = detail::thread_scratch();
    thread_local row_plan plan;
    const float* x = logits.row(r);
    errs[r] = detail::row_sampler(c, sc).plan(x, n, &plan);
    if (errs[r] != row_error::none) return;
    const std::uint64_t id = args.row_ids.empty() ? r : args.row_ids[r];
    double lp;
    tokens[r] = detail::draw(plan, detail::uniform(c.seed, id, args.step), &lp);
    if (!args.logprobs.empty()) args.logprobs[r] = lp;
    if (!args.raw_logprobs.empty()) args.raw_logprobs[r] = detail::raw_logprob(x, n, tokens[r]);
  });
  for (std::size_t r = 0; r < rows; ++r) {
    if (errs[r] != row_error::none) detail::throw_row(errs[r], r, rows > 1);
  }
}

namespace {
sampled_token sample_one(std::span<const float> logits, const sampling_options& opt,
                         std::uint64_t step, std::uint64_t row_id, bool logprobs) {
  sampled_token out;
  const std::uint64_t id = row_id;
  double lp = 0, raw = 0;
  sample(matrix_view<const float>(logits.data(), 1, logits.size()), {&out.token, 1}, {&opt, 1},
         {.step = step,
          .row_ids = {&id, 1},
          .logprobs = logprobs ? std::span<double>(&lp, 1) : std::span<double>(),
          .raw_logprobs = logprobs ? std::span<double>(&raw, 1) : std::span<double>(),
          .threads = 1});
  out.logprob = lp;
  out.raw_logprob = raw;
  return out;
}
}  // namespace

std::int64_t sample(std::span<const float> logits, const sampling_options& opt, std::uint64_t step,
                    std::uint64_t row_id) {
  return sample_one(logits, opt, step, row_id, false).token;
}

sampled_token sample_with_logprobs(std::span<const float> logits, const sampling_options& opt,
                                   std::uint64_t step, std::uint64_t row_id) {
  return sample_one(logits, opt, step, row_id, true);
}

void sampling_distribution(matrix_view<const float> logits, matrix_view<double> probs,
                           std::span<const sampling_options> configs, int threads) {
  const std::size_t rows = logits.rows, n = logits.cols;
  detail::check_configs(configs, rows);
  if (probs.rows != rows || probs.cols != n) {
    throw error("kelvin::sampling_distribution: probs must be " + std::to_string(rows) + " x " +
                std::to_string(n) + ", got " + std::to_string(probs.rows) + " x " +
                std::to_string(probs.cols));
  }
  if (rows > 0 && (logits.row_stride < n || probs.row_stride < n)) {
    throw error("kelvin::sampling_distribution: row_stride must be >= cols (" + std::to_string(n) +
                ")");
  }
  std::vector<row_error> errs(rows, row_error::none);
  const int t = detail::plan_threads(threads, rows, n);
  detail::parallel_for(rows, t, [&](std::size_t r) {
    const sampling_options& c = configs[configs.size() == 1 ? 0 : r];
    row_plan plan;
    errs[r] = detail::row_sampler(c, detail::thread_scratch()).plan(logits.row(r), n, &plan);
    if (errs[r] == row_error::none) detail::write_distribution(plan, probs.row(r), n);
  });
  for (std::size_t r = 0; r < rows; ++r) {
    if (errs[r] != row_error::none) detail::throw_row(errs[r], r, rows > 1);
  }
}

void sampling_distribution(std::span<const float> logits, std::span<double> probs,
                           const sampling_options& opt) {
  if (probs.size() != logits.size()) {
    throw error("kelvin::sampling_distribution: probs.size() must be logits.size() (" +
                std::to_string(logits.size()) + "), got " + std::to_string(probs.size()));
  }
  sampling_distribution(matrix_view<const float>(logits.data(), 1, logits.size()),
                        matrix_view<double>(probs.data(), 1, probs.size()), {&opt, 1}, 1);
}

}  // namespace kelvin
