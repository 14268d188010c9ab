// kelvin::mpi against the two- and three-allreduce formulations, per row:
//   one       kelvin::sharded_log_partition / sharded_cross_entropy: ONE
//             MPI_Allreduce of a (max, scaled sum, temperature) element per row
//             (32 bytes; 48 with cross-entropy's target logit and logit sum)
//   two       log-partition as max, then sum: MPI_Allreduce(MAX) of 8 bytes,
//             then MPI_Allreduce(SUM) of 8 bytes per row
//   three     Megatron's vocab-parallel cross-entropy: max, target logit, sum
//             (three MPI_Allreduce of 8 bytes per row)
// Run under mpirun with any number of ranks (bench/mpi_bench.sh runs 1-4 in one
// go). Not Google Benchmark: its adaptive iteration count differs between
// ranks, and a rank running one more collective than the others hangs. Every
// timing is a fixed number of repetitions between barriers; the figure is the
// slowest rank's, median over repetitions (3 for the large rows, 21-201 for the communication
// alone).
//
//   mpirun -np 4 build/release/bench/mpi_bench [classes...]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kelvin/mpi.hpp"

namespace {

int g_rank = 0, g_size = 1;

template <class F>
double seconds(F f, int reps) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    f();
    double dt = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    t.push_back(dt);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The baselines' local passes, in double as kelvin's (the same exponential).
double local_max(const float* x, std::size_t n) {
  double m = -HUGE_VAL;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
  return m;
}
double local_sum(const float* x, std::size_t n, double m, double t) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::exp((static_cast<double>(x[i]) - m) / t);
  return s;
}

