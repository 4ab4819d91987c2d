// A keyword spotter from a keyword's spelling alone: the data plan and the training experiment that
// `ossicle keyword-train "jarvis" --out jarvis.safetensors` runs.
//
//   ossicle::KeywordRecipeConfig recipe;
//   recipe.keyword = "jarvis";
//   recipe.negatives = "../shared/data/background/manifest.tsv";    // speech without the keyword
//   ossicle::KeywordDataPlan plan = ossicle::PlanKeywordData(recipe); // sound-alikes, splits, texts
//   ossicle::WriteKeywordData(plan, "runs/kw-jarvis");                // the negative manifests
//   std::string yaml = ossicle::KeywordExperimentYaml(recipe, plan, "runs/kw-jarvis");
//   // -> ossicle::Trainer (pipeline/trainer.h), then calibration (pipeline/keyword-calibration.h)
//
// What the model learns: a frame classifier (bidirectional LSTM, frame head) with the labels
// {<keyword label>, "_unknown_"}. Every frame of a positive clip is the keyword, every frame of a negative
// clip "_unknown_"; decoder.keywords (models/kws-decoder.h) smooths the keyword's posterior and fires
// above a threshold that calibration sets for a target false-alarm rate.
//
// The data:
//   positives   the keyword spoken by every speech engine (pipeline/speech-synth.h): espeak-ng voices and
//               variants, flite, festival, at random rates and pitches, in a few spellings ("jarvis",
//               "Jarvis.", "Jarvis!", "jarvis?") that change the prosody (speaking rates: keyword_rate).
//   sound-alikes  words that share most of the keyword's sounds, spoken the same way and labelled
//               "_unknown_": the keyword with its first consonants replaced ("harvis", "travis"), its
//               syllables alone ("jar", "vis"), and the nearest words of a built-in English word list by
//               spelling ("service", "davis"). Edits of the last consonants ("jarvin", "jarvice") only with
//               `ending_edits: true`: some sound the same as the keyword ("jarvice"), and real speakers
//               often swallow a final consonant, so by default they teach the model to reject the keyword.
//   other words  further words of that list, so that ordinary speech is "_unknown_" too.
//   sentences   strings of 4-9 list words (every third with a sound-alike among them), so that longer
//               synthetic speech is "_unknown_" too (without them the model fired on read sentences).
//   negatives   real speech from a manifest (`negatives`), split by speaker group into a training part
//               and a held-out part; the held-out part is never trained on: calibration and the
//               false-alarm measurement use it. `extra_negatives` are manifests used for training only.
//               Entries whose text columns contain the keyword are dropped.
//   augmentation  speed, time shift, gain, white / pink noise and the training part of the negatives as
//               babble noise at 0-25 dB SNR, SpecAugment masks.
//
// The held-out split (SplitNegatives): entries are grouped by their folder (for "hedgewars/British/x.flac"
// the group is "hedgewars/British"); groups are sorted by name and every second one is held out. A
// group holding more than 15% of the manifest's audio is split entry by entry instead (every second
// entry held out), so no large group lands on one side only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"
#include "pipeline/augmentation.h"
#include "pipeline/experiment-config.h"

