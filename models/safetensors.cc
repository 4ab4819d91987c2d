#include "models/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "features/errors.h"

namespace ossicle {

// Values are copied with memcpy in host order; safetensors is little-endian.
static_assert(std::endian::native == std::endian::little, "the safetensors code assumes a little-endian host");

namespace {

using Json = nlohmann::json;

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  int size_bytes;
};
// The order here is the order of the "expected one of" list in messages.
constexpr std::array<DTypeEntry, 13> kDTypes = {{
    {DType::kF64, "F64", 8},
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8},
    {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},
    {DType::kI8, "I8", 1},
    {DType::kU64, "U64", 8},
    {DType::kU32, "U32", 4},
    {DType::kU16, "U16", 2},
    {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
}};
// Dtypes the safetensors spec defines that ossicle does not read (so the message can say "not supported"
// rather than "unknown").
constexpr std::array<std::string_view, 8> kUnsupportedSpecDTypes = {
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128"};

std::string KnownDTypeList() {
  std::string out;
  for (const auto& e : kDTypes) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

std::string ShapeString(std::span<const int64_t> shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string Range(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// Little-endian load of a T from unaligned bytes.
template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// IEEE 754 binary16 -> binary32 (exact: every half is a float).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24 (the smallest half subnormal), exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf / NaN
  // Rebias the exponent from 15 (half) to 127 (float): +112.
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a binary32.
float BFloat16ToFloat(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// ---- header parsing ----------------------------------------------------------------------------------------

// What one header entry declared, collected while the JSON streams past.
struct PendingEntry {
  std::string name;
  std::optional<DType> dtype;
  bool has_shape = false;
  std::vector<int64_t> shape;  // at most max_rank entries: more is an error before it is stored
  int num_offsets = 0;         // how many values "data_offsets" held
  std::array<uint64_t, 2> offsets = {0, 0};
};

// A SAX handler for nlohmann::json that validates the safetensors header as it streams, keeping only what
// it has checked: no DOM is built, so memory stays proportional to the number of tensors whatever the
// header claims, and arbitrarily deep nesting (inside an ignored key) costs a counter.
class HeaderHandler {
 public:
  HeaderHandler(const std::string& path, uint64_t buffer_bytes, const SafetensorsLimits& limits)
      : path_(path), buffer_bytes_(buffer_bytes), limits_(limits) {}

  std::map<std::string, std::string>& metadata() { return metadata_; }
  std::map<std::string, TensorInfo>& tensors() { return tensors_; }

  // nlohmann::json SAX interface. Every method returns true or throws ModelFormatError.
  bool null() { return Scalar("null"); }
  bool boolean(bool) { return Scalar("a boolean"); }
  bool number_integer(int64_t v) {
    if (state_ == State::kShape || state_ == State::kOffsets) return Integer(v < 0, v, 0);
    return Scalar("a number");
  }
  bool number_unsigned(uint64_t v) {
    if (state_ == State::kShape || state_ == State::kOffsets) return Integer(false, 0, v);
    return Scalar("a number");
  }
  bool number_float(double, const std::string& text) {
    if (state_ == State::kShape || state_ == State::kOffsets) {
      Fail(FieldName() + " holds " + text + "; expected non-negative integers");
    }
    return Scalar("a number");
  }
  bool string(std::string& value) {
    switch (state_) {
      case State::kEntryValue:
        if (field_ == Field::kDType) {
          entry_.dtype = ParseDType(value);
          state_ = State::kEntry;
          return true;
        }
        break;
      case State::kMetaValue:
        metadata_.emplace(std::move(key_), std::move(value));
        state_ = State::kMeta;
        return true;
      default:
        break;
    }
    return Scalar("a string");
  }
  bool binary(nlohmann::json::binary_t&) { return Scalar("binary data"); }  // never produced by JSON text

  bool start_object(std::size_t) {
    switch (state_) {
      case State::kTop:
        state_ = State::kRoot;
        return true;
      case State::kRootValue:
        if (key_ == "__metadata__") {
          state_ = State::kMeta;
          seen_.clear();
        } else {
          entry_ = PendingEntry{};
          entry_.name = std::move(key_);
          state_ = State::kEntry;
          seen_.clear();
        }
        return true;
      case State::kEntryValue:
        if (field_ == Field::kOther) return StartSkip();
        break;
      case State::kSkip:
        ++skip_depth_;
        return true;
      default:
        break;
    }
    return Unexpected("an object");
  }
  bool end_object() {
    switch (state_) {
      case State::kRoot:
        state_ = State::kDone;
        return true;
      case State::kMeta:
        state_ = State::kRoot;
        return true;
      case State::kEntry:
        FinishEntry();
        state_ = State::kRoot;
        return true;
      case State::kSkip:
        return EndSkip();
      default:
        Fail("internal: unbalanced JSON object");  // the parser never produces this
    }
  }
  bool start_array(std::size_t) {
    switch (state_) {
      case State::kEntryValue:
        if (field_ == Field::kShape) {
          state_ = State::kShape;
          entry_.has_shape = true;
          return true;
        }
        if (field_ == Field::kOffsets) {
          state_ = State::kOffsets;
          return true;
        }
        if (field_ == Field::kOther) return StartSkip();
        break;
      case State::kSkip:
        ++skip_depth_;
        return true;
      default:
        break;
    }
    return Unexpected("an array");
  }
  bool end_array() {
    switch (state_) {
      case State::kShape:
        state_ = State::kEntry;
        return true;
      case State::kOffsets:
        if (entry_.num_offsets != 2) {
          Fail("\"data_offsets\" has " + std::to_string(entry_.num_offsets) + " values; expected [begin, end]");
        }
        state_ = State::kEntry;
        return true;
      case State::kSkip:
        return EndSkip();
      default:
        Fail("internal: unbalanced JSON array");  // the parser never produces this
    }
  }
  bool key(std::string& k) {
    switch (state_) {
      case State::kRoot:
        if (!root_keys_.insert(k).second) {
          throw ModelFormatError(path_ + ": duplicate key '" + k + "' in the header");
        }
        key_ = std::move(k);
        state_ = State::kRootValue;
        return true;
      case State::kMeta:
        if (!seen_.insert(k).second) {
          throw ModelFormatError(path_ + ": \"__metadata__\" has a duplicate key '" + k + "'");
        }
        key_ = std::move(k);
        state_ = State::kMetaValue;
        return true;
      case State::kEntry:
        if (k == "dtype") {
          field_ = Field::kDType;
        } else if (k == "shape") {
          field_ = Field::kShape;
        } else if (k == "data_offsets") {
          field_ = Field::kOffsets;
        } else {
          field_ = Field::kOther;  // ignored, as in the reference implementation
        }
        if (field_ != Field::kOther && !seen_.insert(k).second) Fail("duplicate key \"" + k + "\"");
        state_ = State::kEntryValue;
        return true;
      case State::kSkip:
        return true;
      default:
        Fail("internal: unexpected key");  // the parser never produces this
    }
  }
  [[noreturn]] bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) {
    throw ModelFormatError(path_ + ": header is not valid JSON: " + e.what());
  }

 private:
  enum class State { kTop, kRoot, kRootValue, kMeta, kMetaValue, kEntry, kEntryValue, kShape, kOffsets, kSkip, kDone };
  enum class Field { kDType, kShape, kOffsets, kOther };

  std::string FieldName() const {
    switch (field_) {
      case Field::kDType: return "\"dtype\"";
      case Field::kShape: return "\"shape\"";
      case Field::kOffsets: return "\"data_offsets\"";
      default: return "key";
    }
  }

  // A message about the current tensor entry.
  [[noreturn]] void Fail(const std::string& what) const {
    throw ModelFormatError(path_ + ": tensor '" + entry_.name + "': " + what);
  }

  bool StartSkip() {
    state_ = State::kSkip;
    skip_depth_ = 1;
    return true;
  }
  bool EndSkip() {
    if (--skip_depth_ == 0) state_ = State::kEntry;
    return true;
  }

  // A scalar value (`what` describes its JSON type) in the current state.
  bool Scalar(const char* what) {
    if (state_ == State::kEntryValue && field_ == Field::kOther) {
      state_ = State::kEntry;
      return true;
    }
    if (state_ == State::kSkip) return true;
    return Unexpected(what);
  }

  // A value of JSON type `what` where the format does not allow it.
  [[noreturn]] bool Unexpected(const char* what) {
    switch (state_) {
      case State::kTop:
        throw ModelFormatError(path_ + ": header is " + what + "; expected a JSON object");
      case State::kRootValue:
        if (key_ == "__metadata__") {
          throw ModelFormatError(path_ + ": \"__metadata__\" is " + what + "; expected an object of strings");
        }
        throw ModelFormatError(path_ + ": tensor '" + key_ + "': entry is " + what +
                               "; expected an object with dtype, shape and data_offsets");
      case State::kMetaValue:
        throw ModelFormatError(path_ + ": \"__metadata__\" value '" + key_ + "' is " + what + "; expected a string");
      case State::kEntryValue:
        if (field_ == Field::kDType) Fail("\"dtype\" is " + std::string(what) + "; expected a string");
        Fail(FieldName() + " is " + what + "; expected " +
             (field_ == Field::kShape ? "an array of integers" : "[begin, end]"));
      case State::kShape:
      case State::kOffsets:
        Fail(FieldName() + " holds " + what + "; expected non-negative integers");
      default:
        throw ModelFormatError(path_ + ": header has " + what + " where none is expected");
    }
  }

  // An integer inside "shape" or "data_offsets": `negative` with `s`, or the non-negative `u`.
  bool Integer(bool negative, int64_t s, uint64_t u) {
    if (state_ == State::kShape) {
      const size_t index = entry_.shape.size();
      if (negative) {
        Fail("\"shape\" dimension " + std::to_string(index) + " is " + std::to_string(s) + "; expected >= 0");
      }
      if (static_cast<int64_t>(index) >= limits_.max_rank) {
        Fail("\"shape\" has more than " + std::to_string(limits_.max_rank) +
             " dimensions (SafetensorsLimits::max_rank)");
      }
      if (u > static_cast<uint64_t>(std::max<int64_t>(limits_.max_elements, 0))) {
        Fail("\"shape\" dimension " + std::to_string(index) + " is " + std::to_string(u) + ", more than the limit of " +
             std::to_string(limits_.max_elements) + " elements per tensor (SafetensorsLimits::max_elements)");
      }
      entry_.shape.push_back(static_cast<int64_t>(u));
      return true;
    }
    // data_offsets
    if (negative) Fail("\"data_offsets\" holds " + std::to_string(s) + "; expected non-negative integers");
    if (entry_.num_offsets < 2) entry_.offsets[static_cast<size_t>(entry_.num_offsets)] = u;
    ++entry_.num_offsets;  // the count is reported at end_array; it cannot overflow before the header ends
    return true;
  }

  DType ParseDType(const std::string& text) const {
    for (const auto& e : kDTypes) {
      if (e.name == text) return e.dtype;
    }
    for (const auto& name : kUnsupportedSpecDTypes) {
      if (name == text) Fail("dtype " + text + " is not supported; ossicle reads " + KnownDTypeList());
    }
    Fail("unknown dtype '" + text + "'; expected one of " + KnownDTypeList());
  }

  // The entry's object closed: check it is complete and consistent, then keep it.
  void FinishEntry() {
    if (!entry_.dtype) Fail("entry has no \"dtype\"");
    if (!entry_.has_shape) Fail("entry has no \"shape\"");
    // A present "data_offsets" was checked to hold exactly two values when its array closed.
    if (seen_.count("data_offsets") == 0) Fail("entry has no \"data_offsets\"");
    // Element count: every dimension is already within [0, max_elements]; multiply only after checking the
    // product stays within max_elements (so it never overflows). A zero dimension makes it 0 whatever the rest.
    int64_t count = 1;
    if (std::find(entry_.shape.begin(), entry_.shape.end(), 0) != entry_.shape.end()) {
      count = 0;
    } else {
      for (int64_t d : entry_.shape) {
        if (count > limits_.max_elements / d) {
          Fail("shape " + ShapeString(entry_.shape) + " has more than " + std::to_string(limits_.max_elements) +
               " elements (SafetensorsLimits::max_elements)");
        }
        count *= d;
      }
      if (count > limits_.max_elements) {  // a scalar with max_elements < 1
        Fail("shape " + ShapeString(entry_.shape) + " has more than " + std::to_string(limits_.max_elements) +
             " elements (SafetensorsLimits::max_elements)");
      }
    }
    const DType dtype = *entry_.dtype;
    const auto size = static_cast<uint64_t>(DTypeSizeBytes(dtype));
    if (static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / size) {
      Fail("shape " + ShapeString(entry_.shape) + " of " + std::string(DTypeName(dtype)) +
           " needs more bytes than a 64-bit offset can address");
    }
    const uint64_t need = static_cast<uint64_t>(count) * size;
    const auto [begin, end] = entry_.offsets;
    const std::string offsets = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    if (begin > end) Fail(offsets + " are reversed (begin > end)");
    if (end > buffer_bytes_) {
      Fail(offsets + " end past the data buffer (" + std::to_string(buffer_bytes_) + " bytes)");
    }
    if (end - begin != need) {
      Fail("shape " + ShapeString(entry_.shape) + " needs " + std::to_string(need) + " bytes of " +
           std::string(DTypeName(dtype)) + " but data_offsets span " + std::to_string(end - begin));
    }
    TensorInfo info;
    info.name = entry_.name;
    info.dtype = dtype;
    info.shape = std::move(entry_.shape);
    info.begin = begin;
    info.end = end;
    tensors_.emplace(std::move(entry_.name), std::move(info));
  }

  const std::string& path_;
  const uint64_t buffer_bytes_;
  const SafetensorsLimits& limits_;

  State state_ = State::kTop;
  Field field_ = Field::kOther;
  std::string key_;                  // the root or metadata key whose value comes next
  std::set<std::string> root_keys_;  // duplicate detection at the root
  std::set<std::string> seen_;       // duplicate detection inside the current entry / metadata
  PendingEntry entry_;
  int64_t skip_depth_ = 0;  // nesting inside an ignored key's value
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
};

// The spec's coverage rule: the tensors tile the data buffer exactly, no holes, no overlaps.
void CheckCoverage(const std::string& path, const std::map<std::string, TensorInfo>& tensors, uint64_t buffer_bytes) {
  std::vector<const TensorInfo*> order;
  order.reserve(tensors.size());
  for (const auto& [name, info] : tensors) order.push_back(&info);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  uint64_t pos = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin > pos) {
      throw ModelFormatError(path + ": bytes " + Range(pos, t->begin) +
                             " of the data buffer belong to no tensor (a hole " +
                             (previous != nullptr ? "between tensor '" + previous->name + "' and" : "before") +
                             " tensor '" + t->name + "')");
    }
    if (t->begin < pos) {
      throw ModelFormatError(path + ": tensors '" + previous->name + "' " + Range(previous->begin, previous->end) +
                             " and '" + t->name + "' " + Range(t->begin, t->end) + " overlap");
    }
    pos = t->end;
    previous = t;
  }
  if (pos < buffer_bytes) {
    throw ModelFormatError(path + ": bytes " + Range(pos, buffer_bytes) +
                           " at the end of the data buffer belong to no tensor");
  }
}

// Checks the 8-byte length prefix against the file size; returns the header length.
uint64_t CheckedHeaderLength(const std::string& path, const uint8_t* prefix, uint64_t file_bytes,
                             const SafetensorsLimits& limits) {
  const auto header_bytes = Load<uint64_t>(prefix);
  if (header_bytes > file_bytes - 8) {
    throw ModelFormatError(path + ": not a safetensors file, or truncated: header length " +
                           std::to_string(header_bytes) + " exceeds the " + std::to_string(file_bytes - 8) +
                           " bytes that follow it");
  }
  if (header_bytes > limits.max_header_bytes) {
    throw ModelFormatError(path + ": header length " + std::to_string(header_bytes) + " exceeds the limit of " +
                           std::to_string(limits.max_header_bytes) + " bytes (SafetensorsLimits::max_header_bytes)");
  }
  return header_bytes;
}

[[noreturn]] void ThrowTooShort(const std::string& path, uint64_t file_bytes) {
  throw ModelFormatError(path + ": file is " + std::to_string(file_bytes) +
                         " bytes; a safetensors file starts with an 8-byte header length");
}

}  // namespace

std::string_view DTypeName(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

int DTypeSizeBytes(DType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size_bytes;
  }
  return 0;
}

int64_t TensorInfo::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// ---- SafetensorsFile ---------------------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::FromHeaderAndBuffer(std::string path, std::string_view header,
                                                     uint64_t buffer_bytes, const SafetensorsLimits& limits) {
  if (header.empty()) throw ModelFormatError(path + ": header is empty; expected a JSON object");
  if (header.front() != '{') {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(header.front())));
    throw ModelFormatError(path + ": header must start with '{' (safetensors spec), found byte " + hex);
  }
  // JSON text never holds a raw NUL (a NUL in a string must be escaped), and nlohmann::json would take one
  // for the end of the input, silently ignoring whatever follows it.
  if (const size_t nul = header.find('\0'); nul != std::string_view::npos) {
    throw ModelFormatError(path + ": header holds a NUL byte at offset " + std::to_string(nul) +
                           "; expected JSON text padded with spaces");
  }
  HeaderHandler handler(path, buffer_bytes, limits);
  // Strict: the whole header must be one JSON value (trailing spaces, the spec's padding, are whitespace).
  Json::sax_parse(header.begin(), header.end(), &handler, Json::input_format_t::json, /*strict=*/true,
                  /*ignore_comments=*/false);
  CheckCoverage(path, handler.tensors(), buffer_bytes);
  SafetensorsFile file;
  file.path_ = std::move(path);
  file.metadata_ = std::move(handler.metadata());
  file.tensors_ = std::move(handler.tensors());
  return file;
}

