// Peer timings the shared harness (../shared/peers: float32 row softmax only) cannot make, for
// the two remaining targets of issue 3:
//   f64/...       float64 row softmax: kelvin vs libtorch (oneDNN 2.6 has no f64 data type);
//   axis/...      float32 softmax over the middle axis of outer x axis x inner: kelvin (axis_view)
//                 vs oneDNN softmax_v2 (axis = 1 of an abc tensor) and libtorch (dim = 1);
//   axis_f64/...  the same in float64: kelvin vs libtorch.
//   bf16/..., f16/...  bfloat16 / float16 row softmax (last axis): kelvin through its C ABI
//                 (kelvin_softmax_rows_bf16/_f16) vs oneDNN softmax_v2 and libtorch on 16-bit
//                 tensors, with kelvin_f32 (kelvin's float32 softmax of the same inputs, widened)
//                 as a fourth entry so that the 16-bit vs float32 speed-up is in the same table. A
//                 peer without a kernel for the type on this CPU is reported as an error, not
//                 timed.
// Entries are FAMILY/IMPL/T=t/SHAPE/threads:N so that scripts/bench-extra.sh can pair kelvin with
// its fastest peer. Peers have no temperature; they pay the x / T pass the way their users apply
// one, and at T = 1 run without it:
//   torch      torch::softmax(x / T, dim), a new tensor per call (two when T != 1)
//   torch_out  at::div_out(y, x, T) then at::_softmax_out(y, y, dim), into a preallocated y
//   onednn     eltwise_linear(1 / T) x -> y, then softmax_v2 (softmax_accurate, forward_inference)
//              y -> y; primitives built once per entry, timed as execute() + stream wait
// Each entry is checked against kelvin once before it is timed (max abs diff < 1e-5 in float32,
// 1e-12 in float64; see check_once for what a mismatch does). Threads: kelvin's options.threads;
// libtorch and oneDNN run on the same OpenMP runtime (libgomp), set by torch::set_num_threads and
// omp_set_num_threads before every entry. Bytes are read + written (2 x elements x sizeof).
//
//   build-extra/bench/peers_extra --benchmark_filter='axis/.*/64x1000x64/' --benchmark_min_time=0.1
//   build-extra/bench/peers_extra --half=bf16 --half_reps=21 > half.json
#include <benchmark/benchmark.h>
#include <omp.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kelvin/kelvin.h"
#include "kelvin/kelvin.hpp"

