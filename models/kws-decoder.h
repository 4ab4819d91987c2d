// Keyword spotting from a frame classifier's posteriors (Chen, Parada and Heigold 2014, "Small-footprint
// keyword spotting using deep neural networks", section 2.3), streaming.
//
//   ossicle::KwsDecoderConfig config;           // keywords: every label that is not a filler
//   config.threshold = 0.6;
//   ossicle::KwsDecoder kws(config, model->Labels(), 0.010);
//   for (each chunk of log-probabilities [frames, labels] starting at absolute frame f)
//     for (const KeywordHit& hit : kws.AcceptFrames(chunk, f)) ...;
//   for (const KeywordHit& hit : kws.InputFinished()) ...;
//
// Definitions (frame shift D seconds; w_s = smoothing frames, w_m = window frames, both
// max(1, round(ms / (1000 D)))); theta_K = the keyword's threshold; f = span_fraction):
//   p_j,u   = exp(log_probs(j, u)), the posterior of label u at frame j.
//   p'_j,u  = mean of p_i,u over i in [max(h, j - w_s + 1), j]   (h = first frame of the contiguous input)
//   c_j(K)  = ( prod over K's n units u of  max_{k in [max(h, j - w_m + 1), j]} p'_k,u )^(1/n)
//             For a whole-word class (n = 1) this is the largest smoothed posterior in the window.
//   Event:  a maximal run of frames with c_j(K) >= theta_K. Its trigger is the run's first frame. It ends
//           at the first frame with c_j(K) < theta_K, at a gap in the input or InputFinished(), or when
//           it has lasted max_event_ms (the rest of that run is then ignored).
//   Score:  the largest c_j(K) in the run; the peak P is the first frame that reaches it.
//   Span:   for each unit u, m_u = the first frame of P's window [P - w_m + 1, P] where p'_u is largest.
//           From m_u the run of frames with p'_u >= f * theta_K is followed left and right, giving [a, b];
//           the unit's span runs from the first to the last frame in [a - w_s + 1, b] whose *raw*
//           posterior p_u >= f * theta_K (the smoothed run finds the region without breaking at single-
//           frame dips; the raw posteriors place the edges without the smoothing delay). The hit spans
//           the union of its units' spans: start_s = first * D, end_s = (last + 1) * D. Searches never
//           reach before trigger - (w_m + 2 w_s) frames nor past the frame that ended the event.
//   Minimum duration: an event whose span is shorter than min_duration_ms gives no hit (and does not
//           start a suppression).
//   Suppression: an event whose trigger lies within suppression_ms after the trigger of the previous hit
//           of the same keyword (suppression_scope = keyword) or of any keyword (all) gives no hit.
// Hits are emitted when their event ends, so a whole-word hit arrives about window_ms after the keyword's
// posteriors fall below the threshold. Everything is decided frame by frame from a bounded history, so
// any chunking of the input gives exactly the same hits. Memory: O(window + smoothing + max_event frames)
// per keyword.
//
// Input: log-probabilities (e.g. ModelOutput::log_probs), one row per frame, one column per label.
// Rows must arrive in order; a chunk may start later than where the previous one ended (a gap, e.g.
// frames skipped by a voice activity detector): a pending event is then finished and smoothing restarts.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "models/keyword-hit.h"
#include "models/tensor-types.h"