namespace ossicle {

struct KeywordRecipeConfig {
  std::string keyword;                 // the spelling to spot, e.g. "jarvis" or "hey computer"
  uint64_t seed = 1;
  int positive_examples = 1200;        // synthetic clips of the keyword
  int sound_alikes = 36;               // sound-alike words (each spoken examples_per_word times)
  bool ending_edits = false;           // sound-alikes may also replace the last consonants ("jarvin")
  int other_words = 40;                // other words from the built-in list
  int sentences = 70;                  // synthetic word strings (4-9 list words, some with a sound-alike)
  int examples_per_word = 6;           // synthetic clips per negative word
  double abrupt_starts = 0.5;          // share of synthetic negatives written without leading silence
  // Training clips passed through a synthetic room (augmentation.reverb); probability 0 = off.
  ReverbAugmentConfig reverb{0.0, {0.2, 0.8}, {0.0, 12.0}};
  // Negatives (every `_unknown_` clip, real and synthetic) cut at their start or end (augmentation.edge_cut),
  // so that a file that starts or ends inside a sound is no keyword; probability 0 = off.
  EdgeCutAugmentConfig edge_cut{0.0, {0.05, 0.3}, "_unknown_"};
  // Training clips (keyword and negatives alike) padded with exact zeros at their start or end
  // (augmentation.digital_silence), as edited or fixed-length files are; probability 0 = off.
  DigitalSilenceAugmentConfig digital_silence{0.0, {0.1, 1.0}};
  std::vector<std::string> engines = {"espeak-ng", "espeak-ng", "flite", "espeak-ng", "festival"};
  UniformRange rate{0.7, 1.3};         // speaking-rate factor of the synthetic negatives
  // Speaking-rate factor of the keyword's synthetic positives. The engines say a word faster than people do
  // (docs/keywords.md, "Results"), but positives slower than the negatives teach the model that slow speech is
  // the keyword (jarvis, two members: 16.7% -> 45.3% misses with 0.5-1.1 here), so the default is the
  // negatives' range.
  UniformRange keyword_rate{0.7, 1.3};
  UniformRange pitch{0.75, 1.35};
  // Speed perturbation of the training clips (data.loader.augmentation.speed.factor, half of the clips).
  UniformRange speed{0.85, 1.15};
  std::string negatives;               // manifest of speech without the keyword (split: train / held out)
  std::vector<std::string> heldout_negatives;  // manifests: when given, calibration uses them and `negatives` is all training
  std::vector<std::string> extra_negatives;  // manifests of speech without the keyword, training only
  int64_t max_extra_negatives = 0;     // keep at most this many extra negatives, evenly spaced (0 = all)
  std::string features_file;           // feature configuration YAML ("" = 40 log-mel bins at 16 kHz, Kaldi)
  int hidden_size = 128;
  int num_layers = 2;
  int epochs = 8;
  int64_t max_steps = 0;               // 0 = no cap
  double learning_rate = 0.003;
  FrameTargets frame_targets = FrameTargets::kSpeech;  // training.frame_targets (pipeline/frame-targets.h)
  int num_threads = 2;
  // Models trained (one after another, seeds seed, seed + 1, ...) and merged into one ensemble that averages
  // their probabilities (models/model-ensemble.h); 1 = one model.
  int members = 1;
  double target_fa_per_hour = 1.0;     // calibration target on the held-out negatives
  // The keyword decoder's posterior smoothing (decoder.keywords smoothing_ms): the threshold is calibrated with
  // it and the model's decoder metadata carries it, so `ossicle spot` and `listen` decode as calibrated.
  // 0 = automatic (KeywordSmoothingMs).
  double smoothing_ms = 0.0;
  std::string cache_dir;               // synthesis cache ("" = <output folder>/tts-cache)

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"keyword", "", "the keyword's spelling"}, self.keyword);
    v(FieldInfo{"seed", "", "seed of synthesis, initialisation and augmentation"}, self.seed);
    v(FieldInfo{"positive_examples", "", "synthetic clips of the keyword"}, self.positive_examples);
    v(FieldInfo{"sound_alikes", "", "sound-alike negative words"}, self.sound_alikes);
    v(FieldInfo{"ending_edits", "", "sound-alikes also replace the keyword's last consonants (\"jarvin\")"},
      self.ending_edits);
    v(FieldInfo{"other_words", "", "other negative words from the built-in list"}, self.other_words);
    v(FieldInfo{"sentences", "", "synthetic negative word strings (4-9 words)"}, self.sentences);
    v(FieldInfo{"examples_per_word", "", "synthetic clips per negative word or sentence"}, self.examples_per_word);
    v(FieldInfo{"abrupt_starts", "", "share of synthetic negatives written without leading silence, in [0, 1]"},
      self.abrupt_starts);
    v(FieldInfo{"reverb", "", "synthetic room for the training clips: data.loader.augmentation.reverb (off by default)"},
      self.reverb);
    v(FieldInfo{"edge_cut", "",
                "negatives cut at their start or end: data.loader.augmentation.edge_cut (off by default)"},
      self.edge_cut);
    v(FieldInfo{"digital_silence", "",
                "training clips padded with exact zeros: data.loader.augmentation.digital_silence (off by default)"},
      self.digital_silence);
    v(FieldInfo{"engines", "", "speech engines taking turns (repeat one to give it a larger share)"},
      self.engines);
    v(FieldInfo{"rate", "", "speaking-rate factor range of the synthetic negatives"}, self.rate);
    v(FieldInfo{"keyword_rate", "", "speaking-rate factor range of the keyword's synthetic positives"},
      self.keyword_rate);
    v(FieldInfo{"pitch", "", "pitch factor range"}, self.pitch);
    v(FieldInfo{"speed", "", "speed perturbation range of the training clips (augmentation.speed.factor)"},
      self.speed);
    v(FieldInfo{"negatives", "path", "manifest of speech without the keyword (split into train / held out)"},
      self.negatives);
    v(FieldInfo{"heldout_negatives", "path",
                "manifests held out for calibration, one or a list (empty = split negatives)"},
      self.heldout_negatives);
    v(FieldInfo{"extra_negatives", "path", "further manifests of speech without the keyword (training only)"},
      self.extra_negatives);
    v(FieldInfo{"max_extra_negatives", "", "at most this many extra negatives, evenly spaced (0 = all)"},
      self.max_extra_negatives);
    v(FieldInfo{"features_file", "path", "feature configuration YAML (empty = Kaldi fbank 40 at 16 kHz)"},
      self.features_file);
    v(FieldInfo{"hidden_size", "", "LSTM units per direction"}, self.hidden_size);
    v(FieldInfo{"num_layers", "", "stacked bidirectional LSTM layers"}, self.num_layers);
    v(FieldInfo{"epochs", "", "passes over the training data"}, self.epochs);
    v(FieldInfo{"max_steps", "steps", "stop after this many steps (0 = no cap)"}, self.max_steps);
    v(FieldInfo{"learning_rate", "", "peak AdamW learning rate"}, self.learning_rate);
    v(FieldInfo{"frame_targets", "",
                "which frames train on the keyword: speech (the loud ones; pipeline/frame-targets.h) or clip (all)"},
      self.frame_targets);
    v(FieldInfo{"num_threads", "", "training threads"}, self.num_threads);
    v(FieldInfo{"members", "",
                "models trained with seeds seed, seed+1, ... and merged into one ensemble (1 = one model)"},
      self.members);
    v(FieldInfo{"target_fa_per_hour", "1/h", "false alarms per hour the threshold is calibrated for"},
      self.target_fa_per_hour);
    v(FieldInfo{"smoothing_ms", "ms",
                "the keyword decoder's posterior smoothing, calibrated with and written to the model's decoder "
                "metadata (0 = 300 for a keyword of two or more syllables, else 100)"},
      self.smoothing_ms);
    v(FieldInfo{"cache_dir", "path", "synthesis cache (empty = <output folder>/tts-cache)"}, self.cache_dir);
  }
  // ConfigError naming the field: keyword has at least two letters (a-z, spaces, apostrophes, hyphens),
  // counts >= 0 (positive_examples and examples_per_word >= 1), epochs >= 1, sizes >= 1, members in [1, 16],
  // target_fa_per_hour > 0, learning_rate > 0, smoothing_ms 0 (automatic) or in (0, 2000].
  void Validate(std::string_view path = "keyword") const;
};

