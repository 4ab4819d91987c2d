// Tests of models/safetensors.h: the PyTorch reference files, writer round trips, every validation rule with
// its message, and mutated files (every outcome is a clean success or a ModelFormatError).
#include "models/safetensors.h"

#include <sys/stat.h>

#include <bit>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"

namespace fs = std::filesystem;
using ossicle::DType;
using ossicle::ModelFormatError;
using ossicle::SafetensorsFile;
using ossicle::SafetensorsLimits;
using ossicle::SafetensorsWriter;

namespace {

// The four small PyTorch references are copied into tests/data/models (tests run without ../shared); the
// 4.4 MB lstm_bi_3layer_h128 is read from ../shared/reference/lstm when it is there.
const std::string kLstmDir = std::string(OSSICLE_TEST_DATA_DIR) + "/models";
const std::string kBigModel = std::string(OSSICLE_SHARED_DIR) + "/reference/lstm/lstm_bi_3layer_h128.safetensors";
bool HaveBigModel() { return std::filesystem::exists(kBigModel); }
const std::string kUniPath = kLstmDir + "/lstm_uni_1layer.safetensors";

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string LengthPrefix(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

// A file with `header` (its true length in the prefix) and a data buffer of `buffer_bytes` zero bytes.
std::string MakeFile(const std::string& header, size_t buffer_bytes = 0) {
  return LengthPrefix(header.size()) + header + std::string(buffer_bytes, '\0');
}

// The message of the ModelFormatError that parsing `bytes` throws; "(no error)" if it parses. Any other
// exception type escapes and fails the test.
std::string FormatErrorOf(const std::string& bytes, const SafetensorsLimits& limits = {}) {
  try {
    (void)SafetensorsFile::Parse(AsBytes(bytes), "bad.safetensors", limits);
  } catch (const ModelFormatError& e) {
    return e.what();
  }
  return "(no error)";
}

// One tensor entry's JSON.
std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

template <typename T>
std::string BytesOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Reads every tensor with the reader its dtype calls for (exercises the conversions of a parsed file).
void ReadEverything(const SafetensorsFile& file) {
  for (const std::string& name : file.TensorNames()) {
    const ossicle::TensorInfo& info = file.Info(name);
    switch (info.dtype) {
      case DType::kF32:
      case DType::kF64:
      case DType::kF16:
      case DType::kBF16:
        REQUIRE(file.ReadFloat(name).size() == static_cast<size_t>(info.NumElements()));
        break;
      default:
        REQUIRE(file.ReadInt(name).size() == static_cast<size_t>(info.NumElements()));
    }
  }
}

}  // namespace

// ---- the PyTorch reference files ----------------------------------------------------------------------------

// Expected values printed from the file with numpy (no safetensors package needed):
//   /usr/bin/python3 -c "
//   import json, struct, numpy as np
//   f = open('lstm_uni_1layer.safetensors', 'rb').read()
//   n = struct.unpack('<Q', f[:8])[0]; h = json.loads(f[8:8 + n]); buf = f[8 + n:]
//   def t(k):
//       v = h[k]; b, e = v['data_offsets']
//       dt = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64}[v['dtype']]
//       return np.frombuffer(buf[b:e], dt).reshape(v['shape'])
//   print(t('rnn.weight_ih_l0').ravel()[:3].tolist(), t('rnn.weight_ih_l0')[15, 4].item(),
//         t('out.weight')[5, 3].item(), t('rnn.bias_hh_l0')[0].item(), t('input')[0, 6, 4].item(),
//         t('lengths').tolist(), t('ce_targets').tolist(), t('ce_loss').item(), t('ctc_loss').item(),
//         t('log_probs')[0, 0].tolist(), t('rnn_output').ravel()[-1].item())"
// Float32 values are printed as the exact double they equal, so the comparisons below are exact.
TEST_CASE("safetensors: reads the reference lstm_uni_1layer file", "[models][safetensors]") {
  const SafetensorsFile file = SafetensorsFile::Open(kUniPath);
  CHECK(file.Path() == kUniPath);

  const std::vector<std::string> names = file.TensorNames();
  REQUIRE(names.size() == 30);
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(names.front() == "ce_loss");
  CHECK(names.back() == "rnn_output");
  for (const char* name : {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "out.weight",
                           "out.bias", "input", "lengths", "logits", "log_probs", "ce_targets", "ctc_targets",
                           "ctc_target_lengths", "ctc_loss", "grad_ce.rnn.weight_ih_l0", "grad_ctc.input"}) {
    INFO(name);
    CHECK(file.Has(name));
  }
  CHECK_FALSE(file.Has("rnn.weight_ih_l1"));
  CHECK_FALSE(file.Has("__metadata__"));

  using Shape = std::vector<int64_t>;
  CHECK(file.Info("rnn.weight_ih_l0").shape == Shape{16, 5});
  CHECK(file.Info("rnn.weight_hh_l0").shape == Shape{16, 4});
  CHECK(file.Info("rnn.bias_ih_l0").shape == Shape{16});
  CHECK(file.Info("out.weight").shape == Shape{6, 4});
  CHECK(file.Info("input").shape == Shape{1, 7, 5});
  CHECK(file.Info("lengths").shape == Shape{1});
  CHECK(file.Info("log_probs").shape == Shape{1, 7, 6});
  CHECK(file.Info("ce_loss").shape.empty());  // a scalar
  CHECK(file.Info("ce_loss").NumElements() == 1);
  CHECK(file.Info("input").NumElements() == 35);

  CHECK(file.Info("rnn.weight_ih_l0").dtype == DType::kF32);
  CHECK(file.Info("rnn_output").dtype == DType::kF64);
  CHECK(file.Info("lengths").dtype == DType::kI64);
  CHECK(file.Info("ce_targets").dtype == DType::kI64);
  // The reference writer lays tensors out in insertion order: rnn.weight_ih_l0 first.
  CHECK(file.Info("rnn.weight_ih_l0").begin == 0);
  CHECK(file.Info("rnn.weight_ih_l0").end == 320);
  CHECK(file.Info("rnn.weight_ih_l0").NumBytes() == 320);
  CHECK(file.RawBytes("lengths").size() == 8);

  const std::vector<float> w_ih = file.ReadFloat("rnn.weight_ih_l0", {16, 5});
  REQUIRE(w_ih.size() == 80);
  CHECK(static_cast<double>(w_ih[0]) == 0.2576315999031067);
  CHECK(static_cast<double>(w_ih[1]) == -0.22068911790847778);
  CHECK(static_cast<double>(w_ih[2]) == -0.09693074226379395);
  CHECK(static_cast<double>(w_ih[15 * 5 + 4]) == 0.25167572498321533);
  CHECK(static_cast<double>(file.ReadFloat("out.weight", {6, 4})[5 * 4 + 3]) == -0.3499654531478882);
  CHECK(static_cast<double>(file.ReadFloat("rnn.bias_hh_l0", {16})[0]) == -0.37364059686660767);
  CHECK(file.ReadDouble("input", {1, 7, 5})[6 * 5 + 4] == -0.5873361229896545);  // F32 widened exactly

  CHECK(file.ReadInt("lengths", {1}) == std::vector<int64_t>{7});
  CHECK(file.ReadInt("ce_targets", {1, 7}) == std::vector<int64_t>{0, 3, 5, 0, 2, 3, 0});
  CHECK(file.ReadDouble("ce_loss") == std::vector<double>{12.76625680127865});
  CHECK(file.ReadDouble("ctc_loss") == std::vector<double>{9.215895947937309});
  const std::vector<double> log_probs = file.ReadDouble("log_probs", {1, 7, 6});
  const std::vector<double> expected_frame0 = {-1.5502651010008413, -2.097661458636558,  -1.3776880118885142,
                                               -2.141071893878477,  -1.7735872012804168, -2.0742357656924924};
  CHECK(std::vector<double>(log_probs.begin(), log_probs.begin() + 6) == expected_frame0);
  CHECK(file.ReadDouble("rnn_output").back() == 0.10279148521624357);
  // F64 -> float rounds to nearest.
  CHECK(file.ReadFloat("rnn_output").back() == static_cast<float>(0.10279148521624357));

  REQUIRE(file.Metadata().size() == 1);
  const std::string& config = file.Metadata().at("config");
  CHECK_THAT(config, Catch::Matchers::Contains("\"kind\": \"lstm\""));
  CHECK_THAT(config, Catch::Matchers::Contains("\"hidden_size\": 4"));
}

TEST_CASE("safetensors: every reference file opens, reads fully and equals Parse of its bytes",
          "[models][safetensors]") {
  for (const char* name : {"lstm_uni_1layer", "lstm_bi_2layer", "gru_bi_2layer", "gru_uni_2layer",
                           "lstm_bi_3layer_h128"}) {
    INFO(name);
    const bool big_one = std::string(name) == "lstm_bi_3layer_h128";
    if (big_one && !HaveBigModel()) continue;
    const std::string path = big_one ? kBigModel : kLstmDir + "/" + name + ".safetensors";
    const SafetensorsFile file = SafetensorsFile::Open(path);
    ReadEverything(file);
    CHECK(file.Has("rnn.weight_ih_l0"));
    CHECK(file.Has("out.weight"));
    CHECK(file.Info("lengths").dtype == DType::kI64);
    const bool is_gru = std::string(name).starts_with("gru");
    CHECK_THAT(file.Metadata().at("config"),
               Catch::Matchers::Contains(is_gru ? "\"kind\": \"gru\"" : "\"kind\": \"lstm\""));
    // GRU gates r,z,n: 3 H rows; LSTM i,f,g,o: 4 H rows.
    const int64_t hidden = file.Info("rnn.weight_hh_l0").shape[1];
    CHECK(file.Info("rnn.weight_ih_l0").shape[0] == (is_gru ? 3 : 4) * hidden);

    const std::string bytes = ReadFileBytes(path);
    const SafetensorsFile parsed = SafetensorsFile::Parse(AsBytes(bytes), path);
    CHECK(parsed.TensorNames() == file.TensorNames());
    CHECK(parsed.Metadata() == file.Metadata());
    CHECK(parsed.ReadDouble("rnn_output") == file.ReadDouble("rnn_output"));
  }
  // The realistic-size model: 3 bidirectional layers of 128.
  if (!HaveBigModel()) {
    WARN("skipped: " << kBigModel << " not found (../shared is not beside the project)");
    return;
  }
  const SafetensorsFile big = SafetensorsFile::Open(kBigModel);
  CHECK(big.Info("rnn.weight_hh_l2_reverse").shape == std::vector<int64_t>{512, 128});
  CHECK(big.Info("rnn.weight_ih_l1").shape == std::vector<int64_t>{512, 256});
  CHECK(big.Info("out.weight").shape == std::vector<int64_t>{29, 256});
}

// ---- reads: conversions and their errors -------------------------------------------------------------------

TEST_CASE("safetensors: reads convert every supported dtype", "[models][safetensors]") {
  // Half: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), -0, +inf. BFloat16: 1, -3, 2^-133 (subnormal).
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x0001};
  const std::vector<int32_t> i32 = {-2147483647 - 1, 2147483647};
  const std::vector<int16_t> i16 = {-32768, 32767};
  const std::vector<int8_t> i8 = {-128, 127};
  const std::vector<uint8_t> u8 = {0, 255};
  const std::vector<uint16_t> u16 = {65535};
  const std::vector<uint32_t> u32 = {4294967295u};
  const std::vector<uint64_t> u64 = {9223372036854775807ull};
  const std::vector<uint8_t> boolean = {1, 0, 1};
  const std::vector<std::pair<std::string, std::string>> tensors = {
      {"f16", "F16"}, {"bf16", "BF16"}, {"i32", "I32"}, {"i16", "I16"}, {"i8", "I8"},
      {"u8", "U8"},   {"u16", "U16"},   {"u32", "U32"}, {"u64", "U64"}, {"bool", "BOOL"}};
  const std::vector<std::string> data = {BytesOf(f16), BytesOf(bf16), BytesOf(i32), BytesOf(i16), BytesOf(i8),
                                         BytesOf(u8),  BytesOf(u16),  BytesOf(u32), BytesOf(u64), BytesOf(boolean)};
  const std::vector<int> counts = {6, 3, 2, 2, 2, 2, 1, 1, 1, 3};
  std::string header = "{", buffer;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i > 0) header += ",";
    header += Entry(tensors[i].first, tensors[i].second, "[" + std::to_string(counts[i]) + "]", buffer.size(),
                    buffer.size() + data[i].size());
    buffer += data[i];
  }
  header += "}";
  const std::string bytes = LengthPrefix(header.size()) + header + buffer;
  const SafetensorsFile file = SafetensorsFile::Parse(AsBytes(bytes), "dtypes.safetensors");

  CHECK(file.Info("bf16").dtype == DType::kBF16);
  CHECK(ossicle::DTypeName(DType::kBF16) == "BF16");
  CHECK(ossicle::DTypeSizeBytes(DType::kBool) == 1);
  const std::vector<float> half = file.ReadFloat("f16", {6});
  CHECK(half[0] == 1.0f);
  CHECK(half[1] == -2.0f);
  CHECK(half[2] == 65504.0f);
  CHECK(half[3] == std::ldexp(1.0f, -24));
  CHECK(half[4] == 0.0f);
  CHECK(std::signbit(half[4]));
  CHECK(std::isinf(half[5]));
  CHECK(file.ReadDouble("f16")[3] == std::ldexp(1.0, -24));
  const std::vector<float> b = file.ReadFloat("bf16");
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == -3.0f);
  CHECK(b[2] == std::ldexp(1.0f, -133));

  CHECK(file.ReadInt("i32") == std::vector<int64_t>{-2147483648LL, 2147483647});
  CHECK(file.ReadInt("i16") == std::vector<int64_t>{-32768, 32767});
  CHECK(file.ReadInt("i8") == std::vector<int64_t>{-128, 127});
  CHECK(file.ReadInt("u8") == std::vector<int64_t>{0, 255});
  CHECK(file.ReadInt("u16") == std::vector<int64_t>{65535});
  CHECK(file.ReadInt("u32") == std::vector<int64_t>{4294967295LL});
  CHECK(file.ReadInt("u64") == std::vector<int64_t>{std::numeric_limits<int64_t>::max()});
  CHECK(file.ReadInt("bool") == std::vector<int64_t>{1, 0, 1});

  // Writers' bit patterns that ReadInt cannot represent.
  const std::vector<uint64_t> too_big = {1, 9223372036854775808ull};
  const std::string u64_header = "{" + Entry("big", "U64", "[2]", 0, 16) + "}";
  const std::string u64_bytes = LengthPrefix(u64_header.size()) + u64_header + BytesOf(too_big);
  const SafetensorsFile u64_tensor = SafetensorsFile::Parse(AsBytes(u64_bytes), "u64.safetensors");
  CHECK_THROWS_WITH(u64_tensor.ReadInt("big"),
                    "u64.safetensors: tensor 'big': element 1 is 9223372036854775808, above the int64 range ReadInt "
                    "returns");
  const std::string bool_header = "{" + Entry("flags", "BOOL", "[3]", 0, 3) + "}";
  const std::string bool_bytes = LengthPrefix(bool_header.size()) + bool_header + std::string("\x01\x00\x07", 3);
  const SafetensorsFile bool_tensor = SafetensorsFile::Parse(AsBytes(bool_bytes), "bool.safetensors");
  CHECK_THROWS_WITH(bool_tensor.ReadInt("flags"),
                    "bool.safetensors: tensor 'flags': element 2 is byte 7; BOOL bytes must be 0 or 1");
}

