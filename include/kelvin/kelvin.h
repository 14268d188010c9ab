/* kelvin C ABI: softmax with temperature for other languages.
 *
 * Every function returns KELVIN_OK (0) on success, or a nonzero status with a
 * thread-local message in kelvin_last_error(). Strides are in elements.
 * x == y (in place) is allowed; other overlaps are rejected.
 *
 *   float x[4] = {1, 5, 7, 10}, p[4];
 *   if (kelvin_softmax_f32(x, p, 1, 4, 4, 4, 0.1) != KELVIN_OK)
 *     fprintf(stderr, "%s\n", kelvin_last_error());
 */
#ifndef KELVIN_KELVIN_H_
#define KELVIN_KELVIN_H_

#include <stddef.h> /* size_t, ptrdiff_t */
#include <stdint.h>

#include "kelvin/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kelvin_status {
  KELVIN_OK = 0,
  KELVIN_INVALID_ARGUMENT = 1,
  KELVIN_OUT_OF_MEMORY = 2,
  KELVIN_INTERNAL_ERROR = 3
} kelvin_status;

typedef enum kelvin_empty_row {
  KELVIN_EMPTY_ROW_NAN = 0, /* all -inf row: NaN outputs (default) */
  KELVIN_EMPTY_ROW_ZERO = 1 /* all -inf row: zero probabilities */
} kelvin_empty_row;

/* Softmax / log-softmax over rows of a row-major matrix. */
KELVIN_API kelvin_status kelvin_softmax_f32(const float* x, float* y, size_t rows, size_t cols,
                                            size_t x_row_stride, size_t y_row_stride,
                                            double temperature);
KELVIN_API kelvin_status kelvin_softmax_f64(const double* x, double* y, size_t rows, size_t cols,
                                            size_t x_row_stride, size_t y_row_stride,
                                            double temperature);
KELVIN_API kelvin_status kelvin_log_softmax_f32(const float* x, float* y, size_t rows, size_t cols,
                                                size_t x_row_stride, size_t y_row_stride,
                                                double temperature);
KELVIN_API kelvin_status kelvin_log_softmax_f64(const double* x, double* y, size_t rows,
                                                size_t cols, size_t x_row_stride,
                                                size_t y_row_stride, double temperature);
/* out[r] = log sum_j exp(x[r][j] / T), one value per row. */
KELVIN_API kelvin_status kelvin_log_partition_f32(const float* x, float* out, size_t rows,
                                                  size_t cols, size_t x_row_stride,
                                                  double temperature);
KELVIN_API kelvin_status kelvin_log_partition_f64(const double* x, double* out, size_t rows,
                                                  size_t cols, size_t x_row_stride,
                                                  double temperature);
/* out[r] = T * log_partition(x[r], T). */
KELVIN_API kelvin_status kelvin_smooth_max_f32(const float* x, float* out, size_t rows, size_t cols,
                                               size_t x_row_stride, double temperature);
KELVIN_API kelvin_status kelvin_smooth_max_f64(const double* x, double* out, size_t rows,
                                               size_t cols, size_t x_row_stride,
                                               double temperature);

/* Extended forms (kept for existing callers; the _rows forms with
 * kelvin_options supersede them): `temperatures` (may be NULL) gives one
 * temperature per row and overrides `temperature`; `empty_row` is a
 * kelvin_empty_row. */
KELVIN_API kelvin_status kelvin_softmax_ex_f32(const float* x, float* y, size_t rows, size_t cols,
                                               size_t x_row_stride, size_t y_row_stride,
                                               double temperature, const double* temperatures,
                                               int empty_row);
KELVIN_API kelvin_status kelvin_softmax_ex_f64(const double* x, double* y, size_t rows, size_t cols,
                                               size_t x_row_stride, size_t y_row_stride,
                                               double temperature, const double* temperatures,
                                               int empty_row);
KELVIN_API kelvin_status kelvin_log_softmax_ex_f32(const float* x, float* y, size_t rows,
                                                   size_t cols, size_t x_row_stride,
                                                   size_t y_row_stride, double temperature,
                                                   const double* temperatures, int empty_row);