namespace {

// outer x axis x inner, softmax over `axis`. inner == 1 is a batch of rows (outer x axis, the
// last axis: kelvin::matrix_view, a 2-d tensor), named RxC; otherwise OxAxI (kelvin::axis_view,
// a 3-d tensor reduced over dim 1).
struct shape {
  std::size_t outer, axis, inner;
  std::size_t size() const { return outer * axis * inner; }
  bool rows() const { return inner == 1; }
  std::string name() const {
    std::string s = std::to_string(outer) + "x" + std::to_string(axis);
    return rows() ? s : s + "x" + std::to_string(inner);
  }
  std::vector<int64_t> dims() const {
    if (rows()) return {static_cast<int64_t>(outer), static_cast<int64_t>(axis)};
    return {static_cast<int64_t>(outer), static_cast<int64_t>(axis), static_cast<int64_t>(inner)};
  }
};

enum class impl { kelvin, torch, torch_out, onednn };

const char* impl_name(impl i) {
  switch (i) {
    case impl::kelvin:
      return "kelvin";
    case impl::torch:
      return "torch";
    case impl::torch_out:
      return "torch_out";
    case impl::onednn:
      return "onednn";
  }
  return "?";
}

// The logits of softmax_bench: N(0, 4), fixed seed.
template <class F>
std::vector<F> logits(std::size_t n) {
  std::mt19937 rng(42);
  std::normal_distribution<double> nd(0, 4);
  std::vector<F> x(n);
  for (auto& v : x) v = static_cast<F>(nd(rng));
  return x;
}

template <class F>
void kelvin_softmax(const shape& s, const F* x, F* y, double temp, int threads) {
  const kelvin::options opt{.temperature = temp, .threads = threads};
  if (s.rows()) {
    kelvin::softmax(kelvin::matrix_view<const F>(x, s.outer, s.axis),
                    kelvin::matrix_view<F>(y, s.outer, s.axis), opt);
  } else {
    kelvin::softmax(kelvin::axis_view<const F>::contiguous(x, s.outer, s.axis, s.inner),
                    kelvin::axis_view<F>::contiguous(y, s.outer, s.axis, s.inner), opt);
  }
}

// Inputs and kelvin's result for one (shape, T), kept while consecutive entries use them.
template <class F>
struct dataset {
  std::string key;
  std::vector<F> x, y, ref;
};

template <class F>
dataset<F>& data_for(const shape& s, double temp) {
  static dataset<F> d;
  const std::string key = s.name() + "/" + std::to_string(temp);
  if (d.key != key) {
    d.key = key;
    d.x = logits<F>(s.size());
    d.y.assign(s.size(), F(0));
    d.ref.assign(s.size(), F(0));
    kelvin_softmax(s, d.x.data(), d.ref.data(), temp, 0);
  }
  return d;
}

dnnl::engine& dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& dnnl_stream() {
  static dnnl::stream s(dnnl_engine());
  return s;
}

// libtorch as its users apply a temperature: softmax(x / T) into new tensors
// (`torch`), or x / T and the softmax into a preallocated y (`torch_out`);
// dimension 1 of a row-major (rows, cols) or (outer, axis, inner) tensor.
at::Tensor torch_softmax(const at::Tensor& x, double temp) {
  return temp == 1 ? torch::softmax(x, 1) : torch::softmax(x / temp, 1);
}

void torch_softmax_out(at::Tensor& y, const at::Tensor& x, const at::Tensor& t, double temp) {
  if (temp == 1) {
    at::_softmax_out(y, x, 1, false);
  } else {
    at::div_out(y, x, t);
    at::_softmax_out(y, y, 1, false);
  }
}

// oneDNN's softmax_v2 (softmax_accurate, forward inference, axis 1) of one
// tensor, after an eltwise_linear x / T pass where T != 1, as its users apply
// a temperature; info() names the implementations oneDNN picked.
class onednn_softmax {
 public:
  onednn_softmax() = default;
  onednn_softmax(const dnnl::memory::desc& md, void* x, void* y, double temp) : temp_(temp) {
    const dnnl::memory src(md, dnnl_engine(), x), dst(md, dnnl_engine(), y);
    const dnnl::softmax_v2_forward::primitive_desc pd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, md, md, 1},
        dnnl_engine());
    softmax_ = dnnl::softmax_v2_forward(pd);
    info_ = std::string("softmax ") + pd.impl_info_str();
    if (temp == 1) {
      softmax_args_ = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
      return;
    }
    const dnnl::eltwise_forward::primitive_desc epd(
        {dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_linear, md,
         static_cast<float>(1 / temp), 0.0f},
        dnnl_engine());
    scale_ = dnnl::eltwise_forward(epd);
    info_ += std::string(", eltwise ") + epd.impl_info_str();
    scale_args_ = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    softmax_args_ = {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}};
  }

  void run() {
    if (temp_ != 1) scale_.execute(dnnl_stream(), scale_args_);
    softmax_.execute(dnnl_stream(), softmax_args_);
    dnnl_stream().wait();
  }
  const std::string& info() const { return info_; }

 private:
  double temp_ = 1;
  dnnl::primitive softmax_, scale_;
  std::unordered_map<int, dnnl::memory> softmax_args_, scale_args_;
  std::string info_;
};

// One implementation bound to (shape, x, y, T, threads); run() is what gets timed.
template <class F>
class runner {
 public:
  runner(impl i, const shape& s, const F* x, F* y, double temp, int threads)
      : impl_(i), shape_(s), x_(x), y_(y), temp_(temp), threads_(threads) {
    if (i == impl::torch || i == impl::torch_out) {
      const auto opt = torch::TensorOptions().dtype(c10::CppTypeToScalarType<F>::value);
      X_ = torch::from_blob(const_cast<F*>(x), s.dims(), opt);
      Y_ = torch::from_blob(y, s.dims(), opt);
      T_ = torch::scalar_tensor(temp, opt);
    } else if (i == impl::onednn) {
      if constexpr (std::is_same_v<F, float>) {
        build_onednn();
      } else {
        std::fprintf(stderr, "peers_extra: oneDNN 2.6 has no f64 data type\n");
        std::abort();
      }
    }
  }

