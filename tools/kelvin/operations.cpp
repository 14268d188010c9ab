#include "tools/kelvin/operations.hpp"

#include <array>
#include <stdexcept>
#include <string>

#include "kelvin/softmax.hpp"

namespace kelvin::cli {
namespace {

// The row and axis forms of an overload set F of the library (a captureless
// lambda: F{} calls it) as plain functions.
template <bool Reduces, class F>
struct forms {
  template <class T>
  static void rows(matrix_view<const T> x, matrix_view<T> y, const options& opt) {
    if constexpr (Reduces) {
      F{}(x, std::span<T>(y.data, x.rows), opt);
    } else {
      F{}(x, y, opt);
    }
  }
  template <class T>
  static void axis(axis_view<const T> x, axis_view<T> y, const options& opt) {
    F{}(x, y, opt);
  }
};

template <bool Reduces, class F>
constexpr operation make(std::string_view name, std::string_view command, std::string_view help,
                         F) {
  using f = forms<Reduces, F>;
  return {.name = name,
          .command = command,
          .help = help,
          .reduces = Reduces,
          .rows_f32 = &f::template rows<float>,
          .rows_f64 = &f::template rows<double>,
          .axis_f32 = &f::template axis<float>,
          .axis_f64 = &f::template axis<double>};
}

#define KELVIN_CLI_CALL(NAME) [](auto x, auto y, const options& o) { NAME(x, y, o); }

const std::array kOperations = {
    make<false>("softmax", "softmax",
                "softmax(x / T): one line per T, or an array from --input to --output",
                KELVIN_CLI_CALL(softmax)),
    make<false>("log_softmax", "log-softmax", "log_softmax(x / T), one line per T",
                KELVIN_CLI_CALL(log_softmax)),
    make<true>("log_partition", "log-partition", "log sum_i exp(x_i / T), one 'T value' line per T",
               KELVIN_CLI_CALL(log_partition)),
    make<true>("smooth_max", "smooth-max",
               "T * log-partition (-> max(x) as T -> 0), one 'T value' line per T",
               KELVIN_CLI_CALL(smooth_max)),
};

#undef KELVIN_CLI_CALL

}  // namespace

std::span<const operation> operations() { return kOperations; }

const operation& find_operation(std::string_view name) {
  for (const operation& op : kOperations) {
    if (op.name == name) return op;
  }
  throw std::logic_error("no operation named " + std::string(name));
}

}  // namespace kelvin::cli
