// bfloat16 and float16 rows: converted to float in per-thread buffers,
// computed by the float path (compute_row over the active target's float
// kernels, so the contract's special cases are the float ones), and rounded
// once to the storage type on the way back.
//
// softmax, log_softmax and log_partition of a row of up to kHalfRowBuffer
// entries off the special cases take float lanes instead (float_lanes): the
// contract gives 16-bit results 2 ulp of their own type, so the argument is
// computed in float and the exponential is a float polynomial, about half the
// float path's operations (docs/performance.md).
//
// A row of up to kHalfRowBuffer entries is converted whole, computed in place
// in the buffer by row_exec<float> and converted back: one exponential per
// entry, as for float. A longer row runs compute_row over row_exec with
// widened_rows, which converts one kChunk chunk at a time in each pass (the
// chunks and the order their partial results merge in are the float row's;
// softmax computes each exponential twice, for the sum and for the output). Either way every result
// off the float lanes is the float result for the widened row, rounded once. Buffers hold at most
// kHalfRowBuffer floats per thread (float lanes: softmax's exponentials; log_softmax and
// log_partition need none).
#include "src/half.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <vector>

#include "src/checks.hpp"
#include "src/kernels/half.hpp"
#include "src/kernels/kernels.hpp"
#include "src/row.hpp"
#include "src/threads.hpp"

