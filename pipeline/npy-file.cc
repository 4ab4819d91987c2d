#include "pipeline/npy-file.h"

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "features/errors.h"

namespace ossicle {

static_assert(std::endian::native == std::endian::little, "the .npy code assumes a little-endian host");

namespace {
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// Room for the largest shape we can write, so the header can be rewritten in place at Close().
constexpr size_t kHeaderTotal = 128;

std::string Header(int64_t rows, int cols) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                     std::to_string(cols) + "), }";
  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  const size_t header_len = kHeaderTotal - out.size() - 2;
  out += static_cast<char>(header_len & 0xff);
  out += static_cast<char>((header_len >> 8) & 0xff);
  dict.resize(header_len - 1, ' ');
  out += dict;
  out += '\n';
  return out;
}
}  // namespace

NpyWriter::NpyWriter(const std::string& path, int cols) : path_(path), cols_(cols) {
  // AppendRows divides by cols.
  if (cols < 1) throw Error(path + ": NpyWriter cols = " + std::to_string(cols) + "; expected >= 1");
  tmp_path_ = path + ".tmp" + std::to_string(::getpid());
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (file_ == nullptr) throw IoError(path + ": cannot open for writing: " + std::strerror(errno));
  const std::string h = Header(0, cols_);
  if (std::fwrite(h.data(), 1, h.size(), file_) != h.size()) {
    std::fclose(file_);  // the destructor does not run for a constructor that throws
    file_ = nullptr;
    std::remove(tmp_path_.c_str());
    throw IoError(path + ": write failed");
  }
}

NpyWriter::~NpyWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

void NpyWriter::AppendRows(std::span<const float> values) {
  if (file_ == nullptr) throw Error(path_ + ": NpyWriter::AppendRows after Close");
  if (values.size() % static_cast<size_t>(cols_) != 0) throw Error("NpyWriter: partial row");
  if (!values.empty() && std::fwrite(values.data(), sizeof(float), values.size(), file_) != values.size()) {
    throw IoError(path_ + ": write failed: " + std::strerror(errno));
  }
  rows_ += static_cast<int64_t>(values.size()) / cols_;
}

void NpyWriter::Close() {
  if (file_ == nullptr) throw Error(path_ + ": NpyWriter::Close called twice");
  const std::string h = Header(rows_, cols_);
  bool ok = std::fseek(file_, 0, SEEK_SET) == 0 && std::fwrite(h.data(), 1, h.size(), file_) == h.size();
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok) {
    std::remove(tmp_path_.c_str());
    throw IoError(path_ + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  if (ec) {
    std::remove(tmp_path_.c_str());
    throw IoError(path_ + ": cannot move the output into place: " + ec.message());
  }
}

NpyMatrix ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  char pre[10];
  if (file_size < 10 || !in.read(pre, 10) || std::memcmp(pre, kMagic, kMagicLen) != 0) {
    throw ModelFormatError(path + ": not a .npy file (bad magic)");
  }
  size_t header_len = 0;
  int64_t prefix = 10;
  if (pre[6] == 1) {
    header_len = static_cast<unsigned char>(pre[8]) | (static_cast<size_t>(static_cast<unsigned char>(pre[9])) << 8);
  } else if (pre[6] == 2 || pre[6] == 3) {
    char more[2];
    if (!in.read(more, 2)) throw ModelFormatError(path + ": truncated .npy header");
    header_len = static_cast<unsigned char>(pre[8]) | (static_cast<size_t>(static_cast<unsigned char>(pre[9])) << 8) |
                 (static_cast<size_t>(static_cast<unsigned char>(more[0])) << 16) |
                 (static_cast<size_t>(static_cast<unsigned char>(more[1])) << 24);
    prefix = 12;
  } else {
    throw ModelFormatError(path + ": unsupported .npy version " + std::to_string(pre[6]));
  }
  if (static_cast<int64_t>(header_len) > file_size - prefix || header_len > 65536) {
    throw ModelFormatError(path + ": .npy header length " + std::to_string(header_len) + " exceeds the file");
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));

  // The header is a Python dict literal; read the three keys numpy writes (no regex: std::regex trips
  // GCC 12's -Wmaybe-uninitialized under the sanitizer build and is slow to build).
  auto value_after = [&](std::string_view key) -> std::string_view {
    const size_t k = header.find(key);
    if (k == std::string::npos) throw ModelFormatError(path + ": .npy header has no " + std::string(key) + ": " + header);
    std::string_view rest(header);
    rest.remove_prefix(k + key.size());
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':')) rest.remove_prefix(1);
    return rest;
  };
  std::string_view descr = value_after("'descr'");
  if (descr.empty() || descr.front() != '\'') throw ModelFormatError(path + ": .npy dtype is not a string: " + header);
  descr.remove_prefix(1);
  descr = descr.substr(0, descr.find('\''));
  int width = 0;
  if (descr == "<f4" || descr == "=f4") width = 4;
  if (descr == "<f8" || descr == "=f8") width = 8;
  if (width == 0) {
    throw ModelFormatError(path + ": .npy dtype must be little-endian float32 or float64, got '" + std::string(descr) +
                           "'");
  }
  if (value_after("'fortran_order'").starts_with("True")) {
    throw ModelFormatError(path + ": Fortran-order .npy files are not supported");
  }
  std::string_view dims = value_after("'shape'");
  if (dims.empty() || dims.front() != '(' || dims.find(')') == std::string_view::npos) {
    throw ModelFormatError(path + ": .npy header has a malformed shape: " + header);
  }
  dims = dims.substr(1, dims.find(')') - 1);
  NpyMatrix out;
  int64_t count = 1;
  for (size_t i = 0; i < dims.size();) {
    if (dims[i] < '0' || dims[i] > '9') {
      if (dims[i] != ',' && dims[i] != ' ') throw ModelFormatError(path + ": .npy header has a malformed shape: " + header);
      ++i;
      continue;
    }
    int64_t d = 0;
    for (; i < dims.size() && dims[i] >= '0' && dims[i] <= '9'; ++i) {
      if (d > (int64_t{1} << 40)) throw ModelFormatError(path + ": absurd .npy shape (" + std::string(dims) + ")");
      d = d * 10 + (dims[i] - '0');
    }
    out.shape.push_back(d);
    if (d > 0 && count > (int64_t{1} << 40) / d) throw ModelFormatError(path + ": absurd .npy shape");
    count *= d;
  }
  if (out.shape.empty() || out.shape.size() > 2) {
    throw ModelFormatError(path + ": expected a 1-D or 2-D array, got shape (" + std::string(dims) + ")");
  }
  const int64_t need = count * width;
  if (need > file_size - prefix - static_cast<int64_t>(header_len)) {
    throw ModelFormatError(path + ": .npy data is truncated (shape (" + std::string(dims) + ") needs " + std::to_string(need) +
                           " bytes)");
  }
  out.data.resize(static_cast<size_t>(count));
  if (width == 4) {
    in.read(reinterpret_cast<char*>(out.data.data()), need);
  } else {
    std::vector<double> tmp(static_cast<size_t>(count));
    in.read(reinterpret_cast<char*>(tmp.data()), need);
    for (size_t i = 0; i < tmp.size(); ++i) out.data[i] = static_cast<float>(tmp[i]);
  }
  if (!in) throw ModelFormatError(path + ": read failed");
  return out;
}

}  // namespace ossicle
