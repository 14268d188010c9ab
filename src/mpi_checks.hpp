// Collective argument checks of the sharded calls: every rank learns whether
// any rank's arguments are bad or disagree, and then every rank throws the same
// kelvin::error, so that no rank enters the reduction alone and hangs.
#pragma once

#include "kelvin/mpi.hpp"  // <mpi.h> without the C++ bindings

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace kelvin::detail {

// 64-bit FNV-1a, to compare options and labels across ranks in a few bytes.
class fingerprint {
 public:
  fingerprint& add(const void* p, std::size_t n);
  template <class T>
  fingerprint& value(const T& v) {
    return add(&v, sizeof v);
  }
  std::uint64_t get() const { return h_; }

 private:
  std::uint64_t h_ = 1469598103934665603ull;
};

// What one rank passed, as every other rank sees it.
struct shard_call {
  const char* name;           // the entry point, e.g. "sharded_softmax"
  std::size_t rows = 0;       // must agree
  std::size_t cols = 0;       // this rank's classes
  std::size_t offset = 0;     // this rank's first class (cross-entropy)
  bool has_offset = false;    // the shards must tile [0, C) by offset
  std::uint64_t options = 0;  // temperature(s), policies, element type: must agree
  std::uint64_t labels = 0;   // must agree
};

// The layout the ranks agreed on.
struct shard_layout {
  int rank = 0;
  int size = 1;
  std::size_t classes = 0;  // C, the sum of every rank's cols
};

// Runs `local_checks` (which throws kelvin::error for bad arguments) on this
// rank, then exchanges the outcome with every rank of comm (one
// MPI_Allgather of a few words per rank; one more of the messages when a rank
// failed). Throws the same kelvin::error on every rank when any rank failed or
// the ranks disagree; `global_checks`, run on every rank with the layout when
// all agreed, must throw identically on every rank (it sees identical data).
shard_layout check_collectively(MPI_Comm comm, const shard_call& call,
                                const std::function<void()>& local_checks,
                                const std::function<void(const shard_layout&)>& global_checks = {});

// Throws kelvin::error when an MPI call fails (MPI_ERRORS_RETURN handlers).
void check_mpi(int rc, const char* what);

std::string format_double(double v);

}  // namespace kelvin::detail
