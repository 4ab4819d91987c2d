// The streaming feature extractor.
//
//   OnlineFeatureExtractor ex(config);
//   ex.AcceptWaveform(chunk);              // any chunk size, down to one sample; repeat
//   ex.InputFinished();                    // the edge frames and utterance CMVN need the end
//   for (int64_t t = ex.FirstFrameHeld(); t < ex.NumFramesReady(); ++t) use(ex.Frame(t));
//   ex.ReleaseFramesBefore(ex.NumFramesReady());   // optional: bound memory on long streams
//
// Whatever the chunking, the frames equal those of ComputeFeatures() on the whole input, bit for bit
// (each frame depends only on the samples it covers; dither is seeded per frame).
// Samples are mono floats in [-1, 1) at config.frame.sample_rate_hz. Frame indices are absolute
// int64_t since construction or Reset() and never wrap.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "features/cmvn.h"
#include "features/deltas.h"
#include "features/feature-config.h"
#include "features/frame-buffer.h"
#include "features/frame-extraction.h"
#include "features/spectral-features.h"

namespace ossicle {

class OnlineFeatureExtractor {
 public:
  // Validates the config (ConfigError). In global CMVN mode, `global_stats` is used when given,
  // otherwise config.cmvn.stats_file is loaded (ModelFormatError if unusable).
  explicit OnlineFeatureExtractor(const FeatureConfig& config,
                                  std::shared_ptr<const CmvnStats> global_stats = nullptr);

  const FeatureConfig& Config() const { return config_; }
  int Dim() const { return config_.Dim(); }
  double FrameShiftSeconds() const;

  void AcceptWaveform(std::span<const float> samples);
  void InputFinished();
  bool IsFinished() const { return finished_; }
  int64_t NumSamplesAccepted() const { return num_samples_; }

  // Frames [FirstFrameHeld(), NumFramesReady()) can be read. After InputFinished() the count is final.
  int64_t NumFramesReady() const { return out_->End(); }
  int64_t FirstFrameHeld() const { return out_->Begin(); }
  std::span<const float> Frame(int64_t t) const { return out_->Frame(t); }
  // Frames [t, NumFramesReady()) as one row-major block.
  std::span<const float> FramesFrom(int64_t t) const { return out_->From(t); }
  void ReleaseFramesBefore(int64_t t);

  // Back to the state right after construction.
  void Reset();

 private:
  void ComputeBaseFrames();
  void Normalize();
  void AddDeltas();
  void FillRawFrame(int64_t t, std::vector<float>& raw) const;
  float Sample(int64_t s) const { return samples_[static_cast<size_t>(s - samples_begin_)]; }

  FeatureConfig config_;
  std::shared_ptr<const CmvnStats> global_stats_;
  FramePreprocessor prep_;
  SpectralFeatureComputer spectral_;
  DeltaComputer deltas_;
  int win_;

  // Waveform: samples_[0] is absolute sample samples_begin_.
  std::vector<float> samples_;
  int64_t samples_begin_ = 0;
  int64_t num_samples_ = 0;
  bool finished_ = false;

  FrameBuffer base_;  // log-mel or MFCC
  FrameBuffer norm_;  // after CMVN (unused in mode none)
  FrameBuffer full_;  // with deltas (unused when order is 0)
  FrameBuffer* normalized_ = nullptr;        // &base_ or &norm_
  FrameBuffer* out_ = nullptr;               // the last stage
  CmvnStats sliding_;
  int64_t sliding_begin_ = 0;                // first frame inside the sliding window
  std::vector<char> zero_frame_;             // cmvn.skip_digital_silence: per base frame from base_.Begin(),
                                             // whether its samples were all 0

  std::vector<float> raw_;
  std::vector<double> prepared_;
};

// Whole-input convenience: frames x Dim(), row-major.
struct FeatureMatrix {
  int64_t num_frames = 0;
  int dim = 0;
  std::vector<float> data;
  std::span<const float> Row(int64_t t) const {
    return {data.data() + t * dim, static_cast<size_t>(dim)};
  }
};
FeatureMatrix ComputeFeatures(const FeatureConfig& config, std::span<const float> samples,
                              std::shared_ptr<const CmvnStats> global_stats = nullptr);

}  // namespace ossicle
