// safetensors weight files (https://github.com/huggingface/safetensors): read with full validation, write
// atomically.
//
//   const auto file = ossicle::SafetensorsFile::Open("model.safetensors");   // validates everything
//   std::vector<float> w = file.ReadFloat("rnn.weight_ih_l0", {16, 5});      // [16,5] row-major, or throws
//   std::vector<int64_t> lengths = file.ReadInt("lengths");
//   std::string config = file.Metadata().at("config");
//
//   ossicle::SafetensorsWriter out("new.safetensors");
//   out.SetMetadata("config", config);
//   out.AddF32("out.weight", {6, 4}, weights);                               // weights.size() == 24
//   out.Close();                                                             // temp file renamed into place
//
// Layout: an 8-byte little-endian uint64 N, N bytes of UTF-8 JSON, then the data buffer. The JSON is an object
// mapping tensor name -> {"dtype": "F32", "shape": [16, 5], "data_offsets": [begin, end]} (byte offsets into
// the data buffer, end exclusive) plus an optional "__metadata__" object of string -> string. Values are
// little-endian, row-major (C order).
//
// Validation (all at Open/Parse, each failure a ModelFormatError whose message starts with the path and names
// the tensor involved): the header length against the file and SafetensorsLimits::max_header_bytes; strict
// JSON (RFC 8259, UTF-8, no duplicate keys, starts with '{' as the spec requires); every entry has a known
// dtype, a shape of non-negative integers within max_rank / max_elements, and data_offsets [begin, end] with
// begin <= end <= buffer size and end - begin == elements * dtype size; the tensors cover the data buffer
// exactly, without holes or overlaps (the spec's rule); "__metadata__" is an object of strings. Keys other
// than dtype/shape/data_offsets inside an entry are ignored (as the reference implementation does).
//
// Bounded before trusted: the JSON is parsed with a SAX handler that keeps only what it validates (at most
// max_rank dims per tensor, two offsets), so memory is proportional to the number of tensors, never to a
// claimed size; the data buffer is read only once the header has been validated against the file length.
//
// Thread safety: a SafetensorsFile is immutable after Open; its const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ossicle {

// The safetensors dtypes ossicle reads. The spec's 8-bit and sub-byte float formats (F8_E4M3, F8_E5M2, ...)
// and complex types are refused at Open with a message that names them.
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool };

// "F32", "BF16", "BOOL", ... (the spelling used in the file).
std::string_view DTypeName(DType dtype);
// Bytes per element: 8, 4, 2 or 1.
int DTypeSizeBytes(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // [] is a scalar (1 element)
  uint64_t begin = 0, end = 0;  // byte offsets into the data buffer, end exclusive

  // Product of `shape` (1 for a scalar). Cannot overflow for a TensorInfo from a SafetensorsFile (checked
  // against SafetensorsLimits::max_elements at Open).
  int64_t NumElements() const;
  uint64_t NumBytes() const { return end - begin; }
};

// Bounds applied to a file before any of its claims is trusted.
struct SafetensorsLimits {
  uint64_t max_header_bytes = uint64_t{100} << 20;  // the JSON header; the reference implementation uses 100 MB
  int max_rank = 8;                                 // dimensions per tensor
  int64_t max_elements = int64_t{1} << 31;          // elements per tensor
};

class SafetensorsFile {
 public:
  // Reads and validates the whole file, then keeps its data buffer in memory (the file is closed on return).
  // Throws IoError if the file cannot be opened or read ("<path>: cannot open: No such file or directory",
  // "<path>: is a directory, not a safetensors file", "<path>: is not a regular file") and ModelFormatError
  // for any invalid content.
  static SafetensorsFile Open(const std::string& path, const SafetensorsLimits& limits = {});
  // The same validation on a file already in memory (`bytes` is copied); `name_for_messages` stands in for
  // the path in messages and Path(). Throws only ModelFormatError. The entry point for fuzzing.
  static SafetensorsFile Parse(std::span<const uint8_t> bytes, const std::string& name_for_messages,
                               const SafetensorsLimits& limits = {});

