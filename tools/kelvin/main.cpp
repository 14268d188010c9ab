// kelvin: softmax with temperature on the command line.
//
//   kelvin demo                                  the blog post's table, drawn
//   kelvin softmax -t 0.1,1,10 -- 1 5 7 10       one line per temperature
//   kelvin info                                  version, SIMD targets, threads
//
// Exit codes (DESIGN.md section 6): 0 success, 2 bad input (one line on
// stderr, nothing on stdout), 1 internal failure.
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
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kSubcommands =
    "demo, info, softmax, log-softmax, log-partition, smooth-max";

void print_error(std::string_view message) {
  // Exactly one line, even when the message quotes input that holds a newline.
  std::string line(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "kelvin: error: %s\n", line.c_str());
}

bool is_compute_subcommand(std::string_view s) {
  return s == "softmax" || s == "log-softmax" || s == "log-partition" || s == "smooth-max";
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

void add_compute_options(CLI::App* sub, compute_args& args) {
  sub->add_option("-t,--temperature", args.temperatures,
                  "temperatures T >= 0, comma-separated or repeated; 0 and inf allowed "
                  "(default 1)")
      ->allow_extra_args(false)
      ->type_name("T[,T...]");
  sub->add_flag("--f32", args.f32, "compute in float32 and print float digits (default double)");
  sub->add_option("--empty-row", args.empty_row,
                  "result for a row with no entry above -inf: nan (default) or zero")
      ->type_name("nan|zero");
  sub->add_option("values", args.values,
                  "the row x: numbers in strtod syntax, inf, -inf (masked), nan; write them "
                  "after '--' when one starts with '-'")
      ->type_name("X");
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
      "  kelvin smooth-max -t 0.5 -- 1 2 3");

  CLI::App* demo = app.add_subcommand("demo", "the blog post's example, computed and drawn");
  CLI::App* info = app.add_subcommand("info", "version, SIMD targets and threads");

  compute_args args;
  bool log_flag = false;
  CLI::App* softmax_cmd = app.add_subcommand("softmax", "softmax(x / T), one line per T");
  add_compute_options(softmax_cmd, args);
  softmax_cmd->add_flag("--log", log_flag, "print log_softmax instead");
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
    add_compute_options(sub, args);
    compute_cmds.emplace_back(sub, f.fn);
  }

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
  } else {
    bool found = false;
    for (const auto& [sub, fn] : compute_cmds) {
      if (!app.got_subcommand(sub)) continue;
      args.fn = fn == family::softmax && log_flag ? family::log_softmax : fn;
      args.values.insert(args.values.end(), split.values.begin(), split.values.end());
      out = run_compute(args);
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
