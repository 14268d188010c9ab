// kelvin CLI: NumPy .npy files (format versions 1.0, 2.0 and 3.0).
//
// A .npy file is "\x93NUMPY", a version (major, minor byte), the header
// length (2 bytes little endian in 1.0, 4 in 2.0 and 3.0), then the header: a
// Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// padded with spaces and a newline, then the raw data. kelvin reads and
// writes float32 and float64 in either byte order and either memory order.
// The parser checks everything a file can get wrong and throws usage_error
// with one line that names the file and the problem; it is fuzzed
// (fuzz/npy_header_fuzzer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kelvin::cli {

enum class scalar_type { f32, f64 };

std::size_t size_of(scalar_type t);
// "float32" or "float64", NumPy's names.
const char* name_of(scalar_type t);

struct npy_header {
  int major = 1;
  int minor = 0;
  scalar_type type = scalar_type::f64;
  bool big_endian = false;  // the data's byte order
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;  // as NumPy shows it (not reversed for Fortran order)
  std::uint64_t header_size = 0;     // bytes before the data

  // Product of the shape (the parser checks that it and data_bytes() fit).
  std::uint64_t count() const;
  std::uint64_t data_bytes() const { return count() * size_of(type); }
};

// Enough leading bytes for npy_header_size in every version.
inline constexpr std::size_t kNpyPreambleSize = 12;

// From the first bytes of a file (at least kNpyPreambleSize unless the file
// is shorter): checks the magic, version and header length and returns the
// number of bytes before the data. Throws usage_error naming `name`.
std::uint64_t npy_header_size(std::string_view first, const std::string& name);

// Parses a whole header (the npy_header_size(...) bytes before the data;
// fewer means the file ends inside its header). `file_size` is the file's
// size when known: the data must then be exactly what the shape says.
npy_header parse_npy_header(std::string_view header, std::optional<std::uint64_t> file_size,
                            const std::string& name);

// The header bytes NumPy would write for this type, byte order, memory order
// and shape (version 1.0, or 2.0 when the dict outgrows 65535 bytes),
// padded with spaces so the data starts at a multiple of 64 bytes and at
// least at `min_size`. Ignores h.major, h.minor and h.header_size.
std::string format_npy_header(const npy_header& h, std::size_t min_size = 0);

// "(3, 4)", "(3,)", "()" as Python prints a tuple.
std::string format_shape(std::span<const std::uint64_t> shape);

// True when the data's byte order is not this machine's.
bool needs_swap(bool big_endian);

// Converts n stored values (float32 or float64, byte-swapped when `swap`)
// to T, and back. src/dst may be unaligned.
template <class T>
void load_values(const void* src, scalar_type from, bool swap, T* dst, std::size_t n);
template <class T>
void store_values(const T* src, scalar_type to, bool swap, void* dst, std::size_t n);

}  // namespace kelvin::cli
