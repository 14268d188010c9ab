// The C ABI's error handling, shared by every family's C entry points
// (src/c_api.cpp, src/STEM_c_api.cpp): a C++ call whose exceptions become a
// kelvin_status plus this thread's message for kelvin_last_error().
#pragma once

#include <exception>
#include <new>
#include <string>

#include "kelvin/kelvin.h"
#include "kelvin/types.hpp"

namespace kelvin::detail {

// This thread's message of the last failed C call ("" after a success).
inline std::string& last_error_message() {
  thread_local std::string message;
  return message;
}
inline const char* last_error() { return last_error_message().c_str(); }

// Runs f(); an exception becomes its status and message.
template <class F>
kelvin_status guarded(F&& f) noexcept {
  std::string& message = last_error_message();
  try {
    f();
    message.clear();
    return KELVIN_OK;
  } catch (const error& e) {
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
