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

// The input of one run as values of T, and its shape (the rows of a CSV are
// not known up front).
template <class T>
struct typed_input {
  std::string name;
  bool from_values = false;  // values given on the command line
  std::vector<T> values;
  std::unique_ptr<csv_reader<T>> csv;
  std::unique_ptr<value_source<T>> source;
  std::vector<std::uint64_t> shape;
  bool fortran = false;
  bool rows_unknown = false;
};

template <class T>
typed_input<T> read_input(const compute_args& a, opened_input* in) {
  typed_input<T> t;
  t.name = in != nullptr ? in->name : "the values";
  if (in == nullptr) {
    t.from_values = true;
    t.values = parse_values<T>(a.values);
    t.shape = {t.values.size()};
    t.source = make_memory_source<T>(std::span<const T>(t.values));
  } else if (in->format == file_format::npy) {
    t.shape = in->npy.shape;
    t.fortran = in->npy.fortran_order;
    t.source = make_npy_source<T>(*in->reader, in->npy);
  } else {
    t.csv = std::make_unique<csv_reader<T>>(*in->reader, delimiter_of(in->format), a.header);
    t.csv->start();
    t.shape = {0, t.csv->cols()};
    t.rows_unknown = true;
    t.source = make_csv_source<T>(*t.csv);
  }
  if (a.header && !t.csv) throw usage_error("--header applies to CSV and TSV input, not " + t.name);
  return t;
}

// The axis of a run, in NumPy's numbering and in memory order, and the shape
// of the result.
struct axis_layout {
  std::size_t ax = 0;  // in [0, rank)
  std::vector<std::uint64_t> mem_shape;
  std::size_t mem_axis = 0;
  std::vector<std::uint64_t> out_shape;
  bool out_rows_unknown = false;
};

template <class T>
axis_layout resolve_axis(const compute_args& a, const typed_input<T>& t, bool reduce) {
  const auto rank = static_cast<int>(t.shape.size());
  const int axis = a.axis_given ? a.axis : -1;
  if (axis < -rank || axis >= rank) {
    std::string what;
    if (t.csv) {
      what = "a CSV table (axis 0 runs down the columns, 1 along the rows)";
    } else if (t.from_values) {
      what = "a row of values";
    } else if (rank == 0) {
      what = "a 0-d array (a single value; it has no axis)";
    } else {
      what = "shape " + format_shape(t.shape);
    }
    const std::string range =
        rank == 0 ? ""
                  : " (valid: " + std::to_string(-rank) + " to " + std::to_string(rank - 1) + ")";
    throw usage_error(t.name + ": --axis " + std::to_string(axis) + " is out of range for " + what +
                      range);
  }
  axis_layout l;
  l.ax = static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
  l.mem_shape = t.shape;
  if (t.fortran) std::reverse(l.mem_shape.begin(), l.mem_shape.end());
  l.mem_axis = t.fortran ? t.shape.size() - 1 - l.ax : l.ax;
  l.out_shape = t.shape;
  if (reduce) l.out_shape.erase(l.out_shape.begin() + static_cast<std::ptrdiff_t>(l.ax));
  // The CSV's row count stays unknown in the output shape unless the rows
  // are what the axis reduces.
  l.out_rows_unknown = t.rows_unknown && !(reduce && l.ax == 0);
  // A reduction over an empty axis has a value per slice: (2^40, 2^40, 0)
  // along the last axis would be 2^80 results, past any file (and past
  // uint64 arithmetic, where it would wrap to a small count).
  if (reduce && !l.out_rows_unknown) {
    std::uint64_t count = 1;
    for (const std::uint64_t d : l.out_shape) {
      if (d != 0 && count > kMaxResultBytes / sizeof(T) / d) {
        throw usage_error(t.name + ": the result's shape " + format_shape(l.out_shape) +
                          " is too large (its data would exceed 2^62 bytes)");
      }
      count *= d;
    }
  }
  return l;
}

// Where and how the results are written.
struct output_plan {
  std::string path;
  file_format format = file_format::csv;
  npy_header header;         // .npy output
  std::size_t csv_cols = 1;  // CSV/TSV output: values per line
  std::string csv_header;    // CSV/TSV output: the first line, if any
};