TEST_CASE("safetensors: read errors name the file, the tensor and what was wrong", "[models][safetensors]") {
  const SafetensorsFile file = SafetensorsFile::Open(kUniPath);
  CHECK_THROWS_AS(file.Info("rnn.weight_ih_l1"), ModelFormatError);
  CHECK_THROWS_WITH(file.Info("rnn.weight_ih_l1"), kUniPath + ": no tensor 'rnn.weight_ih_l1'");
  CHECK_THROWS_WITH(file.ReadFloat("decoder.weight"), kUniPath + ": no tensor 'decoder.weight'");
  CHECK_THROWS_WITH(file.RawBytes("x"), kUniPath + ": no tensor 'x'");

  CHECK_THROWS_AS(file.ReadFloat("out.weight", {12, 32}), ModelFormatError);
  CHECK_THROWS_WITH(file.ReadFloat("out.weight", {12, 32}),
                    kUniPath + ": tensor 'out.weight' has shape [6,4]; expected [12,32]");
  CHECK_THROWS_WITH(file.ReadDouble("input", {7, 5}), kUniPath + ": tensor 'input' has shape [1,7,5]; expected [7,5]");
  CHECK_THROWS_WITH(file.ReadInt("lengths", {2}), kUniPath + ": tensor 'lengths' has shape [1]; expected [2]");
  const std::vector<int64_t> shape = {4, 6};  // the std::span overload
  CHECK_THROWS_WITH(file.ReadFloat("out.weight", shape),
                    kUniPath + ": tensor 'out.weight' has shape [6,4]; expected [4,6]");
  CHECK(file.ReadFloat("out.weight", std::span<const int64_t>{}).size() == 24);  // empty: not checked

  CHECK_THROWS_AS(file.ReadFloat("lengths"), ModelFormatError);
  CHECK_THROWS_WITH(file.ReadFloat("lengths"),
                    kUniPath + ": tensor 'lengths' has dtype I64; ReadFloat needs F32, F64, F16 or BF16");
  CHECK_THROWS_WITH(file.ReadDouble("ce_targets"),
                    kUniPath + ": tensor 'ce_targets' has dtype I64; ReadDouble needs F32, F64, F16 or BF16");
  CHECK_THROWS_WITH(file.ReadInt("out.bias"),
                    kUniPath + ": tensor 'out.bias' has dtype F32; ReadInt needs an integer or BOOL dtype");
}

