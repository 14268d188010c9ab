#include "tools/kelvin/npy.hpp"

#include <sys/types.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// A header is a few hundred bytes (NumPy refuses more than 10000 by default);
// the limit keeps a lying length from allocating gigabytes.
constexpr std::uint64_t kMaxHeaderLength = std::uint64_t{1} << 20;
// NumPy's NPY_MAXDIMS (64 since NumPy 2.0).
constexpr std::size_t kMaxRank = 64;
// Data offsets (header + data) must fit in off_t with room to spare.
constexpr std::uint64_t kMaxBytes =
    static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) / 2;

// Bytes shown in a message: printable ASCII as is, the rest as \xNN, at most
// `limit` of them.
std::string escape(std::string_view s, std::size_t limit = 60) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

std::uint32_t read_le(std::string_view s, std::size_t at, std::size_t bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) {
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  }
  return v;
}

std::size_t preamble_size(int major) { return major == 1 ? 10 : 12; }

// ---- the Python literal in the header ---------------------------------------

struct py_value {
  enum class kind { str, integer, boolean, none, tuple, list, dict };
  kind k = kind::none;
  std::size_t pos = 0;          // offset in the dict text, for messages
  std::string text;             // str: the characters; integer: [-]digits
  bool flag = false;            // boolean
  std::vector<py_value> items;  // tuple, list; dict: key, value, key, value...
};

// A recursive-descent parser for the literals NumPy writes (and
// ast.literal_eval reads): str, int, True/False/None, tuple, list, dict.
class literal_parser {
 public:
  literal_parser(std::string_view text, const std::string& name, bool long_suffix)
      : s_(text), name_(name), long_suffix_(long_suffix) {}

  py_value parse_all() {
    py_value v = value(0);
    skip_blanks();
    if (i_ != s_.size()) fail("unexpected text after the dictionary");
    return v;
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(what, i_); }
  [[noreturn]] void fail_at(const std::string& what, std::size_t at) const {
    throw usage_error(name_ + ": malformed .npy header: " + what + " at byte " +
                      std::to_string(at) + " of \"" + escape(s_, 80) + "\"");
  }

 private:
  static constexpr int kMaxDepth = 16;

  void skip_blanks() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r' ||
                              s_[i_] == '\f' || s_[i_] == '\v')) {
      ++i_;
    }
  }

  bool eat(char c) {
    skip_blanks();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  py_value value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    skip_blanks();
    if (i_ >= s_.size()) fail("unexpected end");
    const char c = s_[i_];
    if (c == '\'' || c == '"') return string_value();
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return integer_value();
    if (c == '(') return sequence(depth, ')', py_value::kind::tuple);
    if (c == '[') return sequence(depth, ']', py_value::kind::list);
    if (c == '{') return sequence(depth, '}', py_value::kind::dict);
    return word();
  }

  py_value string_value() {
    py_value v;
    v.k = py_value::kind::str;
    v.pos = i_;
    const char quote = s_[i_++];
    while (true) {
      if (i_ >= s_.size() || s_[i_] == '\n') fail_at("unterminated string", v.pos);
      const char c = s_[i_++];
      if (c == quote) break;
      if (c == '\\') {
        if (i_ >= s_.size()) fail_at("unterminated string", v.pos);
        v.text += s_[i_++];  // \' \" \\: the character itself; nothing else matters here
        continue;
      }
      v.text += c;
    }
    return v;
  }

  py_value integer_value() {
    py_value v;
    v.k = py_value::kind::integer;
    v.pos = i_;
    if (s_[i_] == '-' || s_[i_] == '+') {
      if (s_[i_] == '-') v.text += '-';
      ++i_;
      skip_blanks();
    }
    const std::size_t digits = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') v.text += s_[i_++];
    if (i_ == digits) fail_at("expected a number", v.pos);
    // Python 2 wrote longs as 3L; NumPy still reads those files.
    if (long_suffix_ && i_ < s_.size() && (s_[i_] == 'L' || s_[i_] == 'l')) ++i_;
    if (i_ < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == '_')) {
      fail_at("expected an integer", v.pos);
    }
    return v;
  }

  py_value word() {
    py_value v;
    v.pos = i_;
    std::size_t end = i_;
    while (end < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
      ++end;
    }
    const std::string_view w = s_.substr(i_, end - i_);
    if (w == "True" || w == "False") {
      v.k = py_value::kind::boolean;
      v.flag = w == "True";
    } else if (w == "None") {
      v.k = py_value::kind::none;
    } else if (w.empty()) {
      fail("unexpected character '" + escape(s_.substr(i_, 1)) + "'");
    } else {
      fail("unexpected '" + escape(w) + "'");
    }
    i_ = end;
    return v;
  }

  py_value sequence(int depth, char close, py_value::kind k) {
    py_value v;
    v.k = k;
    v.pos = i_;
    ++i_;  // the opening bracket
    bool trailing_comma = false;
    while (true) {
      if (eat(close)) break;
      if (!v.items.empty() && !trailing_comma)
        fail("expected ',' or '" + std::string(1, close) + "'");
      v.items.push_back(value(depth + 1));
      if (k == py_value::kind::dict) {
        if (!eat(':')) fail("expected ':'");
        v.items.push_back(value(depth + 1));
      }
      trailing_comma = eat(',');
    }
    // (3) is the integer 3, not a tuple; (3,) and () are tuples.
    if (k == py_value::kind::tuple && v.items.size() == 1 && !trailing_comma) {
      py_value inner = std::move(v.items.front());
      return inner;
    }
    return v;
  }

  std::string_view s_;
  const std::string& name_;
  bool long_suffix_;
  std::size_t i_ = 0;
};

