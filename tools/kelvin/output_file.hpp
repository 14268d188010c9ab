// kelvin CLI: where a command's output goes, so that nothing is ever
// half-written. A file is written under a temporary name in the same folder
// (".NAME.kelvin-XXXXXX") and renamed onto its path only when complete;
// an error, an exception or SIGINT/SIGTERM/SIGHUP removes the temporary and
// leaves whatever was at the path untouched. "-" is standard output, which
// is streamed (a failure part-way leaves what was already written there).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

namespace kelvin::cli {

class output_file {
 public:
  // Throws usage_error (exit code 2) when the path cannot be written: its
  // folder is missing or read-only, it is a folder, or it is the input file
  // itself (`input`: the input's stat, nullptr for none).
  output_file(const std::string& path, const struct stat* input);
  ~output_file();
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  int fd() const { return fd_; }
  // The path as typed, or "<stdout>".
  const std::string& name() const { return name_; }
  // Streamed, not renamed: standard output, or a device or named pipe.
  bool is_stdout() const { return stdout_; }
  // True for a temporary file (pwrite and rewriting the header work).
  bool seekable() const { return !stdout_; }

  // Gives the temporary file its final mode and renames it onto the path.
  // Throws io_failure.
  void commit();

 private:
  std::string path_;
  std::string name_;
  std::string temp_;
  int fd_ = -1;
  bool stdout_ = false;        // streamed: standard output, a device or a FIFO
  bool owned_stream_ = false;  // a device or FIFO opened here
  bool committed_ = false;
  mode_t mode_ = 0644;
};

// An unnamed temporary file for spilling data that does not fit in memory:
// O_TMPFILE (or mkstemp then unlink) in $TMPDIR, else /tmp. It vanishes when
// closed, even if the process is killed. Throws io_failure.
int anonymous_temp_file();

}  // namespace kelvin::cli