// ---- writer ----------------------------------------------------------------------------------------------

TEST_CASE("safetensors: writer -> reader round trip", "[models][safetensors]") {
  ossicle::test::ScopedTempDir tmp("ossicle-safetensors-test");
  const std::string path = (tmp.path() / "model.safetensors").string();
  std::ofstream(path) << "an older file that Close() replaces";

  const std::vector<float> weights = {1.5f, -0.0f, std::numeric_limits<float>::infinity(),
                                      std::numeric_limits<float>::denorm_min(), 3.25e-7f,
                                      std::numeric_limits<float>::quiet_NaN()};
  const std::vector<double> loss = {0.1};
  const std::vector<int64_t> ints = {std::numeric_limits<int64_t>::min(), -1, std::numeric_limits<int64_t>::max()};
  SafetensorsWriter writer(path);
  writer.SetMetadata("config", "an earlier value");
  writer.SetMetadata("tokens", "ä ö ü ß \xE2\x96\x81");  // UTF-8
  writer.SetMetadata("config", R"({"kind": "lstm", "note": "quote \" backslash \\ newline \n"})");  // replaces
  writer.AddF32("z.weight", {2, 3}, weights);
  writer.AddF64("loss", {}, loss);
  writer.AddI64("a.ids", {3}, ints);
  writer.AddI64("empty", {0, 4}, std::span<const int64_t>{});
  writer.Close();

  // Only the final file is left (the temporary was renamed).
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(tmp.path())) entries.push_back(e.path().filename().string());
  CHECK(entries == std::vector<std::string>{"model.safetensors"});

  const std::string bytes = ReadFileBytes(path);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  CHECK(header_bytes % 8 == 0);  // padded like the reference writer
  CHECK(bytes[8] == '{');

  const SafetensorsFile file = SafetensorsFile::Open(path);
  CHECK(file.TensorNames() == std::vector<std::string>{"a.ids", "empty", "loss", "z.weight"});
  CHECK(file.Metadata().size() == 2);
  CHECK(file.Metadata().at("config") == R"({"kind": "lstm", "note": "quote \" backslash \\ newline \n"})");
  CHECK(file.Metadata().at("tokens") == "ä ö ü ß \xE2\x96\x81");
  // Laid out in name order.
  CHECK(file.Info("a.ids").begin == 0);
  CHECK(file.Info("empty").begin == 24);
  CHECK(file.Info("empty").end == 24);
  CHECK(file.Info("loss").begin == 24);
  CHECK(file.Info("z.weight").begin == 32);
  CHECK(file.Info("z.weight").end == 56);
  CHECK(file.Info("z.weight").dtype == DType::kF32);
  CHECK(file.Info("loss").dtype == DType::kF64);
  CHECK(file.Info("a.ids").dtype == DType::kI64);
  CHECK(file.Info("loss").shape.empty());
  CHECK(file.Info("empty").shape == std::vector<int64_t>{0, 4});

  const std::vector<float> back = file.ReadFloat("z.weight", {2, 3});
  REQUIRE(back.size() == weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {  // bit for bit, NaN and -0 included
    INFO("index " << i << " expected " << weights[i] << " actual " << back[i]);
    CHECK(std::bit_cast<uint32_t>(back[i]) == std::bit_cast<uint32_t>(weights[i]));
  }
  CHECK(file.ReadDouble("loss") == loss);
  CHECK(file.ReadInt("a.ids", {3}) == ints);
  CHECK(file.ReadInt("empty", {0, 4}).empty());

  // Writing again over the file replaces it; an empty writer makes a valid empty file.
  SafetensorsWriter empty_writer(path);
  empty_writer.Close();
  const std::string empty_bytes = ReadFileBytes(path);
  CHECK(empty_bytes == LengthPrefix(8) + "{}      ");
  const SafetensorsFile empty = SafetensorsFile::Open(path);
  CHECK(empty.TensorNames().empty());
  CHECK(empty.Metadata().empty());
}