  const std::string& Path() const { return path_; }
  const std::map<std::string, std::string>& Metadata() const { return metadata_; }
  std::vector<std::string> TensorNames() const;  // sorted (byte-wise)
  bool Has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws ModelFormatError "<path>: no tensor 'x'" when missing.
  const TensorInfo& Info(const std::string& name) const;

  // Converting reads, row-major. A non-empty `expected_shape` must equal the tensor's shape, otherwise
  // ModelFormatError "<path>: tensor 'out.weight' has shape [12,64]; expected [12,32]". An empty
  // `expected_shape` means "do not check" (check a scalar with Info(name).shape.empty()).
  //   ReadFloat/ReadDouble: F32, F64, F16, BF16 (F64 -> float rounds to nearest; out-of-range becomes +-inf).
  //   ReadInt: I64, I32, I16, I8, U64 (values above INT64_MAX are refused), U32, U16, U8, BOOL (bytes must be
  //   0 or 1).
  // Any other dtype: ModelFormatError "<path>: tensor 'lengths' has dtype I64; ReadFloat needs F32, F64, F16
  // or BF16".
  std::vector<float> ReadFloat(const std::string& name, std::span<const int64_t> expected_shape = {}) const;
  std::vector<double> ReadDouble(const std::string& name, std::span<const int64_t> expected_shape = {}) const;
  std::vector<int64_t> ReadInt(const std::string& name, std::span<const int64_t> expected_shape = {}) const;
  // Braced shapes: file.ReadFloat("w", {16, 5}) (std::span cannot be built from a braced list in C++20).
  std::vector<float> ReadFloat(const std::string& name, std::initializer_list<int64_t> expected_shape) const {
    return ReadFloat(name, std::span<const int64_t>(expected_shape.begin(), expected_shape.size()));
  }
  std::vector<double> ReadDouble(const std::string& name, std::initializer_list<int64_t> expected_shape) const {
    return ReadDouble(name, std::span<const int64_t>(expected_shape.begin(), expected_shape.size()));
  }
  std::vector<int64_t> ReadInt(const std::string& name, std::initializer_list<int64_t> expected_shape) const {
    return ReadInt(name, std::span<const int64_t>(expected_shape.begin(), expected_shape.size()));
  }

  // The tensor's raw little-endian bytes; valid as long as this SafetensorsFile.
  std::span<const uint8_t> RawBytes(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  static SafetensorsFile FromHeaderAndBuffer(std::string path, std::string_view header, uint64_t buffer_bytes,
                                             const SafetensorsLimits& limits);
  const TensorInfo& CheckedInfo(const std::string& name, std::span<const int64_t> expected_shape) const;

  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
  std::vector<uint8_t> data_;  // the data buffer (everything after the header)
};

// Collects tensors in memory and writes the file on Close(): to "<path>.tmp.<pid>.<n>" first, then renamed
// over `path`, so a failed or abandoned write never leaves a partial file behind. The header is compact JSON
// padded with spaces to a multiple of 8 bytes (as the reference writer does); tensors are laid out in name
// order. Names and metadata must be valid UTF-8.
//
// Errors: arguments that would make a malformed file (shape does not match the data, negative dimension,
// duplicate or reserved name, invalid UTF-8) throw ModelFormatError naming the path and tensor; failures to
// write throw IoError ("<path>: cannot open for writing: ..."); use after Close() throws ossicle::Error.
class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::string path);

  void SetMetadata(const std::string& key, const std::string& value);  // replaces an earlier value
  void AddF32(const std::string& name, std::vector<int64_t> shape, std::span<const float> data);
  void AddF64(const std::string& name, std::vector<int64_t> shape, std::span<const double> data);
  void AddI64(const std::string& name, std::vector<int64_t> shape, std::span<const int64_t> data);
  void Close();

 private:
  struct Pending {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data, size_t count);
  void CheckOpen(const char* what) const;

  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Pending> tensors_;
  bool closed_ = false;
};

}  // namespace ossicle
