// .npy files (pipeline/npy-file.h): NpyWriter -> ReadNpy round trips, the exact header numpy expects,
// no partial output without Close(), and ReadNpy's errors for malformed files.
//
// The writer's output was checked once by hand with numpy (the test itself does not need Python):
//   /usr/bin/python3 -c "import numpy; a = numpy.load('rows.npy'); print(a.dtype, a.shape, a[1])"
//   -> float32 (3, 4) [ 5.  6.  7. -8.]
#include "pipeline/npy-file.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

using test::HasMessage;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// Bitwise comparison (NaN and -0 included); reports the first differing index.
void CheckSameFloats(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      FAIL("index " << i << ": expected " << want[i] << ", got " << got[i]);
    }
  }
  SUCCEED("all " << want.size() << " values identical");
}

// A .npy file written byte by byte: magic, version major.0, header length (2 bytes in v1, 4 in v2/v3),
// `dict` padded with spaces and '\n' to a multiple of 64 bytes, then `payload`.
std::string NpyBytes(const std::string& dict, const std::string& payload, char major = 1) {
  std::string out = std::string("\x93") + "NUMPY";
  out += major;
  out += '\0';
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  const size_t total = prefix + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + payload;
}

template <class T>
std::string Payload(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// ---- writing ---------------------------------------------------------------------------------------------

TEST_CASE("NpyWriter -> ReadNpy gives back the exact rows", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "rows.npy").string();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> first = {1.0f, -2.5f, 3.25f, 4.0f};
  const std::vector<float> more = {5.0f,
                                   6.0f,
                                   7.0f,
                                   -8.0f,  // row 1
                                   -0.0f,
                                   inf,
                                   std::numeric_limits<float>::denorm_min(),
                                   std::numeric_limits<float>::max()};
  {
    NpyWriter w(path, 4);
    w.AppendRows(first);
    CHECK(w.Rows() == 1);
    w.AppendRows(more);
    w.AppendRows({});
    CHECK(w.Rows() == 3);
    w.Close();
  }
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"rows.npy"});  // no temporary left
  const NpyMatrix m = ReadNpy(path);
  CHECK(m.shape == std::vector<int64_t>{3, 4});
  CHECK(m.Rows() == 3);
  CHECK(m.Cols() == 4);
  std::vector<float> want = first;
  want.insert(want.end(), more.begin(), more.end());
  CheckSameFloats(m.data, want);
}

TEST_CASE("NpyWriter refuses use after Close", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "x.npy").string();
  NpyWriter w(path, 2);
  const float row[2] = {1.0f, 2.0f};
  w.AppendRows(row);
  w.Close();
  CHECK_THROWS_MATCHES(w.Close(), Error, HasMessage("NpyWriter::Close called twice", path));
  CHECK_THROWS_MATCHES(w.AppendRows(row), Error, HasMessage("NpyWriter::AppendRows after Close", path));
  CHECK(ReadNpy(path).Rows() == 1);
}

TEST_CASE("NpyWriter writes the version 1.0 header numpy expects", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "h.npy").string();
  NpyWriter w(path, 40);
  w.AppendRows(std::vector<float>(40 * 7, 0.5f));
  w.Close();
  const std::string bytes = ReadBytes(path);
  // 10 bytes of preamble + 118 of header = 128 (a multiple of 64, as numpy aligns), then 7 * 40 floats.
  REQUIRE(bytes.size() == 128 + 7 * 40 * 4);
  CHECK(bytes.substr(0, 6) == std::string("\x93") + "NUMPY");
  CHECK(bytes[6] == 1);
  CHECK(bytes[7] == 0);
  CHECK(static_cast<unsigned char>(bytes[8]) == 118);
  CHECK(bytes[9] == 0);
  const std::string header = bytes.substr(10, 118);
  CHECK(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (7, 40), }", 0) == 0);
  CHECK(header.back() == '\n');
  float first = 0.0f;
  std::memcpy(&first, bytes.data() + 128, 4);
  CHECK(first == 0.5f);
}

