// Decoding a CTC model's frame log-probabilities into text: greedy (best path) and prefix beam search,
// both streaming.
//
//   ossicle::CtcGreedyDecoder greedy({}, model->Labels(), 0.010);
//   greedy.AcceptFrames(chunk, first_frame);             // any chunking gives the same result
//   ossicle::Transcript t = greedy.InputFinished();       // t.text, t.tokens (times), t.confidence
//
//   ossicle::CtcBeamConfig beam_config;
//   beam_config.beam_width = 16;
//   beam_config.word_list_file = "words.txt";             // optional: only these words can be output
//   ossicle::CtcBeamDecoder beam(beam_config, model->Labels(), 0.010);
//
// Tokens: the model's labels in column order. `blank_index` is the CTC blank. A token that is " " or
// equal to `word_separator` separates words; a token starting with U+2581 (SentencePiece's word marker)
// starts a new word. Every other token is text, appended as is.
// Text: the tokens of the decoded label sequence concatenated, separators as single spaces, no leading
// or trailing space, runs of separators collapsed.
// Times: frame f (absolute index since the last Reset()) covers [f * D, (f + 1) * D), D = frame_shift_s.
// A token's start_s is the start of the first frame it is emitted on and end_s the end of the last frame
// of that run (for the beam decoder: along the most probable alignment of its hypothesis). A word spans
// its first token's start to its last token's end. Separators are not in `tokens`.
// Gaps: a chunk may start later than where the previous one ended; the missing frames count as blank
// (a token's run never spans a gap) and are not part of the confidence.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "models/tensor-types.h"

namespace ossicle {

struct TokenTime {
  std::string token;  // the token's text (a word for Transcript::words)
  double start_s = 0.0;
  double end_s = 0.0;
};

struct Transcript {
  std::string text;
  std::vector<TokenTime> tokens;  // every non-blank, non-separator token of the label sequence
  std::vector<TokenTime> words;   // the words of `text`, with times
  // Greedy: exp(mean over frames of the best path's log-probability), i.e. the geometric mean of the
  // per-frame maximum posteriors. Beam: exp(log P / T), where log P is the hypothesis' score (sum over
  // the alignments kept in the beam, or the best alignment when path_score = max) and T the frames
  // decoded; so both are per-frame geometric means in [0, 1]. 0 when no frame was decoded.
  double confidence = 0.0;
};

struct CtcGreedyConfig {
  int blank_index = 0;
  std::string word_separator = "|";

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"blank_index", "", "column of the CTC blank"}, self.blank_index);
    v(FieldInfo{"word_separator", "", "token that separates words (a \" \" token always does)"},
      self.word_separator);
  }
  // ConfigError naming the field ("ctc_greedy.blank_index = -1; expected >= 0").
  void Validate(std::string_view path = "ctc_greedy") const;
  std::string ToString() const { return ConfigToString(*this); }
};

// Greedy (best path) decoding: the most probable label per frame, repeats merged, blanks removed.
class CtcGreedyDecoder {
 public:
  // Throws ConfigError when blank_index is not a column of `tokens`; frame_shift_s > 0.
  CtcGreedyDecoder(const CtcGreedyConfig& config, std::vector<std::string> tokens, double frame_shift_s,
                   std::string_view path = "ctc_greedy");
  ~CtcGreedyDecoder();
  CtcGreedyDecoder(CtcGreedyDecoder&&) noexcept;
  CtcGreedyDecoder& operator=(CtcGreedyDecoder&&) noexcept;

  // Throws ModelFormatError for a column count other than the token count or a NaN value;
  // std::invalid_argument when first_frame < NumFramesAccepted().
  void AcceptFrames(const MatrixF& log_probs, int64_t first_frame);
  // The transcript of the frames so far (a token still being emitted ends at the last frame accepted).
  Transcript Partial() const;
  // The final transcript. The decoder keeps its state until Reset(); more frames continue the transcript.
  Transcript InputFinished();
  void Reset();
  int64_t NumFramesAccepted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

enum class CtcPathScore {
  kSum,  // a prefix' score sums over its alignments (prefix beam search, Hannun et al. 2014)
  kMax,  // a prefix' score is its best alignment (Viterbi beam search; width 1 is greedy decoding)
};
template <>
struct EnumNames<CtcPathScore> {
  static constexpr std::array kValues{std::pair{CtcPathScore::kSum, std::string_view{"sum"}},
                                      std::pair{CtcPathScore::kMax, std::string_view{"max"}}};
};

struct CtcBeamConfig {
  int blank_index = 0;
  std::string word_separator = "|";
  int beam_width = 16;
  CtcPathScore path_score = CtcPathScore::kSum;
  int max_tokens_per_frame = 0;  // only the most probable tokens of a frame extend prefixes; 0 = all
  // Optional file, one word per line (UTF-8, blank lines and lines starting with '#' ignored): the output
  // then consists of these words only (a prefix trie over the words' token spellings constrains every
  // extension, and the final hypothesis must end at a word end). Each word is spelled with the model's
  // tokens by longest match; a word that cannot be spelled is a ConfigError naming file and line.
  std::string word_list_file;
  // The allowed words given inline (so a model's "decoder" metadata can carry them); when not empty it is
  // used instead of word_list_file. Each entry is one word, spelled as above ("word N" in messages).
  std::vector<std::string> words;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"blank_index", "", "column of the CTC blank"}, self.blank_index);
    v(FieldInfo{"word_separator", "", "token that separates words (a \" \" token always does)"},
      self.word_separator);
    v(FieldInfo{"beam_width", "", "hypotheses kept after every frame"}, self.beam_width);
    v(FieldInfo{"path_score", "", "sum over a prefix' alignments, or its best alignment"}, self.path_score);
    v(FieldInfo{"max_tokens_per_frame", "", "only this many most probable tokens per frame extend (0 = all)"},
      self.max_tokens_per_frame);
    v(FieldInfo{"word_list_file", "", "file of allowed words, one per line (empty = any text)"},
      self.word_list_file);
    v(FieldInfo{"words", "", "allowed words given inline (instead of word_list_file; empty = not used)"},
      self.words);
  }
  // ConfigError naming the field ("ctc_beam.beam_width = 0; expected >= 1").
  void Validate(std::string_view path = "ctc_beam") const;
  std::string ToString() const { return ConfigToString(*this); }
};

class CtcBeamDecoder {
 public:
  // Validates the config; reads config.word_list_file unless `words` is given (IoError when it cannot
  // be read; ConfigError "<file>:<line>: word 'x' cannot be spelled with the model's tokens").
  CtcBeamDecoder(const CtcBeamConfig& config, std::vector<std::string> tokens, double frame_shift_s,
                 std::string_view path = "ctc_beam", std::vector<std::string> words = {});
  ~CtcBeamDecoder();
  CtcBeamDecoder(CtcBeamDecoder&&) noexcept;
  CtcBeamDecoder& operator=(CtcBeamDecoder&&) noexcept;

  // Same contract as CtcGreedyDecoder::AcceptFrames.
  void AcceptFrames(const MatrixF& log_probs, int64_t first_frame);
  // The best hypothesis so far; with a word list, the best one that ends at a word end, or when none
  // does, the best one (its last word still being spelled).
  Transcript Partial() const;
  // The best final hypothesis; with a word list, only hypotheses ending at a word end qualify (none:
  // an empty transcript with confidence 0).
  Transcript InputFinished();
  void Reset();
  int64_t NumFramesAccepted() const;

  // The beam after the last frame, best first: text and log P (natural log, the path_score kind).
  std::vector<std::pair<std::string, double>> Hypotheses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