  void run() {
    switch (impl_) {
      case impl::kelvin:
        kelvin_softmax(shape_, x_, y_, temp_, threads_);
        break;
      case impl::torch:
        out_ = torch_softmax(X_, temp_);
        break;
      case impl::torch_out:
        torch_softmax_out(Y_, X_, T_, temp_);
        break;
      case impl::onednn:
        onednn_.run();
        break;
    }
  }

  // Where the last run() left its result.
  const F* result() const { return impl_ == impl::torch ? out_.template data_ptr<F>() : y_; }
  // The oneDNN implementations picked ("ref:any", "jit:avx512_core", ...); empty for the others.
  const std::string& info() const { return onednn_.info(); }

 private:
  void build_onednn() {
    using dnnl::memory;
    const auto d = shape_.dims();
    const memory::desc md(memory::dims(d.begin(), d.end()), memory::data_type::f32,
                          shape_.rows() ? memory::format_tag::ab : memory::format_tag::abc);
    onednn_ = onednn_softmax(md, const_cast<F*>(x_), y_, temp_);
  }

  impl impl_;
  shape shape_;
  const F* x_;
  F* y_;
  double temp_;
  int threads_;
  at::Tensor X_, Y_, T_, out_;
  onednn_softmax onednn_;
};

// The softmax at flat index k in long double, to tell which side of a mismatch is off.
template <class F>
long double exact_at(const shape& s, const std::vector<F>& x, double temp, std::size_t k) {
  const F* v = x.data() + k / (s.axis * s.inner) * s.axis * s.inner + k % s.inner;
  long double m = -INFINITY, sum = 0;
  for (std::size_t a = 0; a < s.axis; ++a)
    m = std::max(m, static_cast<long double>(v[a * s.inner]));
  for (std::size_t a = 0; a < s.axis; ++a) sum += std::exp((v[a * s.inner] - m) / temp);
  return std::exp((x[k] - m) / temp) / sum;
}

// Runs r once on a poisoned y and compares it with kelvin's result: max abs diff < 1e-5 in
// float32, 1e-12 in float64. Past that, the exact value at the worst element decides: kelvin off,
// or a peer grossly off (a broken call, not rounding), aborts; a peer off by rounding where kelvin
// is right (float32 sums over 32000 entries) is still timed, as its users get it, and flagged:
// the returned note goes into the entry's label. Once per entry.
template <class F>
const std::string& check_once(const std::string& name, runner<F>& r, dataset<F>& d, const shape& s,
                              double temp) {
  static std::map<std::string, std::string> notes;
  if (const auto it = notes.find(name); it != notes.end()) return it->second;
  std::string& note = notes[name];
  std::fill(d.y.begin(), d.y.end(), std::numeric_limits<F>::quiet_NaN());
  r.run();
  const F* p = r.result();
  const double tol = std::is_same_v<F, float> ? 1e-5 : 1e-12;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t k = 0; k < d.ref.size(); ++k) {
    const double diff = std::abs(static_cast<double>(p[k]) - static_cast<double>(d.ref[k]));
    if (!(diff <= worst)) {
      worst = diff;
      at = k;
      if (std::isnan(diff)) break;
    }
  }
  if (worst < tol) return note;
  const long double exact = exact_at(s, d.x, temp, at);
  const double peer_err = static_cast<double>(std::abs(p[at] - exact));
  const double kelvin_err = static_cast<double>(std::abs(d.ref[at] - exact));
  std::fprintf(stderr,
               "peers_extra: %s: max |peer - kelvin| = %.3g (>= %g) at element %zu: peer %.17g, "
               "kelvin %.17g, exact %.17Lg\n",
               name.c_str(), worst, tol, at, static_cast<double>(p[at]),
               static_cast<double>(d.ref[at]), exact);
  if (!(kelvin_err < tol && kelvin_err < peer_err && worst < 1000 * tol)) std::abort();
  char buf[160];
  std::snprintf(buf, sizeof buf, "INACCURATE: off by %.3g at element %zu (kelvin by %.3g)",
                peer_err, at, kelvin_err);
  note = buf;
  std::fprintf(stderr, "peers_extra: %s timed, flagged %s\n", name.c_str(), buf);
  return note;
}