TEST_CASE("safetensors: writer refuses what would make a malformed file", "[models][safetensors]") {
  ossicle::test::ScopedTempDir tmp("ossicle-safetensors-test");
  const std::string path = (tmp.path() / "w.safetensors").string();
  const std::vector<float> five(5, 1.0f);
  SafetensorsWriter writer(path);
  CHECK_THROWS_AS(writer.AddF32("w", {2, 3}, five), ModelFormatError);
  CHECK_THROWS_WITH(writer.AddF32("w", {2, 3}, five),
                    path + ": tensor 'w': shape [2,3] does not match the 5 values given");
  CHECK_THROWS_WITH(writer.AddF32("w", {-1, -5}, five),
                    path + ": tensor 'w': shape [-1,-5] has a negative dimension");
  // A shape whose element count overflows 64 bits is not "5".
  CHECK_THROWS_WITH(writer.AddF32("w", {int64_t{1} << 62, 8, 5}, five),
                    path + ": tensor 'w': shape [4611686018427387904,8,5] does not match the 5 values given");
  CHECK_THROWS_WITH(writer.AddF32("__metadata__", {5}, five),
                    path + ": tensor '__metadata__': the name is reserved for the metadata");
  CHECK_THROWS_WITH(writer.AddF32("bad\xFF", {5}, five), path + ": tensor 'bad\xFF': the name must be valid UTF-8");
  CHECK_THROWS_WITH(writer.SetMetadata("k", "\xC3"), path + ": metadata 'k': key and value must be valid UTF-8");
  writer.AddF32("w", {5}, five);
  CHECK_THROWS_WITH(writer.AddF32("w", {5}, five), path + ": tensor 'w': added twice");
  writer.Close();
  CHECK(SafetensorsFile::Open(path).ReadFloat("w", {5}) == five);
  CHECK_THROWS_AS(writer.AddF32("v", {5}, five), ossicle::Error);
  CHECK_THROWS_WITH(writer.Close(), path + ": SafetensorsWriter::Close after Close()");

  // An unwritable destination: IoError, and nothing is left behind.
  const std::string missing = (tmp.path() / "no-such-dir" / "m.safetensors").string();
  SafetensorsWriter lost(missing);
  lost.AddF32("w", {5}, five);
  CHECK_THROWS_AS(lost.Close(), ossicle::IoError);
  CHECK_THROWS_WITH(lost.Close(), missing + ": cannot open for writing: No such file or directory");
  CHECK_FALSE(fs::exists(missing));
}

