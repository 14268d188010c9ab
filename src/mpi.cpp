// The sharded softmax family (include/kelvin/mpi.hpp): one MPI_Allreduce of
// every row's shard state, then each rank writes its own columns.
#include "kelvin/mpi.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include "src/mpi_checks.hpp"
#include "src/mpi_reduce.hpp"
#include "src/mpi_shard.hpp"

namespace kelvin {
namespace {

using detail::kStateDoubles;
using detail::shard_state;

// Every row's merged state: the local states, then one allreduce.
template <class T>
std::vector<double> global_states(MPI_Comm comm, matrix_view<const T> x, const options& opt) {
  std::vector<double> buf(x.rows * kStateDoubles);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const shard_state s = detail::local_state(x.row(r), x.cols, detail::row_temperature(opt, r));
    double* e = buf.data() + r * kStateDoubles;
    e[0] = s.m;
    e[1] = s.s;
    e[2] = s.s_lo;
    e[3] = s.t;
  }
  detail::state_reduction<kStateDoubles>::get().allreduce(buf.data(), x.rows, comm);
  return buf;
}

inline detail::row_norm norm_of(const std::vector<double>& buf, std::size_t r) {
  const double* e = buf.data() + r * kStateDoubles;
  return detail::normaliser({e[0], e[1], e[2], e[3]});
}

template <class T>
void log_partition_impl(MPI_Comm comm, matrix_view<const T> x, std::span<T> out,
                        const options& opt) {
  detail::shard_call call{.name = "sharded_log_partition",
                          .rows = x.rows,
                          .cols = x.cols,
                          .options = detail::options_fingerprint<T>(opt).get()};
  detail::check_collectively(comm, call, [&] {
    detail::check_view("local_logits", x);
    detail::check_options(opt, x.rows);
    if (out.size() != x.rows)
      throw error("out has " + std::to_string(out.size()) + " entries but local_logits has " +
                  std::to_string(x.rows) + " rows");
    if (x.rows > 0 && out.data() == nullptr) throw error("out is null");
  });
  const std::vector<double> buf = global_states(comm, x, opt);
  for (std::size_t r = 0; r < x.rows; ++r)
    out[r] = static_cast<T>(detail::log_partition_of(norm_of(buf, r)));
}

template <class T>
void softmax_impl(const char* name, bool log_output, MPI_Comm comm, matrix_view<const T> x,
                  matrix_view<T> y, const options& opt) {
  detail::shard_call call{.name = name,
                          .rows = x.rows,
                          .cols = x.cols,
                          .options = detail::options_fingerprint<T>(opt).get()};
  detail::check_collectively(comm, call, [&] {
    detail::check_view("local_logits", x);
    detail::check_view("y", y);
    detail::check_options(opt, x.rows);
    if (x.rows != y.rows || x.cols != y.cols)
      throw error("local_logits is " + std::to_string(x.rows) + " x " + std::to_string(x.cols) +
                  " but y is " + std::to_string(y.rows) + " x " + std::to_string(y.cols));
  });
  const std::vector<double> buf = global_states(comm, x, opt);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const detail::row_norm n = norm_of(buf, r);
    const T* xr = x.row(r);
    T* yr = y.row(r);
    // Entry by entry, so y may be x (in place).
    for (std::size_t i = 0; i < x.cols; ++i)
      yr[i] = static_cast<T>(
          detail::output_of(n, static_cast<double>(xr[i]), log_output, opt.empty_row));
  }
}

}  // namespace

void sharded_log_partition(MPI_Comm comm, matrix_view<const float> local_logits,
                           std::span<float> out, const options& opt) {
  log_partition_impl(comm, local_logits, out, opt);
}
void sharded_log_partition(MPI_Comm comm, matrix_view<const double> local_logits,
                           std::span<double> out, const options& opt) {
  log_partition_impl(comm, local_logits, out, opt);
}
void sharded_softmax(MPI_Comm comm, matrix_view<const float> local_logits, matrix_view<float> y,
                     const options& opt) {
  softmax_impl("sharded_softmax", false, comm, local_logits, y, opt);
}
void sharded_softmax(MPI_Comm comm, matrix_view<const double> local_logits, matrix_view<double> y,
                     const options& opt) {
  softmax_impl("sharded_softmax", false, comm, local_logits, y, opt);
}
void sharded_log_softmax(MPI_Comm comm, matrix_view<const float> local_logits, matrix_view<float> y,
                         const options& opt) {
  softmax_impl("sharded_log_softmax", true, comm, local_logits, y, opt);
}
void sharded_log_softmax(MPI_Comm comm, matrix_view<const double> local_logits,
                         matrix_view<double> y, const options& opt) {
  softmax_impl("sharded_log_softmax", true, comm, local_logits, y, opt);
}

}  // namespace kelvin