// Syllable-like pieces of the keyword's letters (each vowel run with the consonants before it): "yes" 1,
// "jarvis" 2, "alexa" 3, "hey computer" 4.
int KeywordSyllables(std::string_view keyword);

// The posterior smoothing `keyword-train` calibrates with: recipe.smoothing_ms when > 0, else 300 ms for a
// keyword of two or more syllables (a wake word lasts 0.4-0.8 s; Chen et al. 2014 smooth over 30 frames) and
// the decoder's default 100 ms for one syllable (a 200 ms word must still reach its full height). Measured
// (docs/keywords.md): jarvis 12.0% -> 6.8% misses at 2 false alarms in 161.6 min, alexa 65.3% -> 60.8%; the
// one-syllable commands model lost accuracy with 300 ms (0.908 -> 0.881).
double KeywordSmoothingMs(const KeywordRecipeConfig& recipe);

// Index of the first sample of `audio` whose magnitude reaches `fraction` of its peak (0 for silence): where
// a synthetic negative written with `abrupt_starts` begins.
size_t SpeechOnset(std::span<const float> audio, float fraction);

// Letters only, lower case ("Hey, Computer!" -> "heycomputer"): how keywords, labels and transcripts are
// compared.
std::string KeywordLetters(std::string_view text);

// The keyword's label in the model: lower case, letters kept, runs of other characters -> '_'
// ("Hey Computer!" -> "hey_computer").
std::string KeywordLabel(std::string_view keyword);

