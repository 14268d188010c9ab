// kelvin: softmax with temperature on the command line.
//
//   kelvin demo                                  the blog post's table, drawn
//   kelvin softmax -t 0.1,1,10 -- 1 5 7 10       one line per temperature
//   kelvin softmax -t 0.5 --input x.npy --output y.npy   files and streams
//   kelvin plot -t 0.1,1,10 -- 1 5 7 10          bar charts of one row
//   kelvin info                                  version, SIMD targets, threads
//   kelvin sample -t 0.8 --top-k 40 -- 2 1 0     the next token (sample_command.hpp)
//
// Exit codes (DESIGN.md section 6): 0 success, 2 bad input (one line on
// stderr, nothing on stdout, no output file), 1 internal or I/O failure.
// docs/cli.md is the user guide.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kelvin/runtime.hpp"
#include "kelvin/types.hpp"
#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/files.hpp"
#include "tools/kelvin/loss_command.hpp"
#include "tools/kelvin/numbers.hpp"
#include "tools/kelvin/sample_command.hpp"

namespace kelvin::cli {
namespace {

constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kSubcommands =
    "demo, info, plot, sample, softmax, log-softmax, log-partition, smooth-max, loss";

void print_error(std::string_view message) {
  // Exactly one line, even when the message quotes input that holds a newline.
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "kelvin: error: %s\n", line.c_str());
}

// The subcommands that take a row of values after "--".
bool is_compute_subcommand(std::string_view s) {
  return s == "softmax" || s == "log-softmax" || s == "log-partition" || s == "smooth-max" ||
         s == "plot" || s == "sample";
}

struct split_args {
  std::vector<std::string> options;  // for CLI11
  std::vector<std::string> values;   // after a compute subcommand's "--"
};

// Two things CLI11 gets wrong for a row of numbers, fixed before it parses:
// - After "--" it hands the tokens back to the parent app once the values
//   positional holds one value (`softmax 1 -- 2` fails), and would still take
//   a value spelled like a subcommand for one. So the tokens after a compute
//   subcommand's "--" never reach CLI11: they are the values, in order.
// - It reads "-inf" or "-nan" as the short option -i or -n, so `-t -inf`
//   would fail as "-t needs an argument" instead of reaching the temperature
//   check. Spelling it "--temperature=-inf" keeps the token whole.
split_args normalize(int argc, char** argv) {
  split_args out;
  std::vector<std::string>& args = out.options;
  args.assign(argv + 1, argv + argc);
  bool in_compute = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      if (in_compute) {
        out.values.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
        args.resize(i);
      }
      break;
    }
    if (is_compute_subcommand(args[i])) in_compute = true;
    const bool takes_temperature = args[i] == "-t" || args[i] == "--temperature";
    if (in_compute && takes_temperature && i + 1 < args.size() && args[i + 1].size() > 1 &&
        args[i + 1][0] == '-' && args[i + 1] != "--") {
      args[i] = "--temperature=" + args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  }
  return out;
}

// CLI11's "The following arguments were not expected" rephrased for the
// cases a person meets: a mistyped subcommand or option, or a negative value
// such as -inf written before "--".
std::string describe_extras(const CLI::App& app) {
  const CLI::App* owner = &app;
  if (app.remaining().empty()) {
    for (const CLI::App* sub : app.get_subcommands()) {
      if (!sub->remaining().empty()) owner = sub;
    }
  }
  const std::vector<std::string> extras = owner->remaining();
  if (extras.empty()) return "unexpected arguments";
  const std::string& token = extras.front();
  const std::string where = owner == &app ? "kelvin" : "kelvin " + owner->get_name();
  if (owner == &app && app.get_subcommands().empty() && token == "--") {
    return "no subcommand given before '--' (expected one of " + std::string(kSubcommands) + ")";
  }
  if (owner == &app && app.get_subcommands().empty() && token.rfind('-', 0) != 0) {
    return "unknown subcommand '" + token + "' (expected one of " + std::string(kSubcommands) + ")";
  }
  if (token.rfind('-', 0) == 0) {
    if (owner != &app && parse_double(token)) {
      return "'" + token + "' reads as an option: put the values after '--' (" + where +
             " -t 1 -- 1 " + token + ")";
    }
    return "unknown option '" + token + "' for " + where + " (see " + where + " --help)";
  }
  return "unexpected argument '" + token + "' for " + where;
}

// The options of one compute subcommand that main needs after parsing.
struct compute_options {
  CLI::Option* axis = nullptr;
};