// ---- dtypes ----------------------------------------------------------------

struct descr_info {
  bool supported = false;
  scalar_type type = scalar_type::f64;
  bool big_endian = false;
  std::string dtype_name;  // NumPy's name, for the message when unsupported
};

bool host_big_endian() { return std::endian::native == std::endian::big; }

descr_info parse_descr(const std::string& descr) {
  descr_info info;
  std::string_view d = descr;
  char order = '=';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    order = d[0];
    d.remove_prefix(1);
  }
  info.big_endian = order == '>' || ((order == '=' || order == '|') && host_big_endian());
  if (d.empty()) return info;
  const char kind = d[0];
  d.remove_prefix(1);
  std::uint64_t size = 0;
  std::size_t digits = 0;
  while (digits < d.size() && d[digits] >= '0' && d[digits] <= '9' && digits < 9) {
    size = size * 10 + static_cast<std::uint64_t>(d[digits] - '0');
    ++digits;
  }
  const std::string_view rest = d.substr(digits);
  const bool sized = digits > 0 && rest.empty();
  const std::string bits = std::to_string(size * 8);
  switch (kind) {
    case 'f':
      if (sized && (size == 4 || size == 8)) {
        info.supported = true;
        info.type = size == 4 ? scalar_type::f32 : scalar_type::f64;
      } else if (sized && size > 0) {
        info.dtype_name = "float" + bits;  // f2: float16, f16: float128 (long double)
      }
      break;
    case 'i':
      if (sized && size > 0) info.dtype_name = "int" + bits;
      break;
    case 'u':
      if (sized && size > 0) info.dtype_name = "uint" + bits;
      break;
    case 'c':
      if (sized && size > 0) info.dtype_name = "complex" + bits;
      break;
    case 'b':
    case '?':
      if (size <= 1 && rest.empty()) info.dtype_name = "bool";
      break;
    case 'O':
      if (rest.empty()) info.dtype_name = "object";
      break;
    case 'S':
    case 'a':
      if (rest.empty()) info.dtype_name = "bytes" + bits;
      break;
    case 'U':
      if (rest.empty()) info.dtype_name = "str" + std::to_string(size * 32);
      break;
    case 'V':
      if (rest.empty()) info.dtype_name = "void" + bits;
      break;
    case 'M':
    case 'm':
      if (size == 8 && (rest.empty() || (rest.front() == '[' && rest.back() == ']'))) {
        info.dtype_name =
            std::string(kind == 'M' ? "datetime64" : "timedelta64") + escape(rest, 30);
      }
      break;
    default:
      break;
  }
  return info;
}

std::uint64_t parse_dimension(const py_value& v, const literal_parser& p) {
  if (v.k != py_value::kind::integer) p.fail_at("'shape' must be a tuple of integers", v.pos);
  if (v.text.front() == '-') {
    if (v.text.find_first_not_of("-0") == std::string::npos) return 0;  // -0 is 0
    p.fail_at("'shape' has a negative dimension " + v.text, v.pos);
  }
  std::uint64_t d = 0;
  for (char c : v.text) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (d > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      p.fail_at("'shape' dimension " + escape(v.text, 30) + " is too large", v.pos);
    }
    d = d * 10 + digit;
  }
  return d;
}

}  // namespace

std::size_t size_of(scalar_type t) { return t == scalar_type::f32 ? 4 : 8; }
const char* name_of(scalar_type t) { return t == scalar_type::f32 ? "float32" : "float64"; }