TEST_CASE("NpyWriter: no rows gives shape (0, cols), a second writer replaces the file", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "empty.npy").string();
  NpyWriter empty(path, 3);
  empty.Close();
  const NpyMatrix m = ReadNpy(path);
  CHECK(m.shape == std::vector<int64_t>{0, 3});
  CHECK(m.data.empty());

  NpyWriter again(path, 2);
  again.AppendRows(std::vector<float>{1.0f, 2.0f});
  again.Close();
  CHECK(ReadNpy(path).shape == std::vector<int64_t>{1, 2});
}

TEST_CASE("An NpyWriter destroyed without Close() leaves neither the file nor a temporary", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "partial.npy").string();
  {
    NpyWriter w(path, 2);
    w.AppendRows(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f});
    CHECK_FALSE(ListDir(tmp.path()).empty());  // the temporary exists while writing...
    CHECK_FALSE(fs::exists(path));             // ...under another name
  }
  CHECK(ListDir(tmp.path()).empty());

  // An error part-way (a partial row) followed by the writer's destruction: same.
  try {
    NpyWriter w(path, 3);
    w.AppendRows(std::vector<float>{1.0f, 2.0f, 3.0f});
    w.AppendRows(std::vector<float>{1.0f, 2.0f});
    FAIL("no exception for a partial row");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("partial row"));
  }
  CHECK(ListDir(tmp.path()).empty());
}

TEST_CASE("NpyWriter: a partial row is refused without writing anything", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "p.npy").string();
  NpyWriter w(path, 3);
  CHECK_THROWS_AS(w.AppendRows(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}), Error);
  CHECK(w.Rows() == 0);
  w.AppendRows(std::vector<float>{1.0f, 2.0f, 3.0f});
  w.Close();
  const NpyMatrix m = ReadNpy(path);
  CHECK(m.shape == std::vector<int64_t>{1, 3});
  CheckSameFloats(m.data, {1.0f, 2.0f, 3.0f});
}

TEST_CASE("NpyWriter: an unwritable path is an IoError naming it, cols must be >= 1", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "no-such-dir" / "x.npy").string();
  CHECK_THROWS_MATCHES(NpyWriter(path, 3), IoError, HasMessage("cannot open for writing", path + ": "));
  const std::string ok = (tmp.path() / "x.npy").string();
  CHECK_THROWS_MATCHES(NpyWriter(ok, 0), Error, HasMessage("cols = 0", ok + ": "));
  CHECK_THROWS_MATCHES(NpyWriter(ok, -3), Error, HasMessage("cols = -3", ok + ": "));
  CHECK(ListDir(tmp.path()).empty());
}

// ---- reading ---------------------------------------------------------------------------------------------

