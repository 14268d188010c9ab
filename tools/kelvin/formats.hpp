// kelvin CLI: the value sources and sinks of each file format, for the
// pipeline (pipeline.hpp): .npy data (converted and byte-swapped on the fly),
// CSV/TSV rows, and values held in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tools/kelvin/byte_io.hpp"
#include "tools/kelvin/csv.hpp"
#include "tools/kelvin/npy.hpp"
#include "tools/kelvin/output_file.hpp"
#include "tools/kelvin/pipeline.hpp"

namespace kelvin::cli {

// The data of an .npy file whose header `in` has just read. Throws
// usage_error when the data ends before the shape says, or (for input of
// unknown size) goes on after it.
template <class T>
std::unique_ptr<value_source<T>> make_npy_source(byte_reader& in, const npy_header& h);

// Rows of a started CSV reader.
template <class T>
std::unique_ptr<value_source<T>> make_csv_source(csv_reader<T>& reader);

// Values held in memory (from the command line).
template <class T>
std::unique_ptr<value_source<T>> make_memory_source(std::span<const T> values);

// An .npy output with h's type, byte order, memory order and shape. With
// `rows_unknown`, h.shape[0] is found at finish() from the number of values
// written (the header is rewritten in place when the output is a file, or
// the data is spooled when it is a stream). Writes the header at once when
// the shape is known.
template <class T>
std::unique_ptr<value_sink<T>> make_npy_sink(output_file& out, npy_header h, bool rows_unknown,
                                             std::size_t chunk_bytes);

// Random access to the data of an .npy output whose shape is known and
// which goes to a file (so run_blocked can write it in place), else null.
// The sink must be the one make_npy_sink returned for that output.
template <class T>
std::unique_ptr<value_store<T>> make_direct_npy_store(output_file& out, const npy_header& h,
                                                      bool rows_unknown);

// CSV/TSV output: `cols` values a line, after `header` (if not empty).
template <class T>
std::unique_ptr<value_sink<T>> make_csv_sink(output_file& out, std::size_t cols, char delimiter,
                                             const std::string& header);

}  // namespace kelvin::cli
