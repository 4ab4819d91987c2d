#include "features/online-features.h"

#include <algorithm>
#include <limits>

#include "features/errors.h"

namespace ossicle {

namespace {
const FeatureConfig& Validated(const FeatureConfig& config) {
  config.Validate();
  return config;
}
}  // namespace

OnlineFeatureExtractor::OnlineFeatureExtractor(const FeatureConfig& config,
                                               std::shared_ptr<const CmvnStats> global_stats)
    : config_(Validated(config)),
      global_stats_(std::move(global_stats)),
      prep_(config.frame),
      spectral_(config),
      deltas_(config.deltas),
      win_(config.frame.WindowSamples()),
      base_(config.BaseDim()),
      norm_(config.BaseDim()),
      full_(config.Dim()),
      sliding_(config.BaseDim()),
      raw_(static_cast<size_t>(win_)),
      prepared_(static_cast<size_t>(config.frame.FftSize())) {
  if (config_.cmvn.mode == CmvnMode::kGlobal) {
    if (!global_stats_) global_stats_ = std::make_shared<const CmvnStats>(CmvnStats::Load(config_.cmvn.stats_file));
    if (global_stats_->Dim() != config_.BaseDim()) {
      throw ModelFormatError(config_.cmvn.stats_file + ": CMVN statistics have dim " +
                             std::to_string(global_stats_->Dim()) + ", the features have " +
                             std::to_string(config_.BaseDim()));
    }
  }
  normalized_ = config_.cmvn.mode == CmvnMode::kNone ? &base_ : &norm_;
  out_ = config_.deltas.order == 0 ? normalized_ : &full_;
}

double OnlineFeatureExtractor::FrameShiftSeconds() const {
  return config_.frame.ShiftSamples() / config_.frame.sample_rate_hz;
}

void OnlineFeatureExtractor::AcceptWaveform(std::span<const float> samples) {
  if (finished_) throw Error("OnlineFeatureExtractor::AcceptWaveform called after InputFinished");
  samples_.insert(samples_.end(), samples.begin(), samples.end());
  num_samples_ += static_cast<int64_t>(samples.size());
  ComputeBaseFrames();
  Normalize();
  AddDeltas();
}

void OnlineFeatureExtractor::InputFinished() {
  if (finished_) return;
  finished_ = true;
  ComputeBaseFrames();
  Normalize();
  AddDeltas();
}

void OnlineFeatureExtractor::FillRawFrame(int64_t t, std::vector<float>& raw) const {
  const int64_t start = FrameStart(config_.frame, t);
  const int64_t n = num_samples_;
  for (int i = 0; i < win_; ++i) {
    int64_t s = start + i;
    float v = 0.0f;
    if (s >= 0 && s < n) {
      v = Sample(s);
    } else {
      switch (config_.frame.padding) {
        case FramePadding::kSnipEdges:  // whole frames only: never reached
        case FramePadding::kCenterZero: break;
        case FramePadding::kKaldiReflect: {  // s<0 -> -s-1, s>=N -> 2N-1-s, repeated: period 2N
          int64_t m = ((s % (2 * n)) + 2 * n) % (2 * n);
          v = Sample(m >= n ? 2 * n - 1 - m : m);
          break;
        }
        case FramePadding::kCenterReflect: {  // s<0 -> -s, s>=N -> 2N-2-s, repeated: period 2N-2
          if (n == 1) {
            v = Sample(0);
            break;
          }
          int64_t m = ((s % (2 * n - 2)) + 2 * n - 2) % (2 * n - 2);
          v = Sample(m >= n ? 2 * n - 2 - m : m);
          break;
        }
      }
    }
    raw[static_cast<size_t>(i)] = v;
  }
}

void OnlineFeatureExtractor::ComputeBaseFrames() {
  const FrameConfig& fc = config_.frame;
  const int64_t total = finished_ ? NumFrames(fc, num_samples_) : std::numeric_limits<int64_t>::max();
  int64_t t = base_.End();
  for (; t < total; ++t) {
    const int64_t start = FrameStart(fc, t);
    const bool inside = start >= 0 && start + win_ <= num_samples_;
    if (!finished_) {
      // Samples needed: the frame itself, and for a mirrored left edge the sample mirrored farthest.
      const int64_t need_end = start < 0 ? std::max(start + win_, -start + 1) : start + win_;
      if (need_end > num_samples_) break;
    }
    std::span<const float> raw;
    if (inside) {
      raw = {samples_.data() + (start - samples_begin_), static_cast<size_t>(win_)};
    } else {
      FillRawFrame(t, raw_);
      raw = raw_;
    }
    if (config_.cmvn.skip_digital_silence) {
      zero_frame_.push_back(std::ranges::all_of(raw, [](float v) { return v == 0.0f; }) ? 1 : 0);
    }
    prep_.Process(raw, t, prepared_);
    spectral_.Compute(prepared_, base_.Append());
  }
  // Release samples no later frame can touch (a mirrored right edge reaches back at most one window).
  if (!finished_) {
    const int64_t keep_from = std::max<int64_t>(0, FrameStart(fc, t) - win_);
    const int64_t dead = keep_from - samples_begin_;
    if (dead > 0 && (dead >= 65536 || dead * 2 >= static_cast<int64_t>(samples_.size()))) {
      samples_.erase(samples_.begin(), samples_.begin() + dead);
      samples_begin_ = keep_from;
    }
  }
}

void OnlineFeatureExtractor::Normalize() {
  const CmvnConfig& c = config_.cmvn;
  switch (c.mode) {
    case CmvnMode::kNone: return;
    case CmvnMode::kGlobal:
      for (int64_t t = norm_.End(); t < base_.End(); ++t) {
        std::span<float> y = norm_.Append();
        std::ranges::copy(base_.Frame(t), y.begin());
        global_stats_->Apply(c.normalize_variance, y);
      }
      base_.ReleaseBefore(norm_.End());
      return;
    case CmvnMode::kSliding:
      for (int64_t t = norm_.End(); t < base_.End(); ++t) {
        sliding_.Add(base_.Frame(t));
        if (t - sliding_begin_ + 1 > c.window_frames) {
          sliding_.Remove(base_.Frame(sliding_begin_));
          ++sliding_begin_;
        }
        std::span<float> y = norm_.Append();
        std::ranges::copy(base_.Frame(t), y.begin());
        sliding_.Apply(c.normalize_variance, y);
      }
      base_.ReleaseBefore(sliding_begin_);
      return;
    case CmvnMode::kUtterance:
      if (!finished_ || norm_.End() == base_.End()) return;
      CmvnStats stats(config_.BaseDim());
      if (c.skip_digital_silence) {
        for (int64_t t = base_.Begin(); t < base_.End(); ++t) {
          if (!zero_frame_[static_cast<size_t>(t - base_.Begin())]) stats.Add(base_.Frame(t));
        }
        zero_frame_.clear();
      }
      if (stats.Count() == 0) {
        for (int64_t t = base_.Begin(); t < base_.End(); ++t) stats.Add(base_.Frame(t));
      }
      for (int64_t t = base_.Begin(); t < base_.End(); ++t) {
        std::span<float> y = norm_.Append();
        std::ranges::copy(base_.Frame(t), y.begin());
        stats.Apply(c.normalize_variance, y);
      }
      base_.ReleaseBefore(base_.End());
      return;
  }
}

void OnlineFeatureExtractor::AddDeltas() {
  if (config_.deltas.order == 0) return;
  const int ctx = deltas_.Context();
  const int64_t available = normalized_->End();
  const int64_t total = finished_ ? available : std::numeric_limits<int64_t>::max();
  const int dim = config_.BaseDim();
  for (int64_t t = full_.End(); t < available; ++t) {
    if (!finished_ && t + ctx >= available) break;
    deltas_.Compute(t, total, dim, [&](int64_t s) { return normalized_->Frame(s); }, full_.Append());
  }
  // The next frame needs normalized frames from full_.End() - ctx on.
  const int64_t keep_from = full_.End() - ctx;
  if (normalized_ == &base_) {
    base_.ReleaseBefore(keep_from);
  } else {
    norm_.ReleaseBefore(keep_from);
  }
}

void OnlineFeatureExtractor::ReleaseFramesBefore(int64_t t) { out_->ReleaseBefore(t); }

void OnlineFeatureExtractor::Reset() {
  samples_.clear();
  samples_begin_ = 0;
  num_samples_ = 0;
  finished_ = false;
  base_.Clear();
  norm_.Clear();
  full_.Clear();
  sliding_ = CmvnStats(config_.BaseDim());
  sliding_begin_ = 0;
  zero_frame_.clear();
}

FeatureMatrix ComputeFeatures(const FeatureConfig& config, std::span<const float> samples,
                              std::shared_ptr<const CmvnStats> global_stats) {
  OnlineFeatureExtractor ex(config, std::move(global_stats));
  ex.AcceptWaveform(samples);
  ex.InputFinished();
  FeatureMatrix m;
  m.num_frames = ex.NumFramesReady();
  m.dim = ex.Dim();
  std::span<const float> all = ex.FramesFrom(0);
  m.data.assign(all.begin(), all.end());
  return m;
}

}  // namespace ossicle
