#include "tools/kelvin/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

// The temporary file to remove if a signal ends the process. Plain storage:
// the handler may only call async-signal-safe functions.
char g_temp_path[4096];
volatile std::sig_atomic_t g_temp_active = 0;

extern "C" void remove_temp_and_reraise(int sig) {
  if (g_temp_active) unlink(g_temp_path);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_signal_cleanup() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    sigaction(sig, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;  // e.g. nohup: keep ignoring it
    struct sigaction sa {};
    sa.sa_handler = remove_temp_and_reraise;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

mode_t default_mode() {
  const mode_t mask = umask(0);
  umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

}  // namespace

output_file::output_file(const std::string& path, const struct stat* input) : path_(path) {
  if (path == "-") {
    stdout_ = true;
    fd_ = STDOUT_FILENO;
    name_ = "<stdout>";
    return;
  }
  name_ = path;
  if (path.empty()) throw usage_error("--output is empty (give a path, or - for stdout)");
  mode_ = default_mode();
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw usage_error(path + ": cannot write: is a directory");
    if (input != nullptr && st.st_dev == input->st_dev && st.st_ino == input->st_ino) {
      throw usage_error(path + ": the output is the input file; write to another path");
    }
    if (!S_ISREG(st.st_mode)) {
      // A device or a named pipe (/dev/null, a FIFO): no file to protect,
      // and renaming over it would replace it. Stream to it.
      fd_ = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0) throw usage_error(path + ": cannot write: " + std::strerror(errno));
      stdout_ = true;  // streamed: nothing to rename
      owned_stream_ = true;
      return;
    }
    mode_ = st.st_mode & 07777;
  }
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) throw usage_error(path + ": cannot write: is a directory");
  if (base.size() > 200) base.resize(200);  // the temporary name must fit NAME_MAX
  temp_ = (slash == std::string::npos ? std::string() : dir) + "." + base + ".kelvin-XXXXXX";
  fd_ = mkostemp(temp_.data(), O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    throw usage_error(path + ": cannot write: " + std::strerror(err));
  }
  if (temp_.size() < sizeof g_temp_path) {
    std::memcpy(g_temp_path, temp_.c_str(), temp_.size() + 1);
    g_temp_active = 1;
    install_signal_cleanup();
  }
}

output_file::~output_file() {
  if (owned_stream_) close(fd_);
  if (stdout_ || committed_ || fd_ < 0) return;
  g_temp_active = 0;
  close(fd_);
  unlink(temp_.c_str());
}

void output_file::commit() {
  if (stdout_ || committed_) return;
  if (fchmod(fd_, mode_) != 0)
    throw io_failure("cannot set the mode of " + errno_message(temp_, errno));
  const int rc = close(fd_);
  fd_ = -1;
  if (rc != 0) {
    const int err = errno;
    g_temp_active = 0;
    unlink(temp_.c_str());
    committed_ = true;  // nothing left to clean up
    throw io_failure("cannot write " + errno_message(name_, err));
  }
  if (rename(temp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    g_temp_active = 0;
    unlink(temp_.c_str());
    committed_ = true;
    throw io_failure("cannot rename " + temp_ + " to " + errno_message(path_, err));
  }
  g_temp_active = 0;
  committed_ = true;
}

int anonymous_temp_file() {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = env != nullptr && *env != '\0' ? env : "/tmp";
#ifdef O_TMPFILE
  const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
#endif
  std::string name = dir + "/kelvin-spool-XXXXXX";
  const int fd2 = mkostemp(name.data(), O_CLOEXEC);
  if (fd2 < 0) throw io_failure("cannot create a temporary file in " + errno_message(dir, errno));
  unlink(name.c_str());
  return fd2;
}

}  // namespace kelvin::cli
