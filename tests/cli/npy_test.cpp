// The .npy header parser and writer of the kelvin CLI (tools/kelvin/npy.hpp):
// what NumPy writes parses, what NumPy would reject is rejected with a
// message naming the problem, and the writer's bytes are NumPy's.
#include "tools/kelvin/npy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tools/kelvin/numbers.hpp"

namespace kelvin::cli {
namespace {

std::string with_preamble(const std::string& dict, int major = 1, bool pad = true) {
  std::string h = "\x93NUMPY";
  h += static_cast<char>(major);
  h += '\0';
  const std::size_t pre = major == 1 ? 10 : 12;
  std::string body = dict;
  if (pad) {
    const std::size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
    body.append(total - pre - dict.size() - 1, ' ');
    body += '\n';
  }
  for (std::size_t i = 0; i < pre - 8; ++i) h += static_cast<char>((body.size() >> (8 * i)) & 0xff);
  return h + body;
}

npy_header parse(const std::string& bytes) {
  return parse_npy_header(bytes, std::nullopt, "x.npy");
}

std::string error_of(const std::string& bytes, std::optional<std::uint64_t> size = std::nullopt) {
  try {
    parse_npy_header(bytes, size, "x.npy");
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(cli_npy, writes_the_bytes_numpy_writes) {
  // numpy.save(f, numpy.zeros((3, 4), '<f4')) and friends, NumPy 1.24.
  npy_header h;
  h.type = scalar_type::f32;
  h.shape = {3, 4};
  const std::string preamble("\x93NUMPY\x01\x00v\x00", 10);
  std::string expected = preamble + "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  expected.append(128 - expected.size() - 1, ' ');
  expected += '\n';
  EXPECT_EQ(format_npy_header(h), expected);

  h.type = scalar_type::f64;
  h.big_endian = true;
  h.fortran_order = true;
  h.shape = {5};
  std::string expected2 = preamble + "{'descr': '>f8', 'fortran_order': True, 'shape': (5,), }";
  expected2.append(128 - expected2.size() - 1, ' ');
  expected2 += '\n';
  EXPECT_EQ(format_npy_header(h), expected2);

  h.shape = {};
  EXPECT_NE(format_npy_header(h).find("'shape': (), }"), std::string::npos);
}

TEST(cli_npy, round_trips_every_layout) {
  for (const scalar_type t : {scalar_type::f32, scalar_type::f64}) {
    for (const bool big : {false, true}) {
      for (const bool fortran : {false, true}) {
        for (const std::vector<std::uint64_t>& shape : {std::vector<std::uint64_t>{},
                                                        {0},
                                                        {7},
                                                        {2, 3, 4},
                                                        {1, 0, 5},
                                                        std::vector<std::uint64_t>(64, 1),
                                                        {std::uint64_t{1} << 40}}) {
          npy_header h;
          h.type = t;
          h.big_endian = big;
          h.fortran_order = fortran;
          h.shape = shape;
          const std::string bytes = format_npy_header(h);
          EXPECT_EQ(bytes.size() % 64, 0u);
          const npy_header back = parse(bytes);
          EXPECT_EQ(back.type, t);
          EXPECT_EQ(back.big_endian, big);
          EXPECT_EQ(back.fortran_order, fortran);
          EXPECT_EQ(back.shape, shape);
          EXPECT_EQ(back.header_size, bytes.size());
          // Padded to a larger size, it still parses the same.
          const std::string wide = format_npy_header(h, bytes.size() + 100);
          EXPECT_EQ(wide.size(), (bytes.size() + 100 + 63) / 64 * 64);
          EXPECT_EQ(parse(wide).shape, shape);
        }
      }
    }
  }
}

TEST(cli_npy, reads_versions_2_and_3_and_python2_files) {
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  for (int major : {1, 2, 3}) {
    const npy_header h = parse(with_preamble(dict, major));
    EXPECT_EQ(h.major, major);
    EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(h.header_size % 64, 0u);
  }
  // Python 2's NumPy wrote longs as 3L (version 1.0 and 2.0 files).
  EXPECT_EQ(
      parse(with_preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }")).shape,
      (std::vector<std::uint64_t>{3, 4}));
  EXPECT_NE(
      error_of(with_preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", 3)),
      "(no error)");
}

TEST(cli_npy, reads_any_dict_spelling_python_would) {
  const char* dicts[] = {
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
      "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}",
      "{ 'descr' : '<f4' ,\n 'fortran_order' : False ,\t'shape' : ( 2 , ) , }",
      "{'descr':'<f4','fortran_order':False,'shape':(2,)}",
      "{'descr': '|f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': 'f4', 'fortran_order': False, 'shape': (2,)}",
  };
  for (const char* d : dicts) {
    SCOPED_TRACE(d);
    const npy_header h = parse(with_preamble(d));
    EXPECT_EQ(h.type, scalar_type::f32);
    EXPECT_EQ(h.shape, std::vector<std::uint64_t>{2});
  }
  // An unpadded header (some writers) and -0.
  EXPECT_EQ(
      parse(with_preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (-0, 2)}", 1, false))
          .shape,
      (std::vector<std::uint64_t>{0, 2}));
}

TEST(cli_npy, rejects_what_numpy_rejects) {
  const struct {
    const char* dict;
    const char* says;
  } cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "'shape' is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 2}", "'shape' is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}", "tuple of integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}", "tuple of integers"},
      {"{'descr': '<f4', 'fortran_order': None, 'shape': (2,)}", "not True or False"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}", "unexpected 'false'"},
      {"{'descr': 4, 'fortran_order': False, 'shape': (2,)}", "'descr' is not a string"},
      {"{4: '<f4', 'fortran_order': False, 'shape': (2,)}", "a key is not a string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}", "unexpected character ','"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "unexpected end"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1e3,)}", "expected an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,)}", "expected an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': "
       "(((((((((((((((((((2,),),),),),),),),),),),),),),),),),),)}",
       "nested too deeply"},
      {"", "unexpected end"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dict);
    const std::string e = error_of(with_preamble(c.dict));
    EXPECT_EQ(e.rfind("x.npy: ", 0), 0u) << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << e;
  }
  // A NUL after the dict.
  const std::string nul =
      std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}") + '\0';
  EXPECT_NE(error_of(with_preamble(nul, 1, false)).find("unexpected text after the dictionary"),
            std::string::npos);
  // Too many dimensions.
  std::string many = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 65; ++i) many += "1,";
  many += ")}";
  EXPECT_NE(error_of(with_preamble(many)).find("65 dimensions (at most 64)"), std::string::npos);
}

