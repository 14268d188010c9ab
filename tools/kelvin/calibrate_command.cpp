#include "tools/kelvin/calibrate_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kelvin/calibration.hpp"
#include "kelvin/softmax.hpp"
#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/files.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

class input_file {
 public:
  explicit input_file(const std::string& path) : name_(path) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw usage_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) throw usage_error(path + ": is a directory");
  }
  ~input_file() { close(fd_); }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int fd_ = -1;
};

// An .npy header. Integer labels (int32/int64/uint32/uint64) are read by
// handing the checked float parser the same header with 'i'/'u' spelled 'f'
// (same item size, so every shape and size check still holds); `int_kind`
// says which it was ('\0' for floats).
npy_header read_header(input_file& f, bool allow_int, char& int_kind) {
  byte_reader r(f.fd(), f.name());
  std::string head(kNpyPreambleSize, '\0');
  head.resize(r.read_full(head.data(), head.size()));
  const std::uint64_t total = npy_header_size(head, f.name());
  if (head.size() < total) {
    const std::size_t have = head.size();
    head.resize(static_cast<std::size_t>(total));
    head.resize(have + r.read_full(head.data() + have, head.size() - have));
  }
  head.resize(std::min<std::size_t>(head.size(), static_cast<std::size_t>(total)));
  int_kind = '\0';
  if (allow_int) {
    const std::size_t key = head.find("'descr'");
    const std::size_t quote = key == std::string::npos ? key : head.find('\'', key + 7);
    if (quote != std::string::npos && quote + 3 < head.size()) {
      std::size_t k = quote + 1;
      if (head[k] == '<' || head[k] == '>' || head[k] == '|' || head[k] == '=') ++k;
      const std::string size = head.substr(k + 1, 2);
      if ((head[k] == 'i' || head[k] == 'u') && (size == "4'" || size == "8'")) {
        int_kind = head[k];
        head[k] = 'f';
      }
    }
  }
  return parse_npy_header(head, r.size(), f.name());
}

// `count` values from the data, converted to T.
template <class T>
std::vector<T> read_values(const input_file& f, const npy_header& h) {
  const std::uint64_t count = h.count();
  std::vector<T> out(static_cast<std::size_t>(count));
  const std::size_t item = size_of(h.type);
  constexpr std::size_t kChunk = std::size_t{1} << 20;  // values per read
  std::vector<unsigned char> buf(std::min<std::uint64_t>(count, kChunk) * item);
  for (std::uint64_t i = 0; i < count; i += kChunk) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, count - i));
    pread_full(f.fd(), buf.data(), n * item, h.header_size + i * item, f.name());
    load_values(buf.data(), h.type, needs_swap(h.big_endian), out.data() + i, n);
  }
  return out;
}

std::vector<std::int64_t> read_labels(const std::string& path, std::size_t rows) {
  input_file f(path);
  char int_kind = '\0';
  const npy_header h = read_header(f, true, int_kind);
  if (h.shape.size() != 1 || h.shape[0] != rows) {
    throw usage_error(path + ": labels must have shape (" + std::to_string(rows) +
                      ",), one per row of the logits (got " + format_shape(h.shape) + ")");
  }
  std::vector<std::int64_t> y(rows);
  if (int_kind == '\0') {
    const std::vector<double> v = read_values<double>(f, h);
    for (std::size_t i = 0; i < rows; ++i) {
      if (!(v[i] == std::floor(v[i])) || std::abs(v[i]) > 0x1p62) {
        throw usage_error(path + ": labels[" + std::to_string(i) + "] is not an integer (got " +
                          format_repr(v[i]) + ")");
      }
      y[i] = static_cast<std::int64_t>(v[i]);
    }
    return y;
  }
  const std::size_t item = size_of(h.type);
  std::vector<unsigned char> raw(rows * item);
  pread_full(f.fd(), raw.data(), raw.size(), h.header_size, f.name());
  const bool swap = needs_swap(h.big_endian);
  for (std::size_t i = 0; i < rows; ++i) {
    unsigned char b[8];
    std::memcpy(b, raw.data() + i * item, item);
    if (swap) std::reverse(b, b + item);
    if (item == 4) {
      std::int32_t s;
      std::uint32_t u;
      std::memcpy(&s, b, 4);
      std::memcpy(&u, b, 4);
      y[i] = int_kind == 'i' ? s : static_cast<std::int64_t>(u);
    } else {
      std::uint64_t u;
      std::memcpy(&u, b, 8);
      // uint64 above INT64_MAX: out of range for any class count, and
      // reported as such by the library's check.
      y[i] = int_kind == 'u' && u > static_cast<std::uint64_t>(INT64_MAX)
                 ? std::int64_t{-1}
                 : static_cast<std::int64_t>(u);
    }
  }
  return y;
}

