#include "tools/kelvin/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kelvin/softmax.hpp"
#include "tools/kelvin/bar_chart.hpp"
#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/csv.hpp"
#include "tools/kelvin/formats.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/numbers.hpp"
#include "tools/kelvin/output_file.hpp"
#include "tools/kelvin/pipeline.hpp"
#include "tools/kelvin/progress.hpp"

namespace kelvin::cli {
namespace {

constexpr std::size_t kDefaultChunkBytes = std::size_t{8} << 20;
// File-to-file blocks: small enough to stay in a core's L2 from read to
// write (see run_parallel_blocks).
constexpr std::size_t kParallelBlockBytes = std::size_t{128} << 10;
constexpr std::uint64_t kMaxChunkBytes = std::uint64_t{1} << 40;
// The most data a result may hold: what the .npy reader accepts for an input.
constexpr std::uint64_t kMaxResultBytes = std::uint64_t{1} << 62;

enum class file_format { npy, csv, tsv, text };  // text: CSV or TSV, from the first line

std::optional<file_format> format_named(const std::string& s) {
  if (s == "npy") return file_format::npy;
  if (s == "csv") return file_format::csv;
  if (s == "tsv") return file_format::tsv;
  return std::nullopt;
}

std::optional<file_format> format_of_extension(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  const std::size_t slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return std::nullopt;
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "npy") return file_format::npy;
  if (ext == "csv") return file_format::csv;
  if (ext == "tsv" || ext == "tab") return file_format::tsv;
  return std::nullopt;
}

file_format checked_format(const std::string& option, const std::string& value) {
  const std::optional<file_format> f = format_named(value);
  if (!f) throw usage_error(option + " must be npy, csv or tsv (got '" + value + "')");
  return *f;
}

// "16M", "4096", "64k", "1G" (powers of 1024).
std::size_t parse_size(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  int shift = -1;
  if (unit.empty() || unit == "B" || unit == "b") shift = 0;
  if (unit == "k" || unit == "K" || unit == "KiB" || unit == "kB") shift = 10;
  if (unit == "m" || unit == "M" || unit == "MiB" || unit == "MB") shift = 20;
  if (unit == "g" || unit == "G" || unit == "GiB" || unit == "GB") shift = 30;
  if (digits == 0 || digits > 12 || shift < 0) {
    throw usage_error("--chunk-size must be a size such as 16M, 256k or 4096 (got '" + text + "')");
  }
  const std::uint64_t digits_value = std::stoull(text.substr(0, digits));
  // Checked: 999999999999G would wrap around to a small size.
  if (digits_value > (kMaxChunkBytes >> shift)) {
    throw usage_error("--chunk-size " + text + " is too large (at most 1T)");
  }
  const std::uint64_t n = digits_value << shift;
  if (n == 0) throw usage_error("--chunk-size must be > 0");
  return static_cast<std::size_t>(n);
}

struct opened_input {
  std::string name;
  int fd = -1;
  bool owned = false;
  struct stat st {};
  bool has_stat = false;
  std::unique_ptr<byte_reader> reader;
  file_format format = file_format::text;
  npy_header npy;

