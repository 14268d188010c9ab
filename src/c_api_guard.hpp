// The C ABI's error translation, shared by every family's src/*c_api.cpp:
// exceptions become a kelvin_status plus a thread-local message.
#pragma once

#include <new>
#include <stdexcept>
#include <string>

#include "kelvin/kelvin.h"
#include "kelvin/types.hpp"

namespace kelvin::detail {

// This thread's last error message (defined in src/c_api.cpp).
std::string& c_last_error() noexcept;

template <class F>
kelvin_status guarded(F&& f) noexcept {
  try {
    f();
    c_last_error().clear();
    return KELVIN_OK;
  } catch (const kelvin::error& e) {
    c_last_error() = e.what();
    return static_cast<kelvin_status>(e.code());
  } catch (const std::bad_alloc&) {
    c_last_error() = "out of memory";
    return KELVIN_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    c_last_error() = std::string("internal error: ") + e.what();
    return KELVIN_INTERNAL_ERROR;
  } catch (...) {
    c_last_error() = "internal error";
    return KELVIN_INTERNAL_ERROR;
  }
}

}  // namespace kelvin::detail