SafetensorsFile SafetensorsFile::Parse(std::span<const uint8_t> bytes, const std::string& name_for_messages,
                                       const SafetensorsLimits& limits) {
  if (bytes.size() < 8) ThrowTooShort(name_for_messages, bytes.size());
  const uint64_t header_bytes = CheckedHeaderLength(name_for_messages, bytes.data(), bytes.size(), limits);
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), header_bytes);
  const uint64_t buffer_bytes = bytes.size() - 8 - header_bytes;
  SafetensorsFile file = FromHeaderAndBuffer(name_for_messages, header, buffer_bytes, limits);
  file.data_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(8 + header_bytes), bytes.end());
  return file;
}

SafetensorsFile SafetensorsFile::Open(const std::string& path, const SafetensorsLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw IoError(path + ": cannot open: " +
                  (ec ? ec.message() : std::make_error_code(std::errc::no_such_file_or_directory).message()));
  }
  if (fs::is_directory(status)) throw IoError(path + ": is a directory, not a safetensors file");
  // Only regular files: a FIFO or device could block or never end.
  if (!fs::is_regular_file(status)) throw IoError(path + ": is not a regular file");

  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw IoError(path + ": cannot open: " + std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  auto read_exactly = [&](void* out, uint64_t n) {
    if (n > 0 && std::fread(out, 1, n, f) != n) {
      throw IoError(path + ": read failed" + (std::ferror(f) ? ": " + std::string(std::strerror(errno))
                                                             : std::string(" (the file shrank while being read)")));
    }
  };

  const uint64_t file_bytes = fs::file_size(path, ec);
  if (ec) throw IoError(path + ": cannot read the file size: " + ec.message());
  if (file_bytes < 8) ThrowTooShort(path, file_bytes);
  uint8_t prefix[8];
  read_exactly(prefix, 8);
  // The header is bounded by the file size and the limit before it is allocated.
  const uint64_t header_bytes = CheckedHeaderLength(path, prefix, file_bytes, limits);
  std::string header(header_bytes, '\0');
  read_exactly(header.data(), header_bytes);
  const uint64_t buffer_bytes = file_bytes - 8 - header_bytes;
  SafetensorsFile file = FromHeaderAndBuffer(path, header, buffer_bytes, limits);
  // Validated: the buffer is exactly covered by the tensors and bounded by the file size.
  file.data_.resize(buffer_bytes);
  read_exactly(file.data_.data(), buffer_bytes);
  return file;
}

