// kelvin CLI: reading and writing bytes, with the errors named after the file.
// Input comes from a file descriptor (a file, a pipe, a terminal) or, for the
// fuzzers and tests, from memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kelvin::cli {

// An I/O failure that is not the input's fault (a read error, a full disk, a
// closed pipe): one line on stderr, exit code 1.
class io_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<name>: <strerror(err)>".
std::string errno_message(const std::string& name, int err);

// Sequential reads with a small push-back buffer (format sniffing peeks at
// the first bytes and puts them back).
class byte_reader {
 public:
  // Reads `fd` (not owned) from its current offset; `name` is what messages
  // call it: the path as typed, or "<stdin>".
  byte_reader(int fd, std::string name);
  // Reads a block of memory that outlives the reader, at most max_read
  // bytes per read_some (the fuzzers vary it, as a pipe would).
  byte_reader(std::string_view memory, std::string name,
              std::size_t max_read = static_cast<std::size_t>(-1));

  byte_reader(const byte_reader&) = delete;
  byte_reader& operator=(const byte_reader&) = delete;

  const std::string& name() const { return name_; }
  // Up to n bytes; 0 only at the end of the input. Throws io_failure.
  std::size_t read_some(void* dst, std::size_t n);
  // n bytes, or fewer only at the end of the input.
  std::size_t read_full(void* dst, std::size_t n);
  // Puts bytes back: the next reads return them first.
  void unread(std::string_view bytes);
  // True when no byte is left (reads one ahead and puts it back).
  bool at_end();
  // Bytes handed out so far (minus those put back).
  std::uint64_t position() const { return position_; }
  // The bytes left from where the reader started, for a regular file (or
  // memory); nullopt for a pipe or a terminal.
  std::optional<std::uint64_t> size() const { return size_; }
  // The descriptor and the file offset where the reader started (for pread
  // on a regular file); -1 for memory.
  int fd() const { return fd_; }
  std::uint64_t start_offset() const { return start_offset_; }

 private:
  int fd_ = -1;
  std::string_view memory_;
  std::size_t max_read_ = static_cast<std::size_t>(-1);
  std::string name_;
  std::string pushback_;  // returned before anything else, front first
  std::size_t pushback_pos_ = 0;
  std::uint64_t position_ = 0;
  std::uint64_t start_offset_ = 0;
  std::optional<std::uint64_t> size_;
};

// Writes all n bytes (retrying short writes and EINTR). Throws io_failure.
void write_all(int fd, const void* data, std::size_t n, const std::string& name);
// The same at an absolute offset.
void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                const std::string& name);
// Reads n bytes at an absolute offset; throws usage_error ("truncated") when
// the file ends before them, io_failure on a read error.
void pread_full(int fd, void* dst, std::size_t n, std::uint64_t offset, const std::string& name);

}  // namespace kelvin::cli
