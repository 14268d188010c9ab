#include "tools/kelvin/byte_io.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {

std::string errno_message(const std::string& name, int err) {
  return name + ": " + std::strerror(err);
}

byte_reader::byte_reader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const off_t at = lseek(fd, 0, SEEK_CUR);
    start_offset_ = at > 0 ? static_cast<std::uint64_t>(at) : 0;
    const auto total = static_cast<std::uint64_t>(st.st_size);
    size_ = total > start_offset_ ? total - start_offset_ : 0;
  }
}

byte_reader::byte_reader(std::string_view memory, std::string name, std::size_t max_read)
    : memory_(memory),
      max_read_(max_read == 0 ? 1 : max_read),
      name_(std::move(name)),
      size_(memory.size()) {}

std::size_t byte_reader::read_some(void* dst, std::size_t n) {
  if (n == 0) return 0;
  auto* out = static_cast<char*>(dst);
  if (pushback_pos_ < pushback_.size()) {
    const std::size_t k = std::min(n, pushback_.size() - pushback_pos_);
    std::memcpy(out, pushback_.data() + pushback_pos_, k);
    pushback_pos_ += k;
    if (pushback_pos_ == pushback_.size()) {
      pushback_.clear();
      pushback_pos_ = 0;
    }
    position_ += k;
    return k;
  }
  if (fd_ < 0) {
    const std::size_t at = static_cast<std::size_t>(position_);
    const std::size_t k = at < memory_.size() ? std::min({n, max_read_, memory_.size() - at}) : 0;
    if (k > 0) std::memcpy(out, memory_.data() + at, k);
    position_ += k;
    return k;
  }
  while (true) {
    const ssize_t got = ::read(fd_, out, n);
    if (got >= 0) {
      position_ += static_cast<std::uint64_t>(got);
      return static_cast<std::size_t>(got);
    }
    if (errno == EINTR) continue;
    if (errno == EISDIR) throw usage_error(name_ + ": is a directory");
    throw io_failure("cannot read " + errno_message(name_, errno));
  }
}

std::size_t byte_reader::read_full(void* dst, std::size_t n) {
  auto* out = static_cast<char*>(dst);
  std::size_t done = 0;
  while (done < n) {
    const std::size_t got = read_some(out + done, n - done);
    if (got == 0) break;
    done += got;
  }
  return done;
}

void byte_reader::unread(std::string_view bytes) {
  // Only bytes just read come back: memory input rewinds, a descriptor keeps
  // them in front of the rest.
  position_ -= bytes.size();
  if (fd_ < 0 || bytes.empty()) return;
  pushback_ = std::string(bytes) + pushback_.substr(pushback_pos_);
  pushback_pos_ = 0;
}

bool byte_reader::at_end() {
  char c = 0;
  if (read_some(&c, 1) == 0) return true;
  unread(std::string_view(&c, 1));
  return false;
}

void write_all(int fd, const void* data, std::size_t n, const std::string& name) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0) {
      if (errno == EINTR) continue;
      throw io_failure("cannot write " + errno_message(name, errno));
    }
    p += put;
    n -= static_cast<std::size_t>(put);
  }
}

void pwrite_all(int fd, const void* data, std::size_t n, std::uint64_t offset,
                const std::string& name) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t put = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      throw io_failure("cannot write " + errno_message(name, errno));
    }
    p += put;
    n -= static_cast<std::size_t>(put);
    offset += static_cast<std::uint64_t>(put);
  }
}

void pread_full(int fd, void* dst, std::size_t n, std::uint64_t offset, const std::string& name) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw io_failure("cannot read " + errno_message(name, errno));
    }
    if (got == 0) {
      throw usage_error(name + ": truncated: the file ended at byte " + std::to_string(offset) +
                        " while reading its data (was it changed while kelvin ran?)");
    }
    p += got;
    n -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
}

}  // namespace kelvin::cli
