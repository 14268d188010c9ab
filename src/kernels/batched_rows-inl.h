// Many float rows per call, per Highway target (kernel_table::rows): rows
// blocked so that the per-row steps (max and sum reductions, 1 / S, log S)
// run across rows, and rows of at most kShortRow entries transposed through
// the axis kernel. Also the batched log (kernel_table::log).
#if defined(KELVIN_KERNELS_BATCHED_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef KELVIN_KERNELS_BATCHED_ROWS_INL_H_
#undef KELVIN_KERNELS_BATCHED_ROWS_INL_H_
#else
#define KELVIN_KERNELS_BATCHED_ROWS_INL_H_
#endif

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>

#include "hwy/contrib/math/math-inl.h"
#include "src/kernels/axis-inl.h"
#include "src/kernels/exp-inl.h"
#include "src/kernels/kernels.hpp"
#include "src/kernels/lanes-inl.h"
#include "src/kernels/row_passes-inl.h"

HWY_BEFORE_NAMESPACE();
namespace kelvin {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- many rows per call ---------------------------------------------------------
void LogF64(const double* in, double* out, size_t n) {
  const DD d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Log(d, hn::LoadU(d, in + i)), d, out + i);
  if (i == n) return;
  HWY_ALIGN double buf[hn::MaxLanes(DD())];
  for (size_t k = 0; k < N; ++k) buf[k] = i + k < n ? in[i + k] : 1.0;
  hn::Store(hn::Log(d, hn::Load(d, buf)), d, buf);
  for (size_t k = 0; i + k < n; ++k) out[i + k] = buf[k];
}

// Up to kBatch rows at a time, each pass over all of them before the next, so
// that the rows' reductions overlap and 1 / S and log S are vector operations;
// fewer when the rows are long (a batch's inputs stay within kBatchEntries,
// 16 KiB, so that they are still in L1 at the second pass; eight rows of
// 32000 entries thrashed L2: 512x32000 was 7-9% slower). While the exponential
// pass runs over row i of a batch it prefetches row i of the next batch, whose
// scan would otherwise wait on memory (10-16% on 4096x1000, 512x32000 and
// 16384x128).
constexpr size_t kBatch = 8;
constexpr size_t kBatchEntries = 4096;

size_t RowsBlockedF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
                      size_t n, double t) {
  using detail::family;
  row_args a;
  a.inv_u = 1.0 / t;
  a.u = t;
  size_t r = 0;
  while (r < rows) {
    HWY_ALIGN double m[kBatch], s[kBatch], low[kBatch];
    std::uint8_t guard[kBatch];
    size_t nb = 0;
    bool stop = false;
    const size_t batch = n == 0 ? kBatch : std::clamp<size_t>(kBatchEntries / n, 1, kBatch);
    for (; nb < batch && r + nb < rows; ++nb) {
      const row_scan sc = Scan(x + (r + nb) * xs, n);
      if (sc.has_nan || !std::isfinite(sc.max)) {
        stop = true;
        break;
      }
      m[nb] = sc.max;
      guard[nb] = detail::exp_guard_for(sc.low, sc.max, a.inv_u);
      low[nb] = sc.low;
    }
    for (size_t i = 0; i < nb; ++i) {
      a.m = m[i];
      a.guard = guard[i];
      float* store = f == family::softmax ? y + (r + i) * ys : nullptr;
      a.prefetch = r + nb + i < rows ? x + (r + nb + i) * xs : nullptr;
      s[i] = ExpSumF32(x + (r + i) * xs, n, a, store).hi;
    }
    if (f == family::softmax) {
      for (size_t i = 0; i < nb; ++i) {
        ScaleF32(y + (r + i) * ys, n, {1.0 / s[i], 0.0},
                 detail::scale_is_normal(low[i], m[i], a.inv_u, s[i]));
      }
    } else {
      LogF64(s, s, nb);
      for (size_t i = 0; i < nb; ++i) {
        if (f == family::log_softmax) {
          a.m = m[i];
          LogSoftmaxOutF32(x + (r + i) * xs, y + (r + i) * ys, n, a, {s[i], 0.0});
        } else {
          y[(r + i) * ys] = static_cast<float>(detail::reduction_result(f, m[i], t, {s[i], 0.0}));
        }
      }
    }
    r += nb;
    if (stop) return r;
  }
  return rows;
}