TEST(cli_npy, checks_the_preamble) {
  EXPECT_EQ(error_of(""), "x.npy: empty input (expected a .npy file)");
  EXPECT_NE(error_of("\x93NUM").find("it ends inside its magic and version (4 bytes)"),
            std::string::npos);
  EXPECT_NE(error_of("NUMPY\x01\x00").find("bad magic \"NUMPY\\x01\""), std::string::npos);
  std::string v = with_preamble("{}");
  v[7] = 1;
  EXPECT_NE(error_of(v).find("unsupported .npy format version 1.1"), std::string::npos);
  // A 2.0 header length of 4 GB is refused before anything is allocated.
  const std::string big("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
  EXPECT_NE(error_of(big).find("header length 4294967295 is implausible"), std::string::npos);
  EXPECT_EQ(npy_header_size(with_preamble("{}", 2), "x.npy"), 64u);
}

TEST(cli_npy, checks_the_data_size_against_the_shape) {
  npy_header h;
  h.type = scalar_type::f64;
  h.shape = {3, 2};
  const std::string bytes = format_npy_header(h);
  EXPECT_NO_THROW(parse_npy_header(bytes, bytes.size() + 48, "x.npy"));
  EXPECT_NE(error_of(bytes, bytes.size() + 40)
                .find("truncated .npy file: the header's shape "
                      "(3, 2) float64 needs 48 bytes of data "
                      "after the 128-byte header, the file has 40"),
            std::string::npos);
  EXPECT_NE(error_of(bytes, bytes.size() + 56).find("the header does not match the data"),
            std::string::npos);
  // Shape products that overflow, or whose bytes would.
  for (const char* shape :
       {"(4294967296, 4294967296)", "(2305843009213693952,)", "(18446744073709551615, 2)"}) {
    const std::string d =
        std::string("{'descr': '<f8', 'fortran_order': False, 'shape': ") + shape + "}";
    EXPECT_NE(error_of(with_preamble(d)).find("is too large"), std::string::npos) << shape;
  }
  // A zero anywhere makes an empty array, however large the rest.
  EXPECT_EQ(parse(with_preamble("{'descr': '<f8', 'fortran_order': False, 'shape': "
                                "(0, 18446744073709551615)}"))
                .count(),
            0u);
}

TEST(cli_npy, converts_and_swaps_values) {
  const std::vector<double> x = {1.5, -0.0, std::numeric_limits<double>::infinity(), 1e-310,
                                 3.0e38};
  for (const scalar_type t : {scalar_type::f32, scalar_type::f64}) {
    for (const bool swap : {false, true}) {
      std::vector<unsigned char> raw(x.size() * size_of(t) + 1);
      store_values(x.data(), t, swap, raw.data() + 1, x.size());  // unaligned on purpose
      std::vector<double> back(x.size());
      load_values(raw.data() + 1, t, swap, back.data(), x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double want =
            t == scalar_type::f32 ? static_cast<double>(static_cast<float>(x[i])) : x[i];
        EXPECT_EQ(back[i], want);
        EXPECT_EQ(std::signbit(back[i]), std::signbit(want));
      }
    }
  }
  // Big endian 1.0f is 3f 80 00 00.
  const float one = 1.0f;
  unsigned char be[4];
  store_values(&one, scalar_type::f32, needs_swap(true), be, 1);
  EXPECT_EQ(be[0], 0x3f);
  EXPECT_EQ(be[1], 0x80);
}

}  // namespace
}  // namespace kelvin::cli
