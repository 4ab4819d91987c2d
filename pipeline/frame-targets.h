// Frame-level targets of a class-labelled clip for a frame head (training.frame_targets), and the clip
// decision that matches them. The contract with the streaming keyword spotter (decoder.keywords): a keyword
// is where the speech is, the rest of a keyword clip is silence.
//
//   ossicle::FrameTargetRule rule = ossicle::FrameTargetRule::ForLabels(labels, FrameTargets::kSpeech, -1);
//   rule.Fill(features.middleRows(row0, len), label, targets_of_this_clip);   // len values
//   Eigen::Index decided = rule.Decide(log_probs.middleRows(row0, len));
//
// kClip: every frame carries the clip's label; the clip is decided by its summed frame log-probabilities.
// kSpeech: filler clips (labels starting with '_' or '<') keep their label on every frame. For a keyword
// clip each frame's level is the mean of its feature values (after CMVN: relative loudness); with lo the
// 10th and hi the 95th percentile of the clip's levels (nearest rank), a frame is
//   speech  if level >= lo + kSpeechFraction (0.5) * (hi - lo)       -> the clip's label
//   quiet   if level <= lo + kQuietFraction (0.25) * (hi - lo)       -> "_silence_" if that label exists,
//                                                                       else ignore_index
//   between otherwise                                                -> ignore_index (onsets, fades)
// A clip with hi - lo < kMinLevelRange (flat: all speech or all noise) carries its label on every frame.
// Frames known to be digital silence (zeros the augmentation added at the clip's start and end: Fill's
// zero_start, zero_end) are quiet in a keyword clip and stay out of lo and hi, so that a padded clip's noise
// floor is not taken for speech.
// Decision (kSpeech): the keyword with the largest frame log-probability if that posterior reaches 0.5,
// else the filler with the largest summed log-probability (the best keyword when there is no filler).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "models/tensor-types.h"
#include "pipeline/experiment-config.h"

namespace ossicle {

class FrameTargetRule {
 public:
  static constexpr float kSpeechFraction = 0.5f;
  static constexpr float kQuietFraction = 0.25f;
  static constexpr float kMinLevelRange = 0.25f;

  // `labels`: the experiment's class names in output order.
  static FrameTargetRule ForLabels(const std::vector<std::string>& labels, FrameTargets mode, int32_t ignore_index);

  // Writes the targets of one clip (features: its `len` rows, [len, dim]) into `out` (len values). Its first
  // zero_start and last zero_end frames are digital silence (see above; clamped to the clip).
  void Fill(const Eigen::Ref<const MatrixF>& features, int32_t label, std::span<int32_t> out,
            int64_t zero_start = 0, int64_t zero_end = 0) const;
  // The decided class of one clip from its frame log-probabilities [len, classes] (len > 0).
  Eigen::Index Decide(const Eigen::Ref<const MatrixF>& log_probs) const;

  FrameTargets Mode() const { return mode_; }
  int32_t SilenceLabel() const { return silence_; }

 private:
  FrameTargets mode_ = FrameTargets::kClip;
  int32_t ignore_index_ = -1;
  int32_t silence_ = -1;          // index of "_silence_", or -1
  std::vector<bool> is_filler_;   // per class
};

}  // namespace ossicle
