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

#include <stddef.h>
#include <stdint.h>

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
kelvin_status kelvin_softmax_f32(const float* x, float* y, size_t rows, size_t cols,
                                 size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_softmax_f64(const double* x, double* y, size_t rows, size_t cols,
                                 size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_log_softmax_f32(const float* x, float* y, size_t rows, size_t cols,
                                     size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_log_softmax_f64(const double* x, double* y, size_t rows, size_t cols,
                                     size_t x_row_stride, size_t y_row_stride, double temperature);
/* out[r] = log sum_j exp(x[r][j] / T), one value per row. */
kelvin_status kelvin_log_partition_f32(const float* x, float* out, size_t rows, size_t cols,
                                       size_t x_row_stride, double temperature);
kelvin_status kelvin_log_partition_f64(const double* x, double* out, size_t rows, size_t cols,
                                       size_t x_row_stride, double temperature);
/* out[r] = T * log_partition(x[r], T). */
kelvin_status kelvin_smooth_max_f32(const float* x, float* out, size_t rows, size_t cols,
                                    size_t x_row_stride, double temperature);
kelvin_status kelvin_smooth_max_f64(const double* x, double* out, size_t rows, size_t cols,
                                    size_t x_row_stride, double temperature);

/* Extended forms: `temperatures` (may be NULL) gives one temperature per row and
 * overrides `temperature`; `empty_row` is a kelvin_empty_row. */
kelvin_status kelvin_softmax_ex_f32(const float* x, float* y, size_t rows, size_t cols,
                                    size_t x_row_stride, size_t y_row_stride, double temperature,
                                    const double* temperatures, int empty_row);
kelvin_status kelvin_softmax_ex_f64(const double* x, double* y, size_t rows, size_t cols,
                                    size_t x_row_stride, size_t y_row_stride, double temperature,
                                    const double* temperatures, int empty_row);
kelvin_status kelvin_log_softmax_ex_f32(const float* x, float* y, size_t rows, size_t cols,
                                        size_t x_row_stride, size_t y_row_stride,
                                        double temperature, const double* temperatures,
                                        int empty_row);
kelvin_status kelvin_log_softmax_ex_f64(const double* x, double* y, size_t rows, size_t cols,
                                        size_t x_row_stride, size_t y_row_stride,
                                        double temperature, const double* temperatures,
                                        int empty_row);

/* bfloat16 (_bf16) and IEEE binary16 (_f16) storage: x and y hold the raw 16-bit
 * patterns. Inputs are widened exactly to float, computed as float32 and each
 * result rounded once (to nearest even) to the storage type. */
kelvin_status kelvin_softmax_bf16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                  size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_softmax_f16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                 size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_log_softmax_bf16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                      size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_log_softmax_f16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                     size_t x_row_stride, size_t y_row_stride, double temperature);
kelvin_status kelvin_log_partition_bf16(const uint16_t* x, uint16_t* out, size_t rows, size_t cols,
                                        size_t x_row_stride, double temperature);
kelvin_status kelvin_log_partition_f16(const uint16_t* x, uint16_t* out, size_t rows, size_t cols,
                                       size_t x_row_stride, double temperature);
kelvin_status kelvin_smooth_max_bf16(const uint16_t* x, uint16_t* out, size_t rows, size_t cols,
                                     size_t x_row_stride, double temperature);
kelvin_status kelvin_smooth_max_f16(const uint16_t* x, uint16_t* out, size_t rows, size_t cols,
                                    size_t x_row_stride, double temperature);
kelvin_status kelvin_softmax_ex_bf16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                     size_t x_row_stride, size_t y_row_stride, double temperature,
                                     const double* temperatures, int empty_row);
kelvin_status kelvin_softmax_ex_f16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                    size_t x_row_stride, size_t y_row_stride, double temperature,
                                    const double* temperatures, int empty_row);
kelvin_status kelvin_log_softmax_ex_bf16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                         size_t x_row_stride, size_t y_row_stride,
                                         double temperature, const double* temperatures,
                                         int empty_row);
kelvin_status kelvin_log_softmax_ex_f16(const uint16_t* x, uint16_t* y, size_t rows, size_t cols,
                                        size_t x_row_stride, size_t y_row_stride,
                                        double temperature, const double* temperatures,
                                        int empty_row);

/* Thread-local message of the last failure on this thread ("" if none). */
const char* kelvin_last_error(void);
/* Default thread count; 0 = all cores. */
void kelvin_set_num_threads(int n);
int kelvin_get_num_threads(void);
const char* kelvin_version(void);
/* e.g. "AVX3", "AVX2", "SSE4", "SCALAR". */
const char* kelvin_active_target(void);

#ifdef __cplusplus
}
#endif

#endif /* KELVIN_KELVIN_H_ */

/* The families built on the softmax core (each header includes this one;
 * its include guard keeps the nesting finite). */
#include "kelvin/loss.h"
#include "kelvin/sampling.h"
