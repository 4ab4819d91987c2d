// Cepstral mean (and variance) normalisation.
//
//   utterance: statistics of the whole input (frames are released only once the input is finished)
//   global:    statistics accumulated over a data set and saved (CmvnStats::Save / Load, JSON)
//   sliding:   causal window of the last window_frames frames, current frame included (streaming)
// x' = x - mean, and with normalize_variance x' = (x - mean) / sqrt(max(var, kVarianceFloor)).
// skip_digital_silence (utterance mode): frames whose samples are all exactly 0 (before dither) stay out of the
// statistics, though they are normalised with them, so that a file padded with zeros (an edited or fixed-length
// recording) gives its speech the same features as the file without the padding. An input of nothing but
// zeros uses all its frames.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

enum class CmvnMode { kNone, kUtterance, kGlobal, kSliding };
template <>
struct EnumNames<CmvnMode> {
  static constexpr std::array kValues{std::pair{CmvnMode::kNone, std::string_view{"none"}},
                                      std::pair{CmvnMode::kUtterance, std::string_view{"utterance"}},
                                      std::pair{CmvnMode::kGlobal, std::string_view{"global"}},
                                      std::pair{CmvnMode::kSliding, std::string_view{"sliding"}}};
};

struct CmvnConfig {
  CmvnMode mode = CmvnMode::kNone;
  bool normalize_variance = false;
  int window_frames = 600;   // sliding mode: frames in the causal window
  std::string stats_file;    // global mode: JSON written by CmvnStats::Save
  bool skip_digital_silence = false;  // utterance mode: all-zero frames stay out of the statistics

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"mode", "", "where the statistics come from"}, self.mode);
    v(FieldInfo{"normalize_variance", "", "also divide by the standard deviation"}, self.normalize_variance);
    v(FieldInfo{"window_frames", "frames", "sliding mode: causal window length"}, self.window_frames);
    v(FieldInfo{"stats_file", "path", "global mode: statistics file (JSON)"}, self.stats_file);
    v(FieldInfo{"skip_digital_silence", "", "utterance mode: frames of exact zeros stay out of the statistics"},
      self.skip_digital_silence);
  }
  void Validate(std::string_view path = "cmvn") const;
};

// Variance floor: a constant (e.g. digital silence at the log floor) must not divide by zero.
inline constexpr double kVarianceFloor = 1e-10;

// Running first and second order statistics of feature frames, in double precision.
class CmvnStats {
 public:
  CmvnStats() = default;
  explicit CmvnStats(int dim) : sum_(static_cast<size_t>(dim), 0.0), sum_sq_(static_cast<size_t>(dim), 0.0) {}

  int Dim() const { return static_cast<int>(sum_.size()); }
  double Count() const { return count_; }
  void Add(std::span<const float> frame);
  void Remove(std::span<const float> frame);  // for sliding windows
  void Merge(const CmvnStats& other);

  // Normalises one frame in place with these statistics (count must be > 0).
  void Apply(bool normalize_variance, std::span<float> frame) const;

  // JSON: {"format": "ossicle-cmvn-stats", "version": 1, "dim": D, "count": N, "sum": [...], "sum_sq": [...]}.
  void Save(const std::string& path) const;
  // Throws ModelFormatError naming the file and the problem (missing, not JSON, wrong sizes, count <= 0).
  static CmvnStats Load(const std::string& path);

  std::vector<double> Mean() const;
  std::vector<double> Variance() const;

 private:
  double count_ = 0.0;
  std::vector<double> sum_;
  std::vector<double> sum_sq_;
};

}  // namespace ossicle
