// kelvin CLI: the softmax family over files and streams, and `kelvin plot`.
//
//   kelvin softmax -t 0.5 --input logits.npy --output probs.npy
//   kelvin log-partition --axis 0 --input table.csv --header --output -
//   python gen.py | kelvin softmax --input - --output - | python use.py
//
// Formats: .npy (float32/float64, either byte order, C or Fortran order,
// any rank; the output keeps the input's dtype, byte order and memory
// order), CSV and TSV; picked by --format, else the extension, else the
// content (stdin). docs/cli.md has the whole story (memory bound, errors).
#pragma once

#include <string>

#include "tools/kelvin/commands.hpp"

namespace kelvin::cli {

// Reads args.input (or args.values), computes args.op along args.axis and
// writes args.output ("-" or none: stdout), through a temporary file renamed
// when complete. Throws usage_error for bad input (exit code 2), io_failure
// when reading or writing fails (exit code 1).
void run_files(const compute_args& args);

// `kelvin plot`: the bar chart of `demo` for one row (args.values, or
// args.input holding one row) at each temperature.
std::string run_plot(const compute_args& args, int width);

}  // namespace kelvin::cli
