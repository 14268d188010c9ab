// kelvin CLI: a progress bar on stderr for jobs that take a while.
//
//    42% [████████▍           ] 1.21 GB/s  9.3k rows/s  ETA 0:03
//
// Drawn only when stderr is a terminal and --quiet is not given, and only
// once the job has run for a second (KELVIN_PROGRESS_DELAY=SECONDS changes
// that, for tests); erased when the job ends, so the terminal is left as it
// was. Without a known input size it shows bytes and rates, no percentage.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kelvin::cli {

class progress {
 public:
  // total_bytes: the input's size, 0 when unknown (a pipe).
  progress(bool enabled, std::uint64_t total_bytes);
  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  // Input bytes and rows (slices along the axis) done so far. Cheap when
  // nothing is drawn; call from one thread at a time.
  void update(std::uint64_t bytes, std::uint64_t rows);
  // Erases the bar (if drawn).
  void finish();

  static bool stderr_is_terminal();

 private:
  std::string render(std::uint64_t bytes, std::uint64_t rows, double seconds) const;

  bool enabled_;
  bool drawn_ = false;
  std::uint64_t total_;
  double delay_ = 1.0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace kelvin::cli
