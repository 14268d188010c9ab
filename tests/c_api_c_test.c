/* The C ABI from C (compiled as C11, linked to the shared library): every
 * kelvin_options entry point (_rows, _axis; four operations, four storage
 * types) against a long-double reference, the plain and _ex forms as
 * wrappers of _rows, errors as statuses, and target selection. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kelvin/kelvin.h"

static int g_failures = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                     \
    }                                                                   \
  } while (0)

/* ---- storage conversions (round to nearest even) ---------------------------- */
static double id_f32(float v) { return v; }
static double id_f64(double v) { return v; }
static float put_f32(double v) { return (float)v; }
static double put_f64(double v) { return v; }

static double bf16_value(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static uint16_t bf16_of(double v) {
  float f = (float)v;
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}
static double f16_value(uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0x1f) return m ? NAN : s * INFINITY;
  if (e == 0) return s * ldexp(m, -24);
  return s * ldexp(1024 + m, e - 25);
}
static uint16_t f16_of(double v) { /* inputs here are small normal values */
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  const double a = fabs(v);
  if (a == 0) return sign;
  int e;
  frexp(a, &e);                           /* a = f * 2^e, f in [0.5, 1) */
  double q = nearbyint(ldexp(a, 11 - e)); /* 11 significant bits */
  if (q >= 2048) {
    q /= 2;
    ++e;
  }
  return (uint16_t)(sign | ((e + 14) << 10) | ((int)q - 1024));
}

/* ---- reference -------------------------------------------------------------- */
enum op { SOFTMAX, LOG_SOFTMAX, LOG_PARTITION, SMOOTH_MAX };

