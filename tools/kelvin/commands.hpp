// kelvin CLI: the subcommands, as functions from parsed arguments to the text
// they print. They print nothing themselves: main writes the text only when
// the whole command succeeded, so a bad input never leaves half an output.
#pragma once

#include <string>
#include <vector>

namespace kelvin::cli {

enum class family { softmax, log_softmax, log_partition, smooth_max };

struct compute_args {
  family fn = family::softmax;
  // As typed: each item may hold several comma-separated temperatures.
  std::vector<std::string> temperatures;
  std::vector<std::string> values;
  bool f32 = false;
  std::string empty_row = "nan";
};

// softmax / log-softmax: one "T [y_0, y_1, ...]" line per temperature;
// log-partition / smooth-max: one "T value" line per temperature.
// Throws usage_error for bad input (and lets kelvin::error through).
std::string run_compute(const compute_args& args);

// The blog post's table recomputed by kelvin, a bar chart of it, and a note
// on why the last digits differ from the blog's.
std::string run_demo();

// Version, SIMD targets (compiled, supported, active) and default threads.
std::string run_info();

}  // namespace kelvin::cli