std::string fixed(double v, int digits = 6) {
  if (!std::isfinite(v)) return format_repr(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

const char* outcome_text(fit_outcome o) {
  switch (o) {
    case fit_outcome::optimum:
      return "the NLL's minimum";
    case fit_outcome::zero_temperature:
      return "every label is its row's top logit: the NLL falls as T -> 0, T = 0 is the hardmax";
    case fit_outcome::infinite_temperature:
      return "the labels' logits are below their rows' means: the NLL falls as T -> inf";
    case fit_outcome::flat:
      return "every row is constant: the NLL does not depend on T, T = 1 kept";
  }
  return "";
}

// One bin of a reliability diagram: accuracy as a bar of `width` cells (in
// eighths), the mean confidence marked on it with a heavy vertical line.
std::string diagram_line(const reliability_bin& b, int width) {
  static const char* kEighths[8] = {" ",      "\u258F", "\u258E", "\u258D",
                                    "\u258C", "\u258B", "\u258A", "\u2589"};
  std::vector<std::string> cells(static_cast<std::size_t>(width), " ");
  if (b.count > 0) {
    const long eighths = std::lround(std::clamp(b.accuracy, 0.0, 1.0) * width * 8);
    for (long i = 0; i < eighths / 8; ++i) cells[static_cast<std::size_t>(i)] = "\u2588";
    if (eighths % 8 != 0) cells[static_cast<std::size_t>(eighths / 8)] = kEighths[eighths % 8];
    const long mark = std::min<long>(width - 1, static_cast<long>(b.confidence * width));
    cells[static_cast<std::size_t>(mark)] = "\u2503";
  }
  char head[64];
  std::snprintf(head, sizeof head, "  (%.3f, %.3f] \u2502", b.lower, b.upper);
  std::string out = head;
  for (const std::string& c : cells) out += c;
  char tail[96];
  if (b.count > 0) {
    std::snprintf(tail, sizeof tail, "\u2502 acc %.3f conf %.3f n %zu\n", b.accuracy, b.confidence,
                  b.count);
  } else {
    std::snprintf(tail, sizeof tail, "\u2502 (empty)\n");
  }
  return out + tail;
}

template <class T>
std::string calibrate(const calibrate_args& a, const std::vector<T>& x, std::size_t rows,
                      std::size_t cols, const std::vector<std::int64_t>& y) {
  const matrix_view<const T> v(x.data(), rows, cols);
  const auto start = std::chrono::steady_clock::now();
  const fit_result r = fit_temperature(v, y, {.threads = a.threads});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<T> before(x.size()), after(x.size());
  const matrix_view<T> pb(before.data(), rows, cols), pa(after.data(), rows, cols);
  softmax(v, pb, {.threads = a.threads});
  softmax(v, pa, {.temperature = r.temperature, .threads = a.threads});
  const bin_options uniform{.bins = a.bins};
  const bin_options quantile{.bins = a.bins, .strategy = binning::quantile};
  struct row {
    std::string name;
    double before, after;
    int digits;
  };
  const std::string bins = " (" + std::to_string(a.bins) + " bins)";
  const row table[] = {
      {"NLL", nll(v, y, {.threads = a.threads}),
       nll(v, y, {.temperature = r.temperature, .threads = a.threads}), 6},
      {"ECE" + bins, 100 * expected_calibration_error(pb, y, uniform),
       100 * expected_calibration_error(pa, y, uniform), 3},
      {"adaptive ECE", 100 * expected_calibration_error(pb, y, quantile),
       100 * expected_calibration_error(pa, y, quantile), 3},
      {"MCE", 100 * maximum_calibration_error(pb, y, uniform),
       100 * maximum_calibration_error(pa, y, uniform), 3},
      {"classwise ECE", 100 * classwise_calibration_error(pb, y, uniform),
       100 * classwise_calibration_error(pa, y, uniform), 3},
      {"Brier score", brier_score(pb, y), brier_score(pa, y), 6},
      {"accuracy", 100 * accuracy(pb, y), 100 * accuracy(pa, y), 2},
  };

  std::string out = "kelvin calibrate: " + std::to_string(rows) + " rows x " +
                    std::to_string(cols) + " classes (" + (sizeof(T) == 4 ? "float32" : "float64") +
                    ")\n";
  char line[256];
  std::snprintf(line, sizeof line,
                "temperature %s: %s\n  %d Newton/bracketing steps, %d passes over the logits, "
                "%.3f s, %s\n\n",
                format_repr(r.temperature).c_str(), outcome_text(r.outcome), r.iterations, r.passes,
                seconds, r.converged ? "converged" : "NOT converged");
  out += line;
  std::snprintf(line, sizeof line, "  %-20s %12s %12s\n", "", "T = 1", "fitted T");
  out += line;
  for (const row& t : table) {
    const bool percent = t.digits != 6;
    std::snprintf(line, sizeof line, "  %-20s %12s %12s\n",
                  (t.name + (percent ? " (%)" : "")).c_str(), fixed(t.before, t.digits).c_str(),
                  fixed(t.after, t.digits).c_str());
    out += line;
  }
  const std::vector<reliability_bin> rb = reliability(pb, y, uniform);
  const std::vector<reliability_bin> ra = reliability(pa, y, uniform);
  out +=
      "\nreliability diagram, T = 1 (bars: accuracy per confidence bin; \u2503 mean confidence)\n";
  for (const reliability_bin& b : rb) out += diagram_line(b, a.width);
  out += "\nreliability diagram, fitted T\n";
  for (const reliability_bin& b : ra) out += diagram_line(b, a.width);

  if (!a.apply_to.empty()) {
    // softmax(test / T) through `kelvin softmax --input ... --output ...`.
    compute_args c;
    c.op = &find_operation("softmax");
    char t[64];
    std::snprintf(t, sizeof t, "%.17g", r.temperature);
    c.temperatures = {t};
    c.input = a.apply_to;
    c.output = a.output;
    c.output_format = a.output_format;
    c.threads = a.threads;
    c.quiet = a.quiet;
    run_files(c);
    if (a.output != "-") {
      out += "\nwrote softmax(" + a.apply_to + " / " + format_repr(r.temperature) + ") to " +
             a.output + "\n";
    }
  }
  return out;
}

}  // namespace

calibrate_command add_calibrate_command(CLI::App& app) {
  calibrate_command cmd{nullptr, std::make_shared<calibrate_args>()};
  calibrate_args& a = *cmd.args;
  CLI::App* sub = app.add_subcommand(
      "calibrate",
      "fit a temperature to validation logits (temperature scaling) and show the calibration "
      "before and after");
  sub->add_option("--logits", a.logits, "validation logits: .npy, N x C float32 or float64")
      ->required()
      ->type_name("PATH");
  sub->add_option("--labels", a.labels,
                  "their labels: .npy of N integers in [0, C) (int32/int64/uint32/uint64)")
      ->required()
      ->type_name("PATH");
  sub->add_option("--bins", a.bins, "confidence bins for ECE, MCE and the diagram (default 15)")
      ->type_name("N");
  sub->add_option("--apply-to", a.apply_to,
                  "logits to calibrate with the fitted T (any input kelvin softmax takes)")
      ->type_name("PATH");
  sub->add_option("-o,--output", a.output,
                  "where --apply-to's probabilities go (.npy, .csv, .tsv; - for stdout), "
                  "through a temporary file renamed when complete")
      ->type_name("PATH");
  sub->add_option("--output-format", a.output_format, "npy, csv or tsv (default: from --output)")
      ->type_name("FMT");
  sub->add_option("--threads", a.threads, "threads (default 0: all cores)")->type_name("N");
  sub->add_option("--width", a.width, "cells in a full bar of the diagram (default 40)")
      ->type_name("N");
  sub->add_flag("-q,--quiet", a.quiet, "no progress bar while writing --output");
  cmd.sub = sub;
  return cmd;
}

std::string run_calibrate(const calibrate_args& a) {
  if (a.bins < 1 || a.bins > 10000) {
    throw usage_error("--bins must be 1 to 10000 (got " + std::to_string(a.bins) + ")");
  }
  if (a.width < 1 || a.width > 1000) {
    throw usage_error("--width must be 1 to 1000 (got " + std::to_string(a.width) + ")");
  }
  if (a.threads < 0) {
    throw usage_error("--threads must be >= 0 (got " + std::to_string(a.threads) + ")");
  }
  if (a.apply_to.empty() != a.output.empty()) {
    throw usage_error(a.apply_to.empty()
                          ? "--output needs --apply-to (the logits to calibrate)"
                          : "--apply-to needs --output (where the probabilities go)");
  }
  if (!a.output_format.empty() && a.output.empty()) {
    throw usage_error("--output-format applies to --output");
  }
  input_file f(a.logits);
  char int_kind = '\0';
  const npy_header h = read_header(f, false, int_kind);
  if (h.shape.size() != 2) {
    throw usage_error(a.logits + ": logits must be 2-D (N x C) (got shape " +
                      format_shape(h.shape) + ")");
  }
  const auto rows = static_cast<std::size_t>(h.shape[0]);
  const auto cols = static_cast<std::size_t>(h.shape[1]);
  if (rows == 0 || cols == 0) {
    throw usage_error(a.logits + ": logits must have at least one row and one column (got " +
                      format_shape(h.shape) + ")");
  }
  const std::vector<std::int64_t> y = read_labels(a.labels, rows);
  const auto load = [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> x = read_values<T>(f, h);
    if (h.fortran_order) {  // column-major on disk: transpose to rows
      std::vector<T> t(x.size());
      for (std::size_t c = 0; c < cols; ++c) {
        for (std::size_t r = 0; r < rows; ++r) t[r * cols + c] = x[c * rows + r];
      }
      x.swap(t);
    }
    return x;
  };
  if (h.type == scalar_type::f32) return calibrate(a, load(float{}), rows, cols, y);
  return calibrate(a, load(double{}), rows, cols, y);
}

}  // namespace kelvin::cli
