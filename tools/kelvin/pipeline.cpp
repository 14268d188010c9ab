#include "tools/kelvin/pipeline.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "kelvin/softmax.hpp"
#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/output_file.hpp"

namespace kelvin::cli {
namespace {

// A blocking queue between two pipeline stages. close(): no more items
// (pop drains what is left); abort(): stop now (an error elsewhere).
template <class X>
class channel {
 public:
  void push(X x) {
    {
      std::lock_guard lock(m_);
      if (aborted_) return;
      q_.push_back(std::move(x));
    }
    cv_.notify_one();
  }
  bool pop(X& x) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return aborted_ || closed_ || !q_.empty(); });
    if (aborted_ || q_.empty()) return false;
    x = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  void close() {
    {
      std::lock_guard lock(m_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  void abort() {
    {
      std::lock_guard lock(m_);
      aborted_ = true;
      q_.clear();
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<X> q_;
  bool closed_ = false;
  bool aborted_ = false;
};

template <class T>
struct chunk {
  std::vector<T> data;
  std::vector<T> reduced;
  std::size_t values = 0;         // values read into data
  std::uint64_t bytes_after = 0;  // the source's position after this chunk
};

// The first exception of any stage; the others are consequences of it.
class first_error {
 public:
  void record() {
    std::lock_guard lock(m_);
    if (!error_) error_ = std::current_exception();
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex m_;
  std::exception_ptr error_;
};

}  // namespace

namespace {

// dst[c * rows + r] = src[r * cols + c], by tiles that stay in cache. The
// inner loop writes contiguously: with power-of-two strides the other order
// is 5x slower (the tile's lines share cache sets).
template <class T>
void transpose(const T* src, std::size_t rows, std::size_t cols, T* dst) {
  constexpr std::size_t kTile = 16;
  for (std::size_t c0 = 0; c0 < cols; c0 += kTile) {
    const std::size_t c1 = std::min(cols, c0 + kTile);
    for (std::size_t r0 = 0; r0 < rows; r0 += kTile) {
      const std::size_t r1 = std::min(rows, r0 + kTile);
      for (std::size_t c = c0; c < c1; ++c) {
        for (std::size_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

// rows x cols contiguous rows.
template <class T>
void compute_rows(const compute_plan& plan, T* data, std::size_t rows, std::size_t cols,
                  T* reduced) {
  const matrix_view<const T> x(data, rows, cols);
  plan.op->rows(
      x, plan.op->reduces ? matrix_view<T>(reduced, rows, 1) : matrix_view<T>(data, rows, cols),
      plan.opt);
}

}  // namespace

template <class T>
void compute_slabs(const compute_plan& plan, T* data, std::size_t k, std::size_t n,
                   std::size_t inner, T* reduced, std::vector<T>& scratch) {
  if (inner == 1) {
    compute_rows(plan, data, k, n, reduced);
    return;
  }
  // Slab s (n x inner) becomes rows s * inner .. s * inner + inner - 1 of
  // length n: the order of `reduced` too.
  const std::size_t slab = n * inner;
  scratch.resize(k * slab);
  for (std::size_t s = 0; s < k; ++s)
    transpose(data + s * slab, n, inner, scratch.data() + s * slab);
  compute_rows(plan, scratch.data(), k * inner, n, reduced);
  if (plan.op->reduces) return;
  for (std::size_t s = 0; s < k; ++s)
    transpose(scratch.data() + s * slab, inner, n, data + s * slab);
}

template <class T>
std::uint64_t run_streaming(value_source<T>& in, value_sink<T>& out, std::size_t n,
                            std::size_t inner, const compute_plan& plan, progress& bar) {
  const std::size_t slab = n * inner;
  const bool reduce = plan.op->reduces;
  const std::size_t per_chunk = std::max<std::size_t>(1, plan.chunk_bytes / (slab * sizeof(T)));

  // Three chunks: one being read, one computed, one written.
  constexpr int kChunks = 3;
  std::vector<chunk<T>> chunks(kChunks);
  channel<chunk<T>*> free_q;
  channel<chunk<T>*> full_q;
  channel<chunk<T>*> done_q;
  for (chunk<T>& c : chunks) free_q.push(&c);
  first_error error;
  const auto abort_all = [&] {
    free_q.abort();
    full_q.abort();
    done_q.abort();
  };

  std::thread reader([&] {
    try {
      chunk<T>* c = nullptr;
      while (free_q.pop(c)) {
        c->data.resize(per_chunk * slab);  // allocated on first use
        c->values = in.read(std::span<T>(c->data));
        c->bytes_after = in.bytes_read();
        if (c->values == 0) break;
        full_q.push(c);
      }
    } catch (...) {
      error.record();
      abort_all();
    }
    full_q.close();
  });

  std::uint64_t slabs_written = 0;
  std::thread writer([&] {
    try {
      chunk<T>* c = nullptr;
      while (done_q.pop(c)) {
        const std::size_t k = c->values / slab;
        if (reduce) {
          out.write(std::span<const T>(c->reduced.data(), k * inner));
        } else {
          out.write(std::span<const T>(c->data.data(), c->values));
        }
        slabs_written += k;
        bar.update(c->bytes_after, slabs_written * inner);
        free_q.push(c);
      }
    } catch (...) {
      error.record();
      abort_all();
    }
  });

  try {
    std::vector<T> scratch;  // only the compute stage transposes
    chunk<T>* c = nullptr;
    while (full_q.pop(c)) {
      const std::size_t k = c->values / slab;
      if (reduce) c->reduced.resize(per_chunk * inner);
      compute_slabs(plan, c->data.data(), k, n, inner, c->reduced.data(), scratch);
      done_q.push(c);
    }
  } catch (...) {
    error.record();
    abort_all();
  }
  done_q.close();
  reader.join();
  writer.join();
  error.rethrow();
  return slabs_written;
}

template <class T>
void run_parallel_blocks(value_store<T>& in, value_store<T>& out, std::uint64_t slabs,
                         std::size_t n, std::size_t inner, const compute_plan& plan,
                         std::size_t block_bytes, int workers, progress& bar,
                         double bytes_per_value) {
  const std::size_t slab = n * inner;
  const bool reduce = plan.op->reduces;
  const std::uint64_t per_block = std::max<std::uint64_t>(1, block_bytes / (slab * sizeof(T)));
  std::atomic<std::uint64_t> next{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> stop{false};
  first_error error;
  compute_plan one = plan;
  one.opt.threads = 1;  // the parallelism is across blocks

  std::mutex drawing;  // whichever worker finishes a block draws, one at a time
  const auto work = [&] {
    try {
      std::vector<T> buf(static_cast<std::size_t>(std::min(per_block, slabs)) * slab);
      std::vector<T> reduced(reduce ? static_cast<std::size_t>(std::min(per_block, slabs)) * inner
                                    : 0);
      std::vector<T> scratch;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t first = next.fetch_add(per_block);
        if (first >= slabs) break;
        const auto k = static_cast<std::size_t>(std::min(per_block, slabs - first));
        in.read(first * slab, std::span<T>(buf.data(), k * slab));
        compute_slabs(one, buf.data(), k, n, inner, reduced.data(), scratch);
        if (reduce) {
          out.write(first * inner, std::span<const T>(reduced.data(), k * inner));
        } else {
          out.write(first * slab, std::span<const T>(buf.data(), k * slab));
        }
        const std::uint64_t finished = done.fetch_add(k) + k;
        if (std::unique_lock lock(drawing, std::try_to_lock); lock.owns_lock()) {
          bar.update(
              static_cast<std::uint64_t>(static_cast<double>(finished * slab) * bytes_per_value),
              finished * inner);
        }
      }
    } catch (...) {
      error.record();
      stop = true;
    }
  };
  std::vector<std::thread> others;
  for (int w = 1; w < workers; ++w) others.emplace_back(work);
  work();  // this thread is a worker too
  for (std::thread& t : others) t.join();
  error.rethrow();
}

template <class T>
void run_blocked(value_store<T>& in, value_store<T>& out, std::uint64_t outer, std::uint64_t n,
                 std::uint64_t inner, const compute_plan& plan, progress& bar,
                 double bytes_per_value) {
  const bool reduce = plan.op->reduces;
  const std::uint64_t fit = plan.chunk_bytes / std::max<std::uint64_t>(1, n * sizeof(T));
  const auto block = static_cast<std::size_t>(std::clamp<std::uint64_t>(fit, 1, inner));
  std::vector<T> buf(static_cast<std::size_t>(n) * block);
  std::vector<T> reduced(reduce ? block : 0);
  std::vector<T> scratch;
  std::uint64_t done = 0;
  for (std::uint64_t o = 0; o < outer; ++o) {
    for (std::uint64_t i0 = 0; i0 < inner; i0 += block) {
      const auto b = static_cast<std::size_t>(std::min<std::uint64_t>(block, inner - i0));
      const std::uint64_t slab_start = o * n * inner;
      if (b == inner) {  // the whole slab: one contiguous run
        in.read(slab_start, std::span<T>(buf.data(), n * b));
      } else {
        for (std::uint64_t a = 0; a < n; ++a) {
          in.read(slab_start + a * inner + i0, std::span<T>(buf.data() + a * b, b));
        }
      }
      compute_slabs(plan, buf.data(), 1, static_cast<std::size_t>(n), b, reduced.data(), scratch);
      if (reduce) {
        out.write(o * inner + i0, std::span<const T>(reduced.data(), b));
      } else if (b == inner) {
        out.write(slab_start, std::span<const T>(buf.data(), n * b));
      } else {
        for (std::uint64_t a = 0; a < n; ++a) {
          out.write(slab_start + a * inner + i0, std::span<const T>(buf.data() + a * b, b));
        }
      }
      done += b;
      bar.update(static_cast<std::uint64_t>(static_cast<double>(done * n) * bytes_per_value), done);
    }
  }
}

namespace {
// Conversion buffer of the calling thread (file_store is shared by workers).
std::vector<unsigned char>& staging() {
  thread_local std::vector<unsigned char> buf;
  return buf;
}
}  // namespace

template <class T>
void file_store<T>::read(std::uint64_t index, std::span<T> out) {
  const std::size_t size = size_of(stored_);
  const std::uint64_t at = base_ + index * size;
  if (stored_ == (sizeof(T) == 4 ? scalar_type::f32 : scalar_type::f64) && !swap_) {
    pread_full(fd_, out.data(), out.size_bytes(), at, name_);
    return;
  }
  std::vector<unsigned char>& buf = staging();
  buf.resize(out.size() * size);
  pread_full(fd_, buf.data(), buf.size(), at, name_);
  load_values(buf.data(), stored_, swap_, out.data(), out.size());
}

template <class T>
void file_store<T>::write(std::uint64_t index, std::span<const T> values) {
  const std::size_t size = size_of(stored_);
  const std::uint64_t at = base_ + index * size;
  if (stored_ == (sizeof(T) == 4 ? scalar_type::f32 : scalar_type::f64) && !swap_) {
    pwrite_all(fd_, values.data(), values.size_bytes(), at, name_);
    return;
  }
  std::vector<unsigned char>& buf = staging();
  buf.resize(values.size() * size);
  store_values(values.data(), stored_, swap_, buf.data(), values.size());
  pwrite_all(fd_, buf.data(), buf.size(), at, name_);
}

template <class T>
spool<T>::~spool() {
  if (fd_ >= 0) close(fd_);
}

template <class T>
void spool<T>::spill() {
  fd_ = anonymous_temp_file();
  pwrite_all(fd_, memory_.data(), memory_.size() * sizeof(T), 0, "<temporary file>");
  std::vector<T>().swap(memory_);
}

template <class T>
void spool<T>::append(std::span<const T> values) {
  if (fd_ < 0 && (count_ + values.size()) * sizeof(T) > limit_) spill();
  if (fd_ < 0) {
    memory_.insert(memory_.end(), values.begin(), values.end());
  } else {
    pwrite_all(fd_, values.data(), values.size_bytes(), count_ * sizeof(T), "<temporary file>");
  }
  count_ += values.size();
}

template <class T>
void spool<T>::resize(std::uint64_t count) {
  if (fd_ < 0 && count * sizeof(T) > limit_) spill();
  if (fd_ < 0) {
    memory_.resize(static_cast<std::size_t>(count));
  } else if (ftruncate(fd_, static_cast<off_t>(count * sizeof(T))) != 0) {
    throw io_failure("cannot grow a temporary file: " + errno_message("<temporary file>", errno));
  }
  count_ = count;
}

template <class T>
void spool<T>::read(std::uint64_t index, std::span<T> out) {
  if (fd_ < 0) {
    std::memcpy(out.data(), memory_.data() + index, out.size_bytes());
  } else {
    pread_full(fd_, out.data(), out.size_bytes(), index * sizeof(T), "<temporary file>");
  }
}

template <class T>
void spool<T>::write(std::uint64_t index, std::span<const T> values) {
  if (fd_ < 0) {
    std::memcpy(memory_.data() + index, values.data(), values.size_bytes());
  } else {
    pwrite_all(fd_, values.data(), values.size_bytes(), index * sizeof(T), "<temporary file>");
  }
}

template <class T>
void spool<T>::drain_to(value_sink<T>& sink, std::size_t chunk_bytes) {
  if (fd_ < 0) {
    sink.write(std::span<const T>(memory_));
    return;
  }
  const std::size_t step = std::max<std::size_t>(1, chunk_bytes / sizeof(T));
  std::vector<T> buf(static_cast<std::size_t>(std::min<std::uint64_t>(step, count_)));
  for (std::uint64_t at = 0; at < count_; at += step) {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(step, count_ - at));
    read(at, std::span<T>(buf.data(), k));
    sink.write(std::span<const T>(buf.data(), k));
  }
}

#define KELVIN_CLI_PIPELINE(T)                                                                     \
  template void compute_slabs<T>(const compute_plan&, T*, std::size_t, std::size_t, std::size_t,   \
                                 T*, std::vector<T>&);                                             \
  template std::uint64_t run_streaming<T>(value_source<T>&, value_sink<T>&, std::size_t,           \
                                          std::size_t, const compute_plan&, progress&);            \
  template void run_parallel_blocks<T>(value_store<T>&, value_store<T>&, std::uint64_t,            \
                                       std::size_t, std::size_t, const compute_plan&, std::size_t, \
                                       int, progress&, double);                                    \
  template void run_blocked<T>(value_store<T>&, value_store<T>&, std::uint64_t, std::uint64_t,     \
                               std::uint64_t, const compute_plan&, progress&, double);             \
  template class file_store<T>;                                                                    \
  template class spool<T>;

KELVIN_CLI_PIPELINE(float)
KELVIN_CLI_PIPELINE(double)
#undef KELVIN_CLI_PIPELINE

}  // namespace kelvin::cli