std::vector<std::string> SafetensorsFile::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, info] : tensors_) names.push_back(name);
  return names;  // std::map keeps them sorted
}

const TensorInfo& SafetensorsFile::Info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) throw ModelFormatError(path_ + ": no tensor '" + name + "'");
  return it->second;
}

std::span<const uint8_t> SafetensorsFile::RawBytes(const std::string& name) const {
  const TensorInfo& info = Info(name);
  return std::span<const uint8_t>(data_).subspan(info.begin, info.end - info.begin);
}

const TensorInfo& SafetensorsFile::CheckedInfo(const std::string& name,
                                               std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = Info(name);
  if (!expected_shape.empty() && !std::equal(info.shape.begin(), info.shape.end(), expected_shape.begin(),
                                             expected_shape.end())) {
    throw ModelFormatError(path_ + ": tensor '" + name + "' has shape " + ShapeString(info.shape) + "; expected " +
                           ShapeString(expected_shape));
  }
  return info;
}

namespace {

template <typename Out>
std::vector<Out> ConvertFloat(const std::string& path, const TensorInfo& info, const uint8_t* p, const char* reader) {
  const auto n = static_cast<size_t>(info.NumElements());
  std::vector<Out> out(n);
  switch (info.dtype) {
    case DType::kF32:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(Load<float>(p + 4 * i));
      break;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(Load<double>(p + 8 * i));
      break;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(HalfToFloat(Load<uint16_t>(p + 2 * i)));
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(BFloat16ToFloat(Load<uint16_t>(p + 2 * i)));
      break;
    default:
      throw ModelFormatError(path + ": tensor '" + info.name + "' has dtype " + std::string(DTypeName(info.dtype)) +
                             "; " + reader + " needs F32, F64, F16 or BF16");
  }
  return out;
}

}  // namespace

