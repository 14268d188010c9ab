// kelvin CLI: `kelvin sample` (see sample_command.hpp).
#include "tools/kelvin/sample_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kelvin/sampling.hpp"
#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/numbers.hpp"
#include "tools/kelvin/output_file.hpp"

namespace kelvin::cli {
namespace {

struct logits {
  std::vector<float> x;
  std::size_t rows = 0, cols = 0;
};

// A whole .npy file of float32 / float64 logits, 1-D (one row) or 2-D (rows),
// in C order.
logits read_npy(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw usage_error("cannot open " + path);
  struct stat st {};
  std::string bytes;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    bytes.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
  if (bytes.empty() || got != bytes.size())
    throw usage_error(path + " is not a readable .npy file");
  const std::uint64_t hs = npy_header_size(bytes, path);
  if (hs > bytes.size()) throw usage_error(path + " ends inside its .npy header");
  const npy_header h = parse_npy_header(std::string_view(bytes).substr(0, hs), bytes.size(), path);
  if (h.shape.size() != 1 && h.shape.size() != 2) {
    throw usage_error(path + " has shape " + format_shape(h.shape) +
                      "; kelvin sample takes 1-D (one row) or 2-D (rows) logits");
  }
  if (h.fortran_order && h.shape.size() == 2 && h.shape[0] > 1 && h.shape[1] > 1) {
    throw usage_error(path + " is in Fortran order; save it in C order (np.ascontiguousarray)");
  }
  logits out;
  out.rows = h.shape.size() == 1 ? 1 : h.shape[0];
  out.cols = h.shape.back();
  out.x.resize(out.rows * out.cols);
  load_values(bytes.data() + hs, h.type, needs_swap(h.big_endian), out.x.data(), out.x.size());
  return out;
}

sampling_order parse_order(const std::string& s) {
  if (s == "temperature_first") return sampling_order::temperature_first;
  if (s == "temperature_last") return sampling_order::temperature_last;
  throw usage_error("--order must be temperature_first or temperature_last (got '" + s + "')");
}

}  // namespace

CLI::App* add_sample_command(CLI::App& app, sample_args& a) {
  CLI::App* s = app.add_subcommand(
      "sample", "the next token of a row of logits (greedy, top-k, top-p, min-p, typical)");
  s->add_option("-t,--temperature", a.temperature, "T >= 0; 0 is greedy (default 1)")
      ->type_name("T");
  s->add_option("--top-k", a.top_k, "keep the k largest logits (0: off)")->type_name("K");
  s->add_option("--top-p", a.top_p, "nucleus mass in (0, 1] (1: off)")->type_name("P");
  s->add_option("--min-p", a.min_p, "keep p >= min_p * p_max, in [0, 1] (0: off)")->type_name("P");
  s->add_option("--typical-p", a.typical_p, "locally typical mass in (0, 1] (1: off)")
      ->type_name("P");
  s->add_option("--min-keep", a.min_keep, "every truncation keeps at least this many (default 1)")
      ->type_name("N");
  s->add_option("--order", a.order,
                "temperature_last (default: truncations see the raw logits, as llama.cpp) or "
                "temperature_first (they see the tempered ones, as transformers)")
      ->type_name("ORDER");
  s->add_option("--dynamic-range", a.dynamic_range, "llama.cpp's dynamic temperature range")
      ->type_name("R");
  s->add_option("--dynamic-exponent", a.dynamic_exponent, "its exponent (default 1)")
      ->type_name("E");
  s->add_option("--seed", a.seed, "the generator's key (default 0)")->type_name("S");
  s->add_option("--step", a.step, "the first step (default 0)")->type_name("S");
  s->add_option("--steps", a.steps, "draws per row, at steps step, step+1, ... (default 1)")
      ->type_name("N");
  s->add_flag("--logprobs", a.logprobs,
              "print 'token logprob raw_logprob' (final and raw log-probabilities)");
  s->add_flag("--distribution", a.distribution,
              "print the probabilities the sampler draws from instead of drawing");
  s->add_option("--threads", a.threads, "threads over rows (default 0: all cores)")->type_name("N");
  s->add_option("--input", a.input, "read 1-D or 2-D logits from a .npy file (rows are ids 0..)")
      ->type_name("PATH");
  s->add_option("-o,--output", a.output,
                "write the lines to PATH (- for stdout), through a temporary file renamed "
                "when complete")
      ->type_name("PATH");
  s->add_option("values", a.values, "one row of logits (after '--' when one starts with '-')")
      ->type_name("X");
  return s;
}

std::string run_sample(const sample_args& a) {
  const std::optional<double> t = parse_double(a.temperature);
  if (!t) throw usage_error("--temperature must be a number (got '" + a.temperature + "')");
  if (a.steps == 0) throw usage_error("--steps must be >= 1 (got 0)");
  if (a.threads < 0)
    throw usage_error("--threads must be >= 0 (got " + std::to_string(a.threads) + ")");
  const sampling_options opt{.temperature = *t,
                             .top_k = a.top_k,
                             .top_p = a.top_p,
                             .min_p = a.min_p,
                             .typical_p = a.typical_p,
                             .min_keep = a.min_keep,
                             .order = parse_order(a.order),
                             .dynamic_range = a.dynamic_range,
                             .dynamic_exponent = a.dynamic_exponent,
                             .seed = a.seed};
  logits l;
  if (!a.input.empty()) {
    if (!a.values.empty()) throw usage_error("give values or --input, not both");
    l = read_npy(a.input);
  } else {
    l.x = parse_values<float>(a.values);
    l.rows = 1;
    l.cols = l.x.size();
  }
  // The output file is opened before computing, so that a bad path fails
  // fast; nothing is renamed onto it unless everything succeeds.
  std::optional<output_file> file;
  if (!a.output.empty() && a.output != "-") file.emplace(a.output, nullptr);

  const matrix_view<const float> x(l.x.data(), l.rows, l.cols);
  std::string out;
  if (a.distribution) {
    std::vector<double> p(l.rows * l.cols);
    sampling_distribution(x, matrix_view<double>(p.data(), l.rows, l.cols), {&opt, 1}, a.threads);
    for (std::size_t r = 0; r < l.rows; ++r) {
      out += '[';
      for (std::size_t i = 0; i < l.cols; ++i) {
        if (i > 0) out += ", ";
        out += format_repr(p[r * l.cols + i]);
      }
      out += "]\n";
    }
  } else {
    std::vector<std::int64_t> tok(l.rows);
    std::vector<double> lp(a.logprobs ? l.rows : 0), raw(a.logprobs ? l.rows : 0);
    for (unsigned long long s = 0; s < a.steps; ++s) {
      sample(x, tok, {&opt, 1},
             {.step = a.step + s, .logprobs = lp, .raw_logprobs = raw, .threads = a.threads});
      for (std::size_t r = 0; r < l.rows; ++r) {
        out += std::to_string(tok[r]);
        if (a.logprobs) out += ' ' + format_repr(lp[r]) + ' ' + format_repr(raw[r]);
        out += '\n';
      }
    }
  }
  if (!file) return out;
  write_all(file->fd(), out.data(), out.size(), file->name());
  file->commit();
  return "";
}

}  // namespace kelvin::cli
