// Training data: a Dataset of examples (audio + target) and a BatchLoader that turns it into padded,
// length-bucketed, shuffled, augmented feature batches on background threads.
//
//   ossicle::Dataset data(ossicle::TargetType::kClass, {"yes", "no", "_unknown_"}, model->Features());
//   ossicle::ManifestColumns columns;
//   columns.label = "label";
//   columns.duration = "duration_s";
//   data.AddManifest("speech-commands/train.tsv", columns);
//   data.AddSynthetic(config.synthetic, seed);            // keyword examples spoken by TTS engines
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     ossicle::BatchLoader loader(data, config, seed, epoch);
//     ossicle::TrainingBatch batch;
//     while (loader.Next(&batch)) train_step(batch);
//   }
//
// Features are computed by the inference front end (ComputeFeatures with the Dataset's FeatureConfig, so
// CMVN and deltas included) from audio read by AudioFileReader at the features' sample rate.
//
// Determinism: the batches of (dataset, config, seed, epoch, train) are a pure function of those inputs:
// the plan (which examples form batch k) comes from one generator seeded by (seed, epoch), and every
// example's augmentation from a generator seeded by (seed, epoch, example index). Worker threads only
// change when a batch is computed, never what it holds, and Next() hands batches out in plan order.
//
// Caching (DataConfig::cache_dir): features of un-augmented waveforms are stored on disk as .npy, keyed by
// a hash of the audio file's absolute path, size and modification time, the feature configuration (and the
// global CMVN statistics file's size and time). Waveform augmentation (speed, shift, noise, gain) makes
// features that are never seen twice, so only the clean features are cached: dev/test passes and
// training with SpecAugment only (masks are applied after the cache) are then read from disk. Synthetic
// clips have their own cache (SyntheticSpeechConfig::cache_dir) because synthesis is the slowest step.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/feature-config.h"
#include "features/online-features.h"
#include "models/recurrent-layer.h"
#include "pipeline/augmentation.h"
#include "pipeline/manifest.h"
#include "pipeline/speech-synth.h"

namespace ossicle {

class CtcTokenSet;  // models/decoder-support.h

// Synthetic examples: every text spoken `examples_per_text` times. Example j of text i is spoken by engine
// engines[(i + j) % E] (so the engines share the examples evenly), with that engine's voices (all of them,
// or those listed in `voices`) taken in a seeded random order without repeats until each was used, at a
// rate and pitch drawn uniformly from the ranges (rounded to 3 decimals, so the synthesis cache can match).
struct SyntheticSpeechConfig {
  // Texts to speak; "text=label" gives the class label (default: the text itself). For token targets the
  // text is the transcript. Example: [yes, no, "house=_unknown_", "bird=_unknown_"].
  std::vector<std::string> texts;
  int examples_per_text = 0;  // 0 = no synthetic examples
  std::vector<std::string> engines = {"espeak-ng", "flite", "festival"};
  std::vector<std::string> voices;  // "engine:voice" entries; empty = every voice of the engines
  UniformRange rate{0.8, 1.25};     // speaking-rate factor
  UniformRange pitch{0.85, 1.2};    // pitch factor
  // Silence added before and after every clip, each drawn from this range (seconds; {0, 0} = none), with
  // a white-noise floor over the whole clip (PadWithNoiseFloor): a bare TTS clip is all word, a recording
  // is not, and utterance CMVN makes the two look different.
  UniformRange padding_s{0.0, 0.0};
  std::string cache_dir;            // disk cache of synthesised clips (empty = memory only)

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"texts", "", "texts to synthesise; text=label sets the class label"}, self.texts);
    v(FieldInfo{"examples_per_text", "", "clips per text (0 = none)"}, self.examples_per_text);
    v(FieldInfo{"engines", "", "engines taking turns: espeak-ng, flite, festival"}, self.engines);
    v(FieldInfo{"voices", "", "engine:voice entries to use (empty = every voice of the engines)"}, self.voices);
    v(FieldInfo{"rate", "", "speaking-rate factor range, in [0.25, 4]"}, self.rate);
    v(FieldInfo{"pitch", "", "pitch factor range, in [0.25, 4]"}, self.pitch);
    v(FieldInfo{"padding_s", "s", "silence (with a -70..-45 dB noise floor) before and after each clip, in [0, 5]"},
      self.padding_s);
    v(FieldInfo{"cache_dir", "path", "folder caching synthesised clips across runs (empty = none)"},
      self.cache_dir);
  }
  // Throws ConfigError naming the field: examples_per_text in [0, 100000]; when > 0, texts non-empty
  // with no blank text or label; engines non-empty and known; voices "engine:voice" with a listed engine;
  // rate and pitch ranges within [0.25, 4]; padding_s within [0, 5].
  void Validate(std::string_view key_path = "data.synthetic") const;
};

