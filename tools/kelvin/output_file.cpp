#include "tools/kelvin/output_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
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

// The named temporary file to remove if a signal ends the process. Plain
// storage: the handler may only call async-signal-safe functions.
char g_temp_path[4096];
volatile std::sig_atomic_t g_temp_active = 0;

extern "C" void remove_temp_and_reraise(int sig) {
  if (g_temp_active) unlink(g_temp_path);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};

void install_signal_cleanup() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  for (int sig : kCleanupSignals) {
    struct sigaction old {};
    sigaction(sig, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;  // e.g. nohup: keep ignoring it
    struct sigaction sa {};
    sa.sa_handler = remove_temp_and_reraise;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

// Holds SIGINT/SIGTERM/SIGHUP back while a temporary name exists only for
// the instant between link and rename: they are delivered after it, when
// there is nothing to clean up.
class signals_held {
 public:
  signals_held() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kCleanupSignals) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~signals_held() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  signals_held(const signals_held&) = delete;
  signals_held& operator=(const signals_held&) = delete;

 private:
  sigset_t old_;
};

mode_t default_mode() {
  const mode_t mask = umask(0);
  umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

// Six characters for a temporary name: unique enough per attempt, and
// linkat's EEXIST makes a collision a retry, not a clobber.
std::string random_suffix() {
  static unsigned long long counter = 0;
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  unsigned long long v = static_cast<unsigned long long>(ts.tv_nsec) ^
                         (static_cast<unsigned long long>(getpid()) << 32) ^ (++counter << 20);
  v *= 0x9E3779B97F4A7C15ull;
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s(6, 'a');
  for (char& c : s) {
    c = kChars[v % 62];
    v /= 62;
  }
  return s;
}

// O_TMPFILE needs /proc to give the file a name later (linkat of a
// descriptor without CAP_DAC_READ_SEARCH goes through /proc/self/fd).
// KELVIN_CLI_NAMED_TEMP=1 forces the named fallback (for its tests).
bool unnamed_files_usable() {
#ifdef O_TMPFILE
  const char* force = std::getenv("KELVIN_CLI_NAMED_TEMP");
  if (force != nullptr && *force != '\0' && std::strcmp(force, "0") != 0) return false;
  return access("/proc/self/fd", X_OK) == 0;
#else
  return false;
#endif
}

}  // namespace

void ignore_file_size_signal() { std::signal(SIGXFSZ, SIG_IGN); }

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
  dir_ = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  base_ = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base_.empty()) throw usage_error(path + ": cannot write: is a directory");
  if (base_.size() > 200) base_.resize(200);  // the temporary name must fit NAME_MAX
#ifdef O_TMPFILE
  if (unnamed_files_usable()) {
    // Any failure here (a filesystem without O_TMPFILE, a read-only or
    // missing folder) falls through to mkostemp, which names the reason.
    fd_ = open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      unnamed_ = true;
      return;
    }
  }
#endif
  temp_ = (slash == std::string::npos ? std::string() : dir_) + "." + base_ + ".kelvin-XXXXXX";
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
  close(fd_);  // an unnamed file vanishes here
  if (!unnamed_) {
    g_temp_active = 0;
    unlink(temp_.c_str());
  }
}

void output_file::fail(const std::string& what, int err) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (!temp_.empty()) {
    g_temp_active = 0;
    unlink(temp_.c_str());
  }
  committed_ = true;  // nothing left to clean up
  throw io_failure(what + errno_message(name_, err));
}

void output_file::publish_unnamed() {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd_);
  // A new output: link the file straight to its path, so no other name ever
  // exists. linkat never replaces, so an existing output takes a temporary
  // name and a rename (the only instant a kill could leave a name behind).
  if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path_.c_str(), AT_SYMLINK_FOLLOW) == 0) return;
  if (errno != EEXIST) fail("cannot create ", errno);
  const std::string prefix = path_.find('/') == std::string::npos ? "" : dir_;
  const signals_held held;
  for (int attempt = 0;; ++attempt) {
    temp_ = prefix + "." + base_ + ".kelvin-" + random_suffix();
    if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW) == 0) break;
    const int err = errno;
    temp_.clear();
    if (err != EEXIST || attempt == 100) fail("cannot create ", err);
  }
  if (rename(temp_.c_str(), path_.c_str()) != 0) fail("cannot replace ", errno);
  temp_.clear();
}

void output_file::commit() {
  if (stdout_ || committed_) return;
  if (fchmod(fd_, mode_) != 0) fail("cannot set the mode of ", errno);
  // The data reaches the disk before the name does: a power loss after the
  // rename must not find the new name over an empty or short file.
  if (fsync(fd_) != 0) fail("cannot write ", errno);
  if (unnamed_) {
    publish_unnamed();
    // The data is synced, so close has no write error left to report.
    close(fd_);
  } else {
    const int closed = close(fd_);
    fd_ = -1;
    if (closed != 0) fail("cannot write ", errno);
    if (rename(temp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      fail("cannot rename " + temp_ + " to ", err);
    }
  }
  fd_ = -1;
  g_temp_active = 0;
  committed_ = true;
  // And the new name reaches the disk. Some filesystems cannot sync a
  // folder (EINVAL): nothing more can be done there.
  const int dir = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  const int synced = fsync(dir);
  const int err = errno;
  close(dir);
  if (synced != 0 && err != EINVAL && err != EROFS) {
    throw io_failure(name_ + " is complete but its folder could not be synced (" +
                     std::strerror(err) + "); it may not survive a power loss");
  }
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