bool needs_swap(bool big_endian) { return big_endian != host_big_endian(); }

std::uint64_t npy_header::count() const {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) n *= d;
  return n;
}

std::string format_shape(std::span<const std::uint64_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ',';
  s += ')';
  return s;
}

std::uint64_t npy_header_size(std::string_view first, const std::string& name) {
  if (first.empty()) throw usage_error(name + ": empty input (expected a .npy file)");
  const std::size_t m = std::min(first.size(), kMagic.size());
  if (first.substr(0, m) != kMagic.substr(0, m)) {
    throw usage_error(name + ": not a .npy file: bad magic \"" + escape(first.substr(0, 6)) +
                      "\" (a .npy file starts with \"\\x93NUMPY\")");
  }
  const auto truncated = [&](const std::string& where) {
    return usage_error(name + ": truncated .npy file: it ends " + where + " (" +
                       std::to_string(first.size()) + " bytes)");
  };
  if (first.size() < 8) throw truncated("inside its magic and version");
  const int major = static_cast<unsigned char>(first[6]);
  const int minor = static_cast<unsigned char>(first[7]);
  if (minor != 0 || major < 1 || major > 3) {
    throw usage_error(name + ": unsupported .npy format version " + std::to_string(major) + "." +
                      std::to_string(minor) + " (kelvin reads 1.0, 2.0 and 3.0)");
  }
  const std::size_t pre = preamble_size(major);
  if (first.size() < pre) throw truncated("inside its header length");
  const std::uint64_t length = read_le(first, 8, pre - 8);
  if (length > kMaxHeaderLength) {
    throw usage_error(name + ": .npy header length " + std::to_string(length) +
                      " is implausible (over 1 MiB)");
  }
  return pre + length;
}

npy_header parse_npy_header(std::string_view header, std::optional<std::uint64_t> file_size,
                            const std::string& name) {
  const std::uint64_t total = npy_header_size(header.substr(0, kNpyPreambleSize), name);
  if (header.size() < total) {
    throw usage_error(name + ": truncated .npy file: it ends inside its header (" +
                      std::to_string(header.size()) + " of " + std::to_string(total) + " bytes)");
  }
  npy_header h;
  h.major = static_cast<unsigned char>(header[6]);
  h.minor = 0;
  h.header_size = total;
  const std::size_t pre = preamble_size(h.major);
  const std::string_view text = header.substr(pre, static_cast<std::size_t>(total) - pre);

  literal_parser parser(text, name, h.major <= 2);
  const py_value dict = parser.parse_all();
  if (dict.k != py_value::kind::dict) parser.fail_at("the header is not a dict", dict.pos);

  const py_value* descr = nullptr;
  const py_value* fortran = nullptr;
  const py_value* shape = nullptr;
  for (std::size_t i = 0; i < dict.items.size(); i += 2) {
    const py_value& key = dict.items[i];
    if (key.k != py_value::kind::str) parser.fail_at("a key is not a string", key.pos);
    const py_value** slot = key.text == "descr"           ? &descr
                            : key.text == "fortran_order" ? &fortran
                            : key.text == "shape"         ? &shape
                                                          : nullptr;
    if (slot == nullptr) parser.fail_at("unexpected key '" + escape(key.text) + "'", key.pos);
    if (*slot != nullptr) parser.fail_at("key '" + key.text + "' appears twice", key.pos);
    *slot = &dict.items[i + 1];
  }
  if (descr == nullptr) parser.fail_at("no 'descr' key", dict.pos);
  if (fortran == nullptr) parser.fail_at("no 'fortran_order' key", dict.pos);
  if (shape == nullptr) parser.fail_at("no 'shape' key", dict.pos);

  // dtype
  if (descr->k == py_value::kind::list) {
    throw usage_error(name + ": unsupported dtype: a structured (record) dtype; kelvin reads " +
                      "float32 and float64 arrays");
  }
  if (descr->k != py_value::kind::str) parser.fail_at("'descr' is not a string", descr->pos);
  const descr_info info = parse_descr(descr->text);
  if (!info.supported) {
    if (info.dtype_name.empty()) {
      throw usage_error(name + ": unsupported dtype: unknown descr '" + escape(descr->text) +
                        "'; kelvin reads float32 and float64");
    }
    std::string hint;
    if (info.dtype_name == "float16") hint = " (convert with x.astype(numpy.float32))";
    throw usage_error(name + ": unsupported dtype " + info.dtype_name + " ('" +
                      escape(descr->text) + "'); kelvin reads float32 and float64" + hint);
  }
  h.type = info.type;
  h.big_endian = info.big_endian;

  if (fortran->k != py_value::kind::boolean) {
    parser.fail_at("'fortran_order' is not True or False", fortran->pos);
  }
  h.fortran_order = fortran->flag;

  if (shape->k != py_value::kind::tuple) parser.fail_at("'shape' is not a tuple", shape->pos);
  if (shape->items.size() > kMaxRank) {
    parser.fail_at(
        "'shape' has " + std::to_string(shape->items.size()) + " dimensions (at most 64)",
        shape->pos);
  }
  std::uint64_t count = 1;
  bool zero = false;
  bool overflow = false;
  for (const py_value& d : shape->items) {
    const std::uint64_t n = parse_dimension(d, parser);
    h.shape.push_back(n);
    if (n == 0) zero = true;
    if (!overflow && n != 0 && count > kMaxBytes / size_of(h.type) / n) overflow = true;
    if (!overflow) count *= n;
  }
  if (overflow && !zero) {
    throw usage_error(name + ": the header's shape " + format_shape(h.shape) +
                      " is too large (its data would exceed 2^62 bytes)");
  }
  if (zero) count = 0;

  if (file_size) {
    const std::uint64_t need = count * size_of(h.type);
    const std::uint64_t have = *file_size >= total ? *file_size - total : 0;
    const std::string what = "the header's shape " + format_shape(h.shape) + " " + name_of(h.type) +
                             " needs " + std::to_string(need) + " bytes of data after the " +
                             std::to_string(total) + "-byte header";
    if (have < need) {
      throw usage_error(name + ": truncated .npy file: " + what + ", the file has " +
                        std::to_string(have));
    }
    if (have > need) {
      throw usage_error(name + ": the header does not match the data: " + what + ", the file has " +
                        std::to_string(have));
    }
  }
  return h;
}

