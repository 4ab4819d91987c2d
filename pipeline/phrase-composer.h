// Short continuous phrases ("three seven go left") composed from recordings of isolated words, for training
// and evaluating a CTC transcriber (`ossicle phrases`, configs/experiments/transcriber.yaml).
//
//   ossicle::PhraseComposerConfig config;
//   config.vocabulary = {"zero", "one", ..., "go"};
//   config.manifests = {"../shared/data/fsdd/dev.tsv", "../shared/data/speech-commands/dev.tsv"};
//   config.word_columns = {"transcript", "word"};
//   ossicle::PhraseComposer composer(config);              // reads, resamples and trims every clip once
//   ossicle::ComposedPhrase p = composer.Compose(17);      // phrase 17 of this seed: samples + transcript
//   ossicle::WritePhrases(composer, "runs/phrases-dev");   // num_phrases WAVs wav/000000.wav ... + manifest.tsv
//
// A phrase: n words (uniform in [min_words, max_words]); each word uniform over the vocabulary, then its clip
// by source_choice: `even` (the default) picks one of the manifests (sources) that have the word (uniform,
// so a source with few clips of a word is heard as often as a large one), then one of that source's clips
// of the word (uniform); `clips` picks one of all the word's clips (uniform), so each source in proportion
// to its clips, which suits dev sets (a source with 2 clips of a word would otherwise supply half of its
// occurrences from those 2 clips). Every clip is resampled to sample_rate_hz and
// trimmed to its speech once, when the composer is built: 10 ms frames, E_f = 10 log10(mean x^2) dB, the
// clip is cut to [first, last] frame with E_f >= (loudest frame - trim_below_peak_db), widened by
// trim_pad_ms on each side (within the clip), with 5 ms linear fades at both ends. In a phrase each word is
// scaled to an RMS level drawn from level_dbfs and the words are joined as
//   edge silence | word 1 | pause | word 2 | ... | word n | edge silence
// with pauses drawn from pause_ms and the two edges from edge_ms. Then a noise floor (white noise at a level
// drawn from floor_dbfs) is added everywhere, and with probability noise.probability white or pink noise
// (even odds) at an SNR drawn from noise.snr_db (against the power of the whole phrase). Samples are clipped
// to [-1, 1]. The transcript is the words joined by single spaces.
//
// Synthetic words (synthetic.examples_per_text > 0): every vocabulary word (or synthetic.texts) is spoken by
// the speech engines (pipeline/speech-synth.h, its cache) and the clips form one more source, "synthetic".
//
// Determinism: phrase i is a pure function of (config, the sources' audio, i): its generator is seeded by
// (seed, i) alone, so Compose(i) does not depend on which phrases were composed before or on threads.
//
// Errors: a source manifest that cannot be read, lacks the word column or has a malformed line throws the
// manifest reader's error ("<file>:<line>: ..."); an audio file that cannot be read throws AudioError
// starting with "<manifest>:<line>:"; a vocabulary word without any clip, or a vocabulary word that is not
// one word, is a ConfigError naming it; every config rule is a ConfigError naming its field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"
#include "pipeline/augmentation.h"
#include "pipeline/config-yaml.h"
#include "pipeline/training-data.h"

namespace ossicle {

struct PhraseNoiseConfig {
  double probability = 0.0;       // phrases that get white or pink noise
  UniformRange snr_db{10.0, 30.0};

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"probability", "", "share of phrases with white or pink noise added"}, self.probability);
    v(FieldInfo{"snr_db", "dB", "signal-to-noise ratio range of that noise"}, self.snr_db);
  }
};

// How a phrase's word picks its clip among the sources (manifests, synthetic) that have the word.
enum class SourceChoice {
  kEven,   // a source first (even odds), then one of its clips: a source with few clips of a word is heard
           // as often as a large one (training: every voice family gets its share)
  kClips,  // one of all the word's clips, every clip at even odds: each source in proportion to its clips
           // (evaluation: no single clip of a small source is heard dozens of times)
};
template <>
struct EnumNames<SourceChoice> {
  static constexpr std::array kValues{std::pair{SourceChoice::kEven, std::string_view{"even"}},
                                      std::pair{SourceChoice::kClips, std::string_view{"clips"}}};
};