  opened_input() = default;
  opened_input(const opened_input&) = delete;
  opened_input& operator=(const opened_input&) = delete;
  ~opened_input() {
    if (owned) close(fd);
  }
};

void read_npy_header(opened_input& in) {
  byte_reader& r = *in.reader;
  std::string head(kNpyPreambleSize, '\0');
  head.resize(r.read_full(head.data(), head.size()));
  const std::uint64_t total = npy_header_size(head, in.name);
  if (head.size() > total) {
    r.unread(std::string_view(head).substr(static_cast<std::size_t>(total)));
    head.resize(static_cast<std::size_t>(total));
  } else if (head.size() < total) {
    const std::size_t have = head.size();
    head.resize(static_cast<std::size_t>(total));
    head.resize(have + r.read_full(head.data() + have, head.size() - have));
  }
  in.npy = parse_npy_header(head, r.size(), in.name);
}

void open_input(const compute_args& a, opened_input& in) {
  if (a.input == "-") {
    in.fd = STDIN_FILENO;
    in.name = "<stdin>";
  } else {
    in.name = a.input;
    in.fd = open(a.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) throw usage_error(a.input + ": cannot open: " + std::strerror(errno));
    in.owned = true;
  }
  if (fstat(in.fd, &in.st) == 0) {
    in.has_stat = true;
    if (S_ISDIR(in.st.st_mode)) throw usage_error(in.name + ": is a directory");
  }
  in.reader = std::make_unique<byte_reader>(in.fd, in.name);

  if (!a.format.empty()) {
    in.format = checked_format("--format", a.format);
  } else if (const auto ext = a.input == "-" ? std::nullopt : format_of_extension(a.input)) {
    in.format = *ext;
  } else {
    // Sniff: the .npy magic starts with 0x93, which no text starts with.
    char first = 0;
    if (in.reader->read_full(&first, 1) == 0) throw usage_error(in.name + ": empty input");
    in.reader->unread(std::string_view(&first, 1));
    in.format = first == '\x93' ? file_format::npy : file_format::text;
  }
  if (in.format == file_format::npy) read_npy_header(in);
}

char delimiter_of(file_format f) {
  return f == file_format::tsv ? '\t' : f == file_format::csv ? ',' : 0;
}

template <class T>
constexpr scalar_type scalar_type_of() {
  return sizeof(T) == 4 ? scalar_type::f32 : scalar_type::f64;
}

std::uint64_t product(std::span<const std::uint64_t> dims) {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  return n;
}

// The reader and writer threads of the pipeline each keep a core busy; the
// computation gets the others. An OpenMP team on every core would spin
// between chunks on the cores the I/O threads need (measured on 2 cores:
// 2x slower end to end under load).
int all_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int default_compute_threads() {
  const int cores = all_cores();
  return cores > 2 ? cores - 2 : 1;
}

// Reads a whole source into a spool (CSV along axis 0, a stream whose slab
// does not fit in memory), in reads of about chunk_bytes that are a multiple
// of `granule` values (a CSV source returns whole rows).
template <class T>
void spool_all(value_source<T>& src, spool<T>& into, std::size_t granule, std::size_t chunk_bytes,
               progress& bar) {
  const std::size_t per = std::max<std::size_t>(1, chunk_bytes / (granule * sizeof(T))) * granule;
  std::vector<T> buf(per);
  while (const std::size_t got = src.read(std::span<T>(buf))) {
    into.append(std::span<const T>(buf.data(), got));
    bar.update(src.bytes_read(), 0);
  }
}

template <class T>
void run_typed(const compute_args& a, opened_input* in, compute_plan plan) {
  const bool reduce = plan.op->reduces;
  const std::string in_name = in != nullptr ? in->name : "the values";

  // ---- the input and its shape (rows of a CSV are not known up front)
  std::vector<T> values;
  std::unique_ptr<csv_reader<T>> csv;
  std::unique_ptr<value_source<T>> source;
  std::vector<std::uint64_t> shape;
  bool fortran = false;
  bool rows_unknown = false;
  if (in == nullptr) {
    values = parse_values<T>(a.values);
    shape = {values.size()};
    source = make_memory_source<T>(std::span<const T>(values));
  } else if (in->format == file_format::npy) {
    shape = in->npy.shape;
    fortran = in->npy.fortran_order;
    source = make_npy_source<T>(*in->reader, in->npy);
  } else {
    csv = std::make_unique<csv_reader<T>>(*in->reader, delimiter_of(in->format), a.header);
    csv->start();
    shape = {0, csv->cols()};
    rows_unknown = true;
    source = make_csv_source<T>(*csv);
  }
  if (a.header && !csv) throw usage_error("--header applies to CSV and TSV input, not " + in_name);

  // ---- the axis, in NumPy's numbering and in memory order
  const auto rank = static_cast<int>(shape.size());
  const int axis = a.axis_given ? a.axis : -1;
  if (axis < -rank || axis >= rank) {
    std::string what;
    if (csv) {
      what = "a CSV table (axis 0 runs down the columns, 1 along the rows)";
    } else if (in == nullptr) {
      what = "a row of values";
    } else if (rank == 0) {
      what = "a 0-d array (a single value; it has no axis)";
    } else {
      what = "shape " + format_shape(shape);
    }
    const std::string range =
        rank == 0 ? ""
                  : " (valid: " + std::to_string(-rank) + " to " + std::to_string(rank - 1) + ")";
    throw usage_error(in_name + ": --axis " + std::to_string(axis) + " is out of range for " +
                      what + range);
  }
  const auto ax = static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
  std::vector<std::uint64_t> mem_shape = shape;
  if (fortran) std::reverse(mem_shape.begin(), mem_shape.end());
  const std::size_t mem_axis = fortran ? shape.size() - 1 - ax : ax;
  std::vector<std::uint64_t> out_shape = shape;
  if (reduce) out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(ax));
  // The CSV's row count stays unknown in the output shape unless the rows
  // are what the axis reduces.
  const bool out_rows_unknown = rows_unknown && !(reduce && ax == 0);
  // A reduction over an empty axis has a value per slice: (2^40, 2^40, 0)
  // along the last axis would be 2^80 results, past any file (and past
  // uint64 arithmetic, where it would wrap to a small count).
  if (reduce && !out_rows_unknown) {
    std::uint64_t count = 1;
    for (const std::uint64_t d : out_shape) {
      if (d != 0 && count > kMaxResultBytes / sizeof(T) / d) {
        throw usage_error(in_name + ": the result's shape " + format_shape(out_shape) +
                          " is too large (its data would exceed 2^62 bytes)");
      }
      count *= d;
    }
  }

