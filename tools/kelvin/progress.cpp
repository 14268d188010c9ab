#include "tools/kelvin/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace kelvin::cli {
namespace {

constexpr double kRedrawSeconds = 0.1;

std::string scaled(double v, const char* unit) {
  static constexpr const char* kPrefixes[] = {"", "k", "M", "G", "T", "P"};
  int p = 0;
  while (std::fabs(v) >= 999.5 && p < 5) {
    v /= 1000;
    ++p;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, p == 0 ? "%.0f %s%s" : "%.3g %s%s", v, kPrefixes[p], unit);
  return buf;
}

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

int terminal_columns() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

bool progress::stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

progress::progress(bool enabled, std::uint64_t total_bytes)
    : enabled_(enabled), total_(total_bytes), start_(std::chrono::steady_clock::now()) {
  if (const char* d = std::getenv("KELVIN_PROGRESS_DELAY"); d != nullptr && *d != '\0') {
    delay_ = std::max(0.0, std::atof(d));
  }
  last_draw_ = start_;
}

progress::~progress() { finish(); }

std::string progress::render(std::uint64_t bytes, std::uint64_t rows, double seconds) const {
  const double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  const double row_rate = seconds > 0 ? static_cast<double>(rows) / seconds : 0;
  const std::string rates = scaled(rate, "B/s") + "  " + scaled(row_rate, "rows/s");
  if (total_ == 0) return scaled(static_cast<double>(bytes), "B") + "  " + rates;

  const double frac = std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_));
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(bytes, total_)) / rate : -1;
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3.0f%% ", 100 * frac);
  const std::string tail = " " + rates + "  ETA " + clock_text(eta);
  // The bar takes what the terminal has left, 10 to 40 cells.
  const int width = std::clamp(terminal_columns() - 1 - static_cast<int>(tail.size()) - 7, 10, 40);
  static constexpr const char* kEighths[8] = {"",       "\u258F", "\u258E", "\u258D",
                                              "\u258C", "\u258B", "\u258A", "\u2589"};
  const long eighths = std::lround(frac * width * 8);
  std::string bar = "[";
  for (long i = 0; i < eighths / 8; ++i) bar += "\u2588";
  bar += kEighths[eighths % 8];
  const long cells = eighths / 8 + (eighths % 8 > 0 ? 1 : 0);
  bar.append(static_cast<std::size_t>(std::max(0L, width - cells)), ' ');
  bar += ']';
  return pct + bar + tail;
}

void progress::update(std::uint64_t bytes, std::uint64_t rows) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - start_).count();
  if (seconds < delay_) return;
  if (drawn_ && std::chrono::duration<double>(now - last_draw_).count() < kRedrawSeconds) return;
  last_draw_ = now;
  drawn_ = true;
  std::string line = "\r";
  line += render(bytes, rows, seconds);
  line += "\033[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void progress::finish() {
  if (!drawn_) return;
  drawn_ = false;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

}  // namespace kelvin::cli
