// libFuzzer target: the .npy header parser (tools/kelvin/npy.cpp).
//
// Any bytes, read as a whole file (size known: the data must match the
// shape) and as the start of a stream (size unknown). The parser either
// returns a header that is consistent and survives a round trip through the
// writer, or throws usage_error with one line naming the file; it never
// crashes, hangs or allocates without bound.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/numbers.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void parse_one(std::string_view bytes, std::optional<std::uint64_t> size) {
  using namespace kelvin::cli;
  try {
    const std::uint64_t total = npy_header_size(bytes.substr(0, kNpyPreambleSize), "fuzz.npy");
    const npy_header h = parse_npy_header(bytes, size, "fuzz.npy");
    check(h.header_size == total && h.header_size <= bytes.size());
    check(h.major >= 1 && h.major <= 3 && h.minor == 0);
    check(h.shape.size() <= 64);
    if (size) check(h.header_size + h.data_bytes() == *size);
    // What kelvin would write for it reads back the same.
    const std::string again = format_npy_header(h);
    check(again.size() % 64 == 0);
    const npy_header back = parse_npy_header(again, again.size() + h.data_bytes(), "again.npy");
    check(back.type == h.type && back.big_endian == h.big_endian &&
          back.fortran_order == h.fortran_order && back.shape == h.shape &&
          back.header_size == again.size());
  } catch (const usage_error& e) {
    const std::string_view m = e.what();
    check(m.rfind("fuzz.npy: ", 0) == 0);
    check(m.find('\n') == std::string_view::npos && m.find('\r') == std::string_view::npos);
    check(m.size() < 1024);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  parse_one(bytes, size);
  parse_one(bytes, std::nullopt);
  return 0;
}