std::string format_npy_header(const npy_header& h, std::size_t min_size) {
  const char order = h.big_endian ? '>' : '<';
  std::string dict = "{'descr': '";
  dict += order;
  dict += h.type == scalar_type::f32 ? "f4" : "f8";
  dict += "', 'fortran_order': ";
  dict += h.fortran_order ? "True" : "False";
  dict += ", 'shape': " + format_shape(h.shape) + ", }";
  // NumPy's alignment: the data starts at a multiple of 64 bytes.
  constexpr std::size_t kAlign = 64;
  std::size_t pre = 10;
  std::size_t total = (pre + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  total = std::max(total, (min_size + kAlign - 1) / kAlign * kAlign);
  if (total - pre > 65535) {
    pre = 12;
    total = std::max((pre + dict.size() + 1 + kAlign - 1) / kAlign * kAlign,
                     (min_size + kAlign - 1) / kAlign * kAlign);
  }
  const std::size_t length = total - pre;
  std::string out(kMagic);
  out += static_cast<char>(pre == 10 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < pre - 8; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  out += dict;
  out.append(total - out.size() - 1, ' ');
  out += '\n';
  return out;
}

template <class T>
void load_values(const void* src, scalar_type from, bool swap, T* dst, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(src);
  if (from == scalar_type::f32) {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t u;
      std::memcpy(&u, p + 4 * i, 4);
      if (swap) u = __builtin_bswap32(u);
      dst[i] = static_cast<T>(std::bit_cast<float>(u));
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t u;
      std::memcpy(&u, p + 8 * i, 8);
      if (swap) u = __builtin_bswap64(u);
      dst[i] = static_cast<T>(std::bit_cast<double>(u));
    }
  }
}

template <class T>
void store_values(const T* src, scalar_type to, bool swap, void* dst, std::size_t n) {
  auto* p = static_cast<unsigned char*>(dst);
  if (to == scalar_type::f32) {
    for (std::size_t i = 0; i < n; ++i) {
      auto u = std::bit_cast<std::uint32_t>(static_cast<float>(src[i]));
      if (swap) u = __builtin_bswap32(u);
      std::memcpy(p + 4 * i, &u, 4);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      auto u = std::bit_cast<std::uint64_t>(static_cast<double>(src[i]));
      if (swap) u = __builtin_bswap64(u);
      std::memcpy(p + 8 * i, &u, 8);
    }
  }
}

template void load_values<float>(const void*, scalar_type, bool, float*, std::size_t);
template void load_values<double>(const void*, scalar_type, bool, double*, std::size_t);
template void store_values<float>(const float*, scalar_type, bool, void*, std::size_t);
template void store_values<double>(const double*, scalar_type, bool, void*, std::size_t);

}  // namespace kelvin::cli
