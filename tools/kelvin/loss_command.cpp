// kelvin loss: one table of loss subcommands (name, help, options, run).
#include "tools/kelvin/loss_command.hpp"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kelvin/loss.hpp"
#include "tools/kelvin/commands.hpp"
#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

struct info_nce_args {
  std::vector<std::string> temperatures;
  std::string positive = "1", negative = "-1";
  long long k = 1024;
  bool grad = false;
};

double number(const std::string& token, const char* name) {
  const auto v = parse_double(token);
  if (!v) throw usage_error(std::string(name) + " must be a number (got '" + token + "')");
  return *v;
}

// The seed's example: one row [positive, negative x K], its loss per T.
std::string run_info_nce(const info_nce_args& a) {
  if (a.k < 0 || a.k > (1LL << 28)) {
    throw usage_error("-K must be in [0, 2^28] (got " + std::to_string(a.k) + ")");
  }
  const double pos = number(a.positive, "--positive");
  const double neg = number(a.negative, "--negative");
  const std::vector<double> ts =
      parse_temperatures(a.temperatures.empty() ? std::vector<std::string>{"1"} : a.temperatures);
  std::vector<double> row(static_cast<std::size_t>(a.k) + 1, neg), grad(row.size());
  row[0] = pos;
  std::string out;
  for (const double t : ts) {
    const auto v = kelvin::info_nce(
        matrix_view<const double>(row.data(), 1, row.size()), {.temperature = t},
        a.grad ? matrix_view<double>(grad.data(), 1, grad.size()) : matrix_view<double>{});
    out += format_temperature(t) + " " + format_repr(v.loss);
    if (a.grad) out += " " + format_repr(v.d_temperature);
    out += "\n";
  }
  return out;
}

}  // namespace

CLI::App* add_loss_command(CLI::App& app, std::string& out) {
  CLI::App* loss = app.add_subcommand("loss", "losses with a temperature (see docs/loss.md)");
  loss->require_subcommand(1);
  // Owned by the callback, which lives as long as the app; CLI11 binds to it.
  auto a = std::make_shared<info_nce_args>();
  CLI::App* nce = loss->add_subcommand(
      "info-nce", "MoCo's InfoNCE of one query: positive logit, K equal negatives, per T");
  nce->add_option("-t,--temperature", a->temperatures,
                  "temperatures T >= 0, comma-separated or repeated (default 1)")
      ->type_name("T[,T...]");
  nce->add_option("--positive", a->positive, "the positive's logit q.k+ (default 1)")
      ->type_name("X");
  nce->add_option("--negative", a->negative, "every negative's logit (default -1)")->type_name("X");
  nce->add_option("-K", a->k, "the number of negatives (default 1024)")->type_name("K");
  nce->add_flag("--grad", a->grad, "also print dL/dT");
  nce->callback([a, &out] { out = run_info_nce(*a); });
  return loss;
}

}  // namespace kelvin::cli