TEST_CASE("ReadNpy: float64 is converted, 1-D arrays have one column, version 2.0 headers are read",
          "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::vector<double> d = {0.1, -2.0, 1e-3, 3.5, 1e30, -0.0};
  const std::string f8 =
      Write(tmp.path(), "f8.npy", NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", Payload(d)));
  const NpyMatrix m = ReadNpy(f8);
  CHECK(m.shape == std::vector<int64_t>{2, 3});
  std::vector<float> want;
  for (double v : d) want.push_back(static_cast<float>(v));
  CheckSameFloats(m.data, want);

  const std::vector<float> v = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  const std::string one_d =
      Write(tmp.path(), "1d.npy", NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", Payload(v)));
  const NpyMatrix n = ReadNpy(one_d);
  CHECK(n.shape == std::vector<int64_t>{5});
  CHECK(n.Rows() == 5);
  CHECK(n.Cols() == 1);
  CheckSameFloats(n.data, v);

  const std::string v2 = Write(tmp.path(), "v2.npy",
                               NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5), }", Payload(v), 2));
  const NpyMatrix o = ReadNpy(v2);
  CHECK(o.shape == std::vector<int64_t>{1, 5});
  CheckSameFloats(o.data, v);
}

TEST_CASE("ReadNpy: malformed files are ModelFormatErrors naming the file and the problem", "[pipeline][npy]") {
  test::ScopedTempDir tmp;
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, ";
  const std::string twelve = Payload(std::vector<float>(12, 1.0f));
  struct Case {
    std::string name, bytes, problem;
  };
  const Case cases[] = {
      {"empty.npy", "", "not a .npy file (bad magic)"},
      {"short.npy", std::string("\x93") + "NUM", "not a .npy file (bad magic)"},
      {"magic.npy", "PK\x03\x04 this is a zip file, not an array", "not a .npy file (bad magic)"},
      {"magic2.npy", std::string("\x93") + "NUMPZ" + NpyBytes(f4 + "'shape': (3, 4), }", twelve).substr(6),
       "not a .npy file (bad magic)"},
      {"version.npy", NpyBytes(f4 + "'shape': (3, 4), }", twelve, 4), "unsupported .npy version 4"},
      {"truncated.npy", NpyBytes(f4 + "'shape': (3, 4), }", twelve.substr(0, 40)),
       ".npy data is truncated (shape (3, 4) needs 48 bytes)"},
      {"no-data.npy", NpyBytes(f4 + "'shape': (1000000, 40), }", ""), ".npy data is truncated"},
      {"header-len.npy", NpyBytes(f4 + "'shape': (3, 4), }", "").substr(0, 100), "exceeds the file"},
      {"big-endian.npy", NpyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }", twelve),
       ".npy dtype must be little-endian float32 or float64, got '>f4'"},
      {"big-endian-f8.npy", NpyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (3, 2), }", twelve),
       ".npy dtype must be little-endian float32 or float64, got '>f8'"},
      {"int32.npy", NpyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }", twelve),
       ".npy dtype must be little-endian float32 or float64"},
      {"int64.npy", NpyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }", twelve),
       ".npy dtype must be little-endian float32 or float64"},
      {"float16.npy", NpyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }", twelve),
       ".npy dtype must be little-endian float32 or float64"},
      {"uint8.npy", NpyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }", twelve),
       ".npy dtype must be little-endian float32 or float64, got '|u1'"},
      {"fortran.npy", NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }", twelve),
       "Fortran-order .npy files are not supported"},
      {"no-shape.npy", NpyBytes("{'descr': '<f4', 'fortran_order': False, }", twelve), ".npy header has no 'shape'"},
      {"3d.npy", NpyBytes(f4 + "'shape': (2, 3, 2), }", twelve), "expected a 1-D or 2-D array, got shape (2, 3, 2)"},
      {"negative.npy", NpyBytes(f4 + "'shape': (3, -4), }", twelve), ".npy header has a malformed shape"},
      {"0d.npy", NpyBytes(f4 + "'shape': (), }", twelve), "expected a 1-D or 2-D array"},
      // 2^40 x 2^40 floats: refused before anything is allocated.
      {"absurd.npy", NpyBytes(f4 + "'shape': (1099511627776, 1099511627776), }", twelve), "absurd .npy shape"},
      // A dimension that does not fit in 64 bits.
      {"absurd2.npy", NpyBytes(f4 + "'shape': (123456789012345678901234567890, 2), }", twelve), "absurd .npy shape"},
  };
  for (const Case& c : cases) {
    const std::string path = Write(tmp.path(), c.name, c.bytes);
    INFO(c.name);
    CHECK_THROWS_MATCHES(ReadNpy(path), ModelFormatError, HasMessage(c.problem, path + ": "));
  }

  const std::string missing = (tmp.path() / "missing.npy").string();
  CHECK_THROWS_MATCHES(ReadNpy(missing), IoError, HasMessage("cannot open", missing + ": "));
}

}  // namespace
}  // namespace ossicle
