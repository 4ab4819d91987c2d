// Pieces shared by the decoders over frame posteriors (kws-decoder, ctc-decoder, ctc-keyword-spotter):
// comma-separated lists in configs, the CTC token set (blank, word separators, spelling text with
// tokens), checks on incoming log-probability chunks, and the threshold-run / suppression bookkeeping of
// the keyword spotters. Internal to models/, but plain enough to be used on its own.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "models/kws-decoder.h"
#include "models/tensor-types.h"

namespace ossicle {

// log(0), the score of an impossible path.
inline constexpr double kNegInf = -std::numeric_limits<double>::infinity();
// U+2581 LOWER ONE EIGHTH BLOCK in UTF-8: SentencePiece's word-start marker.
inline constexpr std::string_view kWordMarker = "\xE2\x96\x81";
// A token that starts a word: U+2581 followed by at least one more character.
inline bool StartsWithWordMarker(std::string_view token) {
  return token.size() > kWordMarker.size() && token.substr(0, kWordMarker.size()) == kWordMarker;
}

// "a, b ,c" -> {"a", "b", "c"}: split at `separator`, surrounding spaces and tabs trimmed. An empty or
// all-blank text gives no items; an empty item between separators is kept (as "") so callers can refuse it.
std::vector<std::string> SplitList(std::string_view text, char separator = ',');

// Surrounding spaces and tabs removed.
std::string Trimmed(std::string_view text);

// "yes=0.7, no=0.6" -> {{"yes", 0.7}, {"no", 0.6}}. Throws ConfigError "<path>.<field> = ...; expected
// name=value pairs with values in (0, 1]" for a malformed item, a value outside (0, 1] or a repeated name.
std::vector<std::pair<std::string, double>> ParseThresholds(std::string_view text, std::string_view path,
                                                            std::string_view field);

// Joins a path and a field name: ("kws", "threshold") -> "kws.threshold".
std::string JoinPath(std::string_view path, std::string_view field);

// Frames covering `ms` at `frame_shift_s`: max(minimum, round(ms / (1000 * frame_shift_s))).
int64_t FramesFromMs(double ms, double frame_shift_s, int64_t minimum);

// The labels of a CTC model seen as text.
class CtcTokenSet {
 public:
  // Throws ConfigError "<path>.blank_index = 5; expected < 5 (the number of tokens)".
  CtcTokenSet(std::vector<std::string> tokens, int blank_index, const std::string& word_separator,
              std::string_view path);

  int Size() const { return static_cast<int>(tokens_.size()); }
  int Blank() const { return blank_; }
  const std::string& Token(int id) const { return tokens_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& Tokens() const { return tokens_; }
  // " " or the configured word separator.
  bool IsSeparator(int id) const { return separator_[static_cast<size_t>(id)] != 0; }
  // Starts with U+2581 (SentencePiece's word marker).
  bool StartsWord(int id) const { return starts_word_[static_cast<size_t>(id)] != 0; }
  bool HasSeparator() const { return first_separator_ >= 0; }
  bool HasWordMarkers() const { return has_word_markers_; }
  // The first separator token, -1 when there is none.
  int FirstSeparator() const { return first_separator_; }

  // Spells one word (no spaces) with the tokens by greedy longest match, blank and separators excluded;
  // with word-marker tokens, the word is spelled as U+2581 + word. nullopt when impossible.
  std::optional<std::vector<int>> SpellWord(std::string_view word) const;
  // Spells a text: words separated by spaces, a separator token between words when the set has one.
  std::optional<std::vector<int>> SpellText(std::string_view text) const;

 private:
  std::vector<std::string> tokens_;
  int blank_ = 0;
  std::vector<char> separator_;
  std::vector<char> starts_word_;
  int first_separator_ = -1;
  bool has_word_markers_ = false;
};

// Checks a chunk of log-probabilities before a decoder uses it. Throws ModelFormatError
// "<what>: log-probabilities have 7 columns; expected 12 (the labels)" or "...: frame 1234, column 3 is
// NaN; expected log-probabilities (finite or -inf, <= 0)" (values above 0.01 are refused as well), and
// std::invalid_argument when first_frame < next_frame (frames must arrive in order).
void CheckLogProbChunk(const MatrixF& log_probs, int64_t first_frame, int64_t next_frame, int64_t num_labels,
                       std::string_view what);

// One keyword's run of frames whose score is at or above its threshold (see kws-decoder.h, "Event").
struct ScoreRun {
  bool active = false;
  bool consumed = false;  // cut at the maximum length: ignore frames until the score falls
  int64_t trigger = 0;    // first frame of the run
  int64_t peak = 0;       // first frame with the best score
  double peak_score = 0.0;
  int64_t span_start = 0;  // decoder-specific span of the peak (frames, inclusive start, exclusive end)
  int64_t span_end = 0;
};

// Which hits are suppressed: a hit whose trigger lies in [t, t + frames) after the trigger t of an
// earlier emitted hit of the same keyword (kKeyword) or of any keyword (kAll).
class HitSuppression {
 public:
  HitSuppression(SuppressionScope scope, int64_t frames, size_t num_keywords);
  bool Suppressed(size_t keyword, int64_t trigger) const;
  void Record(size_t keyword, int64_t trigger);
  void Reset();

 private:
  SuppressionScope scope_;
  int64_t frames_;
  std::vector<std::optional<int64_t>> last_;
  std::optional<int64_t> last_any_;
};

// log(exp(a) + exp(b)) without overflow; -inf when both are -inf.
double LogAddExp(double a, double b);

}  // namespace ossicle
