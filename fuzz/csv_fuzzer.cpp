// libFuzzer target: the CSV/TSV reader (tools/kelvin/csv.cpp).
//
// Any bytes, read with each delimiter setting, with and without a header,
// as float and double, through small reads and a small line buffer (so the
// buffer's compaction and growth run on short inputs). The reader either
// returns rows of the same width whose values survive a round trip through
// the writer, or throws usage_error with one line naming the input, line
// and column; it never crashes or hangs.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/csv.hpp"
#include "tools/kelvin/numbers.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

template <class T>
bool same(T a, T b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
void read_all(std::string_view text, char delimiter, bool header, std::size_t max_read,
              std::size_t buffer, std::size_t batch) {
  using namespace kelvin::cli;
  byte_reader in(text, "fuzz.csv", max_read);
  try {
    csv_reader<T> r(in, delimiter, header, buffer);
    r.start();
    check(r.cols() > 0);
    check(r.delimiter() == ',' || r.delimiter() == '\t');
    std::vector<T> rows(r.cols() * batch);
    std::string out;
    std::size_t column = 0;
    while (const std::size_t n = r.read_rows(rows.data(), batch)) {
      check(n <= batch);
      // The writer's digits read back to the same values.
      out.clear();
      append_rows(std::span<const T>(rows.data(), n * r.cols()), r.cols(), ',', column, out);
      check(column == 0);
      std::size_t at = 0;
      for (std::size_t i = 0; i < n * r.cols(); ++i) {
        const std::size_t stop = out.find_first_of(",\n", at);
        check(stop != std::string::npos);
        T back{};
        check(parse_number(std::string_view(out).substr(at, stop - at), back));
        check(same(back, rows[i]));
        at = stop + 1;
      }
      check(at == out.size());
    }
    check(in.at_end());
  } catch (const usage_error& e) {
    const std::string_view m = e.what();
    check(m.rfind("fuzz.csv", 0) == 0);
    check(m.find('\n') == std::string_view::npos && m.find('\r') == std::string_view::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  read_all<double>(text, 0, false, 7, 16, 1);
  read_all<double>(text, 0, true, 1 << 20, 1 << 16, 3);
  read_all<float>(text, ',', false, 3, 1, 2);
  read_all<float>(text, '\t', true, 64, 8, 5);
  return 0;
}
