#include "tools/kelvin/formats.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

template <class T>
constexpr scalar_type scalar_type_of() {
  return sizeof(T) == 4 ? scalar_type::f32 : scalar_type::f64;
}

template <class T>
void swap_in_place(T* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (sizeof(T) == 4) {
      v[i] = std::bit_cast<T>(__builtin_bswap32(std::bit_cast<std::uint32_t>(v[i])));
    } else {
      v[i] = std::bit_cast<T>(__builtin_bswap64(std::bit_cast<std::uint64_t>(v[i])));
    }
  }
}

template <class T>
class npy_source final : public value_source<T> {
 public:
  npy_source(byte_reader& in, const npy_header& h)
      : in_(in), h_(h), remaining_(h.count()), swap_(needs_swap(h.big_endian)) {}

  std::size_t read(std::span<T> out) override {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_));
    if (k == 0) {
      // A file's size was checked against the shape; a stream's is checked here.
      if (!in_.size() && !in_.at_end()) {
        throw usage_error(in_.name() + ": the header does not match the data: the data goes on " +
                          "after the " + std::to_string(h_.data_bytes()) + " bytes of shape " +
                          format_shape(h_.shape) + " " + name_of(h_.type));
      }
      return 0;
    }
    const std::size_t size = size_of(h_.type);
    const std::size_t bytes = k * size;
    std::size_t got = 0;
    if (h_.type == scalar_type_of<T>()) {
      got = in_.read_full(out.data(), bytes);
      if (got == bytes && swap_) swap_in_place(out.data(), k);
    } else {
      staging_.resize(bytes);
      got = in_.read_full(staging_.data(), bytes);
      if (got == bytes) load_values(staging_.data(), h_.type, swap_, out.data(), k);
    }
    if (got < bytes) {
      const std::uint64_t have = h_.data_bytes() - remaining_ * size + got;
      throw usage_error(in_.name() + ": truncated .npy file: the header's shape " +
                        format_shape(h_.shape) + " " + name_of(h_.type) + " needs " +
                        std::to_string(h_.data_bytes()) + " bytes of data, the input ends after " +
                        std::to_string(have));
    }
    remaining_ -= k;
    return k;
  }

  std::uint64_t bytes_read() const override { return in_.position(); }

 private:
  byte_reader& in_;
  npy_header h_;
  std::uint64_t remaining_;
  bool swap_;
  std::vector<unsigned char> staging_;
};

template <class T>
class csv_source final : public value_source<T> {
 public:
  explicit csv_source(csv_reader<T>& r) : r_(r) {}
  std::size_t read(std::span<T> out) override {
    return r_.read_rows(out.data(), out.size() / r_.cols()) * r_.cols();
  }
  std::uint64_t bytes_read() const override { return r_.bytes_read(); }

 private:
  csv_reader<T>& r_;
};

template <class T>
class memory_source final : public value_source<T> {
 public:
  explicit memory_source(std::span<const T> v) : v_(v) {}
  std::size_t read(std::span<T> out) override {
    const std::size_t k = std::min(out.size(), v_.size() - at_);
    std::copy_n(v_.data() + at_, k, out.data());
    at_ += k;
    return k;
  }
  std::uint64_t bytes_read() const override { return at_ * sizeof(T); }

 private:
  std::span<const T> v_;
  std::size_t at_ = 0;
};

template <class T>
class npy_sink final : public value_sink<T> {
 public:
  npy_sink(output_file& out, npy_header h, bool rows_unknown, std::size_t chunk_bytes)
      : out_(out),
        h_(std::move(h)),
        rows_unknown_(rows_unknown),
        swap_(needs_swap(h_.big_endian)),
        chunk_bytes_(chunk_bytes) {
    if (!rows_unknown_) {
      const std::string header = format_npy_header(h_);
      write_all(out_.fd(), header.data(), header.size(), out_.name());
    } else if (out_.seekable()) {
      // Room for any number of rows; the real header is written at the end.
      npy_header widest = h_;
      widest.shape[0] = std::numeric_limits<std::uint64_t>::max();
      const std::string header = format_npy_header(widest);
      reserved_ = header.size();
      write_all(out_.fd(), header.data(), header.size(), out_.name());
    } else {
      spooled_ = std::make_unique<spool<T>>(chunk_bytes);
    }
  }

  void write(std::span<const T> values) override {
    written_ += values.size();
    if (spooled_) {
      spooled_->append(values);
      return;
    }
    if (h_.type == scalar_type_of<T>() && !swap_) {
      write_all(out_.fd(), values.data(), values.size_bytes(), out_.name());
      return;
    }
    staging_.resize(values.size() * size_of(h_.type));
    store_values(values.data(), h_.type, swap_, staging_.data(), values.size());
    write_all(out_.fd(), staging_.data(), staging_.size(), out_.name());
  }