// Up to `max_count` distinct lower-case words or word pieces that sound like `keyword` but are not it
// (see the header comment), in a fixed order: onset edits, nearest list words, ending edits (only with
// `ending_edits`) and syllables taken in turn. Never the keyword itself, nothing that contains it, nothing
// shorter than 2 letters, and not the keyword with a vowel cut off its start or end ("alexa" -> "alex", "lexa":
// real speakers swallow such a vowel, so training them as negatives teaches the model to miss the keyword).
std::vector<std::string> SoundAlikes(std::string_view keyword, size_t max_count, bool ending_edits = false);

// `count` words of the built-in list (distinct, seeded order), none of them in `exclude`, none containing
// the keyword or within edit distance 1 of it.
std::vector<std::string> OtherWords(std::string_view keyword, size_t count, const std::vector<std::string>& exclude,
                                    uint64_t seed);

// Levenshtein distance of two byte strings.
size_t EditDistance(std::string_view a, std::string_view b);

// One negative audio file.
struct NegativeClip {
  std::string path;       // absolute or as resolved by the manifest reader
  std::string group;      // speaker group (folder) it was split by
  double duration_s = 0;  // from the manifest's duration_s / duration column, else probed
};

struct NegativeSplit {
  std::vector<NegativeClip> train;
  std::vector<NegativeClip> heldout;
  int64_t dropped = 0;    // entries whose text contained the keyword
  double TrainSeconds() const;
  double HeldoutSeconds() const;
};

// Reads a manifest (column `path`; `transcript`, `label`, `word` or `keyword` columns are searched for the
// keyword; `duration_s` or `duration` used when present) and splits it as described above.
// `heldout` = false puts everything in train (for extra_negatives). ConfigError / IoError naming the file.
NegativeSplit SplitNegatives(const std::string& manifest, std::string_view keyword, bool heldout = true);

struct KeywordDataPlan {
  std::string label;                        // the keyword's model label
  std::vector<std::string> spellings;       // the keyword as spoken ("jarvis", "Jarvis.", ...)
  std::vector<std::string> sound_alikes;
  std::vector<std::string> other_words;
  std::vector<std::string> sentences;       // strings of 4-9 list words; every third holds a sound-alike
  std::vector<std::string> synthetic_texts;  // data.synthetic.texts ("text=label"; positives repeated)
  int examples_per_text = 0;
  NegativeSplit negatives;                  // the `negatives` manifest, split
  NegativeSplit extra;                      // extra_negatives, training only
  int64_t PositiveClips() const;
  int64_t NegativeSyntheticClips() const;
};

// Validates `recipe` and plans the data (reads the negative manifests).
KeywordDataPlan PlanKeywordData(const KeywordRecipeConfig& recipe);

// Writes <dir>/negatives-train.tsv (every training negative), <dir>/background-train.tsv (the training
// part of `negatives`, used as babble noise) and <dir>/negatives-heldout.tsv (path, label, duration_s;
// label "_unknown_"). Creates `dir`. IoError when a file cannot be written.
void WriteKeywordData(const KeywordDataPlan& plan, const std::string& dir);

// Synthesises every text of the plan (through the synthesis cache; the same voices, rates and pitches as
// data.synthetic would draw for these texts) and writes each clip as a 16 kHz 16-bit WAV under
// <dir>/synthetic/, listed in <dir>/synthetic.tsv (path, label, duration_s). Each clip is padded with
// 0.1-1.0 s before and after (drawn per clip) and gets a white-noise floor at -70..-45 dBFS over its whole
// length: real recordings of a keyword have silence and room noise around the word, and with utterance
// CMVN a clip that is all word looks different from one that is 25% word (a model trained on unpadded clips
// missed most real recordings). Returns the number of clips.
int64_t WriteSyntheticClips(const KeywordRecipeConfig& recipe, const KeywordDataPlan& plan, const std::string& dir,
                            int num_threads = 2);

// The experiment (pipeline/experiment-config.h) that trains the model, as YAML text, with manifests in
// `dir` (as written by WriteKeywordData and WriteSyntheticClips), outputs in `dir`.
std::string KeywordExperimentYaml(const KeywordRecipeConfig& recipe, const KeywordDataPlan& plan,
                                  const std::string& dir);

}  // namespace ossicle
