#include "tests/cli/run_command.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

extern char** environ;

namespace kelvin::testing {
namespace {

// A temporary file, unlinked at once: the child writes to the descriptor and
// the test reads it back after the child exits (no pipes, so no deadlock on
// output larger than a pipe buffer).
int temp_fd() {
  char name[] = "/tmp/kelvin_cli_test_XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  unlink(name);
  return fd;
}

std::string read_all(int fd) {
  std::string s;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < s.size()) {
    const std::size_t nl = s.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(s.substr(start));
      break;
    }
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

std::vector<std::string> command_result::out_lines() const { return split_lines(out); }
std::vector<std::string> command_result::err_lines() const { return split_lines(err); }

namespace {

// Spawns argv with stdin opened from `stdin_path`, or dup'ed from
// `stdin_fd` when it is >= 0; `feed` runs while the child does.
template <class Feed>
command_result spawn_and_wait(const std::vector<std::string>& argv,
                              const std::vector<std::pair<std::string, std::string>>& env,
                              const std::string& stdin_path, int stdin_fd, int close_in_child,
                              Feed&& feed) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    bool replaced = false;
    for (const auto& [key, value] : env) replaced = replaced || entry.rfind(key + "=", 0) == 0;
    if (!replaced) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);

  std::vector<char*> c_argv;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (std::string& e : env_strings) c_env.push_back(e.data());
  c_env.push_back(nullptr);

  const int out_fd = temp_fd();
  const int err_fd = temp_fd();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  }
  if (close_in_child >= 0) posix_spawn_file_actions_addclose(&actions, close_in_child);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  // The child gets the default SIGPIPE even if this process ignores it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  const int rc = posix_spawn(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    close(out_fd);
    close(err_fd);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  feed();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  command_result r;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  r.out = read_all(out_fd);
  r.err = read_all(err_fd);
  close(out_fd);
  close(err_fd);
  return r;
}

}  // namespace

command_result run_command(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env,
                           const std::string& stdin_path) {
  return spawn_and_wait(argv, env, stdin_path, -1, -1, [] {});
}

command_result run_command_piped(const std::vector<std::string>& argv, const std::string& input) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  // A child that stops reading early must not kill the test with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  command_result r = spawn_and_wait(argv, {}, "", fds[0], fds[1], [&] {
    close(fds[0]);
    std::thread writer([&] {
      std::size_t done = 0;
      while (done < input.size()) {
        const ssize_t n = write(fds[1], input.data() + done, input.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the child closed its stdin
        done += static_cast<std::size_t>(n);
      }
      close(fds[1]);
    });
    writer.join();
  });
  return r;
}

output_line split_output_line(const std::string& line) {
  output_line out;
  const std::size_t space = line.find(' ');
  if (space == std::string::npos || space + 1 >= line.size()) {
    ADD_FAILURE() << "not a 'T [a, b, ...]' or 'T v' line: '" << line << "'";
    return out;
  }
  out.temperature = line.substr(0, space);
  std::string rest = line.substr(space + 1);
  if (rest.front() != '[') {
    out.values.push_back(rest);
    return out;
  }
  if (rest.back() != ']') {
    ADD_FAILURE() << "unterminated list: '" << line << "'";
    return out;
  }
  rest = rest.substr(1, rest.size() - 2);
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = rest.find(", ", start);
    out.values.push_back(rest.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
  return out;
}

command_result run_kelvin_piped(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {KELVIN_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command_piped(argv, input);
}

command_result run_kelvin(const std::vector<std::string>& args,
                          const std::vector<std::pair<std::string, std::string>>& env,
                          const std::string& stdin_path) {
  std::vector<std::string> argv = {KELVIN_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, stdin_path);
}

}  // namespace kelvin::testing
