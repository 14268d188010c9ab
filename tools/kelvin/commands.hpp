// kelvin CLI: the subcommands, as functions from parsed arguments to the text
// they print. They print nothing themselves: main writes the text only when
// the whole command succeeded, so a bad input never leaves half an output.
#pragma once

#include <string>
#include <vector>

#include "kelvin/types.hpp"
#include "tools/kelvin/operations.hpp"

namespace kelvin::cli {

struct compute_args {
  const operation* op = &operations().front();  // softmax
  // As typed: each item may hold several comma-separated temperatures.
  std::vector<std::string> temperatures;
  std::vector<std::string> values;
  bool f32 = false;
  bool f64 = false;
  std::string empty_row = "nan";
  int threads = 0;  // 0: the library's default (all cores)

  // Files (files.hpp): "" when not given, "-" for stdin/stdout.
  std::string input;
  std::string output;
  bool axis_given = false;
  int axis = -1;
  std::string format;         // npy, csv, tsv; "" = from the extension or the content
  std::string output_format;  // "" = from the output's extension, else the input's
  bool header = false;        // CSV: the first line names the columns
  bool quiet = false;         // no progress bar
  std::string chunk_size;     // bytes per chunk ("8M"); "" = the default
};

// Every temperature in `items` (comma-separated or repeated), checked;
// {1.0} when none is given. Throws usage_error.
std::vector<double> parse_temperatures(const std::vector<std::string>& items);
// "nan" or "zero". Throws usage_error.
empty_row_policy parse_empty_row(const std::string& s);
// Command-line values in strtod syntax. Throws usage_error naming the bad one.
template <class T>
std::vector<T> parse_values(const std::vector<std::string>& tokens);

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
