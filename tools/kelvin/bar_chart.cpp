#include "tools/kelvin/bar_chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

// U+2588 FULL BLOCK and the left one-eighth .. seven-eighths blocks.
constexpr std::string_view kFull = "\u2588";
constexpr std::string_view kEighths[8] = {"",       "\u258F", "\u258E", "\u258D",
                                          "\u258C", "\u258B", "\u258A", "\u2589"};
constexpr std::string_view kAxis = "\u2502";  // BOX DRAWINGS LIGHT VERTICAL

std::string bar(double p, int width) {
  // NaN or out-of-range probabilities draw as an empty or a full bar; the
  // label next to the bar still shows the value.
  const double clamped = std::isnan(p) ? 0.0 : std::clamp(p, 0.0, 1.0);
  const long eighths = std::lround(clamped * width * 8);
  const long full = eighths / 8;
  const long part = eighths % 8;
  std::string out;
  for (long i = 0; i < full; ++i) out += kFull;
  out += kEighths[part];
  const long cells = full + (part > 0 ? 1 : 0);
  out.append(static_cast<std::size_t>(std::max(0L, width - cells)), ' ');
  return out;
}

std::string probability_label(double p) {
  if (!std::isfinite(p)) return format_repr(p);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#.4g", p);
  return buf;
}

}  // namespace

std::string bar_chart(std::string_view title, std::span<const double> x, std::span<const double> p,
                      int width) {
  std::vector<std::string> labels;
  std::size_t label_width = 0;
  for (double v : x) {
    labels.push_back(format_temperature(v));  // the seed's ints print as ints
    label_width = std::max(label_width, labels.back().size());
  }
  std::string out(title);
  out += '\n';
  for (std::size_t i = 0; i < x.size() && i < p.size(); ++i) {
    out += "  x = ";
    out.append(label_width - labels[i].size(), ' ');
    out += labels[i];
    out += ' ';
    out += kAxis;
    out += bar(p[i], width);
    out += ' ';
    out += probability_label(p[i]);
    out += '\n';
  }
  return out;
}

}  // namespace kelvin::cli
