// A growing sequence of fixed-size frames addressed by absolute index, whose oldest frames can be
// released. Storage is one contiguous vector, compacted when more than half of it is released.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace ossicle {

class FrameBuffer {
 public:
  explicit FrameBuffer(int dim = 0) : dim_(dim) {}

  int Dim() const { return dim_; }
  int64_t Begin() const { return begin_; }                // first frame still held
  int64_t End() const { return begin_ + Held(); }         // one past the last frame
  int64_t Held() const { return static_cast<int64_t>(data_.size()) / dim_ - released_; }

  // Appends a frame and returns it for filling.
  std::span<float> Append() {
    data_.resize(data_.size() + static_cast<size_t>(dim_));
    return {data_.data() + data_.size() - static_cast<size_t>(dim_), static_cast<size_t>(dim_)};
  }

  std::span<const float> Frame(int64_t t) const {
    return {data_.data() + Offset(t), static_cast<size_t>(dim_)};
  }
  std::span<float> Frame(int64_t t) { return {data_.data() + Offset(t), static_cast<size_t>(dim_)}; }

  // Frames [t, End()) as one contiguous row-major block.
  std::span<const float> From(int64_t t) const {
    return {data_.data() + (t == End() ? data_.size() : Offset(t)), static_cast<size_t>((End() - t) * dim_)};
  }

  // Releases frames before t (no-op for frames already released).
  void ReleaseBefore(int64_t t) {
    if (t <= begin_) return;
    if (t > End()) t = End();
    released_ += t - begin_;
    begin_ = t;
    if (released_ > Held() && released_ > 64) {
      data_.erase(data_.begin(), data_.begin() + released_ * dim_);
      released_ = 0;
    }
  }

  void Clear() {
    data_.clear();
    begin_ = 0;
    released_ = 0;
  }

 private:
  size_t Offset(int64_t t) const {
    if (t < begin_ || t >= End()) throw std::out_of_range("FrameBuffer: frame not held");
    return static_cast<size_t>((t - begin_ + released_) * dim_);
  }

  int dim_;
  int64_t begin_ = 0;     // absolute index of the first held frame
  int64_t released_ = 0;  // frames at the front of data_ already released
  std::vector<float> data_;
};

}  // namespace ossicle