  // ---- the output
  const std::string out_path = a.output.empty() ? "-" : a.output;
  file_format out_format;
  if (!a.output_format.empty()) {
    out_format = checked_format("--output-format", a.output_format);
  } else if (const auto ext = out_path == "-" ? std::nullopt : format_of_extension(out_path)) {
    out_format = *ext;
  } else if (csv) {
    out_format = csv->delimiter() == '\t' ? file_format::tsv : file_format::csv;
  } else {
    out_format = in != nullptr ? in->format : file_format::csv;
  }

  npy_header out_header;
  std::size_t csv_cols = 1;
  std::string csv_header;
  if (out_format == file_format::npy) {
    if (in != nullptr && in->format == file_format::npy) {
      out_header.type = in->npy.type;
      out_header.big_endian = in->npy.big_endian;
    } else {
      out_header.type = scalar_type_of<T>();
      out_header.big_endian = std::endian::native == std::endian::big;
    }
    out_header.fortran_order = fortran;
    out_header.shape = out_shape;
    if (out_path == "-" && isatty(STDOUT_FILENO) == 1) {
      throw usage_error(
          "not writing binary .npy data to a terminal: give --output FILE or pipe it");
    }
  } else {
    const std::size_t out_rank = out_shape.size();
    if (out_rank > 2) {
      throw usage_error(in_name + ": a " + std::to_string(out_rank) +
                        "-d result cannot be written as CSV: write .npy (--output x.npy)");
    }
    if (out_rank == 2 && fortran && out_shape[0] > 1 && out_shape[1] > 1) {
      throw usage_error(in_name + ": a Fortran-order 2-d result cannot be streamed as CSV rows: " +
                        "write .npy, or save the array in C order");
    }
    if (csv) {
      csv_cols = reduce && ax == 1 ? 1 : csv->cols();
      if (!csv->header().empty())
        csv_header = reduce && ax == 1 ? std::string(plan.op->name) : csv->header();
    } else {
      csv_cols = out_rank == 2   ? static_cast<std::size_t>(out_shape[1])
                 : out_rank == 1 ? static_cast<std::size_t>(out_shape[0])
                                 : 1;
    }
  }

  output_file out(out_path, in != nullptr && in->has_stat ? &in->st : nullptr);
  std::unique_ptr<value_sink<T>> sink =
      out_format == file_format::npy
          ? make_npy_sink<T>(out, out_header, out_rows_unknown, plan.chunk_bytes)
          : make_csv_sink<T>(out, csv_cols, out_format == file_format::tsv ? '\t' : ',',
                             csv_header);
  const std::optional<std::uint64_t> in_size =
      in != nullptr ? in->reader->size() : std::optional<std::uint64_t>();
  // No bar over results printed on the same terminal.
  const bool results_on_terminal = out_path == "-" && isatty(STDOUT_FILENO) == 1;
  progress bar(!a.quiet && !results_on_terminal && progress::stderr_is_terminal(),
               in_size.value_or(0));

