// Thread count policy and a parallel-for over independent work items.
#pragma once

#include <algorithm>
#include <cstddef>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kelvin::detail {

// Below this many elements per thread a call stays on fewer threads: waking
// a team costs a few microseconds, about the time of 16K exponentials.
inline constexpr std::size_t kGrainElements = std::size_t{1} << 15;

void set_default_threads(int n);
// The default team size (all cores when set to 0); always >= 1.
int default_threads() noexcept;

// Threads for `items` independent items of `work_per_item` elements each,
// given the caller's request (0 = default).
int plan_threads(int requested, std::size_t items, std::size_t work_per_item) noexcept;

// Calls f(i) for i in [0, items) on `threads` threads (static schedule).
// f must not throw.
template <class F>
void parallel_for(std::size_t items, [[maybe_unused]] int threads, F&& f) {
#ifdef _OPENMP
  if (threads > 1) {
    // Dynamic, in pieces of about an eighth of a thread's share: on a loaded
    // machine a thread that loses its core leaves its items to the others
    // instead of holding up the join (results never depend on who runs an item).
    const auto n = static_cast<long long>(items);
    const int piece = static_cast<int>(std::max<long long>(1, n / (8LL * threads)));
#pragma omp parallel for schedule(dynamic, piece) num_threads(threads)
    for (long long i = 0; i < n; ++i) f(static_cast<std::size_t>(i));
    return;
  }
#endif
  for (std::size_t i = 0; i < items; ++i) f(i);
}

}  // namespace kelvin::detail
