// The C ABI's error translation, shared by every family's C entry points
// (src/c_api.cpp, src/STEM_c_api.cpp): exceptions become a kelvin_status plus
// the thread-local message kelvin_last_error() returns.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "kelvin/kelvin.h"
#include "kelvin/types.hpp"

namespace kelvin::detail {

// The message behind kelvin_last_error() on this thread (src/c_api.cpp).
std::string& c_api_last_error() noexcept;

// Runs f, mapping what it throws to a status (and the message).
template <class F>
kelvin_status guarded(F&& f) noexcept {
  std::string& message = c_api_last_error();
  try {
    f();
    message.clear();
    return KELVIN_OK;
  } catch (const kelvin::error& e) {
    message = e.what();
    return static_cast<kelvin_status>(e.code());
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    return KELVIN_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    message = std::string("internal error: ") + e.what();
    return KELVIN_INTERNAL_ERROR;
  } catch (...) {
    message = "internal error";
    return KELVIN_INTERNAL_ERROR;
  }
}

}  // namespace kelvin::detail
