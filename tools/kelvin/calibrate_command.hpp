// kelvin CLI: `kelvin calibrate`, temperature scaling from .npy files.
//
//   kelvin calibrate --logits val.npy --labels val_labels.npy [--bins 15]
//   kelvin calibrate --logits val.npy --labels y.npy --apply-to test.npy --output p.npy
//
// Fits T on the validation logits (kelvin::fit_temperature), prints a
// before/after table of NLL, ECE, adaptive ECE, MCE, classwise ECE, Brier
// score and accuracy, and a terminal reliability diagram; --apply-to writes
// softmax(test / T) through `kelvin softmax`'s streamed, crash-safe file path
// (any input/output format it takes).
#pragma once

#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace kelvin::cli {

struct calibrate_args {
  std::string logits;  // .npy, N x C float32/float64
  std::string labels;  // .npy, N integers (int32/int64/uint32/uint64, or integral floats)
  int bins = 15;
  std::string apply_to;  // "" = none
  std::string output;
  std::string output_format;
  int threads = 0;
  bool quiet = false;
  int width = 40;  // cells of a full bar in the reliability diagram
};

struct calibrate_command {
  CLI::App* sub = nullptr;
  std::shared_ptr<calibrate_args> args;
};

// Adds the `calibrate` subcommand to `app`.
calibrate_command add_calibrate_command(CLI::App& app);

// Runs it: returns the text to print (the table and the diagram); writes
// --output itself. Throws usage_error for bad input.
std::string run_calibrate(const calibrate_args& args);

}  // namespace kelvin::cli