void add_row_options(CLI::App* sub, compute_args& args) {
  sub->add_option("-t,--temperature", args.temperatures,
                  "temperatures T >= 0, comma-separated or repeated; 0 and inf allowed "
                  "(default 1; one only with --input/--output)")
      ->allow_extra_args(false)
      ->type_name("T[,T...]");
  sub->add_option("--empty-row", args.empty_row,
                  "result for a row with no entry above -inf: nan (default) or zero")
      ->type_name("nan|zero");
  // No -i: "-inf" must stay a value (CLI11 would read it as -i nf).
  sub->add_option("--input", args.input,
                  "read the array from PATH (.npy, .csv, .tsv; - for stdin) instead of values")
      ->type_name("PATH");
  sub->add_option("--format", args.format,
                  "input format: npy, csv or tsv (default: from the extension, else the content)")
      ->type_name("FMT");
  sub->add_flag("--header", args.header, "CSV/TSV input: the first line names the columns");
  sub->add_option("--threads", args.threads,
                  "threads (default 0: all cores; a stream leaves two of them to the threads "
                  "that read and write)")
      ->type_name("N");
  sub->add_option("values", args.values,
                  "the row x: numbers in strtod syntax, inf, -inf (masked), nan; write them "
                  "after '--' when one starts with '-'")
      ->type_name("X");
}

compute_options add_compute_options(CLI::App* sub, compute_args& args) {
  compute_options o;
  add_row_options(sub, args);
  CLI::Option* f32 = sub->add_flag(
      "--f32", args.f32, "compute in float32 (values: print float digits; default double)");
  CLI::Option* f64 =
      sub->add_flag("--f64", args.f64, "compute in float64 (default: the input's dtype)");
  f32->excludes(f64);
  sub->add_option("-o,--output", args.output,
                  "write the result to PATH (.npy, .csv, .tsv; - for stdout), through a "
                  "temporary file renamed when complete")
      ->type_name("PATH");
  o.axis = sub->add_option("--axis", args.axis,
                           "the axis to compute along, as in NumPy (default -1: the last)")
               ->type_name("N");
  sub->add_option("--output-format", args.output_format,
                  "output format: npy, csv or tsv (default: from the extension, else the input's)")
      ->type_name("FMT");
  sub->add_flag("-q,--quiet", args.quiet, "no progress bar on stderr");
  sub->add_option("--chunk-size", args.chunk_size,
                  "memory per chunk of rows (default 8M; 3 chunks are in flight)")
      ->type_name("SIZE");
  return o;
}

// Values on the command line print "T [..]" lines: the file options have
// nothing to act on there.
void check_values_only(const compute_args& args) {
  const char* stray = !args.format.empty()          ? "--format"
                      : !args.output_format.empty() ? "--output-format"
                      : args.header                 ? "--header"
                      : !args.chunk_size.empty()    ? "--chunk-size"
                                                    : nullptr;
  if (stray != nullptr) {
    throw usage_error(std::string(stray) + " applies to --input/--output, not to values");
  }
  if (args.axis_given && args.axis != 0 && args.axis != -1) {
    throw usage_error("--axis " + std::to_string(args.axis) +
                      " is out of range for a row of values (valid: -1 to 0)");
  }
  if (args.threads < 0) {
    throw usage_error("--threads must be >= 0 (got " + std::to_string(args.threads) + ")");
  }
}