template <class F>
void bench(benchmark::State& st, const std::string& name, shape s, impl i, double temp,
           int threads) {
  omp_set_num_threads(threads);
  torch::set_num_threads(threads);
  auto& d = data_for<F>(s, temp);
  runner<F> r(i, s, d.x.data(), d.y.data(), temp, threads);
  const std::string& note = check_once(name, r, d, s, temp);
  st.SetLabel(r.info() + (r.info().empty() || note.empty() ? "" : "; ") + note);
  for (auto _ : st) {
    r.run();
    benchmark::ClobberMemory();
  }
  const auto n = static_cast<int64_t>(s.size());
  st.SetItemsProcessed(st.iterations() * n);
  st.SetBytesProcessed(st.iterations() * 2 * n * static_cast<int64_t>(sizeof(F)));
}

std::string temp_name(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "T=%g", t);
  return buf;
}

// Shape, then T, then threads outermost so that the entries of one case run back to back.
template <class F>
void register_family(const char* family, std::span<const shape> shapes,
                     std::initializer_list<impl> impls) {
  for (const shape& s : shapes) {
    for (double t : {1.0, 0.07}) {
      for (int threads : {1, 2}) {
        for (impl i : impls) {
          const std::string name = std::string(family) + "/" + impl_name(i) + "/" + temp_name(t) +
                                   "/" + s.name() + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(
              name.c_str(), [=](benchmark::State& st) { bench<F>(st, name, s, i, t, threads); })
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
}

// ---- bfloat16 / float16 rows ----------------------------------------------------------------
// The entries hold raw 16-bit patterns (what the C ABI takes); c10::BFloat16 and c10::Half do the
// conversions (round to nearest even).

enum class half_type { bf16, f16 };

enum class half_impl { kelvin, kelvin_f32, torch, torch_out, onednn };

const char* half_impl_name(half_impl i) {
  switch (i) {
    case half_impl::kelvin:
      return "kelvin";
    case half_impl::kelvin_f32:
      return "kelvin_f32";
    case half_impl::torch:
      return "torch";
    case half_impl::torch_out:
      return "torch_out";
    case half_impl::onednn:
      return "onednn";
  }
  return "?";
}

float widen(half_type h, uint16_t v) {
  return h == half_type::bf16 ? static_cast<float>(c10::BFloat16(v, c10::BFloat16::from_bits()))
                              : static_cast<float>(c10::Half(v, c10::Half::from_bits()));
}

uint16_t narrow(half_type h, float v) {
  return h == half_type::bf16 ? c10::BFloat16(v).x : c10::Half(v).x;
}

// The logits of softmax_bench (N(0, 4), fixed seed) rounded to the 16-bit type; xf holds them
// widened (exactly) for kelvin_f32 and the exact reference; ref is kelvin's 16-bit result.
struct half_dataset {
  std::string key;
  std::vector<uint16_t> x, y, ref;
  std::vector<float> xf, yf;
};

kelvin_status kelvin_half(half_type h, const shape& s, const uint16_t* x, uint16_t* y, double temp,
                          int threads) {
  kelvin_options opt;
  kelvin_options_init(&opt, sizeof opt);
  opt.temperature = temp;
  opt.threads = threads;
  return h == half_type::bf16
             ? kelvin_softmax_rows_bf16(x, y, s.outer, s.axis, s.axis, s.axis, &opt)
             : kelvin_softmax_rows_f16(x, y, s.outer, s.axis, s.axis, s.axis, &opt);
}

half_dataset& half_data_for(half_type h, const shape& s, double temp) {
  static half_dataset d;
  const std::string key =
      std::to_string(static_cast<int>(h)) + "/" + s.name() + "/" + std::to_string(temp);
  if (d.key != key) {
    d.key = key;
    const std::vector<float> raw = logits<float>(s.size());
    d.x.resize(s.size());
    d.xf.resize(s.size());
    for (std::size_t k = 0; k < s.size(); ++k) {
      d.x[k] = narrow(h, raw[k]);
      d.xf[k] = widen(h, d.x[k]);
    }
    d.y.assign(s.size(), 0);
    d.ref.assign(s.size(), 0);
    d.yf.assign(s.size(), 0.0f);
    if (kelvin_half(h, s, d.x.data(), d.ref.data(), temp, 0) != KELVIN_OK) std::abort();
  }
  return d;
}

// One implementation bound to (type, shape, data, T, threads). The constructor throws (a
// c10::Error or dnnl::error) where the library has no kernel for the type; run() is timed.
class half_runner {
 public:
  half_runner(half_type h, half_impl i, const shape& s, half_dataset& d, double temp, int threads)
      : type_(h), impl_(i), shape_(s), d_(d), temp_(temp), threads_(threads) {
    if (i == half_impl::torch || i == half_impl::torch_out) {
      const auto opt =
          torch::TensorOptions().dtype(h == half_type::bf16 ? torch::kBFloat16 : torch::kHalf);
      X_ = torch::from_blob(d.x.data(), s.dims(), opt);
      Y_ = torch::from_blob(d.y.data(), s.dims(), opt);
      T_ = torch::scalar_tensor(temp, opt);
    } else if (i == half_impl::onednn) {
      build_onednn();
    }
  }

  void run() {
    switch (impl_) {
      case half_impl::kelvin:
        kelvin_half(type_, shape_, d_.x.data(), d_.y.data(), temp_, threads_);
        break;
      case half_impl::kelvin_f32:
        kelvin::softmax(kelvin::matrix_view<const float>(d_.xf.data(), shape_.outer, shape_.axis),
                        kelvin::matrix_view<float>(d_.yf.data(), shape_.outer, shape_.axis),
                        kelvin::options{.temperature = temp_, .threads = threads_});
        break;
      case half_impl::torch:
        out_ = torch_softmax(X_, temp_);
        break;
      case half_impl::torch_out:
        torch_softmax_out(Y_, X_, T_, temp_);
        break;
      case half_impl::onednn:
        onednn_.run();
        break;
    }
  }

  // The result of the last run() as floats (kelvin_f32's rounded to the 16-bit type first).
  float result(std::size_t k) const {
    switch (impl_) {
      case half_impl::kelvin_f32:
        return widen(type_, narrow(type_, d_.yf[k]));
      case half_impl::torch:
        return widen(type_, static_cast<const uint16_t*>(out_.data_ptr())[k]);
      default:
        return widen(type_, d_.y[k]);
    }
  }
  const std::string& info() const { return onednn_.info(); }

 private:
  void build_onednn() {
    using dnnl::memory;
    // The threads of a oneDNN primitive are the OpenMP runtime's, set by the caller.
    const auto dims = shape_.dims();
    const memory::desc md(
        memory::dims(dims.begin(), dims.end()),
        type_ == half_type::bf16 ? memory::data_type::bf16 : memory::data_type::f16,
        memory::format_tag::ab);
    onednn_ = onednn_softmax(md, d_.x.data(), d_.y.data(), temp_);
  }

  half_type type_;
  half_impl impl_;
  shape shape_;
  half_dataset& d_;
  double temp_;
  int threads_;
  at::Tensor X_, Y_, T_, out_;
  onednn_softmax onednn_;
};

// Runs r once on a poisoned y and compares it with kelvin's 16-bit result. A difference over 2 ulp
// of the type at 1 (2^-7 bfloat16, 2^-10 float16) is looked up against the exact value (long
// double, of the 16-bit inputs): a peer off where kelvin is within that bound is timed and flagged
// (at T != 1 a peer rounds x / T to the 16-bit type before its softmax, an error in the exponent
// argument of up to |x / T| 2^-9 in bfloat16, which kelvin does not make); kelvin off, or a NaN,
// aborts. Once per entry.
const std::string& half_check_once(const std::string& name, half_type h, half_runner& r,
                                   half_dataset& d, const shape& s, double temp) {
  static std::map<std::string, std::string> notes;
  if (const auto it = notes.find(name); it != notes.end()) return it->second;
  std::string& note = notes[name];
  std::fill(d.y.begin(), d.y.end(), uint16_t{0x7fff});  // a NaN in both types
  std::fill(d.yf.begin(), d.yf.end(), std::numeric_limits<float>::quiet_NaN());
  r.run();
  const double tol = h == half_type::bf16 ? 0x1p-7 : 0x1p-10;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t k = 0; k < d.ref.size(); ++k) {
    const double diff = std::abs(static_cast<double>(r.result(k)) - widen(h, d.ref[k]));
    if (!(diff <= worst)) {
      worst = diff;
      at = k;
      if (std::isnan(diff)) break;
    }
  }
  if (worst <= tol) return note;
  const long double exact = exact_at(s, d.xf, temp, at);
  const double peer_err = static_cast<double>(std::abs(r.result(at) - exact));
  const double kelvin_err = static_cast<double>(std::abs(widen(h, d.ref[at]) - exact));
  std::fprintf(stderr,
               "peers_extra: %s: max |peer - kelvin| = %.3g (> %g) at element %zu: peer %.9g, "
               "kelvin %.9g, exact %.9Lg\n",
               name.c_str(), worst, tol, at, static_cast<double>(r.result(at)),
               static_cast<double>(widen(h, d.ref[at])), exact);
  if (!(kelvin_err <= tol && kelvin_err < peer_err)) std::abort();
  char buf[160];
  std::snprintf(buf, sizeof buf, "INACCURATE: off by %.3g at element %zu (kelvin by %.3g)",
                peer_err, at, kelvin_err);
  note = buf;
  std::fprintf(stderr, "peers_extra: %s timed, flagged %s\n", name.c_str(), buf);
  return note;
}

// JSON string contents (labels and library error messages).
std::string json_escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

// The 16-bit entries, interleaved: for each type, shape, T and thread count, every implementation
// is timed in turn, `reps` times round-robin (the starting implementation rotating), each sample
// the mean of enough calls to last >= 20 ms, so that load from other processes on a shared
// machine falls on all of them alike; separate entries run one after another drift by 30% there.
// Writes Google Benchmark's JSON layout (the median and cv aggregates of each entry, errors as
// error_occurred) for bench/peers_extra_report.py.
int run_half_interleaved(int reps, const std::string& only, std::span<const shape> shapes) {
  using clock = std::chrono::steady_clock;
  const dnnl_version_t* v = dnnl::version();
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = 0;
  std::printf(
      "{\n  \"context\": {\"date\": \"interleaved\", \"kelvin\": \"%s target %s\", "
      "\"libtorch\": \"%s\", \"onednn\": \"%d.%d.%d\", \"num_cpus\": %u, "
      "\"load_avg\": [%.2f, %.2f, %.2f]},\n  \"benchmarks\": [\n",
      kelvin::version(), kelvin::active_target(), TORCH_VERSION, v->major, v->minor, v->patch,
      std::thread::hardware_concurrency(), load[0], load[1], load[2]);
  bool first = true;
  const auto emit = [&](const std::string& name, const char* agg, double value,
                        const std::string& label, const std::string& error) {
    std::printf(
        "%s    {\"run_name\": \"%s\", \"run_type\": \"aggregate\", \"aggregate_name\": "
        "\"%s\", \"repetitions\": %d, \"real_time\": %.6g, \"time_unit\": \"us\", "
        "\"label\": \"%s\"%s%s%s}",
        first ? "" : ",\n", name.c_str(), agg, reps, value, json_escape(label).c_str(),
        error.empty() ? "" : ", \"error_occurred\": true, \"error_message\": \"",
        json_escape(error).c_str(), error.empty() ? "" : "\"");
    first = false;
  };
  const half_impl impls[] = {half_impl::kelvin, half_impl::kelvin_f32, half_impl::onednn,
                             half_impl::torch, half_impl::torch_out};
  for (const auto& [family, h] : {std::pair{"bf16", half_type::bf16}, {"f16", half_type::f16}}) {
    if (!only.empty() && only != family) continue;
    for (const shape& s : shapes) {
      for (double t : {1.0, 0.07}) {
        for (int threads : {1, 2}) {
          omp_set_num_threads(threads);
          torch::set_num_threads(threads);
          auto& d = half_data_for(h, s, t);
          struct entry {
            std::string name, label;
            std::unique_ptr<half_runner> r;
            int calls = 1;
            std::vector<double> us;
          };
          std::vector<entry> es;
          for (half_impl i : impls) {
            entry e;
            e.name = std::string(family) + "/" + half_impl_name(i) + "/" + temp_name(t) + "/" +
                     s.name() + "/threads:" + std::to_string(threads);
            try {
              e.r = std::make_unique<half_runner>(h, i, s, d, t, threads);
              const std::string& note = half_check_once(e.name, h, *e.r, d, s, t);
              const std::string& info = e.r->info();
              e.label = info + (info.empty() || note.empty() ? "" : "; ") + note;
            } catch (const std::exception& ex) {
              // No kernel for this type on this CPU: reported, not timed.
              std::string msg = ex.what();
              msg = msg.substr(0, msg.find('\n'));
              std::fprintf(stderr, "peers_extra: %s not timed: %s\n", e.name.c_str(), msg.c_str());
              emit(e.name, "median", 0, "", msg);
              continue;
            }
            // Calls per sample: enough for 20 ms, from one warm-up call and one timed call.
            e.r->run();
            const auto t0 = clock::now();
            e.r->run();
            const double one = std::chrono::duration<double>(clock::now() - t0).count();
            e.calls = std::max(1, static_cast<int>(std::ceil(0.02 / std::max(one, 1e-9))));
            es.push_back(std::move(e));
          }
          for (int rep = 0; rep < reps; ++rep) {
            for (std::size_t j = 0; j < es.size(); ++j) {
              entry& e = es[(j + static_cast<std::size_t>(rep)) % es.size()];
              const auto t0 = clock::now();
              for (int c = 0; c < e.calls; ++c) e.r->run();
              const double sec = std::chrono::duration<double>(clock::now() - t0).count();
              e.us.push_back(sec * 1e6 / e.calls);
            }
          }
          for (entry& e : es) {
            std::vector<double> u = e.us;
            std::sort(u.begin(), u.end());
            const double med = u[u.size() / 2];
            double mean = 0, var = 0;
            for (double x : u) mean += x / static_cast<double>(u.size());
            for (double x : u) var += (x - mean) * (x - mean) / static_cast<double>(u.size());
            emit(e.name, "median", med, e.label, "");
            emit(e.name, "cv", std::sqrt(var) / mean, "", "");
            std::fprintf(stderr, "%s: median %.1f us\n", e.name.c_str(), med);
          }
        }
      }
    }
  }
  std::printf("\n  ]\n}\n");
  return 0;
}

const shape kRows[] = {{1, 1000, 1},    {1, 32000, 1},  {1, 262144, 1}, {4096, 1000, 1},
                       {512, 32000, 1}, {65536, 10, 1}, {16384, 128, 1}};
const shape kAxis[] = {{64, 1000, 64}, {8, 32000, 16}, {256, 128, 128}};
const shape kAxisF64[] = {{64, 1000, 64}};
const shape kHalfRows[] = {{64, 262144, 1}, {4096, 1000, 1}, {1, 32000, 1}};

}  // namespace

int main(int argc, char** argv) {
  const c10::InferenceMode inference;  // no autograd bookkeeping, as in the shared harness
  register_family<double>("f64", kRows, {impl::kelvin, impl::torch, impl::torch_out});
  register_family<float>("axis", kAxis, {impl::kelvin, impl::onednn, impl::torch, impl::torch_out});
  register_family<double>("axis_f64", kAxisF64, {impl::kelvin, impl::torch, impl::torch_out});
  // --half[=bf16|f16] [--half_reps=N]: the 16-bit entries alone, interleaved (JSON on stdout).
  std::string half;
  int half_reps = 21;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    if (arg == "--half") half = "all";
    if (arg.starts_with("--half=")) half = arg.substr(7);
    if (arg.starts_with("--half_reps=")) half_reps = std::max(1, std::atoi(arg.c_str() + 12));
  }
  if (!half.empty()) return run_half_interleaved(half_reps, half == "all" ? "" : half, kHalfRows);

  const dnnl_version_t* v = dnnl::version();
  benchmark::AddCustomContext(
      "kelvin", std::string(kelvin::version()) + " target " + kelvin::active_target());
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  benchmark::AddCustomContext("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) +
                                            "." + std::to_string(v->patch));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