  // ---- compute
  if (!rows_unknown && product(shape) == 0) {
    // Nothing to read. A reduction over an empty axis still has a value
    // per slice (log-partition of no entries is -inf).
    const std::uint64_t slices = product(out_shape);
    if (reduce && slices > 0) {
      T v{};
      plan.op->rows(matrix_view<const T>(nullptr, 1, 0), matrix_view<T>(&v, 1, 1), plan.opt);
      const std::vector<T> fill(static_cast<std::size_t>(std::min<std::uint64_t>(slices, 1 << 16)),
                                v);
      for (std::uint64_t at = 0; at < slices; at += fill.size()) {
        const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(fill.size(), slices - at));
        sink->write(std::span<const T>(fill.data(), k));
      }
    }
    // The stream's length must still match its header.
    std::vector<T> probe(1);
    source->read(std::span<T>(probe));
  } else {
    std::uint64_t outer = 0;
    std::uint64_t n = 0;
    std::uint64_t inner = 0;
    if (!rows_unknown) {
      outer = product(std::span<const std::uint64_t>(mem_shape).first(mem_axis));
      n = mem_shape[mem_axis];
      inner = product(std::span<const std::uint64_t>(mem_shape).subspan(mem_axis + 1));
    } else if (ax == 1) {
      n = csv->cols();
      inner = 1;
    }
    const bool streamable =
        (!rows_unknown || ax == 1) && (inner == 1 || n * inner * sizeof(T) <= plan.chunk_bytes);
    const bool npy_file = in != nullptr && in->format == file_format::npy &&
                          in->reader->fd() >= 0 && in_size.has_value();
    std::unique_ptr<value_store<T>> direct_out;
    if (out_format == file_format::npy) {
      direct_out = make_direct_npy_store<T>(out, out_header, out_rows_unknown);
    }
    if (streamable && npy_file && direct_out) {
      // File to file: blocks read, computed and written in place by workers.
      file_store<T> direct_in(in->reader->fd(), in->reader->start_offset() + in->npy.header_size,
                              in->npy.type, needs_swap(in->npy.big_endian), in->name);
      run_parallel_blocks(direct_in, *direct_out, outer, static_cast<std::size_t>(n),
                          static_cast<std::size_t>(inner), plan, kParallelBlockBytes,
                          a.threads > 0 ? a.threads : all_cores(), bar,
                          static_cast<double>(size_of(in->npy.type)));
    } else if (streamable) {
      run_streaming(*source, *sink, static_cast<std::size_t>(n), static_cast<std::size_t>(inner),
                    plan, bar);
    } else {
      // Random access to the input: the file itself, else a spool of it.
      std::unique_ptr<value_store<T>> direct_in;
      std::unique_ptr<spool<T>> spooled_in;
      value_store<T>* in_store = nullptr;
      double bytes_per_value = sizeof(T);
      if (npy_file) {
        direct_in = std::make_unique<file_store<T>>(
            in->reader->fd(), in->reader->start_offset() + in->npy.header_size, in->npy.type,
            needs_swap(in->npy.big_endian), in->name);
        in_store = direct_in.get();
        bytes_per_value = static_cast<double>(size_of(in->npy.type));
      } else {
        spooled_in = std::make_unique<spool<T>>(plan.chunk_bytes);
        spool_all(*source, *spooled_in, rows_unknown ? csv->cols() : 1, plan.chunk_bytes, bar);
        if (rows_unknown) {  // CSV along axis 0: now the rows are known
          outer = 1;
          n = spooled_in->size() / csv->cols();
          inner = csv->cols();
        }
        in_store = spooled_in.get();
        if (in_size && spooled_in->size() > 0) {
          bytes_per_value = static_cast<double>(*in_size) / static_cast<double>(spooled_in->size());
        }
      }
      const std::uint64_t out_count = reduce ? outer * inner : outer * n * inner;
      if (direct_out) {
        run_blocked(*in_store, *direct_out, outer, n, inner, plan, bar, bytes_per_value);
      } else {
        spool<T> results(plan.chunk_bytes);
        results.resize(out_count);
        run_blocked(*in_store, results, outer, n, inner, plan, bar, bytes_per_value);
        results.drain_to(*sink, plan.chunk_bytes);
      }
    }
  }
  sink->finish();
  bar.finish();
  out.commit();
}

