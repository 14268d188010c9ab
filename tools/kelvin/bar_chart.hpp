// kelvin CLI: a distribution drawn as horizontal bars of Unicode block
// characters, so the flattening from one-hot (T -> 0) to uniform (T -> inf)
// can be seen in a terminal.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kelvin::cli {

// One group: a title line, then one line per entry,
//   "  x = 10 │███████████████▍                          0.3631"
// labelled with x_i and p_i (4 significant digits). A bar of `width` cells
// is p = 1, drawn to an eighth of a cell. x.size() == p.size().
std::string bar_chart(std::string_view title, std::span<const double> x, std::span<const double> p,
                      int width = 40);

}  // namespace kelvin::cli
