#include "src/threads.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#ifndef _OPENMP
#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#endif

namespace kelvin::detail {
namespace {
std::atomic<int> g_threads{0};

int all_cores() noexcept {
#ifdef _OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return std::max(1u, std::thread::hardware_concurrency());
#endif
}
}  // namespace

void set_default_threads(int n) { g_threads.store(n < 0 ? 0 : n); }

int default_threads() noexcept {
  const int n = g_threads.load();
  return n > 0 ? n : all_cores();
}

int plan_threads(int requested, std::size_t items, std::size_t work_per_item) noexcept {
  const std::size_t work = items * std::max<std::size_t>(work_per_item, 1);
  const std::size_t cap = std::min(items, std::max<std::size_t>(1, work / kGrainElements));
  // The default asks the kernel for the affinity mask (omp_get_num_procs is a
  // sched_getaffinity system call each time), ~15% of a 1x1000 softmax; work
  // that one thread takes anyway does not ask. Not cached: the mask or the
  // cgroup's cpuset may change while the process runs.
  if (cap <= 1) return 1;
  const int t = requested > 0 ? requested : default_threads();
  return std::max(1, static_cast<int>(std::min(static_cast<std::size_t>(t), cap)));
}

#ifndef _OPENMP
namespace {

// One parallel_for: items handed out by an atomic counter. Shared with the
// pool threads through shared_ptr, so a thread that picks it up after the
// call returned finds no item left and touches nothing else.
struct pool_job {
  void (*fn)(void*, std::size_t);
  void* ctx;
  std::size_t items;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex m;
  std::condition_variable finished;

  void work() {
    for (;;) {
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= items) return;
      fn(ctx, i);
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == items) {
        // Under the lock: the caller is either before its check or waiting.
        std::lock_guard lock(m);
        finished.notify_all();
      }
    }
  }
};

// Threads started on demand (never more than any call asked for, at most
// kMaxPoolThreads), waiting for jobs; never joined: they sleep in wait() at
// exit, and the pool is leaked so no destructor races with them.
class thread_pool {
 public:
  void run(std::size_t items, int threads, void (*fn)(void*, std::size_t), void* ctx) {
    auto job = std::make_shared<pool_job>();
    job->fn = fn;
    job->ctx = ctx;
    job->items = items;
    std::size_t helpers =
        std::min<std::size_t>({static_cast<std::size_t>(threads) - 1, items - 1, kMaxPoolThreads});
    {
      std::lock_guard lock(m_);
      try {
        while (workers_ < helpers) {
          std::thread([this] { loop(); }).detach();
          ++workers_;
        }
      } catch (const std::system_error&) {
        helpers = workers_;  // no more threads to be had: fewer helpers
      }
      for (std::size_t h = 0; h < helpers; ++h) queue_.push_back(job);
    }
    wake_.notify_all();
    job->work();
    std::unique_lock lock(job->m);
    job->finished.wait(lock, [&] { return job->done.load(std::memory_order_acquire) == items; });
  }

 private:
  static constexpr std::size_t kMaxPoolThreads = 255;

  void loop() {
    for (;;) {
      std::shared_ptr<pool_job> job;
      {
        std::unique_lock lock(m_);
        wake_.wait(lock, [&] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->work();
    }
  }

  std::mutex m_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<pool_job>> queue_;
  std::size_t workers_ = 0;
};

// The pool, created at first use. A forked child has none of the parent's
// threads: it starts a pool of its own (the parent's is leaked there too).
std::mutex g_pool_mutex;
thread_pool* g_pool = nullptr;

thread_pool& pool() {
  std::lock_guard lock(g_pool_mutex);
  if (g_pool == nullptr) {
    static const bool registered = [] {
      pthread_atfork([] { g_pool_mutex.lock(); }, [] { g_pool_mutex.unlock(); },
                     [] {
                       g_pool = nullptr;
                       g_pool_mutex.unlock();
                     });
      return true;
    }();
    (void)registered;
    g_pool = new thread_pool;
  }
  return *g_pool;
}

}  // namespace

void pool_for(std::size_t items, int threads, void (*fn)(void*, std::size_t), void* ctx) {
  pool().run(items, threads, fn, ctx);
}
#endif

}  // namespace kelvin::detail