std::vector<float> SafetensorsFile::ReadFloat(const std::string& name, std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = CheckedInfo(name, expected_shape);
  return ConvertFloat<float>(path_, info, data_.data() + info.begin, "ReadFloat");
}

std::vector<double> SafetensorsFile::ReadDouble(const std::string& name,
                                                std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = CheckedInfo(name, expected_shape);
  return ConvertFloat<double>(path_, info, data_.data() + info.begin, "ReadDouble");
}

std::vector<int64_t> SafetensorsFile::ReadInt(const std::string& name, std::span<const int64_t> expected_shape) const {
  const TensorInfo& info = CheckedInfo(name, expected_shape);
  const uint8_t* p = data_.data() + info.begin;
  const auto n = static_cast<size_t>(info.NumElements());
  std::vector<int64_t> out(n);
  auto element_error = [&](size_t i, const std::string& what) {
    return ModelFormatError(path_ + ": tensor '" + name + "': element " + std::to_string(i) + " is " + what);
  };
  switch (info.dtype) {
    case DType::kI64:
      for (size_t i = 0; i < n; ++i) out[i] = Load<int64_t>(p + 8 * i);
      break;
    case DType::kI32:
      for (size_t i = 0; i < n; ++i) out[i] = Load<int32_t>(p + 4 * i);
      break;
    case DType::kI16:
      for (size_t i = 0; i < n; ++i) out[i] = Load<int16_t>(p + 2 * i);
      break;
    case DType::kI8:
      for (size_t i = 0; i < n; ++i) out[i] = Load<int8_t>(p + i);
      break;
    case DType::kU64:
      for (size_t i = 0; i < n; ++i) {
        const auto v = Load<uint64_t>(p + 8 * i);
        if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          throw element_error(i, std::to_string(v) + ", above the int64 range ReadInt returns");
        }
        out[i] = static_cast<int64_t>(v);
      }
      break;
    case DType::kU32:
      for (size_t i = 0; i < n; ++i) out[i] = Load<uint32_t>(p + 4 * i);
      break;
    case DType::kU16:
      for (size_t i = 0; i < n; ++i) out[i] = Load<uint16_t>(p + 2 * i);
      break;
    case DType::kU8:
      for (size_t i = 0; i < n; ++i) out[i] = p[i];
      break;
    case DType::kBool:
      for (size_t i = 0; i < n; ++i) {
        if (p[i] > 1) throw element_error(i, "byte " + std::to_string(p[i]) + "; BOOL bytes must be 0 or 1");
        out[i] = p[i];
      }
      break;
    default:
      throw ModelFormatError(path_ + ": tensor '" + name + "' has dtype " + std::string(DTypeName(info.dtype)) +
                             "; ReadInt needs an integer or BOOL dtype");
  }
  return out;
}

