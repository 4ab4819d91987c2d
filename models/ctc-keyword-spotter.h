// Keywords given as text, spotted with a CTC model's frame log-probabilities (no retraining), streaming.
//
//   ossicle::CtcKeywordSpotterConfig config;
//   config.keywords = "yes,no,go left";
//   ossicle::CtcKeywordSpotter spotter(config, model->Labels(), 0.010);
//   hits = spotter.AcceptFrames(chunk, first_frame);  ...  hits = spotter.InputFinished();
//
// Each keyword is spelled with the model's tokens (longest match; a space becomes the word separator
// token when the model has one, and is dropped otherwise), giving y_1..y_L.
// Score of a window of frames [s, e]: the CTC probability P(y | frames s..e) that the window, read alone,
// is exactly the keyword, with the window starting on y_1's first frame and ending on a frame of y_L (no
// leading or trailing blanks: the window is tight around the keyword; blanks and repeats in between as in
// CTC). It is the CTC forward sum over every alignment, computed for every start s at once (one forward
// pass per start frame, advanced frame by frame). The keyword's confidence at end frame e is
//   c_e = exp( max over s in [e - max_frames + 1, e - min_frames + 1] of log P(y | s..e) / L ),
// the per-token geometric mean probability of the best window ending at e, in [0, 1]. Normalising by the
// token count L (not the frame count) keeps one missing token from being diluted by many blank frames.
// Events, peak, suppression: as in KwsDecoder (models/kws-decoder.h): a run of frames with
// c_e >= threshold is one event; its score is the largest c_e, and the hit spans that window:
// start_s = s * D, end_s = (e + 1) * D. It is emitted when the run ends (the first frame below the
// threshold, a gap, or InputFinished()). Suppression counts from the previous hit's trigger (the first
// frame of its run), as in KwsDecoder.
// Exact under any chunking. Cost per frame and keyword: O(max_frames * 2L).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"
#include "models/keyword-hit.h"
#include "models/kws-decoder.h"
#include "models/tensor-types.h"

namespace ossicle {

struct CtcKeywordSpotterConfig {
  std::string keywords;  // comma-separated keyword texts, e.g. "yes,no,go left"
  double threshold = 0.5;
  std::string keyword_thresholds;  // per-keyword overrides: "yes=0.7,go left=0.4"
  int blank_index = 0;
  std::string word_separator = "|";
  double min_duration_ms = 0.0;     // shortest window scored
  double max_duration_ms = 2000.0;  // longest window scored (bounds memory and time)
  double suppression_ms = 1000.0;
  SuppressionScope suppression_scope = SuppressionScope::kKeyword;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"keywords", "", "comma-separated keyword texts"}, self.keywords);
    v(FieldInfo{"threshold", "", "per-token geometric mean probability needed for a hit, in (0, 1]"},
      self.threshold);
    v(FieldInfo{"keyword_thresholds", "", "per-keyword thresholds overriding threshold: yes=0.7"},
      self.keyword_thresholds);
    v(FieldInfo{"blank_index", "", "column of the CTC blank"}, self.blank_index);
    v(FieldInfo{"word_separator", "", "token that separates words (a \" \" token always does)"},
      self.word_separator);
    v(FieldInfo{"min_duration_ms", "ms", "shortest window scored"}, self.min_duration_ms);
    v(FieldInfo{"max_duration_ms", "ms", "longest window scored"}, self.max_duration_ms);
    v(FieldInfo{"suppression_ms", "ms", "no new hit may trigger this long after a hit triggered"},
      self.suppression_ms);
    v(FieldInfo{"suppression_scope", "", "a hit suppresses the same keyword or all keywords"},
      self.suppression_scope);
  }
  // ConfigError naming the field ("ctc_keywords.keywords = \"\"; expected at least one keyword").
  void Validate(std::string_view path = "ctc_keywords") const;
  std::string ToString() const { return ConfigToString(*this); }
};

class CtcKeywordSpotter {
 public:
  // Throws ConfigError for a keyword that cannot be spelled with `tokens`, a threshold for an unknown
  // keyword, or a blank_index outside the tokens.
  CtcKeywordSpotter(const CtcKeywordSpotterConfig& config, std::vector<std::string> tokens,
                    double frame_shift_s, std::string_view path = "ctc_keywords");
  ~CtcKeywordSpotter();
  CtcKeywordSpotter(CtcKeywordSpotter&&) noexcept;
  CtcKeywordSpotter& operator=(CtcKeywordSpotter&&) noexcept;

  // Same contract as KwsDecoder::AcceptFrames.
  std::vector<KeywordHit> AcceptFrames(const MatrixF& log_probs, int64_t first_frame);
  std::vector<KeywordHit> InputFinished();
  void Reset();
  int64_t NumFramesAccepted() const;

  const std::vector<std::string>& Keywords() const;
  // The token ids each keyword is spelled with.
  const std::vector<std::vector<int>>& KeywordTokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
