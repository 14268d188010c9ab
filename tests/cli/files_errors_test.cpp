// Bad files given to the kelvin CLI: each case exits with code 2, prints
// exactly one line on stderr that names the file (and, for text, the line
// and column), prints nothing on stdout, and leaves no output file behind:
// neither the output path nor a temporary next to it, and an existing file
// at the output path is left as it was.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/cli/run_command.hpp"

namespace kelvin::testing {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class cli_files_error : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tpl = (fs::temp_directory_path() / "kelvin_files_error_XXXXXX").string();
    ASSERT_NE(mkdtemp(tpl.data()), nullptr);
    dir_ = tpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Runs kelvin with `args` and checks the error contract. `out` is the
  // output path the command names (checked absent, unless it existed).
  void expect_error(const std::vector<std::string>& args, const std::string& says,
                    const std::string& stdin_path = "/dev/null") {
    check_error(args, says, [&] { return run_kelvin(args, {}, stdin_path); });
  }
  // The same with `input` fed through a pipe (a stream of unknown size).
  void expect_error_piped(const std::vector<std::string>& args, const std::string& says,
                          const std::string& input) {
    check_error(args, says, [&] { return run_kelvin_piped(args, input); });
  }

  template <class Run>
  void check_error(const std::vector<std::string>& args, const std::string& says, Run&& run) {
    std::string cmd = "kelvin";
    for (const std::string& a : args) cmd += " '" + a + "'";
    SCOPED_TRACE(cmd);
    const std::vector<std::string> before = listing();
    const command_result r = run();
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("kelvin: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << "expected '" << says << "' in: " << r.err;
    // No output, no temporary: the folder holds what it held.
    EXPECT_EQ(listing(), before);
  }

  fs::path dir_;
};

// A .npy header as NumPy writes it, with `dict` in place of the dict.
std::string npy_header(const std::string& dict, int major = 1) {
  std::string h = "\x93NUMPY";
  h += static_cast<char>(major);
  h += '\0';
  const std::size_t pre = major == 1 ? 10 : 12;
  std::size_t total = (pre + dict.size() + 1 + 63) / 64 * 64;
  const std::size_t len = total - pre;
  for (std::size_t i = 0; i < pre - 8; ++i) h += static_cast<char>((len >> (8 * i)) & 0xff);
  h += dict;
  h.append(total - h.size() - 1, ' ');
  h += '\n';
  return h;
}

std::string f4_dict(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

std::string zeros(std::size_t bytes) { return std::string(bytes, '\0'); }

TEST_F(cli_files_error, truncated_npy_data) {
  const std::string in = write("t.npy", npy_header(f4_dict("(4, 4)")) + zeros(60));
  const std::string out = path("out.npy");
  expect_error({"softmax", "--input", in, "--output", out},
               in + ": truncated .npy file: the header's shape (4, 4) float32 needs 64 bytes");
  // Through stdin: a redirected file (size known), then a pipe (size unknown).
  expect_error({"softmax", "--input", "-", "--output", out},
               "<stdin>: truncated .npy file: the header's shape (4, 4) float32 needs 64 bytes",
               in);
  expect_error_piped({"softmax", "--input", "-", "--output", out},
                     "<stdin>: truncated .npy file: the header's shape (4, 4) float32 needs 64 "
                     "bytes of data, the input ends after 60",
                     npy_header(f4_dict("(4, 4)")) + zeros(60));
}

TEST_F(cli_files_error, truncated_npy_header) {
  const std::string full = npy_header(f4_dict("(2,)"));
  const std::string out = path("out.npy");
  expect_error({"softmax", "--input", write("h.npy", full.substr(0, 40)), "--output", out},
               "h.npy: truncated .npy file: it ends inside its header (40 of 128 bytes)");
  expect_error({"softmax", "--input", write("m.npy", full.substr(0, 4)), "--output", out},
               "m.npy: truncated .npy file: it ends inside its magic");
  expect_error({"softmax", "--input", write("l.npy", full.substr(0, 9)), "--output", out},
               "l.npy: truncated .npy file: it ends inside its header length");
}

TEST_F(cli_files_error, bad_magic) {
  const std::string out = path("out.npy");
  expect_error({"softmax", "--input",
                write("b.npy", "\x93NUMPZ" + npy_header(f4_dict("()")).substr(6)), "--output", out},
               "b.npy: not a .npy file: bad magic \"\\x93NUMPZ\"");
  expect_error({"softmax", "--input", write("text.npy", "1,2,3\n"), "--output", out},
               "text.npy: not a .npy file: bad magic \"1,2,3\\x0a\"");
  // --format npy forces the check on any name.
  expect_error(
      {"softmax", "--format", "npy", "--input", write("x.bin", "PK\x03\x04zip"), "--output", out},
      "x.bin: not a .npy file: bad magic");
}

TEST_F(cli_files_error, unsupported_npy_version) {
  std::string h = npy_header(f4_dict("(1,)"));
  h[6] = 4;
  expect_error({"softmax", "--input", write("v.npy", h + zeros(4)), "--output", path("o.npy")},
               "v.npy: unsupported .npy format version 4.0");
}

TEST_F(cli_files_error, header_lies_about_the_shape) {
  const std::string out = path("out.npy");
  // Says 3 x 4, holds 4 x 4.
  const std::string in = write("lie.npy", npy_header(f4_dict("(3, 4)")) + zeros(64));
  expect_error({"softmax", "--input", in, "--output", out},
               in + ": the header does not match the data: the header's shape (3, 4) float32 "
                    "needs 48 bytes of data after the 128-byte header, the file has 64");
  expect_error_piped({"softmax", "--input", "-", "--output", out},
                     "<stdin>: the header does not match the data: the data goes on after the 48 "
                     "bytes of shape (3, 4) float32",
                     npy_header(f4_dict("(3, 4)")) + zeros(64));
  // Says 5 x 4, holds 4 x 4: truncated.
  expect_error({"softmax", "--input", write("short.npy", npy_header(f4_dict("(5, 4)")) + zeros(64)),
                "--output", out},
               "short.npy: truncated .npy file: the header's shape (5, 4) float32 needs 80 bytes");
  // A shape whose size overflows.
  expect_error({"softmax", "--input",
                write("huge.npy", npy_header(f4_dict("(4294967296, 4294967296)")) + zeros(16)),
                "--output", out},
               "huge.npy: the header's shape (4294967296, 4294967296) is too large");
  expect_error(
      {"softmax", "--input", write("neg.npy", npy_header(f4_dict("(-1, 4)"))), "--output", out},
      "neg.npy: malformed .npy header: 'shape' has a negative dimension -1");
}

// Extents that overflow (issue 15): an empty input whose reduction would
// still have more results than any file holds (2^80 here, which wraps to 0 in
// uint64 arithmetic), and sizes that would wrap around.
TEST_F(cli_files_error, extents_that_overflow) {
  const std::string in =
      write("empty.npy", npy_header(f4_dict("(1099511627776, 1099511627776, 0)")));
  for (const char* fn : {"log-partition", "smooth-max"}) {
    expect_error({fn, "--input", in, "--output", path("out.npy")},
                 "empty.npy: the result's shape (1099511627776, 1099511627776) is too large");
  }
  // Elementwise, the same empty input is an empty result: fine.
  const command_result ok = run_kelvin({"softmax", "--input", in, "--output", path("e.npy")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  fs::remove(path("e.npy"));
  // 999999999999 GiB would wrap around to a small chunk.
  expect_error(
      {"softmax", "--chunk-size", "999999999999G", "--input", in, "--output", path("o.npy")},
      "--chunk-size 999999999999G is too large (at most 1T)");
}

TEST_F(cli_files_error, malformed_npy_header_dict) {
  const std::string out = path("out.npy");
  const struct {
    const char* dict;
    const char* says;
  } cases[] = {
      {"{'descr': '<f4', 'fortran_order': False}", "no 'shape' key"},
      {"{'descr': '<f4', 'shape': (2,)}", "no 'fortran_order' key"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
       "'fortran_order' is not True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "'shape' is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", "expected an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
       "key 'descr' appears twice"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "malformed .npy header"},
      {"['descr', '<f4']", "the header is not a dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
       "unexpected text after the dictionary"},
  };
  for (const auto& c : cases) {
    expect_error(
        {"softmax", "--input", write("d.npy", npy_header(c.dict) + zeros(8)), "--output", out},
        std::string("d.npy: ") +
            (std::string(c.says).rfind("malformed", 0) == 0 ? "" : "malformed .npy header: ") +
            c.says);
  }
}

TEST_F(cli_files_error, unsupported_dtype_is_named) {
  const std::string out = path("out.npy");
  const struct {
    const char* descr;
    const char* name;
  } cases[] = {
      {"<i8", "int64"},     {"<i4", "int32"},   {"|u1", "uint8"},     {"<c16", "complex128"},
      {"<c8", "complex64"}, {"|O", "object"},   {"<f2", "float16"},   {"|b1", "bool"},
      {"<U5", "str160"},    {"|S3", "bytes24"}, {"<f16", "float128"}, {"<M8[ns]", "datetime64[ns]"},
  };
  for (const auto& c : cases) {
    const std::string dict =
        std::string("{'descr': '") + c.descr + "', 'fortran_order': False, 'shape': (2,), }";
    expect_error(
        {"softmax", "--input", write("u.npy", npy_header(dict) + zeros(64)), "--output", out},
        std::string("u.npy: unsupported dtype ") + c.name + " ('" + c.descr + "')");
  }
  expect_error({"softmax", "--input",
                write("s.npy", npy_header("{'descr': [('a', '<f4'), ('b', '<i8')], "
                                          "'fortran_order': False, 'shape': (2,), }") +
                                   zeros(24)),
                "--output", out},
               "s.npy: unsupported dtype: a structured (record) dtype");
  expect_error({"softmax", "--input",
                write("q.npy", npy_header("{'descr': 'zz9', 'fortran_order': False, "
                                          "'shape': (2,), }")),
                "--output", out},
               "q.npy: unsupported dtype: unknown descr 'zz9'");
}

TEST_F(cli_files_error, ragged_csv_rows) {
  const std::string out = path("out.csv");
  expect_error({"softmax", "--input", write("r.csv", "1,2,3\n4,5\n"), "--output", out},
               "r.csv:2:4: row has 2 fields, expected 3 (as on line 1)");
  expect_error({"softmax", "--input", write("r2.csv", "1,2\n3,4\n5,6,7\n"), "--output", out},
               "r2.csv:3:5: row has more than 2 fields (line 1 has 2)");
  expect_error({"softmax", "--input", write("r.tsv", "1\t2\n3\n"), "--output", out},
               "r.tsv:2:2: row has 1 field, expected 2");
  expect_error({"softmax", "--header", "--input", write("h.csv", "a,b,c\n1,2\n"), "--output", out},
               "h.csv:2:1: row has 2 fields but the header (line 1) names 3");
}

TEST_F(cli_files_error, non_numeric_csv_fields) {
  const std::string out = path("out.csv");
  expect_error({"softmax", "--input", write("n.csv", "1,2\n3, abc\n"), "--output", out},
               "n.csv:2:4: not a number: 'abc'");
  expect_error({"softmax", "--input", write("e.csv", "1,,3\n"), "--output", out},
               "e.csv:1:3: empty field (expected a number)");
  expect_error(
      {"softmax", "--input", write("hd.csv", "x,y\n1,2\n"), "--output", out},
      "hd.csv:1:1: not a number: 'x' (if the first line names the columns, pass --header)");
  expect_error({"softmax", "--input", write("q.csv", "1,\"2\n"), "--output", out},
               "q.csv:1:3: unterminated quote");
  expect_error({"softmax", "--input", write("z.csv", "1,0x10\n"), "--output", out},
               "z.csv:1:3: not a number: '0x10'");
  // Through stdin the name is <stdin>.
  expect_error_piped({"softmax", "--input", "-", "--output", out},
                     "<stdin>:2:1: not a number: '--'", "1,2\n--,3\n");
}

TEST_F(cli_files_error, empty_input) {
  const std::string out = path("out.npy");
  expect_error({"softmax", "--input", write("e.npy", ""), "--output", out}, "e.npy: empty input");
  expect_error({"softmax", "--input", write("e.csv", ""), "--output", out},
               "e.csv: empty input (no rows)");
  expect_error({"softmax", "--input", write("b.csv", "\n  \n\n"), "--output", out},
               "b.csv: empty input (no rows)");
  expect_error({"softmax", "--header", "--input", write("h.csv", "a,b\n"), "--output", out},
               "h.csv: no rows after the header line");
  expect_error({"softmax", "--input", "-", "--output", out}, "<stdin>: empty input", "/dev/null");
  expect_error_piped({"softmax", "--input", "-", "--output", out}, "<stdin>: empty input", "");
  expect_error({"plot", "--input", write("p.csv", "")}, "p.csv: empty input");
}

TEST_F(cli_files_error, output_path_not_writable) {
  const std::string in = write("in.csv", "1,2\n");
  expect_error({"softmax", "--input", in, "--output", path("missing/out.csv")},
               path("missing/out.csv") + ": cannot write: No such file or directory");
  fs::create_directory(dir_ / "sub");
  expect_error({"softmax", "--input", in, "--output", path("sub")},
               path("sub") + ": cannot write: is a directory");
  expect_error({"softmax", "--input", in, "--output", path("in.csv/out.csv")},
               "in.csv/out.csv: cannot write: Not a directory");
  expect_error({"softmax", "--input", in, "--output", path("sub/")},
               "cannot write: is a directory");
  expect_error({"softmax", "--input", path("nope.csv"), "--output", path("o.csv")},
               path("nope.csv") + ": cannot open: No such file or directory");
}

TEST_F(cli_files_error, output_path_equal_to_input_path) {
  const std::string in = write("same.csv", "1,2\n");
  expect_error({"softmax", "--input", in, "--output", in},
               in + ": the output is the input file; write to another path");
  // The same file under another name: a hard link, a symlink, a detour.
  fs::create_hard_link(in, dir_ / "link.csv");
  fs::create_symlink(in, dir_ / "sym.csv");
  fs::create_directory(dir_ / "d");
  expect_error({"softmax", "--input", in, "--output", path("link.csv")}, "the output is the input");
  expect_error({"softmax", "--input", in, "--output", path("sym.csv")}, "the output is the input");
  expect_error({"softmax", "--input", in, "--output", path("d/../same.csv")},
               "the output is the input");
  std::ifstream f(in);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "1,2\n");
}

TEST_F(cli_files_error, axis_out_of_range) {
  const std::string out = path("out.npy");
  const std::string in = write("a.npy", npy_header(f4_dict("(2, 3)")) + zeros(24));
  expect_error({"softmax", "--input", in, "--output", out, "--axis", "2"},
               in + ": --axis 2 is out of range for shape (2, 3) (valid: -2 to 1)");
  expect_error({"log-partition", "--input", in, "--output", out, "--axis", "-3"},
               "--axis -3 is out of range for shape (2, 3)");
  const std::string scalar = write("s.npy", npy_header(f4_dict("()")) + zeros(4));
  expect_error({"softmax", "--input", scalar, "--output", out},
               "s.npy: --axis -1 is out of range for a 0-d array");
  const std::string csv = write("c.csv", "1,2\n");
  expect_error({"softmax", "--input", csv, "--output", path("o.csv"), "--axis", "2"},
               "c.csv: --axis 2 is out of range for a CSV table");
  expect_error({"softmax", "--axis", "1", "--", "1", "2"},
               "--axis 1 is out of range for a row of values (valid: -1 to 0)");
}

TEST_F(cli_files_error, existing_output_is_left_untouched) {
  const std::string out = write("keep.npy", "precious");
  expect_error({"softmax", "--input", write("bad.npy", "garbage"), "--output", out}, "bad magic");
  expect_error({"softmax", "--input", write("t.npy", npy_header(f4_dict("(8,)")) + zeros(8)),
                "--output", out},
               "truncated");
  std::ifstream f(out);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), "precious");
}

TEST_F(cli_files_error, option_errors) {
  const std::string in = write("in.csv", "1,2\n");
  expect_error({"softmax", "-t", "1,2", "--input", in, "--output", path("o.csv")},
               "--input and --output take one temperature (got 2)");
  expect_error({"softmax", "--input", in, "--output", path("o.csv"), "--", "1"},
               "give the values after '--' or --input, not both");
  expect_error({"softmax", "--format", "xls", "--input", in, "--output", path("o.csv")},
               "--format must be npy, csv or tsv (got 'xls')");
  expect_error({"softmax", "--chunk-size", "lots", "--input", in, "--output", path("o.csv")},
               "--chunk-size must be a size");
  expect_error({"softmax", "--header", "--", "1"}, "--header applies to --input/--output");
  expect_error({"softmax", "--input", write("a.npy", npy_header(f4_dict("(2, 2, 2)")) + zeros(32)),
                "--output", path("o.csv")},
               "a.npy: a 3-d result cannot be written as CSV");
  expect_error({"softmax", "--f32", "--f64", "--input", in, "--output", path("o.csv")}, "--f32");
  expect_error({"plot", "--input", write("two.csv", "1,2\n3,4\n")},
               "two.csv: plot draws one row; the input has more than one");
  expect_error({"softmax", "--threads", "-1", "--input", in, "--output", path("o.csv")},
               "--threads must be >= 0");
}

}  // namespace
}  // namespace kelvin::testing