void check_file_args(const compute_args& a) {
  if (!a.input.empty() && !a.values.empty()) {
    throw usage_error("give the values after '--' or --input, not both");
  }
  if (a.input.empty() && a.values.empty()) {
    throw usage_error("no values given: use --input PATH (- for stdin) or put values after '--'");
  }
  if (a.threads < 0)
    throw usage_error("--threads must be >= 0 (got " + std::to_string(a.threads) + ")");
}

}  // namespace

void run_files(const compute_args& a) {
  check_file_args(a);
  const std::vector<double> temperatures = parse_temperatures(a.temperatures);
  if (temperatures.size() != 1) {
    throw usage_error("--input and --output take one temperature (got " +
                      std::to_string(temperatures.size()) + "); run kelvin once per temperature");
  }
  compute_plan plan;
  plan.op = a.op;
  plan.opt = {.temperature = temperatures[0],
              .empty_row = parse_empty_row(a.empty_row),
              .threads = a.threads > 0 ? a.threads : default_compute_threads()};
  plan.chunk_bytes = a.chunk_size.empty() ? kDefaultChunkBytes : parse_size(a.chunk_size);
  if (!a.format.empty() && a.input.empty()) throw usage_error("--format applies to --input");

  std::unique_ptr<opened_input> in;
  if (!a.input.empty()) {
    in = std::make_unique<opened_input>();
    open_input(a, *in);
  }
  const bool npy_in = in != nullptr && in->format == file_format::npy;
  const scalar_type compute = a.f32    ? scalar_type::f32
                              : a.f64  ? scalar_type::f64
                              : npy_in ? in->npy.type
                                       : scalar_type::f64;
  if (compute == scalar_type::f32) {
    run_typed<float>(a, in.get(), plan);
  } else {
    run_typed<double>(a, in.get(), plan);
  }
}

std::string run_plot(const compute_args& a, int width) {
  check_file_args(a);
  const std::vector<double> temperatures = parse_temperatures(a.temperatures);
  const empty_row_policy policy = parse_empty_row(a.empty_row);
  if (width < 1 || width > 1000) {
    throw usage_error("--width must be 1 to 1000 (got " + std::to_string(width) + ")");
  }
  std::vector<double> x;
  if (a.input.empty()) {
    x = parse_values<double>(a.values);
  } else {
    opened_input in;
    open_input(a, in);
    if (in.format == file_format::npy) {
      const std::vector<std::uint64_t>& shape = in.npy.shape;
      if (std::count_if(shape.begin(), shape.end(), [](std::uint64_t d) { return d > 1; }) > 1) {
        throw usage_error(in.name + ": plot draws one row; the array has shape " +
                          format_shape(shape));
      }
      x.resize(static_cast<std::size_t>(in.npy.count()));
      const auto src = make_npy_source<double>(*in.reader, in.npy);
      src->read(std::span<double>(x));
      src->read(std::span<double>());  // checks that a stream ends with its data
    } else {
      csv_reader<double> r(*in.reader, delimiter_of(in.format), a.header);
      r.start();
      x.resize(r.cols());
      r.read_rows(x.data(), 1);
      std::vector<double> more(r.cols());
      if (r.read_rows(more.data(), 1) > 0) {
        throw usage_error(in.name + ": plot draws one row; the input has more than one");
      }
    }
    if (x.empty()) throw usage_error(in.name + ": the row is empty");
  }
  std::string out;
  std::vector<double> p(x.size());
  for (const double t : temperatures) {
    softmax(std::span<const double>(x), std::span<double>(p),
            {.temperature = t, .empty_row = policy, .threads = a.threads});
    if (!out.empty()) out += '\n';
    out += bar_chart("T = " + format_temperature(t), x, p, width);
  }
  return out;
}

}  // namespace kelvin::cli
