// Test support for the kelvin CLI: run a program (no shell) capturing its
// stdout, stderr and exit code, and split its output lines.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kelvin::testing {

struct command_result {
  int exit_code = -1;  // the exit status; 128 + signal if a signal ended it
  std::string out;
  std::string err;

  std::vector<std::string> out_lines() const;
  std::vector<std::string> err_lines() const;
};

// argv[0] is the program path. `env` adds or replaces environment variables.
// The child's stdin is `stdin_path` (default /dev/null).
command_result run_command(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env = {},
                           const std::string& stdin_path = "/dev/null");

// The same with `input` written to the child's stdin through a pipe (a
// stream of unknown size, as from another program).
command_result run_command_piped(const std::vector<std::string>& argv, const std::string& input);

// A line "T [a, b, c]" of `kelvin softmax` split into "T" and {"a", "b", "c"};
// a line "T v" of `kelvin log-partition` into "T" and {"v"}. Adds a gtest
// failure when the line has neither shape.
struct output_line {
  std::string temperature;
  std::vector<std::string> values;
};
output_line split_output_line(const std::string& line);

// The built `kelvin` binary with these arguments, stdin fed through a pipe.
command_result run_kelvin_piped(const std::vector<std::string>& args, const std::string& input);

// The built `kelvin` binary with these arguments.
command_result run_kelvin(const std::vector<std::string>& args,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          const std::string& stdin_path = "/dev/null");

}  // namespace kelvin::testing
