// bfloat16 and float16 rows: converted to float in per-thread buffers,
// computed by the float path (compute_row over the active target's float
// kernels, so the contract's special cases are the float ones), and rounded
// once to the storage type on the way back.
//
// A row of up to kHalfRowBuffer entries is converted whole, computed in place
// in the buffer by row_exec<float> and converted back: one exponential per
// entry, as for float. A longer row runs compute_row over half_exec, which
// converts one kChunk chunk at a time in each pass; its chunks and the order
// their partial results merge in are row_exec's. Either way every result is
// the float result for the widened row, rounded once. Buffers hold at most
// kHalfRowBuffer floats per thread.
#include "src/half.hpp"

#include <vector>

#include "src/checks.hpp"
#include "src/kernels/half.hpp"
#include "src/kernels/kernels.hpp"
#include "src/row.hpp"
#include "src/threads.hpp"

namespace kelvin::detail {
namespace {

// This thread's float buffer, n <= kHalfRowBuffer entries.
float* thread_buffer(std::size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// compute_row's executor for rows of H longer than a chunk: each kernel call
// runs on one chunk converted into the calling thread's buffer.
template <class H>
class half_exec {
 public:
  half_exec(const kernel_table<float>& k, const half_kernels& conv, int threads)
      : k_(k), conv_(conv), threads_(threads) {}

  row_scan scan(const H* x, std::size_t n) const {
    std::vector<row_scan> part(chunk_count(n));
    parallel_for(part.size(), threads_, [&](std::size_t c) {
      const std::size_t m = chunk_size(n, c);
      part[c] = k_.scan(load(x + c * kChunk, m), m);
    });
    return merge_scans(part);
  }

  dd exp_sum(const H* x, std::size_t n, const row_args& a) const {
    std::vector<dd> part(chunk_count(n));
    parallel_for(part.size(), threads_, [&](std::size_t c) {
      const std::size_t m = chunk_size(n, c);
      part[c] = k_.exp_sum(load(x + c * kChunk, m), m, a, nullptr);
    });
    return merge_sums(part);
  }

  // The float softmax (exponential rounded to float, then scaled), chunk by
  // chunk after the sum.
  void softmax(const H* x, H* y, std::size_t n, const row_args& a, double) const {
    const dd inv = reciprocal(exp_sum(x, n, a));
    each_chunk(n, [&](std::size_t o, std::size_t m) {
      float* b = load(x + o, m);
      k_.exp_sum(b, m, a, b);
      k_.scale(b, m, inv, false);
      from_float(conv_, b, y + o, m);
    });
  }

  // row_exec<float>::two_pass on the widened chunks, with the same results:
  // the second pass recomputes each chunk's exponentials (relative to its own
  // max, as the first pass summed them) instead of reading them back.
  bool two_pass(family f, const H* x, H* y, std::size_t n, double t) const {
    std::vector<chunk_part> p(chunk_count(n));
    parallel_for(p.size(), threads_, [&](std::size_t c) {
      const std::size_t len = chunk_size(n, c);
      const float* b = load(x + c * kChunk, len);
      p[c].s = k_.scan(b, len);
      if (p[c].s.has_nan || !std::isfinite(p[c].s.max)) return;
      p[c].sum = k_.exp_sum(b, len, chunk_args(p[c].s, t), nullptr);
    });
    double m, sum;
    std::vector<double> w;
    if (!merge_parts(p, t, &m, &w, &sum)) return false;
    if (f == family::softmax) {
      each_chunk(n, [&](std::size_t o, std::size_t len) {
        float* b = load(x + o, len);
        k_.exp_sum(b, len, chunk_args(p[o / kChunk].s, t), b);
        k_.scale(b, len, {w[o / kChunk] / sum, 0.0}, false);
        from_float(conv_, b, y + o, len);
      });
      return true;
    }
    two_pass_logs(*this, f, x, y, n, t, m, sum);
    return true;
  }

  double log(double s) const {
    double out;
    k_.log(&s, &out, 1);
    return out;
  }

  void log_softmax_out(const H* x, H* y, std::size_t n, const row_args& a, dd log_sum) const {
    each_chunk(n, [&](std::size_t o, std::size_t m) {
      float* b = load(x + o, m);
      k_.log_softmax_out(b, b, m, a, log_sum);
      from_float(conv_, b, y + o, m);
    });
  }

 private:
  float* load(const H* x, std::size_t m) const {
    float* b = thread_buffer(m);
    to_float(conv_, x, b, m);
    return b;
  }
  template <class F>
  void each_chunk(std::size_t n, F&& f) const {
    parallel_for(chunk_count(n), threads_, [&](std::size_t c) { f(c * kChunk, chunk_size(n, c)); });
  }

  const kernel_table<float>& k_;
  const half_kernels& conv_;
  int threads_;
};

// The active target's kernels for rows of H.
template <class H>
struct half_context {
  half_context(const target& t, int threads)
      : conv(half_kernels_for(t)),
        whole(table<float>(t), threads),
        chunked(table<float>(t), conv, threads) {}

  const half_kernels& conv;
  row_exec<float> whole;  // rows of up to kHalfRowBuffer entries, in a buffer
  half_exec<H> chunked;   // longer rows
};

// Computes a row of float values in b (n <= kHalfRowBuffer) in place, or its
// reduction into *y, and rounds the results into y[a * ys].
template <class H>
void compute_buffer(family f, const half_context<H>& k, float* b, H* y, std::ptrdiff_t ys,
                    std::size_t n, double t, empty_row_policy policy) {
  if (is_reduction(f)) {
    float r = 0;
    compute_row(f, k.whole, b, &r, n, t, policy);
    *y = H(r);
    return;
  }
  compute_row(f, k.whole, b, b, n, t, policy);
  if (ys == 1) {
    from_float(k.conv, b, y, n);
  } else {
    for (std::size_t a = 0; a < n; ++a) y[static_cast<std::ptrdiff_t>(a) * ys] = H(b[a]);
  }
}

// One contiguous row (y: the row, or the one reduced value).
template <class H>
void half_row(family f, const half_context<H>& k, const H* x, H* y, std::size_t n, double t,
              empty_row_policy policy) {
  if (n > kHalfRowBuffer) {
    compute_row(f, k.chunked, x, y, n, t, policy);
    return;
  }
  float* b = thread_buffer(n);
  to_float(k.conv, x, b, n);
  compute_buffer(f, k, b, y, 1, n, t, policy);
}

template <class H>
H* at(const axis_view<H>& v, std::size_t o, std::size_t i) {
  return v.data + static_cast<std::ptrdiff_t>(o) * v.outer_stride +
         static_cast<std::ptrdiff_t>(i) * v.inner_stride;
}

}  // namespace

template <half_storage H>
void half_rows(family f, matrix_view<const H> x, H* y, std::size_t y_stride, const options& opt) {
  // As run_rows (src/softmax.cpp): one thread per row, or for fewer rows than
  // threads, threads within long rows.
  const int threads = plan_threads(opt.threads, x.rows, x.cols);
  const int inner =
      threads > 1 || x.cols <= kChunk ? 1 : plan_threads(opt.threads, chunk_count(x.cols), kChunk);
  const half_context<H> k(active_target(), inner);
  parallel_for(x.rows, threads, [&](std::size_t r) {
    H* yr = is_reduction(f) ? y + r : y + r * y_stride;
    half_row(f, k, x.row(r), yr, x.cols, temperature_of_row(opt, r), opt.empty_row);
  });
}

template <half_storage H>
void half_axis(family f, axis_view<const H> x, axis_view<H> y, const options& opt) {
  const std::size_t n = x.axis;
  const bool reduce = is_reduction(f);
  const half_context<H> k(active_target(), 1);
  const std::size_t slices = x.outer * x.inner;
  const int threads = plan_threads(opt.threads, slices, n);
  parallel_for(slices, threads, [&](std::size_t s) {
    const H* xs = at(x, s / x.inner, s % x.inner);
    H* ys = at(y, s / x.inner, s % x.inner);
    const double t = temperature_of_row(opt, s);
    if (x.axis_stride == 1 && (reduce || y.axis_stride == 1)) {
      half_row(f, k, xs, ys, n, t, opt.empty_row);
      return;
    }
    // Strided: gathered (which also makes x == y safe), computed, scattered.
    if (n <= kHalfRowBuffer) {
      float* b = thread_buffer(n);
      for (std::size_t a = 0; a < n; ++a) {
        b[a] = static_cast<float>(xs[static_cast<std::ptrdiff_t>(a) * x.axis_stride]);
      }
      compute_buffer(f, k, b, ys, y.axis_stride, n, t, opt.empty_row);
      return;
    }
    // A long strided slice: gathered as H (n entries), then run as a row.
    thread_local std::vector<H> g;
    g.resize(n);
    for (std::size_t a = 0; a < n; ++a) g[a] = xs[static_cast<std::ptrdiff_t>(a) * x.axis_stride];
    half_row(f, k, g.data(), reduce ? ys : g.data(), n, t, opt.empty_row);
    if (reduce) return;
    for (std::size_t a = 0; a < n; ++a) ys[static_cast<std::ptrdiff_t>(a) * y.axis_stride] = g[a];
  });
}

template void half_rows(family, matrix_view<const bfloat16>, bfloat16*, std::size_t,
                        const options&);
template void half_rows(family, matrix_view<const float16>, float16*, std::size_t, const options&);
template void half_axis(family, axis_view<const bfloat16>, axis_view<bfloat16>, const options&);
template void half_axis(family, axis_view<const float16>, axis_view<float16>, const options&);

}  // namespace kelvin::detail