// `speech` with `left` and `right` zero samples around it, plus white noise at floor_db dBFS (uniform in
// [-70, -45] dB, drawn from `rng` first) over the whole clip, clamped to [-1, 1]. Used for synthetic clips
// (data.synthetic.padding_s, ossicle keyword-train).
std::vector<float> PadWithNoiseFloor(std::span<const float> speech, size_t left, size_t right, std::mt19937_64& rng);

struct DataConfig {
  int batch_size = 32;               // examples per batch (at most)
  int64_t max_batch_frames = 0;      // also cap batch_size x longest length (0 = no cap)
  bool shuffle = true;               // training only; evaluation keeps the dataset order
  int bucket_pool_batches = 16;      // length bucketing: pools of this many batches are sorted by length
                                     // before they are cut into batches (<= 1: no bucketing)
  bool drop_last = false;            // drop a final batch smaller than batch_size (training only)
  int workers = 2;                   // background loading threads (0 = load in Next())
  int prefetch_batches = 4;          // batches computed ahead of Next()
  std::string cache_dir;             // feature cache of un-augmented examples (empty = none)
  double max_duration_s = 30.0;      // longer examples are refused (ConfigError naming the example)
  AugmentationConfig augmentation;   // applied in training passes only
  SyntheticSpeechConfig synthetic;

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"batch_size", "", "examples per batch"}, self.batch_size);
    v(FieldInfo{"max_batch_frames", "frames", "cap on batch size x longest example (0 = none)"},
      self.max_batch_frames);
    v(FieldInfo{"shuffle", "", "shuffle examples each training epoch (seeded)"}, self.shuffle);
    v(FieldInfo{"bucket_pool_batches", "batches", "sort pools of this many batches by length (<= 1 = off)"},
      self.bucket_pool_batches);
    v(FieldInfo{"drop_last", "", "drop a final short batch in training"}, self.drop_last);
    v(FieldInfo{"workers", "", "background loading threads (0 = load on the caller's thread)"},
      self.workers);
    v(FieldInfo{"prefetch_batches", "batches", "batches computed ahead"}, self.prefetch_batches);
    v(FieldInfo{"cache_dir", "path", "feature cache for un-augmented examples (empty = none)"},
      self.cache_dir);
    v(FieldInfo{"max_duration_s", "s", "examples longer than this are refused"}, self.max_duration_s);
    v(FieldInfo{"augmentation", "", "training-time augmentation"}, self.augmentation);
    v(FieldInfo{"synthetic", "", "synthetic speech examples"}, self.synthetic);
  }
  // Throws ConfigError naming the field (batch_size >= 1, max_batch_frames >= 0, workers in [0, 64],
  // prefetch_batches >= 1, max_duration_s > 0, and the nested rules).
  void Validate(std::string_view key_path = "data") const;
};

// What the model is trained to emit.
enum class TargetType {
  kClass,   // one class index per example (labels = class names)
  kTokens,  // a token sequence per example for CTC (labels = tokens: [0] is the blank, the others one
            // UTF-8 character each, e.g. {"<blank>", " ", "'", "a", ..., "z"})
};
template <>
struct EnumNames<TargetType> {
  static constexpr std::array kValues{std::pair{TargetType::kClass, std::string_view{"class"}},
                                      std::pair{TargetType::kTokens, std::string_view{"tokens"}}};
};

