// kelvin loss: the losses of kelvin/loss.hpp on the command line.
//
//   kelvin loss info-nce --positive 1 --negative -1 -K 1024 -t 1,0.5,0.07
//
// prints one "T loss" line per temperature (the seed's worked example: the
// InfoNCE loss of a query whose positive logit is 1 and whose K negatives are
// all -1), or "T loss dL/dT" with --grad.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace kelvin::cli {

// Adds `loss` and its subcommands to app. When one of them runs, its output
// goes to `out` (bad input throws usage_error or kelvin::error).
CLI::App* add_loss_command(CLI::App& app, std::string& out);

}  // namespace kelvin::cli