// ---- validation at open: every rule and its message --------------------------------------------------------

TEST_CASE("safetensors: Open reports files it cannot read as IoError", "[models][safetensors]") {
  ossicle::test::ScopedTempDir tmp("ossicle-safetensors-test");
  const std::string missing = (tmp.path() / "missing.safetensors").string();
  CHECK_THROWS_AS(SafetensorsFile::Open(missing), ossicle::IoError);
  CHECK_THROWS_WITH(SafetensorsFile::Open(missing), missing + ": cannot open: No such file or directory");
  CHECK_THROWS_WITH(SafetensorsFile::Open(tmp.path().string()),
                    tmp.path().string() + ": is a directory, not a safetensors file");
  const std::string fifo = (tmp.path() / "fifo.safetensors").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(SafetensorsFile::Open(fifo), fifo + ": is not a regular file");  // and does not block

  // Short and lying files through Open (the same checks as Parse, with the path in the message).
  const std::string short_file = ossicle::test::WriteBytes(tmp.path(), "short.safetensors", "abc");
  CHECK_THROWS_AS(SafetensorsFile::Open(short_file), ModelFormatError);
  CHECK_THROWS_WITH(SafetensorsFile::Open(short_file),
                    short_file + ": file is 3 bytes; a safetensors file starts with an 8-byte header length");
  const std::string liar = ossicle::test::WriteBytes(tmp.path(), "liar.safetensors",
                                                     LengthPrefix(std::numeric_limits<uint64_t>::max()) + "{}");
  CHECK_THROWS_WITH(SafetensorsFile::Open(liar),
                    liar + ": not a safetensors file, or truncated: header length 18446744073709551615 exceeds the 2 bytes that follow it");
  const std::string hole = ossicle::test::WriteBytes(tmp.path(), "hole.safetensors", MakeFile("{}", 4));
  CHECK_THROWS_WITH(SafetensorsFile::Open(hole),
                    hole + ": bytes [0, 4) at the end of the data buffer belong to no tensor");
}

TEST_CASE("safetensors: length prefix and header bounds", "[models][safetensors]") {
  CHECK(FormatErrorOf("") ==
        "bad.safetensors: file is 0 bytes; a safetensors file starts with an 8-byte header length");
  CHECK(FormatErrorOf(std::string("\x02\0\0\0\0\0\0", 7)) ==
        "bad.safetensors: file is 7 bytes; a safetensors file starts with an 8-byte header length");
  // A length past the file, including ones that would overflow a naive 8 + N.
  CHECK(FormatErrorOf(LengthPrefix(1000) + "{}" + std::string(18, ' ')) ==
        "bad.safetensors: not a safetensors file, or truncated: header length 1000 exceeds the 20 bytes that follow it");
  CHECK(FormatErrorOf(LengthPrefix(std::numeric_limits<uint64_t>::max() - 7) + "{}") ==
        "bad.safetensors: not a safetensors file, or truncated: header length 18446744073709551608 exceeds the 2 bytes that follow it");
  CHECK(FormatErrorOf(LengthPrefix(3)) == "bad.safetensors: not a safetensors file, or truncated: header length 3 exceeds the 0 bytes that follow it");
  // The header limit.
  SafetensorsLimits small;
  small.max_header_bytes = 16;
  const std::string seventeen = MakeFile("{}" + std::string(15, ' '));
  CHECK(FormatErrorOf(seventeen, small) ==
        "bad.safetensors: header length 17 exceeds the limit of 16 bytes (SafetensorsLimits::max_header_bytes)");
  CHECK(FormatErrorOf(MakeFile("{}" + std::string(14, ' ')), small) == "(no error)");
  // Empty, not starting with '{' (the spec's rule), and spaces as padding.
  CHECK(FormatErrorOf(MakeFile("")) == "bad.safetensors: header is empty; expected a JSON object");
  CHECK(FormatErrorOf(MakeFile(" {}")) ==
        "bad.safetensors: header must start with '{' (safetensors spec), found byte 0x20");
  CHECK(FormatErrorOf(MakeFile("[]")) ==
        "bad.safetensors: header must start with '{' (safetensors spec), found byte 0x5B");
  CHECK(FormatErrorOf(MakeFile("{}      ")) == "(no error)");
}