KELVIN_API kelvin_status kelvin_log_softmax_ex_f64(const double* x, double* y, size_t rows,
                                                   size_t cols, size_t x_row_stride,
                                                   size_t y_row_stride, double temperature,
                                                   const double* temperatures, int empty_row);

/* bfloat16 (_bf16) and IEEE binary16 (_f16) storage: x and y hold the raw 16-bit
 * patterns. Inputs are widened exactly to float; every result is within 2 ulp of
 * the storage type of the exact result (docs/contract.md; log_softmax and
 * log_partition: ulp of max(|result|, 1)). softmax, log_softmax and
 * log_partition run in float lanes (float argument and exponential) and may
 * differ from the float32 result rounded by one step of the storage type;
 * smooth_max is the float32 result rounded once (to nearest even). */
KELVIN_API kelvin_status kelvin_softmax_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                             size_t cols, size_t x_row_stride, size_t y_row_stride,
                                             double temperature);
KELVIN_API kelvin_status kelvin_softmax_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                            size_t cols, size_t x_row_stride, size_t y_row_stride,
                                            double temperature);
KELVIN_API kelvin_status kelvin_log_softmax_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                                 size_t cols, size_t x_row_stride,
                                                 size_t y_row_stride, double temperature);
KELVIN_API kelvin_status kelvin_log_softmax_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                                size_t cols, size_t x_row_stride,
                                                size_t y_row_stride, double temperature);
KELVIN_API kelvin_status kelvin_log_partition_bf16(const uint16_t* x, uint16_t* out, size_t rows,
                                                   size_t cols, size_t x_row_stride,
                                                   double temperature);
KELVIN_API kelvin_status kelvin_log_partition_f16(const uint16_t* x, uint16_t* out, size_t rows,
                                                  size_t cols, size_t x_row_stride,
                                                  double temperature);
KELVIN_API kelvin_status kelvin_smooth_max_bf16(const uint16_t* x, uint16_t* out, size_t rows,
                                                size_t cols, size_t x_row_stride,
                                                double temperature);
KELVIN_API kelvin_status kelvin_smooth_max_f16(const uint16_t* x, uint16_t* out, size_t rows,
                                               size_t cols, size_t x_row_stride,
                                               double temperature);
KELVIN_API kelvin_status kelvin_softmax_ex_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                                size_t cols, size_t x_row_stride,
                                                size_t y_row_stride, double temperature,
                                                const double* temperatures, int empty_row);
KELVIN_API kelvin_status kelvin_softmax_ex_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                               size_t cols, size_t x_row_stride,
                                               size_t y_row_stride, double temperature,
                                               const double* temperatures, int empty_row);
KELVIN_API kelvin_status kelvin_log_softmax_ex_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                                    size_t cols, size_t x_row_stride,
                                                    size_t y_row_stride, double temperature,
                                                    const double* temperatures, int empty_row);
KELVIN_API kelvin_status kelvin_log_softmax_ex_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                                   size_t cols, size_t x_row_stride,
                                                   size_t y_row_stride, double temperature,
                                                   const double* temperatures, int empty_row);

/* Options of the _rows and _axis entry points, in a struct that later versions
 * may extend at the end: `size` is sizeof(kelvin_options) as the caller was
 * compiled, and the library reads only the fields that fit in it. Always start
 * from kelvin_options_init:
 *
 *   kelvin_options opt;
 *   kelvin_options_init(&opt, sizeof opt);
 *   opt.temperature = 0.1;
 *   kelvin_softmax_rows_f32(x, y, rows, cols, cols, cols, &opt);
 *
 * A NULL options pointer means the defaults. */
typedef struct kelvin_options {
  size_t size;                /* sizeof(kelvin_options), set by kelvin_options_init */
  double temperature;         /* T >= 0 (default 1); 0: hardmax, INFINITY: uniform */
  const double* temperatures; /* NULL, or one T per row (per slice for _axis) */
  int empty_row;              /* a kelvin_empty_row (default KELVIN_EMPTY_ROW_NAN) */
  int threads;                /* 0: the default (kelvin_set_num_threads), 1: caller only */
} kelvin_options;

