// Which AVX-512 instructions take a microcode assist on subnormal inputs or
// results (the contract forbids FTZ/DAZ, so kelvin's kernels must avoid them):
// each line times one instruction in a throughput loop, ns per instruction.
// ~0.3-0.5 ns is the normal rate; ~45-70 ns is an assist.
//
//   gcc -O2 -march=native bench/subnormal_assists.c -o /tmp/assists && /tmp/assists
//
// Not part of the build: it needs an AVX-512 machine and says nothing about
// correctness. docs/performance.md quotes its output on the project machine.
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { kIters = 2000000 };

// Every operand passes through an empty asm each iteration, so the compiler
// can neither hoist nor fold the instruction; its result is consumed likewise.
#define OPAQUE(v) __asm__ volatile("" : "+v"(v))
#define TIME(label, type, expr)                                     \
  do {                                                              \
    const double t0 = now();                                        \
    for (int i = 0; i < kIters; ++i) {                              \
      OPAQUE(a);                                                    \
      OPAQUE(b);                                                    \
      OPAQUE(c);                                                    \
      type r = (expr);                                              \
      __asm__ volatile("" ::"v"(r));                                \
    }                                                               \
    printf("%-40s %7.2f ns\n", label, (now() - t0) / kIters * 1e9); \
  } while (0)

int main(void) {
  {
    __m512 a = _mm512_set1_ps(1e-20f), b = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(1e-40f);
    __m512 e = _mm512_set1_ps(-140.0f);
    TIME("float mul, normal result", __m512, _mm512_mul_ps(b, b));
    TIME("float mul, subnormal result", __m512, _mm512_mul_ps(a, a));
    TIME("float mul, subnormal input", __m512, _mm512_mul_ps(c, b));
    TIME("float fma, subnormal result", __m512, _mm512_fmadd_ps(a, a, _mm512_setzero_ps()));
    TIME("float fma, subnormal input, normal result", __m512, _mm512_fmadd_ps(c, b, b));
    TIME("float add, subnormal input", __m512, _mm512_add_ps(c, b));
    TIME("float add, subnormal result", __m512, _mm512_add_ps(c, c));
    TIME("float scalef, subnormal result", __m512, _mm512_scalef_ps(b, e));
    TIME("float min/max, subnormal input", __m512, _mm512_max_ps(c, b));
    TIME("float -> double, subnormal input", __m512d, _mm512_cvtps_pd(_mm512_castps512_ps256(c)));
  }
  {
    __m512d a = _mm512_set1_pd(1e-40), b = _mm512_set1_pd(1.0), c = _mm512_set1_pd(1e-310);
    TIME("double -> float, subnormal result", __m256, _mm512_cvtpd_ps(a));
    TIME("double mul, subnormal result", __m512d, _mm512_mul_pd(a, _mm512_set1_pd(1e-280)));
    TIME("double mul, subnormal input", __m512d, _mm512_mul_pd(c, b));
    TIME("double add, subnormal input", __m512d, _mm512_add_pd(c, b));
  }
  return 0;
}