// How a synthetic example was made.
struct SynthesisSpec {
  std::string engine;
  std::string voice;
  std::string text;
  double rate = 1.0;
  double pitch = 1.0;
  uint64_t seed = 0;
};

struct Example {
  std::string id;                                   // unique: the audio path, or "synthetic:<engine>:..."
  std::string origin;                               // for messages: "<manifest>:<line>" or the spec
  std::string audio_path;                           // file source; empty for in-memory audio
  std::shared_ptr<const SynthesizedAudio> audio;    // in-memory source (any rate; resampled on use)
  std::optional<SynthesisSpec> synthesis;           // set for synthetic examples
  int32_t label = -1;                               // kClass: index into Labels()
  std::vector<int32_t> tokens;                      // kTokens: ids in [1, Labels().size())
  double duration_s = -1.0;                         // for bucketing; < 0 = unknown (probed on Add)
};

class Dataset {
 public:
  // `labels`: class names (kClass) or tokens with the blank first (kTokens); non-empty and unique.
  // `features`: the front end of the model being trained (validated).
  Dataset(TargetType type, std::vector<std::string> labels, const FeatureConfig& features);

  TargetType Type() const { return type_; }
  const std::vector<std::string>& Labels() const { return labels_; }
  const FeatureConfig& Features() const { return features_; }

  // Adds every entry of a manifest. kClass: the label column's value must be one of Labels(), or, when
  // `unknown_label` is not empty, any other label maps to that class. kTokens: the transcript column is
  // tokenised (see Tokenize). Durations come from the duration column or are probed
  // from the files (which also checks they exist and are audio). Errors name "<manifest>:<line>".
  // Returns the number of examples added.
  int64_t AddManifest(const std::string& tsv_path, const ManifestColumns& columns,
                      std::string_view unknown_label = "");
  // Synthesises `config` (through its cache) on `num_threads` threads; returns the number added.
  // Voices are taken in turn per text; rate and pitch drawn from a generator seeded by `seed`.
  // `rate_by_label` gives texts of some labels their own speaking-rate range instead of config.rate (ossicle
  // keyword-train's recipe key keyword_rate); the draws stay the same in number and order,
  // so the other texts get the voices, rates and pitches they would get without it.
  int64_t AddSynthetic(const SyntheticSpeechConfig& config, uint64_t seed, int num_threads = 2,
                       const std::map<std::string, UniformRange>& rate_by_label = {});
  // Adds one example after checking its target and source (ConfigError naming example.origin).
  void Add(Example example);

  // Label/token mapping (ConfigError naming `where` when something is not in Labels()).
  int32_t ClassIndex(std::string_view label, std::string_view where) const;
  // Characters: every character of `text` is a token. Word tokens (labels U+2581 + word): the words of
  // `text` (split at spaces) spelled by longest match as the CTC decoders do, so "one two" is {▁one, ▁two}.
  std::vector<int32_t> Tokenize(std::string_view text, std::string_view where) const;

  int64_t Size() const { return static_cast<int64_t>(examples_.size()); }
  const Example& At(int64_t i) const { return examples_.at(static_cast<size_t>(i)); }
  const std::vector<Example>& Examples() const { return examples_; }
  double TotalDurationSeconds() const;

  // kClass: examples per class (Labels().size() counts); kTokens: occurrences of each token.
  std::vector<int64_t> LabelCounts() const;