/* Sets the defaults in the first `size` bytes of *opt (size: sizeof *opt). */
KELVIN_API void kelvin_options_init(kelvin_options* opt, size_t size);

/* Over rows of a matrix (strides in elements, >= cols): softmax / log_softmax
 * write rows of y; log_partition / smooth_max write out[r], one per row. */
KELVIN_API kelvin_status kelvin_softmax_rows_f32(const float* x, float* y, size_t rows, size_t cols,
                                                 size_t x_row_stride, size_t y_row_stride,
                                                 const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_rows_f64(const double* x, double* y, size_t rows,
                                                 size_t cols, size_t x_row_stride,
                                                 size_t y_row_stride, const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_rows_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                                  size_t cols, size_t x_row_stride,
                                                  size_t y_row_stride, const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_rows_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                                 size_t cols, size_t x_row_stride,
                                                 size_t y_row_stride, const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_rows_f32(const float* x, float* y, size_t rows,
                                                     size_t cols, size_t x_row_stride,
                                                     size_t y_row_stride,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_rows_f64(const double* x, double* y, size_t rows,
                                                     size_t cols, size_t x_row_stride,
                                                     size_t y_row_stride,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_rows_bf16(const uint16_t* x, uint16_t* y, size_t rows,
                                                      size_t cols, size_t x_row_stride,
                                                      size_t y_row_stride,
                                                      const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_rows_f16(const uint16_t* x, uint16_t* y, size_t rows,
                                                     size_t cols, size_t x_row_stride,
                                                     size_t y_row_stride,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_rows_f32(const float* x, float* out, size_t rows,
                                                       size_t cols, size_t x_row_stride,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_rows_f64(const double* x, double* out, size_t rows,
                                                       size_t cols, size_t x_row_stride,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_rows_bf16(const uint16_t* x, uint16_t* out,
                                                        size_t rows, size_t cols,
                                                        size_t x_row_stride,
                                                        const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_rows_f16(const uint16_t* x, uint16_t* out,
                                                       size_t rows, size_t cols,
                                                       size_t x_row_stride,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_rows_f32(const float* x, float* out, size_t rows,
                                                    size_t cols, size_t x_row_stride,
                                                    const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_rows_f64(const double* x, double* out, size_t rows,
                                                    size_t cols, size_t x_row_stride,
                                                    const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_rows_bf16(const uint16_t* x, uint16_t* out, size_t rows,
                                                     size_t cols, size_t x_row_stride,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_rows_f16(const uint16_t* x, uint16_t* out, size_t rows,
                                                    size_t cols, size_t x_row_stride,
                                                    const kelvin_options* opt);

/* Over one axis of an N-d array seen as outer x axis x inner: element (o, a, i)
 * is at x[o * s[0] + a * s[1] + i * s[2]] for x_strides s (signed, in
 * elements; NULL: C-contiguous, {axis * inner, inner, 1}). softmax /
 * log_softmax write y with the same extents; log_partition / smooth_max write
 * outer x 1 x inner values (out_strides[1] is ignored; NULL: a contiguous outer x inner array).
 * opt->temperatures, if set, holds one T per slice, slice o * inner + i. */
KELVIN_API kelvin_status kelvin_softmax_axis_f32(const float* x, float* y, size_t outer,
                                                 size_t axis, size_t inner,
                                                 const ptrdiff_t* x_strides,
                                                 const ptrdiff_t* y_strides,
                                                 const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_axis_f64(const double* x, double* y, size_t outer,
                                                 size_t axis, size_t inner,
                                                 const ptrdiff_t* x_strides,
                                                 const ptrdiff_t* y_strides,
                                                 const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_axis_bf16(const uint16_t* x, uint16_t* y, size_t outer,
                                                  size_t axis, size_t inner,
                                                  const ptrdiff_t* x_strides,
                                                  const ptrdiff_t* y_strides,
                                                  const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_softmax_axis_f16(const uint16_t* x, uint16_t* y, size_t outer,
                                                 size_t axis, size_t inner,
                                                 const ptrdiff_t* x_strides,
                                                 const ptrdiff_t* y_strides,
                                                 const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_axis_f32(const float* x, float* y, size_t outer,
                                                     size_t axis, size_t inner,
                                                     const ptrdiff_t* x_strides,
                                                     const ptrdiff_t* y_strides,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_axis_f64(const double* x, double* y, size_t outer,
                                                     size_t axis, size_t inner,
                                                     const ptrdiff_t* x_strides,
                                                     const ptrdiff_t* y_strides,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_axis_bf16(const uint16_t* x, uint16_t* y, size_t outer,
                                                      size_t axis, size_t inner,
                                                      const ptrdiff_t* x_strides,
                                                      const ptrdiff_t* y_strides,
                                                      const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_softmax_axis_f16(const uint16_t* x, uint16_t* y, size_t outer,
                                                     size_t axis, size_t inner,
                                                     const ptrdiff_t* x_strides,
                                                     const ptrdiff_t* y_strides,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_axis_f32(const float* x, float* out, size_t outer,
                                                       size_t axis, size_t inner,
                                                       const ptrdiff_t* x_strides,
                                                       const ptrdiff_t* out_strides,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_axis_f64(const double* x, double* out, size_t outer,
                                                       size_t axis, size_t inner,
                                                       const ptrdiff_t* x_strides,
                                                       const ptrdiff_t* out_strides,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_axis_bf16(const uint16_t* x, uint16_t* out,
                                                        size_t outer, size_t axis, size_t inner,
                                                        const ptrdiff_t* x_strides,
                                                        const ptrdiff_t* out_strides,
                                                        const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_log_partition_axis_f16(const uint16_t* x, uint16_t* out,
                                                       size_t outer, size_t axis, size_t inner,
                                                       const ptrdiff_t* x_strides,
                                                       const ptrdiff_t* out_strides,
                                                       const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_axis_f32(const float* x, float* out, size_t outer,
                                                    size_t axis, size_t inner,
                                                    const ptrdiff_t* x_strides,
                                                    const ptrdiff_t* out_strides,
                                                    const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_axis_f64(const double* x, double* out, size_t outer,
                                                    size_t axis, size_t inner,
                                                    const ptrdiff_t* x_strides,
                                                    const ptrdiff_t* out_strides,
                                                    const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_axis_bf16(const uint16_t* x, uint16_t* out, size_t outer,
                                                     size_t axis, size_t inner,
                                                     const ptrdiff_t* x_strides,
                                                     const ptrdiff_t* out_strides,
                                                     const kelvin_options* opt);
KELVIN_API kelvin_status kelvin_smooth_max_axis_f16(const uint16_t* x, uint16_t* out, size_t outer,
                                                    size_t axis, size_t inner,
                                                    const ptrdiff_t* x_strides,
                                                    const ptrdiff_t* out_strides,
                                                    const kelvin_options* opt);

/* Thread-local message of the last failure on this thread ("" if none). */
KELVIN_API const char* kelvin_last_error(void);
/* Default thread count; 0 = all cores. */
KELVIN_API void kelvin_set_num_threads(int n);
KELVIN_API int kelvin_get_num_threads(void);
KELVIN_API const char* kelvin_version(void);
/* e.g. "AVX3", "AVX2", "SSE4", "SCALAR". */
KELVIN_API const char* kelvin_active_target(void);
/* Selects a supported target by name (case-insensitive); "" or "BEST": the best.
 * Not thread-safe with concurrent kelvin calls: set it up front. */
KELVIN_API kelvin_status kelvin_set_target(const char* name);
/* The compiled (or this CPU's supported) targets, best first: writes up to
 * `capacity` names (static strings) to names (may be NULL) and returns how
 * many there are. */
KELVIN_API size_t kelvin_compiled_targets(const char** names, size_t capacity);
KELVIN_API size_t kelvin_supported_targets(const char** names, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* KELVIN_KELVIN_H_ */

/* The families built on the softmax core, one C header each (each includes
 * this one; its include guard keeps the nesting finite). */
#include "kelvin/calibration.h"
#include "kelvin/loss.h"
#include "kelvin/sampling.h"