// ---- SafetensorsWriter -------------------------------------------------------------------------------------

SafetensorsWriter::SafetensorsWriter(std::string path) : path_(std::move(path)) {}

void SafetensorsWriter::CheckOpen(const char* what) const {
  if (closed_) throw Error(path_ + ": SafetensorsWriter::" + what + " after Close()");
}

namespace {
// nlohmann::json refuses to serialise invalid UTF-8 (type_error 316); find out now, naming the string.
bool IsValidUtf8(const std::string& s) {
  try {
    (void)Json(s).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}
}  // namespace

void SafetensorsWriter::SetMetadata(const std::string& key, const std::string& value) {
  CheckOpen("SetMetadata");
  if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
    throw ModelFormatError(path_ + ": metadata '" + key + "': key and value must be valid UTF-8");
  }
  metadata_[key] = value;
}

void SafetensorsWriter::Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t count) {
  const std::string where = path_ + ": tensor '" + name + "': ";
  if (name == "__metadata__") throw ModelFormatError(where + "the name is reserved for the metadata");
  if (!IsValidUtf8(name)) throw ModelFormatError(where + "the name must be valid UTF-8");
  if (tensors_.count(name) != 0) throw ModelFormatError(where + "added twice");
  // Element count of `shape`, checked against `count` without overflowing.
  uint64_t elements = 1;
  bool too_many = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      throw ModelFormatError(where + "shape " + ShapeString(shape) + " has a negative dimension");
    }
    const auto d = static_cast<uint64_t>(shape[i]);
    if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / d) {
      too_many = true;
    } else {
      elements *= d;
    }
  }
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) {
    elements = 0;
    too_many = false;
  }
  if (too_many || elements != count) {
    throw ModelFormatError(where + "shape " + ShapeString(shape) + " does not match the " + std::to_string(count) +
                           " values given");
  }
  Pending pending{dtype, std::move(shape), {}};
  const size_t bytes = count * static_cast<size_t>(DTypeSizeBytes(dtype));
  pending.bytes.resize(bytes);
  if (bytes > 0) std::memcpy(pending.bytes.data(), data, bytes);
  tensors_.emplace(name, std::move(pending));
}

