// kelvin CLI: running the softmax family over arrays larger than memory.
//
// An array is seen in its memory order as outer x n x inner (n: the axis the
// softmax runs along). A "slab" is one outer index: n * inner contiguous
// values, which hold every slice along the axis that crosses them.
//
// - run_parallel_blocks (file to file): workers each read, compute and write
//   small blocks of whole slabs in place (see below).
// - run_streaming: slabs are read, computed and written in chunks of about
//   chunk_bytes on three threads (read | compute | write), so I/O overlaps
//   the computation. Memory: three chunks of max(chunk_bytes, one slab).
//   This is the path for the last axis of a C-order array (a slab is a row)
//   and for any axis whose slab fits in a chunk; it needs only sequential
//   input and output (pipes work). With inner > 1 one more chunk holds the
//   transposed slabs (see compute_slabs).
// - run_blocked: for a slab larger than a chunk (a non-last axis of a big
//   array, e.g. axis 0 of a C-order matrix or the last axis of a Fortran
//   one) the input must be random access (a file, else it is first spooled
//   to a temporary file): for each outer index, blocks of b inner positions
//   are gathered (n runs of b values), transposed, computed, and scattered.
//   Memory: 2 * n * b values with b = max(1, chunk_bytes / (n * sizeof(T))),
//   i.e. about two chunks, and never less than one slice along the axis.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kelvin/types.hpp"
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/operations.hpp"
#include "tools/kelvin/progress.hpp"

namespace kelvin::cli {

struct compute_plan {
  const operation* op = &operations().front();  // softmax
  options opt;                                  // temperature, empty_row, threads
  std::size_t chunk_bytes = std::size_t{8} << 20;
};

// Values in memory order, read once from the start.
template <class T>
class value_source {
 public:
  virtual ~value_source() = default;
  // Up to out.size() values (callers ask for whole slabs and get whole
  // slabs); 0 at the end of the data.
  virtual std::size_t read(std::span<T> out) = 0;
  // Input bytes consumed so far (for the progress bar).
  virtual std::uint64_t bytes_read() const = 0;
};

// Where results go, in memory order.
template <class T>
class value_sink {
 public:
  virtual ~value_sink() = default;
  virtual void write(std::span<const T> values) = 0;
  // After the last value: completes the output (flushes, writes an .npy
  // header whose shape was not known at the start).
  virtual void finish() = 0;
};

// Random access to an array's values (index: position in memory order).
template <class T>
class value_store {
 public:
  virtual ~value_store() = default;
  virtual void read(std::uint64_t index, std::span<T> out) = 0;
  virtual void write(std::uint64_t index, std::span<const T> values) = 0;
};

// k slabs of n x inner values at `data`: softmax and log-softmax in place,
// log-partition and smooth-max into reduced[0 .. k * inner). With inner > 1
// the slabs are transposed into `scratch` first, so the library sees
// contiguous rows: its strided axis_view path gathers every slice through
// a buffer and is several times slower on large strides.
template <class T>
void compute_slabs(const compute_plan& plan, T* data, std::size_t k, std::size_t n,
                   std::size_t inner, T* reduced, std::vector<T>& scratch);

// Streams every slab of `in` to `out` (see above); n * inner > 0. Returns
// the number of slabs.
template <class T>
std::uint64_t run_streaming(value_source<T>& in, value_sink<T>& out, std::size_t n,
                            std::size_t inner, const compute_plan& plan, progress& bar);

// File to file (both random access): `workers` threads each take the next
// block of whole slabs (about block_bytes), read it, compute it on one
// thread and write it in place, so a block never leaves its core's cache
// between the three steps. Memory: workers x max(block_bytes, one slab).
// This is kelvin's fastest path: measured on a 2-core VM it runs a 1 GiB
// .npy at the speed of cp, where reading, computing and writing 8 MiB
// chunks on three threads took 2-3x longer (the kernel's copies from and to
// buffers that have left the cache dominate).
template <class T>
void run_parallel_blocks(value_store<T>& in, value_store<T>& out, std::uint64_t slabs,
                         std::size_t n, std::size_t inner, const compute_plan& plan,
                         std::size_t block_bytes, int workers, progress& bar,
                         double bytes_per_value);

// outer x n x inner values from `in` to `out` (outer x inner when the
// function reduces) by blocks of the inner dimension (see above).
// bytes_per_value scales the progress bar to input bytes.
template <class T>
void run_blocked(value_store<T>& in, value_store<T>& out, std::uint64_t outer, std::uint64_t n,
                 std::uint64_t inner, const compute_plan& plan, progress& bar,
                 double bytes_per_value);

// Values stored as float32/float64 (byte-swapped when `swap`) at byte
// `base` of a file. Safe to use from several threads (pread/pwrite, and a
// conversion buffer per thread).
template <class T>
class file_store final : public value_store<T> {
 public:
  file_store(int fd, std::uint64_t base, scalar_type stored, bool swap, std::string name)
      : fd_(fd), base_(base), stored_(stored), swap_(swap), name_(std::move(name)) {}
  void read(std::uint64_t index, std::span<T> out) override;
  void write(std::uint64_t index, std::span<const T> values) override;

 private:
  int fd_;
  std::uint64_t base_;
  scalar_type stored_;
  bool swap_;
  std::string name_;
};

// A growing array: in memory up to `memory_limit` bytes, then in an
// anonymous temporary file (so memory stays bounded whatever its size).
template <class T>
class spool final : public value_store<T> {
 public:
  explicit spool(std::size_t memory_limit) : limit_(memory_limit) {}
  ~spool() override;
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;

  void append(std::span<const T> values);
  // Sets the size (new values are zero), for random-access writes.
  void resize(std::uint64_t count);
  std::uint64_t size() const { return count_; }
  void read(std::uint64_t index, std::span<T> out) override;
  void write(std::uint64_t index, std::span<const T> values) override;
  // Everything, in order, into `sink` (chunks of chunk_bytes).
  void drain_to(value_sink<T>& sink, std::size_t chunk_bytes);

 private:
  void spill();

  std::size_t limit_;
  std::vector<T> memory_;
  int fd_ = -1;
  std::uint64_t count_ = 0;
};

}  // namespace kelvin::cli