TEST_CASE("safetensors: header JSON syntax", "[models][safetensors]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::StartsWith;
  const std::string prefix = "bad.safetensors: header is not valid JSON: [json.exception.parse_error.101]";
  CHECK_THAT(FormatErrorOf(MakeFile("{\"a\":")), StartsWith(prefix) && Contains("unexpected end of input"));
  CHECK_THAT(FormatErrorOf(MakeFile("{} x")), StartsWith(prefix));       // trailing content
  // NUL padding is not JSON (and nlohmann::json would stop reading at the NUL).
  CHECK(FormatErrorOf(MakeFile(std::string("{}\0\0", 4))) ==
        "bad.safetensors: header holds a NUL byte at offset 2; expected JSON text padded with spaces");
  CHECK(FormatErrorOf(MakeFile(std::string("{\"a\":\0}", 7))) ==
        "bad.safetensors: header holds a NUL byte at offset 5; expected JSON text padded with spaces");
  CHECK_THAT(FormatErrorOf(MakeFile("{\"\xFF\":1}")), StartsWith(prefix) && Contains("UTF-8"));
  CHECK_THAT(FormatErrorOf(MakeFile("{/* c */}")), StartsWith(prefix));  // no comments
  CHECK_THAT(FormatErrorOf(MakeFile("{'a':1}")), StartsWith(prefix));
}

TEST_CASE("safetensors: tensor entries", "[models][safetensors]") {
  const std::string ok = "{" + Entry("w", "F32", "[2,3]", 0, 24) + "}";
  CHECK(FormatErrorOf(MakeFile(ok, 24)) == "(no error)");

  const std::string dup = "{" + Entry("w", "F32", "[2,3]", 0, 24) + "," + Entry("w", "F32", "[2,3]", 0, 24) + "}";
  CHECK(FormatErrorOf(MakeFile(dup, 24)) == "bad.safetensors: duplicate key 'w' in the header");
  CHECK(FormatErrorOf(MakeFile(R"({"w":5})")) ==
        "bad.safetensors: tensor 'w': entry is a number; expected an object with dtype, shape and data_offsets");
  CHECK(FormatErrorOf(MakeFile(R"({"w":[1]})")) ==
        "bad.safetensors: tensor 'w': entry is an array; expected an object with dtype, shape and data_offsets");
  CHECK(FormatErrorOf(MakeFile(R"({"w":null})")) ==
        "bad.safetensors: tensor 'w': entry is null; expected an object with dtype, shape and data_offsets");

  // Missing keys.
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': entry has no \"dtype\"");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': entry has no \"shape\"");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"F32","shape":[2]}})", 8)) ==
        "bad.safetensors: tensor 'w': entry has no \"data_offsets\"");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': duplicate key \"dtype\"");
  // Keys the format does not define are ignored, however deeply nested.
  CHECK(FormatErrorOf(MakeFile(
            R"({"w":{"dtype":"F32","x":{"y":[[[1]],{"z":null}]},"shape":[2],"data_offsets":[0,8],"q":1}})", 8)) ==
        "(no error)");

  // dtype.
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': \"dtype\" is a number; expected a string");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': unknown dtype 'F128'; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, "
        "U64, U32, U16, U8, BOOL");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'w': unknown dtype 'f32'; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, "
        "U64, U32, U16, U8, BOOL");
  CHECK(FormatErrorOf(MakeFile(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2)) ==
        "bad.safetensors: tensor 'w': dtype F8_E4M3 is not supported; ossicle reads F64, F32, F16, BF16, I64, I32, "
        "I16, I8, U64, U32, U16, U8, BOOL");
}