  // The example's waveform at Features().frame.sample_rate_hz, un-augmented. AudioError naming the origin.
  // A file read with a warning (damaged FLAC frames decoded as silence, data that ends early) is used as it
  // decoded, and its warning kept for TakeAudioWarnings().
  std::vector<float> LoadWaveform(int64_t i) const;
  // The warnings of files read since the last call, "<origin>: <reader's warning>", each file once over the
  // dataset's life (thread-safe: loader threads read while the trainer takes them).
  std::vector<std::string> TakeAudioWarnings() const;
  // Its features, un-augmented (what an evaluation batch holds). AudioError when it yields no frame.
  FeatureMatrix ExampleFeatures(int64_t i) const;
  // The global CMVN statistics (loaded once from features.cmvn.stats_file), or null in other modes.
  const std::shared_ptr<const CmvnStats>& GlobalCmvn() const { return cmvn_; }

 private:
  std::vector<int32_t> TokenizeWords(std::string_view text, std::string_view where) const;

  TargetType type_;
  std::vector<std::string> labels_;
  std::vector<std::u32string> tokens_;  // kTokens: each label decoded (one code point each, or a word token)
  std::shared_ptr<const CtcTokenSet> token_set_;  // word tokens (U+2581 + word): the decoders' spelling
  FeatureConfig features_;
  std::shared_ptr<const CmvnStats> cmvn_;
  std::vector<Example> examples_;
  struct AudioWarnings {
    std::mutex mutex;
    std::set<std::string> seen;         // audio paths warned about
    std::vector<std::string> pending;   // not yet taken
  };
  std::shared_ptr<AudioWarnings> audio_warnings_ = std::make_shared<AudioWarnings>();
};

struct TrainingBatch {
  SequenceBatch features;                      // [B * T, dim], row b * T + t, zero past each length
  std::vector<int32_t> labels;                 // kClass: B class indices (else empty)
  std::vector<std::vector<int32_t>> tokens;    // kTokens: B token sequences (else empty)
  std::vector<std::string> ids;                // B example ids
  std::vector<int64_t> indices;                // B indices into the Dataset
  std::vector<ZeroPadding> zero_frames;        // B: frames wholly inside the digital silence the augmentation
                                               // added at the start and end ({0, 0} when none)
};

// The frames of a clip of num_samples samples (framed by `frame`) that lie wholly inside `pad` zeros added at
// its start and end: {frames at the start, frames at the end}, together at most NumFrames. For the centred
// paddings a frame reaching past the signal counts when the padding is at least a window long.
ZeroPadding FramesInZeroPadding(const FrameConfig& frame, int64_t num_samples, const ZeroPadding& pad);

class BatchLoader {
 public:
  // Plans the epoch and starts config.workers threads. `train` enables shuffling, drop_last and
  // augmentation; evaluation passes (train = false) take the examples in dataset order (still length-
  // bucketed) and never augment. `first_batch` skips the plan's first batches without loading them
  // (resuming mid-epoch gives the same remaining batches). `dataset` must outlive the loader.
  BatchLoader(const Dataset& dataset, const DataConfig& config, uint64_t seed, int64_t epoch, bool train = true,
              int64_t first_batch = 0);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Fills `batch` with the next batch and returns true, or returns false once the epoch is done.
  // Rethrows (on the caller's thread) any error a worker met loading that batch (AudioError, ...).
  bool Next(TrainingBatch* batch);

  int64_t NumBatches() const { return static_cast<int64_t>(plan_.size()); }
  int64_t BatchesDelivered() const { return next_; }
  // Dataset indices of every batch of this epoch, in delivery order.
  const std::vector<std::vector<int64_t>>& Plan() const { return plan_; }

 private:
  struct Shared;
  std::vector<std::vector<int64_t>> plan_;
  int64_t next_ = 0;
  std::unique_ptr<Shared> shared_;
};

// The batch plan alone (exposed for tests): examples in order (shuffled with `rng_seed` when shuffle), cut
// into pools of bucket_pool_batches x batch_size, each pool sorted by duration (stable), cut into batches
// (respecting max_batch_frames with `frame_rate_hz` frames per second), then the batch order shuffled.
std::vector<std::vector<int64_t>> PlanBatches(const std::vector<double>& durations_s, const DataConfig& config,
                                              bool shuffle, bool drop_last, uint64_t rng_seed,
                                              double frame_rate_hz);

}  // namespace ossicle
