// NumPy .npy files (format version 1.0): float32 matrices [rows, cols], C order, little-endian.
//
// NpyWriter streams rows to a temporary file next to the target and renames it on Close(), so a failed
// run never leaves a partial output behind; the row count is patched into the header at the end.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace ossicle {

class NpyWriter {
 public:
  NpyWriter(const std::string& path, int cols);  // throws IoError
  ~NpyWriter();                                  // discards the temporary file unless Close() ran
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  // values.size() must be a multiple of cols.
  void AppendRows(std::span<const float> values);
  int64_t Rows() const { return rows_; }
  void Close();  // writes the final header and renames into place

 private:
  std::string path_;
  std::string tmp_path_;
  int cols_;
  int64_t rows_ = 0;
  std::FILE* file_ = nullptr;
};

struct NpyMatrix {
  std::vector<int64_t> shape;  // 1 or 2 dimensions
  std::vector<float> data;     // row-major
  int64_t Rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t Cols() const { return shape.size() < 2 ? 1 : shape[1]; }
};

// Reads a little-endian float32 or float64 .npy (float64 is converted) of 1 or 2 dimensions, C order.
// Throws IoError / ModelFormatError naming the file and the problem; sizes are checked against the file
// length before allocating.
NpyMatrix ReadNpy(const std::string& path);

}  // namespace ossicle
