// kelvin CLI: `kelvin sample`, the next token from a row of logits (or every
// row of a .npy file) with kelvin's sampler.
//
//   kelvin sample -t 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 --seed 7 -- 2 1 0 -1
//   kelvin sample -t 0.8 --steps 5 --logprobs -- 2 1 0 -1
//   kelvin sample --distribution -t 0.5 --top-p 0.7 -- 2 1 0
//   kelvin sample -t 0.8 --top-k 40 --input logits.npy --output tokens.txt
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace kelvin::cli {

struct sample_args {
  std::string temperature = "1";
  long long top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double typical_p = 1.0;
  long long min_keep = 1;
  std::string order = "temperature_last";
  double dynamic_range = 0.0;
  double dynamic_exponent = 1.0;
  unsigned long long seed = 0;
  unsigned long long step = 0;
  unsigned long long steps = 1;
  bool logprobs = false;
  bool distribution = false;
  int threads = 0;
  std::string input;   // a .npy file of 1-D or 2-D logits ("" = the values)
  std::string output;  // "" or "-": stdout
  std::vector<std::string> values;
};

// Registers the subcommand on `app`, its options bound to `args`.
CLI::App* add_sample_command(CLI::App& app, sample_args& args);

// Runs it: the text for stdout, or "" when it went to args.output (through
// a temporary file renamed when complete). One line per row and step: the
// token, or "token logprob raw_logprob" with --logprobs; with
// --distribution one "[p_0, p_1, ...]" line per row. Throws usage_error or
// kelvin::error for bad input (exit code 2).
std::string run_sample(const sample_args& args);

}  // namespace kelvin::cli