TEST_CASE("safetensors: shapes", "[models][safetensors]") {
  auto with_shape = [](const std::string& shape, uint64_t bytes = 8, const std::string& dtype = "F32") {
    return MakeFile("{" + Entry("rnn.w", dtype, shape, 0, bytes) + "}", bytes);
  };
  CHECK(FormatErrorOf(MakeFile(R"({"rnn.w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8)) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" is a string; expected an array of integers");
  CHECK(FormatErrorOf(with_shape("[2,-5]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" dimension 1 is -5; expected >= 0");
  CHECK(FormatErrorOf(with_shape("[1.5]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds 1.5; expected non-negative integers");
  CHECK(FormatErrorOf(with_shape("[2.0]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds 2.0; expected non-negative integers");
  CHECK(FormatErrorOf(with_shape("[\"2\"]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds a string; expected non-negative integers");
  CHECK(FormatErrorOf(with_shape("[[2]]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds an array; expected non-negative integers");
  CHECK(FormatErrorOf(with_shape("[true]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds a boolean; expected non-negative integers");
  // Rank.
  CHECK(FormatErrorOf(with_shape("[1,1,1,1,1,1,1,2]")) == "(no error)");
  CHECK(FormatErrorOf(with_shape("[1,1,1,1,1,1,1,1,2]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" has more than 8 dimensions (SafetensorsLimits::max_rank)");
  SafetensorsLimits rank2;
  rank2.max_rank = 2;
  CHECK(FormatErrorOf(with_shape("[1,1,2]"), rank2) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" has more than 2 dimensions (SafetensorsLimits::max_rank)");
  // Element counts: a single dimension over the limit, a product over it, products that would overflow int64
  // (2^31 * 2^31 * 2^31 * 2^31 = 2^124), and numbers past uint64 (which JSON parsers turn into floats).
  CHECK(FormatErrorOf(with_shape("[4294967296]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" dimension 0 is 4294967296, more than the limit of 2147483648 "
        "elements per tensor (SafetensorsLimits::max_elements)");
  CHECK(FormatErrorOf(with_shape("[2,18446744073709551615]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" dimension 1 is 18446744073709551615, more than the limit of "
        "2147483648 elements per tensor (SafetensorsLimits::max_elements)");
  CHECK(FormatErrorOf(with_shape("[2147483648,2147483648,2147483648,2147483648]")) ==
        "bad.safetensors: tensor 'rnn.w': shape [2147483648,2147483648,2147483648,2147483648] has more than "
        "2147483648 elements (SafetensorsLimits::max_elements)");
  CHECK(FormatErrorOf(with_shape("[65536,32769]")) ==
        "bad.safetensors: tensor 'rnn.w': shape [65536,32769] has more than 2147483648 elements "
        "(SafetensorsLimits::max_elements)");
  CHECK(FormatErrorOf(with_shape("[18446744073709551616]")) ==
        "bad.safetensors: tensor 'rnn.w': \"shape\" holds 18446744073709551616; expected non-negative integers");
  SafetensorsLimits unlimited;
  unlimited.max_elements = std::numeric_limits<int64_t>::max();
  CHECK(FormatErrorOf(with_shape("[9223372036854775807,2]"), unlimited) ==
        "bad.safetensors: tensor 'rnn.w': shape [9223372036854775807,2] has more than 9223372036854775807 elements "
        "(SafetensorsLimits::max_elements)");
  CHECK(FormatErrorOf(with_shape("[4611686018427387904]", 8, "F64"), unlimited) ==
        "bad.safetensors: tensor 'rnn.w': shape [4611686018427387904] of F64 needs more bytes than a 64-bit offset "
        "can address");
  // A zero dimension makes an empty tensor whatever the others are; a scalar has one element.
  const std::string empty_and_scalar =
      "{" + Entry("empty", "F32", "[2147483648,0,2147483648]", 4, 4) + "," + Entry("scalar", "I32", "[]", 0, 4) + "}";
  const std::string bytes = MakeFile(empty_and_scalar, 4);
  REQUIRE(FormatErrorOf(bytes) == "(no error)");
  const SafetensorsFile file = SafetensorsFile::Parse(AsBytes(bytes), "ok.safetensors");
  CHECK(file.Info("empty").NumElements() == 0);
  CHECK(file.ReadFloat("empty").empty());
  CHECK(file.ReadInt("scalar") == std::vector<int64_t>{0});
}

TEST_CASE("safetensors: data offsets and their sizes", "[models][safetensors]") {
  auto with_offsets = [](const std::string& offsets, size_t buffer = 8) {
    return MakeFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets + "}}", buffer);
  };
  CHECK(FormatErrorOf(with_offsets("[0,8]")) == "(no error)");
  CHECK(FormatErrorOf(with_offsets("\"0,8\"")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" is a string; expected [begin, end]");
  CHECK(FormatErrorOf(with_offsets("[8]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" has 1 values; expected [begin, end]");
  CHECK(FormatErrorOf(with_offsets("[]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" has 0 values; expected [begin, end]");
  CHECK(FormatErrorOf(with_offsets("[0,8,16]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" has 3 values; expected [begin, end]");
  CHECK(FormatErrorOf(with_offsets("[-8,0]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" holds -8; expected non-negative integers");
  CHECK(FormatErrorOf(with_offsets("[0,8e0]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" holds 8e0; expected non-negative integers");
  CHECK(FormatErrorOf(with_offsets("[0,null]")) ==
        "bad.safetensors: tensor 'w': \"data_offsets\" holds null; expected non-negative integers");
  CHECK(FormatErrorOf(with_offsets("[8,0]")) ==
        "bad.safetensors: tensor 'w': data_offsets [8, 0] are reversed (begin > end)");
  CHECK(FormatErrorOf(with_offsets("[0,16]")) ==
        "bad.safetensors: tensor 'w': data_offsets [0, 16] end past the data buffer (8 bytes)");
  CHECK(FormatErrorOf(with_offsets("[18446744073709551608,18446744073709551615]")) ==
        "bad.safetensors: tensor 'w': data_offsets [18446744073709551608, 18446744073709551615] end past the data "
        "buffer (8 bytes)");
  // The size rule, with the brief's example.
  CHECK(FormatErrorOf(MakeFile("{" + Entry("rnn.weight_ih_l0", "F32", "[4,5]", 0, 76) + "}", 76)) ==
        "bad.safetensors: tensor 'rnn.weight_ih_l0': shape [4,5] needs 80 bytes of F32 but data_offsets span 76");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("x", "F64", "[]", 0, 4) + "}", 4)) ==
        "bad.safetensors: tensor 'x': shape [] needs 8 bytes of F64 but data_offsets span 4");
}

TEST_CASE("safetensors: the tensors must cover the data buffer without holes or overlaps",
          "[models][safetensors]") {
  // Any order in the JSON is fine as long as the bytes are tiled exactly.
  CHECK(FormatErrorOf(MakeFile("{" + Entry("b", "F32", "[1]", 0, 4) + "," + Entry("a", "F32", "[2]", 4, 12) + "}",
                               12)) == "(no error)");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[1]", 0, 4) + "," + Entry("b", "F32", "[1]", 8, 12) + "}",
                               12)) ==
        "bad.safetensors: bytes [4, 8) of the data buffer belong to no tensor (a hole between tensor 'a' and tensor "
        "'b')");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[1]", 4, 8) + "}", 8)) ==
        "bad.safetensors: bytes [0, 4) of the data buffer belong to no tensor (a hole before tensor 'a')");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[1]", 0, 4) + "}", 12)) ==
        "bad.safetensors: bytes [4, 12) at the end of the data buffer belong to no tensor");
  CHECK(FormatErrorOf(MakeFile("{}", 3)) ==
        "bad.safetensors: bytes [0, 3) at the end of the data buffer belong to no tensor");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[2]", 4, 12) + "}",
                               12)) == "bad.safetensors: tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[1]", 0, 4) + "," + Entry("b", "I32", "[1]", 0, 4) + "}",
                               4)) == "bad.safetensors: tensors 'a' [0, 4) and 'b' [0, 4) overlap");
  // An empty tensor inside another one's bytes overlaps it; at a boundary it does not.
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("e", "F32", "[0]", 4, 4) + "}",
                               8)) == "bad.safetensors: tensors 'a' [0, 8) and 'e' [4, 4) overlap");
  CHECK(FormatErrorOf(MakeFile("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("e", "F32", "[0]", 8, 8) + "}",
                               8)) == "(no error)");
}

TEST_CASE("safetensors: __metadata__ must be an object of strings", "[models][safetensors]") {
  const std::string ok = R"({"__metadata__":{"config":"{}","format":"pt"}})";
  REQUIRE(FormatErrorOf(MakeFile(ok)) == "(no error)");
  const std::string bytes = MakeFile(ok);
  CHECK(SafetensorsFile::Parse(AsBytes(bytes), "m").Metadata().at("format") == "pt");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":[]})")) ==
        "bad.safetensors: \"__metadata__\" is an array; expected an object of strings");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":null})")) ==
        "bad.safetensors: \"__metadata__\" is null; expected an object of strings");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":{"epochs":3}})")) ==
        "bad.safetensors: \"__metadata__\" value 'epochs' is a number; expected a string");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":{"cfg":{"a":"b"}}})")) ==
        "bad.safetensors: \"__metadata__\" value 'cfg' is an object; expected a string");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":{"a":"1","a":"2"}})")) ==
        "bad.safetensors: \"__metadata__\" has a duplicate key 'a'");
  CHECK(FormatErrorOf(MakeFile(R"({"__metadata__":{},"__metadata__":{}})")) ==
        "bad.safetensors: duplicate key '__metadata__' in the header");
}