/* Reference of one finite row at temperature t >= 0 (t == 0: the limits). */
static void reference(enum op f, const double* x, size_t n, double t, long double* y) {
  long double m = -INFINITY, s = 0;
  size_t k = 0, i;
  for (i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (i = 0; i < n; ++i) k += x[i] == m;
  if (t == 0) {
    for (i = 0; i < n; ++i) {
      const int on = x[i] == m;
      if (f == SOFTMAX) y[i] = on ? 1.0L / k : 0;
      if (f == LOG_SOFTMAX) y[i] = on ? -logl((long double)k) : -INFINITY;
    }
    if (f == LOG_PARTITION) y[0] = m > 0 ? INFINITY : m < 0 ? -INFINITY : logl((long double)k);
    if (f == SMOOTH_MAX) y[0] = m;
    return;
  }
  for (i = 0; i < n; ++i) s += expl((x[i] - m) / t);
  for (i = 0; i < n; ++i) {
    if (f == SOFTMAX) y[i] = expl((x[i] - m) / t) / s;
    if (f == LOG_SOFTMAX) y[i] = (x[i] - m) / t - logl(s);
  }
  if (f == LOG_PARTITION) y[0] = m / t + logl(s);
  if (f == SMOOTH_MAX) y[0] = m + t * logl(s);
}

/* |got - want| within `ulps` units of the storage type's precision. */
static int close_to(double got, long double want, int bits) {
  if (isinf(want) || isinf(got)) return got == (double)want;
  return fabsl(got - want) <= ldexpl(fabsl(want) > 1 ? fabsl(want) : 1, -bits) * 2;
}

/* ---- one storage type ------------------------------------------------------- */
enum { ROWS = 3, COLS = 5, OUTER = 2, INNER = 3 };
static const double kRows[ROWS][COLS] = {{1, 5, 7, 10, 2}, {0.5, -3, 4, 4, 1}, {-2, -1, 0, 1, 2}};
static const double kTemps[ROWS] = {0.5, 0, 2};
static const double kSlice[OUTER * INNER] = {0.25, 1, 0, 3, 0.5, 1e3};

/* TYPE: C storage type; SUF: entry point suffix; GET / PUT: conversions;
 * BITS: precision checked (2 units of 2^-BITS relative). */
#define TEST_TYPE(TYPE, SUF, GET, PUT, BITS)                                                 \
  static void test_##SUF(void) {                                                             \
    TYPE x[ROWS * COLS], y[ROWS * COLS], y2[ROWS * COLS], out[ROWS], out2[ROWS];             \
    double xd[ROWS][COLS];                                                                   \
    long double want[COLS];                                                                  \
    kelvin_options opt;                                                                      \
    size_t r, c, o, i;                                                                       \
    for (r = 0; r < ROWS; ++r)                                                               \
      for (c = 0; c < COLS; ++c) {                                                           \
        x[r * COLS + c] = PUT(kRows[r][c]);                                                  \
        xd[r][c] = GET(x[r * COLS + c]);                                                     \
      }                                                                                      \
    kelvin_options_init(&opt, sizeof opt);                                                   \
    opt.temperatures = kTemps;                                                               \
    /* rows, per-row temperatures */                                                         \
    CHECK(kelvin_softmax_rows_##SUF(x, y, ROWS, COLS, COLS, COLS, &opt) == KELVIN_OK);       \
    for (r = 0; r < ROWS; ++r) {                                                             \
      reference(SOFTMAX, xd[r], COLS, kTemps[r], want);                                      \
      for (c = 0; c < COLS; ++c) CHECK(close_to(GET(y[r * COLS + c]), want[c], BITS));       \
    }                                                                                        \
    CHECK(kelvin_log_softmax_rows_##SUF(x, y, ROWS, COLS, COLS, COLS, &opt) == KELVIN_OK);   \
    for (r = 0; r < ROWS; ++r) {                                                             \
      reference(LOG_SOFTMAX, xd[r], COLS, kTemps[r], want);                                  \
      for (c = 0; c < COLS; ++c) CHECK(close_to(GET(y[r * COLS + c]), want[c], BITS));       \
    }                                                                                        \
    CHECK(kelvin_log_partition_rows_##SUF(x, out, ROWS, COLS, COLS, &opt) == KELVIN_OK);     \
    for (r = 0; r < ROWS; ++r) {                                                             \
      reference(LOG_PARTITION, xd[r], COLS, kTemps[r], want);                                \
      CHECK(close_to(GET(out[r]), want[0], BITS));                                           \
    }                                                                                        \
    CHECK(kelvin_smooth_max_rows_##SUF(x, out, ROWS, COLS, COLS, &opt) == KELVIN_OK);        \
    for (r = 0; r < ROWS; ++r) {                                                             \
      reference(SMOOTH_MAX, xd[r], COLS, kTemps[r], want);                                   \
      CHECK(close_to(GET(out[r]), want[0], BITS));                                           \
    }                                                                                        \
    /* the plain and _ex forms are the _rows form with their options */                      \
    opt.temperatures = NULL;                                                                 \
    opt.temperature = 0.7;                                                                   \
    CHECK(kelvin_softmax_rows_##SUF(x, y, ROWS, COLS, COLS, COLS, &opt) == KELVIN_OK);       \
    CHECK(kelvin_softmax_##SUF(x, y2, ROWS, COLS, COLS, COLS, 0.7) == KELVIN_OK);            \
    CHECK(memcmp(y, y2, sizeof y) == 0);                                                     \
    CHECK(kelvin_log_softmax_rows_##SUF(x, y, ROWS, COLS, COLS, COLS, &opt) == KELVIN_OK);   \
    CHECK(kelvin_log_softmax_ex_##SUF(x, y2, ROWS, COLS, COLS, COLS, 0.7, NULL,              \
                                      KELVIN_EMPTY_ROW_NAN) == KELVIN_OK);                   \
    CHECK(memcmp(y, y2, sizeof y) == 0);                                                     \
    CHECK(kelvin_log_partition_rows_##SUF(x, out, ROWS, COLS, COLS, &opt) == KELVIN_OK);     \
    CHECK(kelvin_log_partition_##SUF(x, out2, ROWS, COLS, COLS, 0.7) == KELVIN_OK);          \
    CHECK(memcmp(out, out2, sizeof out) == 0);                                               \
    CHECK(kelvin_smooth_max_rows_##SUF(x, out, ROWS, COLS, COLS, NULL) == KELVIN_OK);        \
    CHECK(kelvin_smooth_max_##SUF(x, out2, ROWS, COLS, COLS, 1.0) == KELVIN_OK);             \
    CHECK(memcmp(out, out2, sizeof out) == 0);                                               \
    /* any axis: a 2 x 5 x 3 array read backwards along outer and inner */                   \
    {                                                                                        \
      TYPE a[OUTER * COLS * INNER], b[OUTER * COLS * INNER], red[OUTER * INNER];             \
      double slice[COLS];                                                                    \
      const ptrdiff_t xs[3] = {-COLS * INNER, INNER, -1};                                    \
      const ptrdiff_t ys[3] = {COLS * INNER, INNER, 1};                                      \
      const ptrdiff_t rs[3] = {INNER, 0, 1};                                                 \
      const TYPE* last = a + (OUTER - 1) * COLS * INNER + (INNER - 1);                       \
      for (o = 0; o < OUTER; ++o)                                                            \
        for (c = 0; c < COLS; ++c)                                                           \
          for (i = 0; i < INNER; ++i)                                                        \
            a[(o * COLS + c) * INNER + i] = PUT(kRows[(o + i) % ROWS][c] + (double)o);       \
      opt.temperatures = kSlice;                                                             \
      for (int f = SOFTMAX; f <= SMOOTH_MAX; ++f) {                                          \
        kelvin_status st = KELVIN_INTERNAL_ERROR;                                            \
        if (f == SOFTMAX)                                                                    \
          st = kelvin_softmax_axis_##SUF(last, b, OUTER, COLS, INNER, xs, ys, &opt);         \
        if (f == LOG_SOFTMAX)                                                                \
          st = kelvin_log_softmax_axis_##SUF(last, b, OUTER, COLS, INNER, xs, NULL, &opt);   \
        if (f == LOG_PARTITION)                                                              \
          st = kelvin_log_partition_axis_##SUF(last, red, OUTER, COLS, INNER, xs, rs, &opt); \
        if (f == SMOOTH_MAX)                                                                 \
          st = kelvin_smooth_max_axis_##SUF(last, red, OUTER, COLS, INNER, xs, NULL, &opt);  \
        CHECK(st == KELVIN_OK);                                                              \
        for (o = 0; o < OUTER; ++o)                                                          \
          for (i = 0; i < INNER; ++i) {                                                      \
            /* view (o, a, i) is stored at (OUTER-1-o, a, INNER-1-i) */                      \
            for (c = 0; c < COLS; ++c)                                                       \
              slice[c] = GET(a[((OUTER - 1 - o) * COLS + c) * INNER + (INNER - 1 - i)]);     \
            reference((enum op)f, slice, COLS, kSlice[o * INNER + i], want);                 \
            if (f >= LOG_PARTITION) {                                                        \
              CHECK(close_to(GET(red[o * INNER + i]), want[0], BITS));                       \
            } else {                                                                         \
              for (c = 0; c < COLS; ++c)                                                     \
                CHECK(close_to(GET(b[(o * COLS + c) * INNER + i]), want[c], BITS));          \
            }                                                                                \
          }                                                                                  \
      }                                                                                      \
    }                                                                                        \
    /* errors: a status and a message naming the argument, nothing thrown */                 \
    opt.temperatures = NULL;                                                                 \
    opt.temperature = -1;                                                                    \
    CHECK(kelvin_softmax_rows_##SUF(x, y, ROWS, COLS, COLS, COLS, &opt) ==                   \
          KELVIN_INVALID_ARGUMENT);                                                          \
    CHECK(strstr(kelvin_last_error(), "temperature") != NULL);                               \
    CHECK(kelvin_log_partition_axis_##SUF(NULL, out, 1, COLS, 1, NULL, NULL, NULL) ==        \
          KELVIN_INVALID_ARGUMENT);                                                          \
    CHECK(strstr(kelvin_last_error(), "x is null") != NULL);                                 \
  }

TEST_TYPE(float, f32, id_f32, put_f32, 22)
TEST_TYPE(double, f64, id_f64, put_f64, 50)
TEST_TYPE(uint16_t, bf16, bf16_value, bf16_of, 7)
TEST_TYPE(uint16_t, f16, f16_value, f16_of, 10)

static void test_options(void) {
  kelvin_options opt;
  float x[4] = {1, 5, 7, 10}, y[4];
  memset(&opt, 0xff, sizeof opt);
  kelvin_options_init(&opt, sizeof opt);
  CHECK(opt.size == sizeof opt && opt.temperature == 1 && opt.temperatures == NULL &&
        opt.empty_row == KELVIN_EMPTY_ROW_NAN && opt.threads == 0);
  /* a struct from before `size` was set is refused, not read */
  opt.size = 1;
  CHECK(kelvin_softmax_rows_f32(x, y, 1, 4, 4, 4, &opt) == KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "options.size") != NULL);
  kelvin_options_init(&opt, sizeof opt);
  opt.empty_row = 7;
  CHECK(kelvin_softmax_rows_f32(x, y, 1, 4, 4, 4, &opt) == KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "empty_row") != NULL);
  opt.empty_row = KELVIN_EMPTY_ROW_ZERO;
  opt.threads = -1;
  CHECK(kelvin_softmax_rows_f32(x, y, 1, 4, 4, 4, &opt) == KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "threads") != NULL);
  opt.threads = 1;
  CHECK(kelvin_softmax_rows_f32(x, y, 1, 4, 4, 4, &opt) == KELVIN_OK);
  CHECK(strcmp(kelvin_last_error(), "") == 0);
}

static void test_targets(void) {
  const char* compiled[64];
  const char* supported[64];
  const size_t nc = kelvin_compiled_targets(compiled, 64);
  const size_t ns = kelvin_supported_targets(supported, 64);
  const char* before = kelvin_active_target();
  size_t i, j;
  CHECK(kelvin_compiled_targets(NULL, 0) == nc && nc >= 1 && nc <= 64);
  CHECK(strcmp(compiled[nc - 1], "SCALAR") == 0);
  CHECK(ns >= 1 && ns <= nc);
  for (i = 0; i < ns; ++i) { /* supported, in compiled order, and selectable */
    int found = 0;
    float x[3] = {0, 1, 2}, y[3];
    long double want[3];
    const double xd[3] = {0, 1, 2};
    for (j = 0; j < nc; ++j) found |= strcmp(supported[i], compiled[j]) == 0;
    CHECK(found);
    CHECK(kelvin_set_target(supported[i]) == KELVIN_OK);
    CHECK(strcmp(kelvin_active_target(), supported[i]) == 0);
    CHECK(kelvin_softmax_rows_f32(x, y, 1, 3, 3, 3, NULL) == KELVIN_OK);
    reference(SOFTMAX, xd, 3, 1.0, want);
    for (j = 0; j < 3; ++j) CHECK(close_to(y[j], want[j], 22));
  }
  CHECK(kelvin_set_target("no-such-target") == KELVIN_INVALID_ARGUMENT);
  CHECK(strstr(kelvin_last_error(), "no-such-target") != NULL);
  CHECK(kelvin_set_target(NULL) == KELVIN_INVALID_ARGUMENT);
  CHECK(kelvin_set_target("BEST") == KELVIN_OK);
  CHECK(strcmp(kelvin_active_target(), supported[0]) == 0);
  CHECK(kelvin_set_target(before) == KELVIN_OK);
}

int main(void) {
  test_f32();
  test_f64();
  test_bf16();
  test_f16();
  test_options();
  test_targets();
  if (g_failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  printf("c_api_c_test: all checks passed\n");
  return 0;
}
