#include "pipeline/frame-targets.h"

#include <algorithm>
#include <cmath>

#include "features/errors.h"
#include "pipeline/evaluation.h"

namespace ossicle {

namespace {

// Nearest-rank percentile (p in [0, 1]) of `sorted` (ascending, not empty).
float Percentile(const std::vector<float>& sorted, float p) {
  const auto n = static_cast<float>(sorted.size());
  const auto rank = static_cast<size_t>(std::max(0.0f, std::ceil(p * n) - 1.0f));
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

FrameTargetRule FrameTargetRule::ForLabels(const std::vector<std::string>& labels, FrameTargets mode,
                                           int32_t ignore_index) {
  FrameTargetRule r;
  r.mode_ = mode;
  r.ignore_index_ = ignore_index;
  for (size_t c = 0; c < labels.size(); ++c) {
    r.is_filler_.push_back(IsFillerLabel(labels[c]));
    if (labels[c] == "_silence_") r.silence_ = static_cast<int32_t>(c);
  }
  return r;
}

void FrameTargetRule::Fill(const Eigen::Ref<const MatrixF>& features, int32_t label, std::span<int32_t> out,
                           int64_t zero_start, int64_t zero_end) const {
  const auto len = static_cast<size_t>(features.rows());
  if (out.size() != len) {
    throw std::invalid_argument("FrameTargetRule::Fill: " + std::to_string(out.size()) + " targets for " +
                                std::to_string(len) + " frames");
  }
  std::fill(out.begin(), out.end(), label);
  const bool filler = label >= 0 && static_cast<size_t>(label) < is_filler_.size() && is_filler_[static_cast<size_t>(label)];
  if (mode_ != FrameTargets::kSpeech || filler || len == 0) return;

  // The frames between the digital silence at the edges carry the levels.
  const size_t first = std::min(static_cast<size_t>(std::max<int64_t>(zero_start, 0)), len);
  const size_t last = len - std::min(static_cast<size_t>(std::max<int64_t>(zero_end, 0)), len - first);
  const int32_t quiet = silence_ >= 0 ? silence_ : ignore_index_;
  std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(first), quiet);
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(last), out.end(), quiet);
  if (first == last) return;

  std::vector<float> level(last - first);
  for (size_t t = first; t < last; ++t) level[t - first] = features.row(static_cast<Eigen::Index>(t)).mean();
  std::vector<float> sorted = level;
  std::sort(sorted.begin(), sorted.end());
  const float lo = Percentile(sorted, 0.10f);
  const float hi = Percentile(sorted, 0.95f);
  if (!(hi - lo >= kMinLevelRange)) return;  // flat clip (or NaN): the label everywhere
  const float speech_from = lo + kSpeechFraction * (hi - lo);
  const float quiet_to = lo + kQuietFraction * (hi - lo);
  for (size_t t = first; t < last; ++t) {
    const float l = level[t - first];
    if (l >= speech_from) continue;
    out[t] = l <= quiet_to ? quiet : ignore_index_;
  }
}

Eigen::Index FrameTargetRule::Decide(const Eigen::Ref<const MatrixF>& log_probs) const {
  Eigen::Index best = 0;
  if (log_probs.rows() == 0) return best;
  if (mode_ != FrameTargets::kSpeech) {
    log_probs.colwise().sum().maxCoeff(&best);
    return best;
  }
  Eigen::Index best_keyword = -1, best_filler = -1;
  float keyword_peak = 0, filler_sum = 0;
  for (Eigen::Index c = 0; c < log_probs.cols(); ++c) {
    const bool filler = static_cast<size_t>(c) < is_filler_.size() && is_filler_[static_cast<size_t>(c)];
    if (filler) {
      const float sum = log_probs.col(c).sum();
      if (best_filler < 0 || sum > filler_sum) {
        best_filler = c;
        filler_sum = sum;
      }
    } else {
      const float peak = log_probs.col(c).maxCoeff();
      if (best_keyword < 0 || peak > keyword_peak) {
        best_keyword = c;
        keyword_peak = peak;
      }
    }
  }
  if (best_keyword >= 0 && (best_filler < 0 || keyword_peak >= std::log(0.5f))) return best_keyword;
  return best_filler;
}

}  // namespace ossicle
