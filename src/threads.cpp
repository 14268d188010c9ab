#include "src/threads.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

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
  int t = requested > 0 ? requested : default_threads();
  const std::size_t work = items * std::max<std::size_t>(work_per_item, 1);
  const std::size_t by_work = std::max<std::size_t>(1, work / kGrainElements);
  t = static_cast<int>(std::min<std::size_t>({static_cast<std::size_t>(t), items, by_work}));
  return std::max(t, 1);
}

}  // namespace kelvin::detail