int run(int argc, char** argv) {
  CLI::App app("kelvin: softmax with temperature (SIMD kernels, accurate to 2 ulp).", "kelvin");
  app.set_version_flag("--version", "kelvin " + std::string(version()));
  app.require_subcommand(0, 1);
  app.footer(
      "Examples:\n"
      "  kelvin demo\n"
      "  kelvin softmax -t 0.1,1,10 -- 1 5 7 10\n"
      "  kelvin softmax --log --f32 -t 0,inf -- 1 -inf 3\n"
      "  kelvin smooth-max -t 0.5 -- 1 2 3\n"
      "  kelvin softmax -t 0.7 --input logits.npy --output probs.npy\n"
      "  kelvin log-partition --axis 0 --header --input table.csv --output -\n"
      "  kelvin plot -t 0.1,1,10 -- 1 5 7 10\n"
      "  kelvin loss info-nce --positive 1 --negative -1 -K 1024 -t 1,0.5,0.07\n"
      "  kelvin sample -t 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 --seed 7 -- 2 1 0 -1");

  CLI::App* demo = app.add_subcommand("demo", "the blog post's example, computed and drawn");
  CLI::App* info = app.add_subcommand("info", "version, SIMD targets and threads");

  compute_args args;
  bool log_flag = false;
  CLI::App* softmax_cmd = app.add_subcommand(
      "softmax", "softmax(x / T): one line per T, or an array from --input to --output");
  std::vector<compute_options> options_of = {add_compute_options(softmax_cmd, args)};
  softmax_cmd->add_flag("--log", log_flag, "compute log_softmax instead");
  struct named_family {
    const char* name;
    const char* help;
    family fn;
  };
  const named_family others[] = {
      {"log-softmax", "log_softmax(x / T), one line per T", family::log_softmax},
      {"log-partition", "log sum_i exp(x_i / T), one 'T value' line per T", family::log_partition},
      {"smooth-max", "T * log-partition (-> max(x) as T -> 0), one 'T value' line per T",
       family::smooth_max},
  };
  std::vector<std::pair<CLI::App*, family>> compute_cmds = {{softmax_cmd, family::softmax}};
  for (const named_family& f : others) {
    CLI::App* sub = app.add_subcommand(f.name, f.help);
    options_of.push_back(add_compute_options(sub, args));
    compute_cmds.emplace_back(sub, f.fn);
  }
  int plot_width = 40;
  CLI::App* plot = app.add_subcommand(
      "plot", "bar charts of softmax(x / T) for one row, one chart per T (as in demo)");
  add_row_options(plot, args);
  plot->add_option("--width", plot_width, "cells in a full bar, p = 1 (default 40)")
      ->type_name("N");

  std::string loss_out;
  CLI::App* loss_cmd = add_loss_command(app, loss_out);
  sample_args sample_opts;
  CLI::App* sample_cmd = add_sample_command(app, sample_opts);

  split_args split = normalize(argc, argv);
  std::vector<std::string> reversed = std::move(split.options);
  std::reverse(reversed.begin(), reversed.end());  // CLI11 parses a vector back to front
  try {
    app.parse(reversed);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version: print to stdout, exit 0
  } catch (const CLI::ExtrasError&) {
    throw usage_error(describe_extras(app));
  } catch (const CLI::ParseError& e) {
    throw usage_error(e.what());
  }

  std::string out;
  if (app.got_subcommand(demo)) {
    out = run_demo();
  } else if (app.got_subcommand(info)) {
    out = run_info();
  } else if (app.got_subcommand(loss_cmd)) {
    out = loss_out;
  } else if (app.got_subcommand(sample_cmd)) {
    sample_opts.values.insert(sample_opts.values.end(), split.values.begin(), split.values.end());
    out = run_sample(sample_opts);
  } else if (app.got_subcommand(plot)) {
    args.values.insert(args.values.end(), split.values.begin(), split.values.end());
    out = run_plot(args, plot_width);
  } else {
    bool found = false;
    for (std::size_t i = 0; i < compute_cmds.size(); ++i) {
      const auto& [sub, fn] = compute_cmds[i];
      if (!app.got_subcommand(sub)) continue;
      args.fn = fn == family::softmax && log_flag ? family::log_softmax : fn;
      args.values.insert(args.values.end(), split.values.begin(), split.values.end());
      args.axis_given = options_of[i].axis->count() > 0;
      if (!args.input.empty() || !args.output.empty()) {
        run_files(args);  // writes its own output
      } else {
        check_values_only(args);
        out = run_compute(args);
      }
      found = true;
    }
    if (!found) {
      throw usage_error("no subcommand given (expected one of " + std::string(kSubcommands) +
                        "; see kelvin --help)");
    }
  }

  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    print_error("cannot write the output");
    return kExitInternal;
  }
  return 0;
}

}  // namespace
}  // namespace kelvin::cli

int main(int argc, char** argv) {
  using kelvin::cli::kExitInternal;
  using kelvin::cli::kExitUsage;
  using kelvin::cli::print_error;
  try {
    return kelvin::cli::run(argc, argv);
  } catch (const kelvin::cli::usage_error& e) {
    print_error(e.what());
    return kExitUsage;
  } catch (const kelvin::error& e) {
    // The library checks its arguments too; those are the user's input.
    print_error(e.what());
    return e.code() == kelvin::status::invalid_argument ? kExitUsage : kExitInternal;
  } catch (const kelvin::cli::io_failure& e) {
    print_error(e.what());
    return kExitInternal;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return kExitInternal;
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what());
    return kExitInternal;
  } catch (...) {
    print_error("internal error");
    return kExitInternal;
  }
}
