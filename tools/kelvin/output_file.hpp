// kelvin CLI: where a command's output goes, so that nothing is ever
// half-written. A file is written unnamed in its folder (O_TMPFILE) and
// linked onto its path only when complete and synced, so a process killed
// at any point, even by SIGKILL, leaves nothing behind. Where the filesystem
// lacks O_TMPFILE it is written under a temporary name (".NAME.kelvin-XXXXXX")
// instead, removed on an error, an exception or SIGINT/SIGTERM/SIGHUP (only
// SIGKILL or a crash can leave that one). Either way whatever was at the path
// stays untouched until the complete file replaces it. "-" is standard
// output, which is streamed (a failure part-way leaves what was already
// written there).
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
  // True for a file of our own (pwrite and rewriting the header work).
  bool seekable() const { return !stdout_; }
  // True when the file has no name until commit (O_TMPFILE).
  bool unnamed() const { return unnamed_; }

  // Gives the file its final mode, syncs it, puts it at the path, and syncs
  // the folder so that the new name survives a power loss. Throws
  // io_failure; on failure nothing is left and the path is untouched.
  void commit();

 private:
  void publish_unnamed();
  void fail(const std::string& what, int err);

  std::string path_;
  std::string name_;
  std::string dir_;   // the output's folder, "." for a bare name
  std::string base_;  // the output's file name, cut to fit a temporary name
  std::string temp_;  // the named temporary (fallback), or "" when unnamed
  int fd_ = -1;
  bool stdout_ = false;        // streamed: standard output, a device or a FIFO
  bool owned_stream_ = false;  // a device or FIFO opened here
  bool unnamed_ = false;       // O_TMPFILE: nothing to remove on failure
  bool committed_ = false;
  mode_t mode_ = 0644;
};

// Makes a write past the file-size limit (RLIMIT_FSIZE, `ulimit -f`) fail
// with EFBIG, reported like a full disk, instead of killing the process with
// SIGXFSZ before it can remove its temporary file. main() calls it first.
void ignore_file_size_signal();

// An unnamed temporary file for spilling data that does not fit in memory:
// O_TMPFILE (or mkstemp then unlink) in $TMPDIR, else /tmp. It vanishes when
// closed, even if the process is killed. Throws io_failure.
int anonymous_temp_file();

}  // namespace kelvin::cli