namespace kelvin::detail {
namespace {

std::atomic<bool> g_float_lanes{true};

// This thread's float buffer, n <= kHalfRowBuffer entries.
float* thread_buffer(std::size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Rows of H as row_exec sees them when they are longer than a chunk: each
// chunk is widened into the calling thread's buffer for the float kernels,
// and results are computed in that buffer and rounded into y.
template <class H>
struct widened_rows {
  static constexpr bool kKeepsExponentials = false;  // y holds H, not float

  const float* read(const H* x, std::size_t o, std::size_t m) const {
    float* b = thread_buffer(m);
    to_float(conv, x + o, b, m);
    return b;
  }
  // f computes into the buffer (where read left the chunk: in place).
  template <class F>
  void write(H* y, std::size_t o, std::size_t m, F&& f) const {
    float* b = thread_buffer(m);
    f(b);
    from_float(conv, b, y + o, m);
  }
  const void* prefetch(const H*, std::size_t) const { return nullptr; }

  const half_kernels& conv;
};

// The active target's kernels for rows of H.
template <class H>
struct half_context {
  half_context(const target& t, int row_threads)
      : conv(half_kernels_for(t)),
        f32(table<float>(t)),
        threads(row_threads),
        whole(table<float>(t), row_threads),
        chunked(table<float>(t), row_threads, widened_rows<H>{conv}) {}

  const half_kernels& conv;
  const kernel_table<float>& f32;
  int threads;                           // per row
  row_exec<float> whole;                 // rows of up to kHalfRowBuffer entries, in a buffer
  row_exec<H, widened_rows<H>> chunked;  // longer rows
};

// The operations that take float lanes: softmax, log_softmax and
// log_partition (smooth_max = m + T log S cancels where m < 0 and needs log S
// to more than float's precision, so it keeps the float path).
bool takes_float_lanes(family f) {
  return f == family::softmax || f == family::log_softmax || f == family::log_partition;
}

// softmax, log_softmax or log_partition of the row x (n <= kHalfRowBuffer; y
// may be x; log_partition: *y) in float lanes, read straight from storage, or
// false, having written nothing, for rows the float path must take: the
// special cases (NaN, infinite max: compute_row), and T outside [1e-30,
// 1e30] (where 1 / T or (x - m) / T in float could overflow, underflow or
// lose the true argument).
//  - float16, or bfloat16 rows whose arguments are all >= -60: exp(t_i),
//    clamped at -60 where some argument is below (float16 rounds those
//    outputs, <= e^-60, to 0 as it would the true ones; S >= 1 moves by
//    less than n e^-60), then e_i * (1 / S): every product >= e^-60 2^-18 is
//    a normal float.
//  - Other bfloat16 softmax rows (outputs down into its subnormal range,
//    -inf masks): exp(t_i) 2^64, clamped at -104 (outputs below e^-104 round
//    to 0), a normal float; the product by 2^64 / S' is the output times
//    2^64, and its 2^-64 is applied by integer operations (no multiply on a
//    subnormal: docs/performance.md).
//  - log_softmax and log_partition need only S (>= 1, clamped at -60: it
//    moves by less than n e^-60 < 2^-60 relative), not the exponentials:
//    log_partition is m / T + log S in double, log_softmax t_i - log S in
//    float (an error below 2^-13 of max(|r|, 1), the unit these results are
//    measured in: 1/8 of a float16 ulp). Rows whose spread
//    overflows a float (only bfloat16 has such values) keep the float path,
//    which halves the spread first.
// Rows longer than a chunk run chunk by chunk on k.threads threads, their
// sums merged in chunk order: the results do not depend on the thread count.
template <class H>
bool float_lanes(family f, const half_context<H>& k, const H* x, H* y, std::size_t n, double t,
                 const H* next) {
  if (n == 0 || n > kHalfRowBuffer || !(t >= 1e-30 && t <= 1e30) || !half_float_lanes()) {
    return false;
  }
  constexpr bool kBf16 = std::is_same_v<H, bfloat16>;
  const bool soft = f == family::softmax;
  constexpr std::size_t kMaxChunks = kHalfRowBuffer / kChunk;
  const std::size_t chunks = chunk_count(n);
  const auto each = [&](auto&& g) {
    if (chunks == 1) return g(std::size_t{0}, std::size_t{0}, n);
    parallel_for(chunks, k.threads, [&](std::size_t c) { g(c, c * kChunk, chunk_size(n, c)); });
  };
  std::array<row_scan, kMaxChunks> scans;
  each([&](std::size_t c, std::size_t o, std::size_t len) {
    if constexpr (kBf16) {
      scans[c] = k.conv.scan_bf16(x + o, len);
    } else {
      scans[c] = k.conv.scan_f16(x + o, len);
    }
  });
  const row_scan s = chunks == 1 ? scans[0] : merge_scans({scans.begin(), scans.begin() + chunks});
  if (s.has_nan || !std::isfinite(s.max)) return false;
  if constexpr (kBf16) {  // -inf masks: the finite entries reach down to -max at most
    const double low = std::isfinite(s.low) ? s.low : -0x1.fep127;
    if (!soft && s.max - low > 0x1.fffffep127) return false;
  }
  const double inv = 1.0 / t;
  half_args a;
  a.m = static_cast<float>(s.max);
  a.inv_t = static_cast<float>(inv);
  const double low_arg = (s.low - s.max) * inv;  // -inf with masks
  a.scaled = soft && kBf16 && low_arg < -60;
  a.floor = a.scaled ? -104.0f : -60.0f;
  a.clamp = low_arg < a.floor;
  a.fma = !a.clamp && std::fmax(std::fabs(s.max), std::fabs(s.low)) * inv <= 256;
  // Unscaled softmax rows of over 2^17 entries keep their exponentials in y,
  // 16 bits each (exp_pack: 1/4 bfloat16 ulp, 1/2 float16 ulp), where the
  // target has it: x, y, a float buffer and the next row's prefetch (10 bytes
  // an entry) would overflow a 2 MiB L2. Shorter rows keep the float buffer,
  // whose stores and loads cost fewer operations than the codes.
  const bool packed = soft && !a.scaled && n > (std::size_t{1} << 17) &&
                      (kBf16 ? k.conv.exp_pack_bf16 != nullptr : k.conv.exp_pack_f16 != nullptr);
  float* e = soft && !packed ? thread_buffer(n) : nullptr;
  std::array<double, kMaxChunks> part{};
  each([&](std::size_t c, std::size_t o, std::size_t len) {
    float* eo = e != nullptr ? e + o : nullptr;
    const H* pf = next == nullptr ? nullptr : next + o;
    if (packed) {
      if constexpr (kBf16) {
        part[c] = k.conv.exp_pack_bf16(x + o, y + o, len, a, pf);
      } else {
        part[c] = k.conv.exp_pack_f16(x + o, y + o, len, a, pf);
      }
    } else if constexpr (kBf16) {
      part[c] = k.conv.exp_sum_bf16(x + o, eo, len, a, pf);
    } else {
      part[c] = k.conv.exp_sum_f16(x + o, eo, len, a, pf);
    }
  });
  double sum = 0;
  for (std::size_t c = 0; c < chunks; ++c) sum += part[c];
  if (f == family::log_partition) {
    *y = H(static_cast<float>(s.max * inv + std::log(sum)));
    return true;
  }
  if (f == family::log_softmax) {
    const auto log_s = static_cast<float>(std::log(sum));
    each([&](std::size_t, std::size_t o, std::size_t len) {
      if constexpr (kBf16) {
        k.conv.log_out_bf16(x + o, y + o, len, a, log_s);
      } else {
        k.conv.log_out_f16(x + o, y + o, len, a, log_s);
      }
    });
    return true;
  }
  // scaled: sum is S 2^64, and 2^64 / sum = 1 / S carries the 2^64 back.
  const auto inv_s = static_cast<float>((a.scaled ? 0x1p64 : 1.0) / sum);
  each([&](std::size_t, std::size_t o, std::size_t len) {
    if (packed) {
      if constexpr (kBf16) {
        k.conv.scale_pack_bf16(y + o, len, inv_s);
      } else {
        k.conv.scale_pack_f16(y + o, len, inv_s);
      }
    } else if constexpr (kBf16) {
      k.conv.scale_bf16(e + o, y + o, len, inv_s, a.scaled);
    } else {
      k.conv.scale_f16(e + o, y + o, len, inv_s);
    }
  });
  return true;
}

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
              empty_row_policy policy, const H* next = nullptr) {
  if (takes_float_lanes(f) && float_lanes(f, k, x, y, n, t, next)) return;
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

void set_half_float_lanes(bool on) { g_float_lanes.store(on, std::memory_order_relaxed); }
bool half_float_lanes() { return g_float_lanes.load(std::memory_order_relaxed); }

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
    const H* next = r + 1 < x.rows ? x.row(r + 1) : nullptr;  // prefetched meanwhile
    half_row(f, k, x.row(r), yr, x.cols, temperature_of_row(opt, r), opt.empty_row, next);
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
    // Strided: gathered (which also makes x == y safe), computed, scattered
    // (as H for the operations that take float lanes).
    if (n <= kHalfRowBuffer && !takes_float_lanes(f)) {
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