void SafetensorsWriter::AddF32(const std::string& name, std::vector<int64_t> shape, std::span<const float> data) {
  CheckOpen("AddF32");
  Add(name, DType::kF32, std::move(shape), data.data(), data.size());
}

void SafetensorsWriter::AddF64(const std::string& name, std::vector<int64_t> shape, std::span<const double> data) {
  CheckOpen("AddF64");
  Add(name, DType::kF64, std::move(shape), data.data(), data.size());
}

void SafetensorsWriter::AddI64(const std::string& name, std::vector<int64_t> shape, std::span<const int64_t> data) {
  CheckOpen("AddI64");
  Add(name, DType::kI64, std::move(shape), data.data(), data.size());
}

void SafetensorsWriter::Close() {
  CheckOpen("Close");
  Json header = Json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {  // std::map: name order
    const uint64_t end = offset + t.bytes.size();
    header[name] = {{"dtype", std::string(DTypeName(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::string text = header.dump();  // compact, like json.dumps(separators=(",", ":")); UTF-8 checked on Add
  // Pad with spaces to a multiple of 8 so the data buffer starts 8-byte aligned (the reference writer does).
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t prefix[8];
  const uint64_t header_bytes = text.size();
  std::memcpy(prefix, &header_bytes, 8);

  // A unique temporary name next to the target (same filesystem, so the rename is atomic).
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw IoError(path_ + ": cannot open for writing: " + std::strerror(errno));
  errno = 0;
  bool ok = std::fwrite(prefix, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& [name, t] : tensors_) {
    if (!ok) break;
    ok = t.bytes.empty() || std::fwrite(t.bytes.data(), 1, t.bytes.size(), f) == t.bytes.size();
  }
  const int write_errno = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    throw IoError(path_ + ": write failed: " + std::strerror(write_errno != 0 ? write_errno : errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IoError(path_ + ": cannot move the output into place: " + ec.message());
  }
  closed_ = true;  // only on success: after a failed Close() the caller may fix the cause and retry
}

}  // namespace ossicle