  void finish() override {
    if (!rows_unknown_) return;
    std::uint64_t per_row = 1;
    for (std::size_t i = 1; i < h_.shape.size(); ++i) per_row *= h_.shape[i];
    h_.shape[0] = per_row == 0 ? 0 : written_ / per_row;
    if (spooled_) {
      const std::string header = format_npy_header(h_);
      write_all(out_.fd(), header.data(), header.size(), out_.name());
      std::unique_ptr<spool<T>> data = std::move(spooled_);
      data->drain_to(*this, chunk_bytes_);
      return;
    }
    const std::string header = format_npy_header(h_, reserved_);
    pwrite_all(out_.fd(), header.data(), header.size(), 0, out_.name());
  }

 private:
  output_file& out_;
  npy_header h_;
  bool rows_unknown_;
  bool swap_;
  std::size_t chunk_bytes_;
  std::size_t reserved_ = 0;
  std::uint64_t written_ = 0;
  std::unique_ptr<spool<T>> spooled_;
  std::vector<unsigned char> staging_;
};

template <class T>
class csv_sink final : public value_sink<T> {
 public:
  csv_sink(output_file& out, std::size_t cols, char delimiter, const std::string& header)
      : out_(out), cols_(cols), delimiter_(delimiter) {
    if (!header.empty()) buf_ = header + '\n';
  }

  void write(std::span<const T> values) override {
    // Format and write in pieces so the text buffer stays small.
    constexpr std::size_t kPiece = 1 << 16;
    for (std::size_t at = 0; at < values.size(); at += kPiece) {
      append_rows(values.subspan(at, std::min(kPiece, values.size() - at)), cols_, delimiter_,
                  column_, buf_);
      if (buf_.size() >= (1 << 20)) flush();
    }
  }

  void finish() override { flush(); }

 private:
  void flush() {
    write_all(out_.fd(), buf_.data(), buf_.size(), out_.name());
    buf_.clear();
  }

  output_file& out_;
  std::size_t cols_;
  char delimiter_;
  std::size_t column_ = 0;
  std::string buf_;
};

}  // namespace

template <class T>
std::unique_ptr<value_source<T>> make_npy_source(byte_reader& in, const npy_header& h) {
  return std::make_unique<npy_source<T>>(in, h);
}

template <class T>
std::unique_ptr<value_source<T>> make_csv_source(csv_reader<T>& reader) {
  return std::make_unique<csv_source<T>>(reader);
}

template <class T>
std::unique_ptr<value_source<T>> make_memory_source(std::span<const T> values) {
  return std::make_unique<memory_source<T>>(values);
}

template <class T>
std::unique_ptr<value_sink<T>> make_npy_sink(output_file& out, npy_header h, bool rows_unknown,
                                             std::size_t chunk_bytes) {
  return std::make_unique<npy_sink<T>>(out, std::move(h), rows_unknown, chunk_bytes);
}

template <class T>
std::unique_ptr<value_store<T>> make_direct_npy_store(output_file& out, const npy_header& h,
                                                      bool rows_unknown) {
  if (rows_unknown || !out.seekable()) return nullptr;
  const std::uint64_t base = format_npy_header(h).size();
  return std::make_unique<file_store<T>>(out.fd(), base, h.type, needs_swap(h.big_endian),
                                         out.name());
}

template <class T>
std::unique_ptr<value_sink<T>> make_csv_sink(output_file& out, std::size_t cols, char delimiter,
                                             const std::string& header) {
  return std::make_unique<csv_sink<T>>(out, cols, delimiter, header);
}

#define KELVIN_CLI_FORMATS(T)                                                                    \
  template std::unique_ptr<value_source<T>> make_npy_source<T>(byte_reader&, const npy_header&); \
  template std::unique_ptr<value_source<T>> make_csv_source<T>(csv_reader<T>&);                  \
  template std::unique_ptr<value_source<T>> make_memory_source<T>(std::span<const T>);           \
  template std::unique_ptr<value_sink<T>> make_npy_sink<T>(output_file&, npy_header, bool,       \
                                                           std::size_t);                         \
  template std::unique_ptr<value_store<T>> make_direct_npy_store<T>(output_file&,                \
                                                                    const npy_header&, bool);    \
  template std::unique_ptr<value_sink<T>> make_csv_sink<T>(output_file&, std::size_t, char,      \
                                                           const std::string&);

KELVIN_CLI_FORMATS(float)
KELVIN_CLI_FORMATS(double)
#undef KELVIN_CLI_FORMATS

}  // namespace kelvin::cli