template <class T>
output_plan choose_output(const compute_args& a, const opened_input* in, const typed_input<T>& t,
                          const axis_layout& l, const compute_plan& plan) {
  const bool reduce = plan.op->reduces;
  output_plan o;
  o.path = a.output.empty() ? "-" : a.output;
  if (!a.output_format.empty()) {
    o.format = checked_format("--output-format", a.output_format);
  } else if (const auto ext = o.path == "-" ? std::nullopt : format_of_extension(o.path)) {
    o.format = *ext;
  } else if (t.csv) {
    o.format = t.csv->delimiter() == '\t' ? file_format::tsv : file_format::csv;
  } else {
    o.format = in != nullptr ? in->format : file_format::csv;
  }
  if (o.format == file_format::npy) {
    if (in != nullptr && in->format == file_format::npy) {
      o.header.type = in->npy.type;
      o.header.big_endian = in->npy.big_endian;
    } else {
      o.header.type = scalar_type_of<T>();
      o.header.big_endian = std::endian::native == std::endian::big;
    }
    o.header.fortran_order = t.fortran;
    o.header.shape = l.out_shape;
    if (o.path == "-" && isatty(STDOUT_FILENO) == 1) {
      throw usage_error(
          "not writing binary .npy data to a terminal: give --output FILE or pipe it");
    }
    return o;
  }
  const std::size_t out_rank = l.out_shape.size();
  if (out_rank > 2) {
    throw usage_error(t.name + ": a " + std::to_string(out_rank) +
                      "-d result cannot be written as CSV: write .npy (--output x.npy)");
  }
  if (out_rank == 2 && t.fortran && l.out_shape[0] > 1 && l.out_shape[1] > 1) {
    throw usage_error(t.name + ": a Fortran-order 2-d result cannot be streamed as CSV rows: " +
                      "write .npy, or save the array in C order");
  }
  if (t.csv) {
    o.csv_cols = reduce && l.ax == 1 ? 1 : t.csv->cols();
    if (!t.csv->header().empty()) {
      o.csv_header = reduce && l.ax == 1 ? std::string(plan.op->name) : t.csv->header();
    }
  } else {
    o.csv_cols = out_rank == 2   ? static_cast<std::size_t>(l.out_shape[1])
                 : out_rank == 1 ? static_cast<std::size_t>(l.out_shape[0])
                                 : 1;
  }
  return o;
}

// An input with no values: a reduction still has a value per slice
// (log-partition of no entries is -inf), and the stream's length must still
// match its header.
template <class T>
void compute_empty(typed_input<T>& t, const axis_layout& l, const compute_plan& plan,
                   value_sink<T>& sink) {
  const std::uint64_t slices = product(l.out_shape);
  if (plan.op->reduces && slices > 0) {
    T v{};
    plan.op->rows(matrix_view<const T>(nullptr, 1, 0), matrix_view<T>(&v, 1, 1), plan.opt);
    const std::vector<T> fill(static_cast<std::size_t>(std::min<std::uint64_t>(slices, 1 << 16)),
                              v);
    for (std::uint64_t at = 0; at < slices; at += fill.size()) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(fill.size(), slices - at));
      sink.write(std::span<const T>(fill.data(), k));
    }
  }
  std::vector<T> probe(1);
  t.source->read(std::span<T>(probe));
}

