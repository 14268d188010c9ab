// The one MPI_Allreduce of the sharded calls, and the argument checks they
// share.
#pragma once

#include "kelvin/mpi.hpp"  // <mpi.h> without the C++ bindings

#include <climits>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "kelvin/types.hpp"
#include "src/mpi_checks.hpp"
#include "src/mpi_shard.hpp"

namespace kelvin::detail {

// A committed datatype of `Width` doubles and the user reduction over it,
// created on first use and freed by MPI_Finalize (an attribute of
// MPI_COMM_SELF, whose attributes MPI deletes first thing in MPI_Finalize):
// building them on every call cost more than a one-row reduction.
template <int Width>
class state_reduction {
 public:
  static const state_reduction& get() {
    static state_reduction* r = [] {
      auto* p = new state_reduction;
      int key = MPI_KEYVAL_INVALID;
      check_mpi(
          MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &state_reduction::release, &key, nullptr),
          "MPI_Comm_create_keyval");
      check_mpi(MPI_Comm_set_attr(MPI_COMM_SELF, key, p), "MPI_Comm_set_attr");
      return p;
    }();
    return *r;
  }

  // In place over `rows` elements of Width doubles.
  void allreduce(double* data, std::size_t rows, MPI_Comm comm) const {
    // MPI counts are int: large batches go in pieces.
    const std::size_t step = static_cast<std::size_t>(INT_MAX / 8);
    for (std::size_t r = 0; r < rows; r += step) {
      const std::size_t n = rows - r < step ? rows - r : step;
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + r * static_cast<std::size_t>(Width),
                              static_cast<int>(n), type_, op_, comm),
                "MPI_Allreduce");
    }
  }

 private:
  state_reduction() {
    check_mpi(MPI_Type_contiguous(Width, MPI_DOUBLE, &type_), "MPI_Type_contiguous");
    check_mpi(MPI_Type_commit(&type_), "MPI_Type_commit");
    // Commutative: merge_states is, bit for bit.
    check_mpi(MPI_Op_create(&merge_elements<Width>, 1, &op_), "MPI_Op_create");
  }
  static int release(MPI_Comm, int key, void* attr, void*) {
    auto* p = static_cast<state_reduction*>(attr);
    MPI_Op_free(&p->op_);
    MPI_Type_free(&p->type_);
    // The object stays (the static pointer refers to it); MPI cannot be
    // initialised again after MPI_Finalize.
    MPI_Comm_free_keyval(&key);
    return MPI_SUCCESS;
  }

  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  MPI_Op op_ = MPI_OP_NULL;
};

inline double row_temperature(const options& opt, std::size_t r) {
  return opt.temperatures.empty() ? opt.temperature : opt.temperatures[r];
}

inline void check_temperature(const std::string& what, double t) {
  if (!(t >= 0.0)) throw error(what + " must be >= 0 and not NaN (got " + format_double(t) + ")");
}

inline void check_options(const options& opt, std::size_t rows) {
  check_temperature("options.temperature", opt.temperature);
  if (opt.empty_row != empty_row_policy::nan && opt.empty_row != empty_row_policy::zero)
    throw error("options.empty_row must be empty_row_policy::nan or ::zero (got " +
                std::to_string(static_cast<int>(opt.empty_row)) + ")");
  if (!opt.temperatures.empty()) {
    if (opt.temperatures.size() != rows)
      throw error("options.temperatures has " + std::to_string(opt.temperatures.size()) +
                  " entries but there are " + std::to_string(rows) + " rows");
    for (std::size_t r = 0; r < rows; ++r)
      check_temperature("options.temperatures[" + std::to_string(r) + "]", opt.temperatures[r]);
  }
}

template <class T>
void check_view(const char* name, matrix_view<T> v) {
  if (v.data == nullptr && v.rows * v.cols != 0)
    throw error(std::string(name) + " is null but has " + std::to_string(v.rows) + " x " +
                std::to_string(v.cols) + " entries");
  if (v.rows > 1 && v.row_stride < v.cols)
    throw error(std::string(name) + " row stride " + std::to_string(v.row_stride) +
                " is less than its " + std::to_string(v.cols) + " columns");
}

// What must agree across ranks about the options, with the element type.
template <class T>
fingerprint options_fingerprint(const options& opt) {
  fingerprint f;
  // -0.0 and 0.0 are the same temperature.
  f.value(sizeof(T)).value(opt.temperature + 0.0).value(opt.empty_row);
  if (!opt.temperatures.empty())
    f.add(opt.temperatures.data(), opt.temperatures.size() * sizeof(double));
  return f;
}

}  // namespace kelvin::detail