#if !HWY_HAVE_SCALABLE
// Rows of at most kShortRow entries: kShortBlock rows at a time are transposed
// into a local buffer (entry a of row j at a * kShortBlock + j) and run by the
// axis kernel, whose lanes are rows.
using detail::kShortRow;
constexpr size_t kShortBlock = detail::kShortGroup;

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// Transposes a 16 x 16 float block held as 16 row vectors, in registers.
HWY_INLINE void Transpose16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {  // 32-bit interleave of row pairs
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 64-bit interleave
    for (int k = 0; k < 2; ++k) {
      const __m512d a = _mm512_castps_pd(t[i + k]), b = _mm512_castps_pd(t[i + k + 2]);
      v[i + 2 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      v[i + 2 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  }
  for (int i = 0; i < 16; i += 8) {  // 128-bit blocks, rows i..i+7
    for (int k = 0; k < 4; ++k) {
      t[i + k] = _mm512_shuffle_f32x4(v[i + k], v[i + k + 4], 0x88);
      t[i + k + 4] = _mm512_shuffle_f32x4(v[i + k], v[i + k + 4], 0xdd);
    }
  }
  for (int k = 0; k < 8; ++k) {
    v[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
    v[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
  }
}

// 16 rows of n <= 16 entries at x (row stride xs) into columns: entry a of
// row j to col[a * cs + j].
HWY_INLINE void RowsToColumns16(const float* x, size_t xs, size_t n, float* col, size_t cs) {
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  __m512 v[16];
  for (size_t j = 0; j < 16; ++j) v[j] = _mm512_maskz_loadu_ps(m, x + j * xs);
  Transpose16(v);
  for (size_t a = 0; a < n; ++a) _mm512_storeu_ps(col + a * cs, v[a]);
}

// The inverse: col[a * cs + j] to entry a of row j at y (row stride ys).
HWY_INLINE void ColumnsToRows16(const float* col, size_t cs, size_t n, float* y, size_t ys) {
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  __m512 v[16];
  for (size_t a = 0; a < 16; ++a)
    v[a] = a < n ? _mm512_loadu_ps(col + a * cs) : _mm512_setzero_ps();
  Transpose16(v);
  for (size_t j = 0; j < 16; ++j) _mm512_mask_storeu_ps(y + j * ys, m, v[j]);
}
#undef KELVIN_TRANSPOSE16
#define KELVIN_TRANSPOSE16 1
#else
#undef KELVIN_TRANSPOSE16
#define KELVIN_TRANSPOSE16 0
#endif

size_t RowsShortF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
                    size_t n, double t) {
  using detail::family;
  const size_t N = hn::Lanes(DD());
  HWY_ALIGN float in[kShortRow * kShortBlock];
  HWY_ALIGN float out[kShortRow * kShortBlock];
  const bool reduce = f == family::log_partition || f == family::smooth_max;
  size_t r = 0;
  while (r < rows) {
    const size_t count = std::min(kShortBlock, rows - r);
    const size_t full = count / N * N;  // the rest goes row by row
    size_t j = 0;
#if KELVIN_TRANSPOSE16
    for (; j + 16 <= full; j += 16) RowsToColumns16(x + (r + j) * xs, xs, n, in + j, kShortBlock);
#endif
    for (; j < full; ++j) {
      const float* xr = x + (r + j) * xs;
      for (size_t a = 0; a < n; ++a) in[a * kShortBlock + j] = xr[a];
    }
    const size_t done =
        full == 0 ? 0 : AxisBlockF32(f, in, kShortBlock, out, kShortBlock, n, full, t);
    j = 0;
    if (reduce) {
      for (; j < done; ++j) y[(r + j) * ys] = out[j];
    }
#if KELVIN_TRANSPOSE16
    for (; j + 16 <= done; j += 16) ColumnsToRows16(out + j, kShortBlock, n, y + (r + j) * ys, ys);
#endif
    for (; j < done; ++j) {
      float* yr = y + (r + j) * ys;
      for (size_t a = 0; a < n; ++a) yr[a] = out[a * kShortBlock + j];
    }
    r += done;
    if (done < count) {
      // a vector of rows holding a NaN or an infinite max, or the tail
      const size_t m = std::min(done < full ? N : count - done, rows - r);
      const size_t k = RowsBlockedF32(f, x + r * xs, xs, y + r * ys, ys, m, n, t);
      r += k;
      if (k < m) return r;
    }
  }
  return rows;
}

#endif  // !HWY_HAVE_SCALABLE

size_t RowsF32(detail::family f, const float* x, size_t xs, float* y, size_t ys, size_t rows,
               size_t n, double t) {
#if !HWY_HAVE_SCALABLE
  if (n <= detail::kShortRow && hn::Lanes(DD()) > 1) {
    return RowsShortF32(f, x, xs, y, ys, rows, n, t);
  }
#endif
  return RowsBlockedF32(f, x, xs, y, ys, rows, n, t);
}

}  // namespace HWY_NAMESPACE
}  // namespace kelvin
HWY_AFTER_NAMESPACE();

#endif  // KELVIN_KERNELS_BATCHED_ROWS_INL_H_
