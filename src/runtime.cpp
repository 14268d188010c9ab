// Version, target selection (KELVIN_FORCE_TARGET) and the thread setting.
#include "kelvin/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "kelvin/types.hpp"
#include "kelvin/version.hpp"
#include "src/kernels/kernels.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const target* find_target(const std::string& name) {
  const std::string n = upper(name);
  for (const target& t : compiled_targets()) {
    if (upper(t.name) == n) return &t;
  }
  return nullptr;
}

const target& best_target() {
  for (const target& t : compiled_targets()) {
    if (target_supported(t)) return t;
  }
  return reference_target();
}

std::string supported_list() {
  std::string s;
  for (const target& t : compiled_targets()) {
    if (!target_supported(t)) continue;
    if (!s.empty()) s += ", ";
    s += t.name;
  }
  return s;
}

// The first choice: KELVIN_FORCE_TARGET if it names a supported target, else
// the best one (with a warning on stderr for a bad name: the variable is
// read inside noexcept paths, so it cannot throw).
const target* initial_target() {
  const char* env = std::getenv("KELVIN_FORCE_TARGET");
  if (env == nullptr || *env == '\0' || upper(env) == "BEST") return &best_target();
  const target* t = find_target(env);
  if (t != nullptr && target_supported(*t)) return t;
  std::fprintf(stderr,
               "kelvin: KELVIN_FORCE_TARGET=%s is not a supported target here "
               "(supported: %s); using %s\n",
               env, supported_list().c_str(), best_target().name);
  return &best_target();
}

std::atomic<const target*> g_active{nullptr};

}  // namespace

const target& reference_target() { return compiled_targets().back(); }

const target& active_target() {
  const target* t = g_active.load(std::memory_order_acquire);
  if (t == nullptr) {
    static std::once_flag once;
    std::call_once(once, [] { g_active.store(initial_target(), std::memory_order_release); });
    t = g_active.load(std::memory_order_acquire);
  }
  return *t;
}

void select_target(const target& t) { g_active.store(&t, std::memory_order_release); }

}  // namespace detail

const char* version() noexcept { return KELVIN_VERSION_STRING; }

const char* active_target() noexcept { return detail::active_target().name; }

std::vector<std::string> compiled_targets() {
  std::vector<std::string> out;
  for (const detail::target& t : detail::compiled_targets()) out.emplace_back(t.name);
  return out;
}

std::vector<std::string> supported_targets() {
  std::vector<std::string> out;
  for (const detail::target& t : detail::compiled_targets()) {
    if (detail::target_supported(t)) out.emplace_back(t.name);
  }
  return out;
}

void set_target(const std::string& name) {
  if (name.empty() || detail::upper(name) == "BEST") {
    detail::select_target(detail::best_target());
    return;
  }
  const detail::target* t = detail::find_target(name);
  if (t == nullptr) {
    throw error("set_target: unknown target '" + name + "' (compiled: " + [] {
      std::string s;
      for (const auto& n : kelvin::compiled_targets()) s += (s.empty() ? "" : ", ") + n;
      return s;
    }() + ")");
  }
  if (!detail::target_supported(*t)) {
    throw error("set_target: target '" + name +
                "' is not supported by this CPU (supported: " + detail::supported_list() + ")");
  }
  detail::select_target(*t);
}

void set_num_threads(int n) { detail::set_default_threads(n); }
int get_num_threads() noexcept { return detail::default_threads(); }

}  // namespace kelvin