// Every slice of the input computed into the output: streamed in slabs when a
// slab fits in a chunk (file to file by parallel blocks when both are .npy
// files), else through random access to the input (the file itself or a
// spool) by blocks of the inner dimension.
template <class T>
void compute_all(const compute_args& a, opened_input* in, typed_input<T>& t, const axis_layout& l,
                 const output_plan& o, output_file& out, value_sink<T>& sink,
                 const compute_plan& plan, progress& bar) {
  const std::optional<std::uint64_t> in_size =
      in != nullptr ? in->reader->size() : std::optional<std::uint64_t>();
  std::uint64_t outer = 0;
  std::uint64_t n = 0;
  std::uint64_t inner = 0;
  if (!t.rows_unknown) {
    outer = product(std::span<const std::uint64_t>(l.mem_shape).first(l.mem_axis));
    n = l.mem_shape[l.mem_axis];
    inner = product(std::span<const std::uint64_t>(l.mem_shape).subspan(l.mem_axis + 1));
  } else if (l.ax == 1) {
    n = t.csv->cols();
    inner = 1;
  }
  const bool streamable =
      (!t.rows_unknown || l.ax == 1) && (inner == 1 || n * inner * sizeof(T) <= plan.chunk_bytes);
  const bool npy_file = in != nullptr && in->format == file_format::npy && in->reader->fd() >= 0 &&
                        in_size.has_value();
  std::unique_ptr<value_store<T>> direct_out;
  if (o.format == file_format::npy) {
    direct_out = make_direct_npy_store<T>(out, o.header, l.out_rows_unknown);
  }
  if (streamable && npy_file && direct_out) {
    // File to file: blocks read, computed and written in place by workers.
    file_store<T> direct_in(in->reader->fd(), in->reader->start_offset() + in->npy.header_size,
                            in->npy.type, needs_swap(in->npy.big_endian), in->name);
    run_parallel_blocks(direct_in, *direct_out, outer, static_cast<std::size_t>(n),
                        static_cast<std::size_t>(inner), plan, kParallelBlockBytes,
                        a.threads > 0 ? a.threads : all_cores(), bar,
                        static_cast<double>(size_of(in->npy.type)));
    return;
  }
  if (streamable) {
    run_streaming(*t.source, sink, static_cast<std::size_t>(n), static_cast<std::size_t>(inner),
                  plan, bar);
    return;
  }
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
    spool_all(*t.source, *spooled_in, t.rows_unknown ? t.csv->cols() : 1, plan.chunk_bytes, bar);
    if (t.rows_unknown) {  // CSV along axis 0: now the rows are known
      outer = 1;
      n = spooled_in->size() / t.csv->cols();
      inner = t.csv->cols();
    }
    in_store = spooled_in.get();
    if (in_size && spooled_in->size() > 0) {
      bytes_per_value = static_cast<double>(*in_size) / static_cast<double>(spooled_in->size());
    }
  }
  const std::uint64_t out_count = plan.op->reduces ? outer * inner : outer * n * inner;
  if (direct_out) {
    run_blocked(*in_store, *direct_out, outer, n, inner, plan, bar, bytes_per_value);
  } else {
    spool<T> results(plan.chunk_bytes);
    results.resize(out_count);
    run_blocked(*in_store, results, outer, n, inner, plan, bar, bytes_per_value);
    results.drain_to(sink, plan.chunk_bytes);
  }
}

// One run: the input, the axis, the output, then the computation; the output
// file appears (atomically) only when everything succeeded.
template <class T>
void run_typed(const compute_args& a, opened_input* in, const compute_plan& plan) {
  typed_input<T> t = read_input<T>(a, in);
  const axis_layout l = resolve_axis(a, t, plan.op->reduces);
  const output_plan o = choose_output(a, in, t, l, plan);

  output_file out(o.path, in != nullptr && in->has_stat ? &in->st : nullptr);
  std::unique_ptr<value_sink<T>> sink =
      o.format == file_format::npy
          ? make_npy_sink<T>(out, o.header, l.out_rows_unknown, plan.chunk_bytes)
          : make_csv_sink<T>(out, o.csv_cols, o.format == file_format::tsv ? '\t' : ',',
                             o.csv_header);
  // No bar over results printed on the same terminal.
  const bool results_on_terminal = o.path == "-" && isatty(STDOUT_FILENO) == 1;
  progress bar(!a.quiet && !results_on_terminal && progress::stderr_is_terminal(),
               in != nullptr ? in->reader->size().value_or(0) : 0);

  if (!t.rows_unknown && product(t.shape) == 0) {
    compute_empty(t, l, plan, *sink);
  } else {
    compute_all(a, in, t, l, o, out, *sink, plan, bar);
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
