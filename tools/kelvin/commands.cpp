#include "tools/kelvin/commands.hpp"

#include <array>
#include <cmath>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kelvin/runtime.hpp"
#include "kelvin/softmax.hpp"
#include "kelvin/types.hpp"
#include "tools/kelvin/bar_chart.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

// "[a, b, c]" with Python's list repr.
template <class T>
std::string format_list(std::span<const T> y) {
  std::string out = "[";
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (i > 0) out += ", ";
    out += format_repr(y[i]);
  }
  out += ']';
  return out;
}

template <class T>
std::string compute(const compute_args& args, const std::vector<double>& temperatures) {
  const std::vector<T> x = parse_values<T>(args.values);
  const empty_row_policy policy = parse_empty_row(args.empty_row);
  std::vector<T> y(x.size());
  std::string out;
  for (double t : temperatures) {
    const options opt{.temperature = t, .empty_row = policy, .threads = args.threads};
    out += format_temperature(t);
    out += ' ';
    const matrix_view<const T> row(x.data(), 1, x.size());
    if (args.op->reduces) {
      T v{};
      args.op->rows(row, matrix_view<T>(&v, 1, 1), opt);
      out += format_repr(v);
    } else {
      args.op->rows(row, matrix_view<T>(y.data(), 1, y.size()), opt);
      out += format_list(std::span<const T>(y));
    }
    out += '\n';
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// The seed's example: vec = [1, 5, 7, 10], ts = [0.1, 1, 10, 100, 10000].
constexpr std::array<double, 4> kSeedVec = {1, 5, 7, 10};
constexpr std::array<double, 5> kSeedTemperatures = {0.1, 1, 10, 100, 10000};

// Checked against the MPFR reference in tests/cli (the blog's digits are in
// the test): keep the numbers here in step with it.
constexpr std::string_view kDemoNote =
    "Note: the blog post prints slightly different last digits.\n"
    "  T >= 1:  its values are up to 1.54 ulp from the exact softmax: math.exp(x / t) / sum\n"
    "           rounds at every step.\n"
    "  T = 0.1: its values are up to 25.5 ulp from the exact softmax at the double 0.1\n"
    "           (0.1000000000000000055511...). In Python x / 0.1 rounds back to exactly 10 * x,\n"
    "           so the blog computed the softmax at T = 1/10 exactly (to 1.2 ulp); kelvin\n"
    "           computes at the temperature it is given, the double nearest 0.1.\n"
    "  kelvin's values above are within 1 ulp of the exact softmax at the double temperature\n"
    "  (checked against MPFR at 256 bits).\n";

}  // namespace

// Every temperature, validated before anything is computed: a bad one must
// not leave the lines of the good ones on stdout.
std::vector<double> parse_temperatures(const std::vector<std::string>& items) {
  if (items.empty()) return {1.0};
  std::vector<double> out;
  for (const std::string& item : items) {
    std::string_view rest = item;
    while (true) {
      const std::size_t comma = rest.find(',');
      const std::string_view token = rest.substr(0, comma);
      const std::optional<double> t = parse_double(token);
      if (!t) {
        throw usage_error(token.find_first_not_of(" \t") == std::string_view::npos
                              ? "empty temperature in '" + item + "'"
                              : "temperature is not a number: '" + std::string(token) + "'");
      }
      if (std::isnan(*t)) {
        throw usage_error("temperature must be >= 0 and not NaN (got " + std::string(token) + ")");
      }
      if (*t < 0) throw usage_error("temperature must be >= 0 (got " + std::string(token) + ")");
      out.push_back(*t);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

template <class T>
std::vector<T> parse_values(const std::vector<std::string>& tokens) {
  if (tokens.empty()) {
    throw usage_error("no values given (e.g. kelvin softmax -t 0.1,1 -- 1 5 7 10)");
  }
  std::vector<T> out;
  out.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::optional<T> v;
    if constexpr (std::is_same_v<T, float>) {
      v = parse_float(tokens[i]);
    } else {
      v = parse_double(tokens[i]);
    }
    if (!v) {
      throw usage_error("value " + std::to_string(i + 1) + " is not a number: '" + tokens[i] + "'");
    }
    out.push_back(*v);
  }
  return out;
}

empty_row_policy parse_empty_row(const std::string& s) {
  if (s == "nan") return empty_row_policy::nan;
  if (s == "zero") return empty_row_policy::zero;
  throw usage_error("--empty-row must be nan or zero (got '" + s + "')");
}

template std::vector<float> parse_values<float>(const std::vector<std::string>&);
template std::vector<double> parse_values<double>(const std::vector<std::string>&);

std::string run_compute(const compute_args& args) {
  const std::vector<double> temperatures = parse_temperatures(args.temperatures);
  return args.f32 ? compute<float>(args, temperatures) : compute<double>(args, temperatures);
}

std::string run_demo() {
  std::string table;
  std::string chart;
  std::array<double, kSeedVec.size()> p{};
  for (double t : kSeedTemperatures) {
    softmax(std::span<const double>(kSeedVec), std::span<double>(p), {.temperature = t});
    table += format_temperature(t) + ' ' + format_list(std::span<const double>(p)) + '\n';
    chart += bar_chart("T = " + format_temperature(t), kSeedVec, p) + '\n';
  }
  return table + "\nsoftmax(x / T) for x = [1, 5, 7, 10]; a full bar is p = 1\n\n" + chart +
         std::string(kDemoNote);
}

std::string run_info() {
  std::string out;
  out += "kelvin " + std::string(version()) + '\n';
  out += "compiled targets: " + join(compiled_targets()) + '\n';
  out += "supported targets: " + join(supported_targets()) + '\n';
  out += "active target: " + std::string(active_target());
  if (const char* forced = std::getenv("KELVIN_FORCE_TARGET"); forced != nullptr && *forced) {
    out += " (KELVIN_FORCE_TARGET=" + std::string(forced) + ")";
  }
  out += '\n';
  out += "default threads: " + std::to_string(get_num_threads()) + '\n';
  return out;
}

}  // namespace kelvin::cli