void two_allreduce_log_partition(const std::vector<float>& x, std::size_t rows, std::size_t cols,
                                 double t, std::vector<double>& out) {
  std::vector<double> m(rows), s(rows);
  for (std::size_t r = 0; r < rows; ++r) m[r] = local_max(x.data() + r * cols, cols);
  MPI_Allreduce(MPI_IN_PLACE, m.data(), static_cast<int>(rows), MPI_DOUBLE, MPI_MAX,
                MPI_COMM_WORLD);
  for (std::size_t r = 0; r < rows; ++r) s[r] = local_sum(x.data() + r * cols, cols, m[r], t);
  MPI_Allreduce(MPI_IN_PLACE, s.data(), static_cast<int>(rows), MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  for (std::size_t r = 0; r < rows; ++r) out[r] = m[r] / t + std::log(s[r]);
}

double three_allreduce_cross_entropy(const std::vector<float>& x, std::size_t rows,
                                     std::size_t cols, std::size_t offset,
                                     const std::vector<std::int64_t>& labels, double t) {
  std::vector<double> m(rows), s(rows), target(rows, 0.0);
  for (std::size_t r = 0; r < rows; ++r) m[r] = local_max(x.data() + r * cols, cols);
  MPI_Allreduce(MPI_IN_PLACE, m.data(), static_cast<int>(rows), MPI_DOUBLE, MPI_MAX,
                MPI_COMM_WORLD);
  for (std::size_t r = 0; r < rows; ++r) {
    const auto y = static_cast<std::size_t>(labels[r]);
    if (y >= offset && y - offset < cols) target[r] = x[r * cols + y - offset];
  }
  MPI_Allreduce(MPI_IN_PLACE, target.data(), static_cast<int>(rows), MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  for (std::size_t r = 0; r < rows; ++r) s[r] = local_sum(x.data() + r * cols, cols, m[r], t);
  MPI_Allreduce(MPI_IN_PLACE, s.data(), static_cast<int>(rows), MPI_DOUBLE, MPI_SUM,
                MPI_COMM_WORLD);
  double loss = 0;
  for (std::size_t r = 0; r < rows; ++r) loss += (m[r] - target[r]) / t + std::log(s[r]);
  return loss / static_cast<double>(rows);
}

void print(const char* what, std::size_t classes, std::size_t rows, int width_bytes, int messages,
           double sec) {
  if (g_rank != 0) return;
  std::printf(
      "%-34s ranks %d  C %9zu  rows %5zu  %10.3f us/row  payload %2d B/row in %d "
      "allreduce(s)\n",
      what, g_size, classes, rows, sec / static_cast<double>(rows) * 1e6, width_bytes, messages);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  std::vector<std::size_t> sizes{1000000, 8000000};
  if (argc > 1) {
    sizes.clear();
    for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  }
  const double t = 0.7;
  const int reps = 3;
  for (std::size_t c : sizes) {
    // Even split of C classes; 4 rows (the compute-bound regime).
    const std::size_t rows = 4;
    const std::size_t lo = c * static_cast<std::size_t>(g_rank) / static_cast<std::size_t>(g_size);
    const std::size_t hi =
        c * static_cast<std::size_t>(g_rank + 1) / static_cast<std::size_t>(g_size);
    const std::size_t cols = hi - lo;
    std::vector<float> x(rows * cols);
    std::mt19937 g(static_cast<unsigned>(1234 + g_rank));
    std::normal_distribution<float> d(0.0f, 3.0f);
    for (float& v : x) v = d(g);
    std::vector<std::int64_t> labels(rows);
    for (std::size_t r = 0; r < rows; ++r)
      labels[r] = static_cast<std::int64_t>((r * 7919 + 13) % c);
    std::vector<float> lz(rows);
    std::vector<double> lz2(rows);
    const kelvin::matrix_view<const float> xv(x.data(), rows, cols);
    print("log_partition, one allreduce", c, rows, 32, 1,
          seconds(
              [&] {
                kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<float>(lz),
                                              {.temperature = t});
              },
              reps));
    print("log_partition, two allreduces", c, rows, 16, 2,
          seconds([&] { two_allreduce_log_partition(x, rows, cols, t, lz2); }, reps));
    double l1 = 0, l3 = 0;
    print("cross_entropy, one allreduce", c, rows, 48, 1,
          seconds(
              [&] {
                l1 = kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, labels, lo,
                                                   {.temperature = t})
                         .loss;
              },
              reps));
    print("cross_entropy, three allreduces", c, rows, 24, 3,
          seconds([&] { l3 = three_allreduce_cross_entropy(x, rows, cols, lo, labels, t); }, reps));
    if (g_rank == 0)
      std::printf("  check: log Z %.9g vs %.9g, loss %.12g vs %.12g\n", lz[0], lz2[0], l1, l3);
  }
  // The communication alone: many rows of one class per rank (the reduction,
  // the collective checks and per-row bookkeeping dominate).
  for (std::size_t rows : {std::size_t{1}, std::size_t{4096}}) {
    std::vector<float> x(rows, static_cast<float>(g_rank));
    std::vector<float> lz(rows);
    std::vector<double> lz2(rows);
    std::vector<std::int64_t> labels(rows, 0);
    const kelvin::matrix_view<const float> xv(x.data(), rows, 1);
    const std::size_t c = static_cast<std::size_t>(g_size);
    const int r2 = rows == 1 ? 201 : 21;
    print("comm: log_partition, one", c, rows, 32, 1,
          seconds([&] { kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<float>(lz)); },
                  r2));
    print("comm: log_partition, two", c, rows, 16, 2,
          seconds([&] { two_allreduce_log_partition(x, rows, 1, 1.0, lz2); }, r2));
    print("comm: cross_entropy, one", c, rows, 48, 1,
          seconds(
              [&] {
                kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, labels,
                                              static_cast<std::size_t>(g_rank));
              },
              r2));
    print("comm: cross_entropy, three", c, rows, 24, 3,
          seconds(
              [&] {
                three_allreduce_cross_entropy(x, rows, 1, static_cast<std::size_t>(g_rank), labels,
                                              1.0);
              },
              r2));
  }
  MPI_Finalize();
  return 0;
}