struct PhraseComposerConfig {
  std::vector<std::string> vocabulary;      // the words phrases are made of
  std::vector<std::string> manifests;       // word-level manifests the clips come from
  std::vector<std::string> word_columns = {"word"};  // per manifest, the column naming the clip's word (one
                                                     // entry: the same column in every manifest)
  int64_t num_phrases = 1000;               // phrases WritePhrases writes
  uint64_t seed = 1;
  int min_words = 1;
  int max_words = 4;
  UniformRange pause_ms{50.0, 400.0};       // between two words
  UniformRange edge_ms{100.0, 300.0};       // before the first and after the last word
  double sample_rate_hz = 8000.0;
  double trim_below_peak_db = 35.0;         // frames this far below the loudest are trimmed at the ends
  double trim_pad_ms = 40.0;                // kept around the speech
  UniformRange level_dbfs{-28.0, -16.0};    // RMS level of each word
  UniformRange floor_dbfs{-75.0, -55.0};    // white noise floor everywhere
  PhraseNoiseConfig noise;
  SyntheticSpeechConfig synthetic;          // synthetic word clips (texts default to the vocabulary)
  SourceChoice source_choice = SourceChoice::kEven;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"vocabulary", "", "words phrases are made of"}, self.vocabulary);
    v(FieldInfo{"manifests", "path", "word-level TSV manifests (clips of other words are skipped)"},
      self.manifests);
    v(FieldInfo{"word_columns", "", "per manifest the column holding the word (one entry: all manifests)"},
      self.word_columns);
    v(FieldInfo{"num_phrases", "", "phrases written by `ossicle phrases`"}, self.num_phrases);
    v(FieldInfo{"seed", "", "phrase i is drawn from a generator seeded by (seed, i)"}, self.seed);
    v(FieldInfo{"min_words", "", "fewest words in a phrase"}, self.min_words);
    v(FieldInfo{"max_words", "", "most words in a phrase"}, self.max_words);
    v(FieldInfo{"pause_ms", "ms", "pause between two words"}, self.pause_ms);
    v(FieldInfo{"edge_ms", "ms", "silence before the first and after the last word"}, self.edge_ms);
    v(FieldInfo{"sample_rate_hz", "Hz", "sample rate of the phrases"}, self.sample_rate_hz);
    v(FieldInfo{"trim_below_peak_db", "dB", "clip ends quieter than the loudest frame by this are trimmed"},
      self.trim_below_peak_db);
    v(FieldInfo{"trim_pad_ms", "ms", "audio kept on each side of the trimmed speech"}, self.trim_pad_ms);
    v(FieldInfo{"level_dbfs", "dB", "RMS level of each word (dB re full scale)"}, self.level_dbfs);
    v(FieldInfo{"floor_dbfs", "dB", "level of the white noise floor under the whole phrase"}, self.floor_dbfs);
    v(FieldInfo{"noise", "", "white or pink noise at a random SNR"}, self.noise);
    v(FieldInfo{"synthetic", "", "synthetic clips of the vocabulary words (one more source)"}, self.synthetic);
    v(FieldInfo{"source_choice", "",
                "how a word picks its clip: even (a source at even odds, then its clip) or clips (any clip of the "
                "word at even odds)"},
      self.source_choice);
  }
  // ConfigError naming the field: vocabulary non-empty, single words without blanks, unique; sources
  // manifests non-empty; word_columns one per manifest (or a single one), none empty; num_phrases in
  // [1, 10^7]; 1 <= min_words <= max_words <= 16; pause_ms, edge_ms in
  // [0, 5000]; sample_rate_hz in [4000, 48000]; trim_below_peak_db in [6, 100]; trim_pad_ms in [0, 500];
  // level_dbfs, floor_dbfs in [-120, 0]; noise.probability in [0, 1]; noise.snr_db in [-20, 60].
  void Validate(std::string_view key_path = "phrases") const;
};

// Reads a composer configuration from a YAML file (the keys of PhraseComposerConfig at the top level; paths
// relative to the file's folder), after applying `overrides` ("key=value", as `--set`), and validates it.
// ConfigError with file:line:column for YAML errors; rule violations start with "<file>: phrases.<field>".
PhraseComposerConfig LoadPhraseComposerConfig(const std::string& yaml_path,
                                              const std::vector<std::string>& overrides = {});

// One row per key, for the generated reference (configs/README.md).
std::vector<ConfigDocRow> PhraseComposerConfigDocs();

// One clip of a word, ready to be joined.
struct WordClip {
  std::string word;
  std::string origin;         // "<manifest>:<line>" or the synthesis spec
  std::vector<float> samples; // trimmed, at the composer's rate
};

struct ComposedPhrase {
  std::vector<float> samples;
  std::string transcript;                  // words joined by single spaces
  std::vector<std::string> words;
  std::vector<std::string> origins;        // per word, the clip it came from
  std::vector<int64_t> word_start;         // per word, first sample
  std::vector<int64_t> word_end;           // per word, one past the last sample
};

// [first, last) sample range of `samples` kept by the trimming rule above (the whole clip when it is
// shorter than one frame).
std::pair<int64_t, int64_t> SpeechBounds(std::span<const float> samples, double sample_rate_hz,
                                         double trim_below_peak_db, double trim_pad_ms);

class PhraseComposer {
 public:
  // Validates, reads every source (and synthesises) and trims the clips. Errors as listed above.
  explicit PhraseComposer(PhraseComposerConfig config, int num_threads = 2);

  const PhraseComposerConfig& Config() const { return config_; }
  // Clips per vocabulary word, summed over sources.
  int64_t NumClips() const;
  int64_t NumClips(std::string_view word) const;

  ComposedPhrase Compose(int64_t index) const;

 private:
  PhraseComposerConfig config_;
  // clips_[word][source] -> clips of that word from that source (sources without the word left out).
  std::vector<std::vector<std::vector<WordClip>>> clips_;
};

// Writes phrases 0..num_phrases-1 as 16-bit WAV files `dir`/wav/NNNNNN.wav and `dir`/manifest.tsv with the
// columns path (relative to dir), transcript, duration_s, origins (the clips, separated by " + ").
// Returns the manifest's path. IoError when something cannot be written.
std::string WritePhrases(const PhraseComposer& composer, const std::string& dir);

}  // namespace ossicle