// ---- garbage in: never a crash, a hang, a leak or another exception type -----------------------------------

// Random byte-level damage to a real file with a fixed seed. Under the sanitizer build any out-of-bounds read,
// overflow or leak fails here; any exception other than ModelFormatError escapes and fails the test.
TEST_CASE("safetensors: mutated reference files parse or fail with ModelFormatError", "[models][safetensors]") {
  const std::string original = ReadFileBytes(kUniPath);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, original.data(), 8);
  const size_t header_end = 8 + static_cast<size_t>(header_bytes);
  std::mt19937 rng(20240531);
  auto uniform = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };

  const auto start = std::chrono::steady_clock::now();
  int parsed = 0, refused = 0, unnamed = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string bytes = original;
    // Mostly damage the prefix and the JSON, where the parser's decisions are; sometimes the data.
    const size_t where = uniform(4) == 0 ? uniform(bytes.size()) : uniform(header_end);
    switch (uniform(6)) {
      case 0:
        bytes[where] = static_cast<char>(bytes[where] ^ (1 << uniform(8)));
        break;
      case 1:
        bytes[where] = static_cast<char>(uniform(256));
        break;
      case 2:
        bytes.resize(uniform(bytes.size() + 1));
        break;
      case 3:
        bytes[uniform(8)] = static_cast<char>(uniform(256));
        break;
      case 4:
        bytes.insert(where, 1, bytes[uniform(bytes.size())]);
        break;
      default:
        bytes.erase(where, 1 + uniform(16));
        break;
    }
    try {
      const SafetensorsFile file = SafetensorsFile::Parse(AsBytes(bytes), "mutated.safetensors");
      ++parsed;
      try {
        ReadEverything(file);
      } catch (const ModelFormatError&) {  // a BOOL or U64 value a mutation made unreadable
      }
    } catch (const ModelFormatError& e) {
      ++refused;
      if (!std::string(e.what()).starts_with("mutated.safetensors: ")) ++unnamed;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("parsed " << parsed << ", refused " << refused << " in " << seconds << " s");
  CHECK(unnamed == 0);  // every message starts with the file's name
  CHECK(parsed > 100);  // damage inside the data buffer, or a changed digit that stays consistent
  CHECK(refused > 1000);
}

// Every number in the header (shapes, offsets, digits in the metadata) replaced by edge values in turn: this
// reaches the semantic checks that random bit flips mostly stop short of (at the JSON syntax).
TEST_CASE("safetensors: header numbers replaced by edge values parse or fail with ModelFormatError",
          "[models][safetensors]") {
  const std::string original = ReadFileBytes(kUniPath);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, original.data(), 8);
  const std::string header = original.substr(8, header_bytes);
  const std::string buffer = original.substr(8 + header_bytes);
  const std::vector<std::string> edges = {"0", "1", "7", "-1", "4294967296", "9223372036854775807",
                                          "18446744073709551615", "99999999999999999999999", "1e3", "2.5"};
  int numbers = 0, parsed = 0, refused = 0, unnamed = 0;
  for (size_t i = 0; i < header.size();) {
    if (header[i] < '0' || header[i] > '9') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < header.size() && header[j] >= '0' && header[j] <= '9') ++j;
    ++numbers;
    for (const std::string& edge : edges) {
      const std::string mutated = header.substr(0, i) + edge + header.substr(j);
      const std::string bytes = LengthPrefix(mutated.size()) + mutated + buffer;
      try {
        ReadEverything(SafetensorsFile::Parse(AsBytes(bytes), "edge.safetensors"));
        ++parsed;
      } catch (const ModelFormatError& e) {
        ++refused;
        if (!std::string(e.what()).starts_with("edge.safetensors: ")) ++unnamed;
      }
    }
    i = j;
  }
  INFO("numbers " << numbers << ", parsed " << parsed << ", refused " << refused);
  CHECK(unnamed == 0);
  CHECK(numbers > 100);
  CHECK(refused > 0);
  CHECK(parsed > 0);  // e.g. digits inside the metadata string
}