namespace ossicle {

enum class SuppressionScope {
  kKeyword,  // a hit suppresses later hits of the same keyword only
  kAll,      // a hit suppresses hits of every keyword (tflite-micro RecognizeCommands)
};
template <>
struct EnumNames<SuppressionScope> {
  static constexpr std::array kValues{std::pair{SuppressionScope::kKeyword, std::string_view{"keyword"}},
                                      std::pair{SuppressionScope::kAll, std::string_view{"all"}}};
};

struct KwsDecoderConfig {
  // Comma-separated keywords. Each is a label name ("yes"), or "name=unit+unit+..." for a keyword made
  // of several sub-unit labels (Chen et al.'s "okay google" = okay + google). Empty: every label that is
  // not a filler label is a whole-word keyword.
  std::string keywords;
  // Labels that are never keywords (silence, unknown, CTC blank, filler); case-sensitive, comma-separated.
  std::string filler_labels = "_silence_,_unknown_,_background_noise_,<blank>,<sil>,<unk>,filler,silence,unknown";
  // Chen et al. use w_smooth = 30 and w_max = 100 frames for sub-word units; the defaults are shorter
  // because a whole-word class is high for about the length of the word: 100 ms smoothing still lets a
  // 200 ms word reach its full height.
  double smoothing_ms = 100.0;
  double window_ms = 500.0;
  double threshold = 0.5;  // one sensitivity for every keyword, in (0, 1]
  // Per-keyword thresholds that override `threshold`: "yes=0.7,no=0.6".
  std::string keyword_thresholds;
  double min_duration_ms = 50.0;
  double suppression_ms = 1000.0;
  SuppressionScope suppression_scope = SuppressionScope::kKeyword;
  double span_fraction = 0.5;  // span edges where the posterior falls below this fraction of the threshold
  double max_event_ms = 5000.0;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"keywords", "",
                "comma-separated keyword labels, or name=unit+unit for multi-unit keywords (empty = every "
                "non-filler label)"},
      self.keywords);
    v(FieldInfo{"filler_labels", "", "comma-separated labels that are never keywords"}, self.filler_labels);
    v(FieldInfo{"smoothing_ms", "ms", "posteriors are averaged over this trailing window"}, self.smoothing_ms);
    v(FieldInfo{"window_ms", "ms", "confidence window: each unit's best smoothed posterior within it"},
      self.window_ms);
    v(FieldInfo{"threshold", "", "confidence needed for a hit, in (0, 1]"}, self.threshold);
    v(FieldInfo{"keyword_thresholds", "", "per-keyword thresholds overriding threshold: yes=0.7,no=0.6"},
      self.keyword_thresholds);
    v(FieldInfo{"min_duration_ms", "ms", "hits whose span is shorter are dropped"}, self.min_duration_ms);
    v(FieldInfo{"suppression_ms", "ms", "no new hit may trigger this long after a hit triggered"},
      self.suppression_ms);
    v(FieldInfo{"suppression_scope", "", "a hit suppresses the same keyword or all keywords"},
      self.suppression_scope);
    v(FieldInfo{"span_fraction", "", "hit span edges: posterior >= span_fraction * threshold, in (0, 1]"},
      self.span_fraction);
    v(FieldInfo{"max_event_ms", "ms", "a longer run above the threshold is emitted at this length"},
      self.max_event_ms);
  }

  // ConfigError naming the field: "kws.threshold = 0; expected in (0, 1]". Checks numbers and the syntax
  // of the lists; label names are checked by KwsDecoder's constructor.
  void Validate(std::string_view path = "kws") const;
  std::string ToString() const { return ConfigToString(*this); }
};

class KwsDecoder {
 public:
  // `labels` are the model's output labels (column order); `frame_shift_s` > 0. Validates the config and
  // throws ConfigError (prefixed with `path`) for a keyword or unit that is not a label, a filler used as
  // a keyword, a threshold for an unknown keyword, or no keyword at all.
  KwsDecoder(const KwsDecoderConfig& config, std::vector<std::string> labels, double frame_shift_s,
             std::string_view path = "kws");
  ~KwsDecoder();
  KwsDecoder(KwsDecoder&&) noexcept;
  KwsDecoder& operator=(KwsDecoder&&) noexcept;

  // Rows of `log_probs` are frames first_frame, first_frame + 1, ...; columns are the labels. Returns the
  // hits whose events ended within these frames, in order of their end (ties: keyword order).
  // Throws ModelFormatError when the column count differs from the labels or a value is NaN or > 0.01
  // (not a log-probability); std::invalid_argument when first_frame < NumFramesAccepted().
  std::vector<KeywordHit> AcceptFrames(const MatrixF& log_probs, int64_t first_frame);
  // Ends the input: finishes pending events. The decoder then accepts frames again (after a gap).
  std::vector<KeywordHit> InputFinished();
  // Back to the state after construction (frame 0, no history, no suppression).
  void Reset();

  // The next frame index expected (one past the last frame accepted).
  int64_t NumFramesAccepted() const;
  // Keyword names in configuration order, and each one's threshold.
  const std::vector<std::string>& Keywords() const;
  double Threshold(size_t keyword) const;
  double FrameShiftSeconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
