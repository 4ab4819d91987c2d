// Data augmentation for training: on the waveform (speed, time shift, room reverberation, noise at an SNR,
// gain, band limit) and on the features (SpecAugment time and frequency masks).
//
//   ossicle::AugmentationConfig config;            // everything off by default (probabilities 0)
//   config.noise.probability = 0.8;                // mix noise into 80% of the examples
//   config.noise.snr_db = {0, 20};                 // at an SNR drawn uniformly from [0, 20] dB
//   config.noise.background_manifest = "background/manifest.tsv";
//   config.noise.background_weight = 2.0;          // 2 : 1 : 1 against white and pink noise
//   ossicle::Augmenter augmenter(config, 16000.0);
//   std::mt19937_64 rng(seed);
//   augmenter.ApplyToWaveform(samples, rng);       // in place; the length changes with speed, edge cut
//                                                  // and digital silence
//   features = ComputeFeatures(...);
//   augmenter.ApplyToFeatures(features.data, features.num_frames, dim, base_dim, rng);
//
// Waveform order: edge cut -> speed -> time shift -> reverb -> noise -> gain -> band limit -> digital
// silence, each applied with its own probability (the room reverberates the voice; the noise is added at the
// microphone; the zeros of an edited file come last). The noise
// is scaled against the power of the (speed-changed, shifted) signal, so the SNR holds exactly over the
// whole clip; the gain then scales signal and noise together and leaves the SNR unchanged.
// Random numbers: everything is drawn from the caller's generator in a fixed order, with our own
// uniform/normal transforms (not <random>'s distributions, whose output is implementation-defined), so a
// seed gives the same result with any standard library.
// Thread safety: an Augmenter is immutable after construction except for its background cache (guarded),
// so many threads can share one, each with its own generator.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "pipeline/manifest.h"

namespace ossicle {

// A closed interval [min, max] a value is drawn from uniformly (min == max gives that value).
// In YAML: `snr_db: {min: 0, max: 20}`.
struct UniformRange {
  double min = 0.0;
  double max = 0.0;

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"min", "", "lower end (inclusive)"}, self.min);
    v(FieldInfo{"max", "", "upper end (inclusive)"}, self.max);
  }
  // Throws ConfigError ("augmentation.noise.snr_db.max = 5; expected >= min (10)") when min > max, and
  // ("... .min = -200; expected in [-100, 100]") when an end lies outside [lo, hi] or is not finite.
  void Validate(std::string_view key_path, double lo, double hi) const;
};

struct SpeedAugmentConfig {
  double probability = 0.0;
  UniformRange factor{0.9, 1.1};  // 1.1 = 10% faster and higher: the duration becomes n / factor

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example is speed-perturbed"}, self.probability);
    v(FieldInfo{"factor", "", "speed factor range (duration divided by it), in [0.5, 2]"}, self.factor);
  }
};

struct ShiftAugmentConfig {
  double probability = 0.0;
  UniformRange shift_ms{-100.0, 100.0};  // > 0 delays the audio (zeros in front), < 0 advances it

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example is shifted in time"}, self.probability);
    v(FieldInfo{"shift_ms", "ms", "shift range; > 0 delays the audio; the length is kept (zero fill)"},
      self.shift_ms);
  }
};

struct NoiseAugmentConfig {
  double probability = 0.0;
  UniformRange snr_db{5.0, 20.0};
  // Relative chances of the three noise kinds (normalised by their sum). background_weight must be > 0
  // exactly when a background manifest is given.
  double white_weight = 1.0;
  double pink_weight = 1.0;
  double background_weight = 0.0;
  std::string background_manifest;  // TSV manifest of background audio (path column `path`)

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that noise is mixed into an example"}, self.probability);
    v(FieldInfo{"snr_db", "dB", "signal-to-noise ratio range over the whole clip, in [-50, 100]"},
      self.snr_db);
    v(FieldInfo{"white_weight", "", "relative chance of white Gaussian noise"}, self.white_weight);
    v(FieldInfo{"pink_weight", "", "relative chance of pink (1/f) noise"}, self.pink_weight);
    v(FieldInfo{"background_weight", "", "relative chance of a random stretch of background audio"},
      self.background_weight);
    v(FieldInfo{"background_manifest", "path", "manifest of background audio files (empty = none)"},
      self.background_manifest);
  }
};

struct GainAugmentConfig {
  double probability = 0.0;
  UniformRange gain_db{-6.0, 6.0};

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that the gain of an example is changed"}, self.probability);
    v(FieldInfo{"gain_db", "dB", "gain range, in [-60, 40]"}, self.gain_db);
  }
};

// The audio passes through a lower sample rate and back (soxr): nothing above half that rate is left, as in
// a recording made at that rate (8 kHz telephone or FSDD audio in a 16 kHz model). Applied last, after the
// gain, like the recording channel. Unlike the other steps it draws nothing while its probability is 0, so
// configurations without it keep their random sequences.
struct BandLimitAugmentConfig {
  double probability = 0.0;
  UniformRange sample_rate_hz{8000.0, 8000.0};

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example is band-limited (as if recorded at a lower rate)"},
      self.probability);
    v(FieldInfo{"sample_rate_hz", "Hz",
                "rate the audio passes through, in [2000, 96000]; at or above the training rate nothing changes"},
      self.sample_rate_hz);
  }
};

// A synthetic room: the clip is convolved with an impulse response made of the direct sound and a tail of
// Gaussian noise whose energy falls 60 dB in the reverberation time (rt60_s), scaled so that the direct
// sound carries drr_db more energy than the tail (direct-to-reverberant ratio). The length is kept (the tail
// past the clip's end is cut) and so is the mean power. Dry synthetic speech then sounds like a voice in a
// room, as real recordings do. Like band_limit it draws nothing while its probability is 0.
struct ReverbAugmentConfig {
  double probability = 0.0;
  UniformRange rt60_s{0.2, 0.8};
  UniformRange drr_db{0.0, 12.0};

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example is reverberated"}, self.probability);
    v(FieldInfo{"rt60_s", "s", "reverberation time range (60 dB decay), in [0.05, 3]"}, self.rt60_s);
    v(FieldInfo{"drr_db", "dB", "direct-to-reverberant energy ratio range, in [-20, 40]"}, self.drr_db);
  }
};

// What a SpecAugment mask is filled with.
enum class MaskFill {
  kZero,  // 0: the mean of features after mean normalisation (CMVN)
  kMean,  // the mean of the masked values over the whole utterance (neutral without CMVN too)
};
template <>
struct EnumNames<MaskFill> {
  static constexpr std::array kValues{std::pair{MaskFill::kZero, std::string_view{"zero"}},
                                      std::pair{MaskFill::kMean, std::string_view{"mean"}}};
};

// SpecAugment (Park et al. 2019) without time warping: `time_masks` masks of width uniform in
// [0, max_time_mask_frames] (capped at max_time_mask_fraction of the utterance) at uniform positions, and
// `freq_masks` masks of width uniform in [0, max_freq_mask_bins] over the base feature bins (the same
// bins of every delta block are masked too).
struct SpecAugmentConfig {
  double probability = 0.0;
  int time_masks = 2;
  int max_time_mask_frames = 10;
  double max_time_mask_fraction = 0.2;
  int freq_masks = 2;
  int max_freq_mask_bins = 8;
  MaskFill fill = MaskFill::kMean;

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example's features are masked"}, self.probability);
    v(FieldInfo{"time_masks", "", "number of time masks"}, self.time_masks);
    v(FieldInfo{"max_time_mask_frames", "frames", "largest time mask width"}, self.max_time_mask_frames);
    v(FieldInfo{"max_time_mask_fraction", "", "a time mask covers at most this fraction of the frames"},
      self.max_time_mask_fraction);
    v(FieldInfo{"freq_masks", "", "number of frequency masks"}, self.freq_masks);
    v(FieldInfo{"max_freq_mask_bins", "bins", "largest frequency mask width"}, self.max_freq_mask_bins);
    v(FieldInfo{"fill", "", "value of masked cells: zero or the utterance mean of the masked bins"},
      self.fill);
  }
};

// Edge cut: the clip loses a random stretch at its start, its end or both (one of the three, equally likely),
// so that it starts or ends abruptly inside a sound, as a file cut out of a longer recording does (Speech
// Commands' 1-second clips). Each cut is cut_s long, at most a third of the clip. `labels` limits it to
// examples of those classes (comma-separated; a keyword's negatives: "_unknown_"), so a keyword's own clips
// keep their whole word; empty = every example (token targets have no class, so a list skips them). Like
// reverb it draws nothing while its probability is 0, and it comes first (the recording window).
struct EdgeCutAugmentConfig {
  double probability = 0.0;
  UniformRange cut_s{0.05, 0.3};
  std::string labels;

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example (of `labels`) is cut at an edge"}, self.probability);
    v(FieldInfo{"cut_s", "s", "length cut from an edge, in [0, 10]; at most a third of the clip is cut per edge"},
      self.cut_s);
    v(FieldInfo{"labels", "", "comma-separated classes the cut applies to; empty = every example"}, self.labels);
  }
};

// Digital silence: exact zeros are added at the clip's start, its end or both (one of the three, equally
// likely), pad_s long each, as in a file that was edited or padded to a fixed length (the "alexa" recordings
// of ../shared/data/wake-words end in 0.5 s of zeros). Applied last, after the noise and the gain, so the
// padding stays exactly 0 (the features' dither is all it holds). Like band_limit it draws nothing while its
// probability is 0. ApplyToWaveform reports the padding, so that frame targets can treat those frames as
// quiet whatever the clip's levels (pipeline/frame-targets.h).
struct DigitalSilenceAugmentConfig {
  double probability = 0.0;
  UniformRange pad_s{0.1, 1.0};

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"probability", "", "chance that an example is padded with exact zeros"}, self.probability);
    v(FieldInfo{"pad_s", "s", "length of the zeros added at an edge, in [0, 10]"}, self.pad_s);
  }
};

struct AugmentationConfig {
  EdgeCutAugmentConfig edge_cut;
  SpeedAugmentConfig speed;
  ShiftAugmentConfig shift;
  ReverbAugmentConfig reverb;
  NoiseAugmentConfig noise;
  GainAugmentConfig gain;
  BandLimitAugmentConfig band_limit;
  DigitalSilenceAugmentConfig digital_silence;
  SpecAugmentConfig spec_augment;

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"edge_cut", "", "cut the clip at its start or end (first; for a keyword's negatives)"}, self.edge_cut);
    v(FieldInfo{"speed", "", "speed perturbation by resampling (soxr)"}, self.speed);
    v(FieldInfo{"shift", "", "time shift"}, self.shift);
    v(FieldInfo{"reverb", "", "a synthetic room's reverberation, before the noise"}, self.reverb);
    v(FieldInfo{"noise", "", "white, pink or background noise at a random SNR"}, self.noise);
    v(FieldInfo{"gain", "", "random gain"}, self.gain);
    v(FieldInfo{"band_limit", "", "pass through a lower sample rate (the recording channel), after the gain"},
      self.band_limit);
    v(FieldInfo{"digital_silence", "", "exact zeros at the start or end (last: an edited or padded file)"},
      self.digital_silence);
    v(FieldInfo{"spec_augment", "", "time and frequency masks on the features"}, self.spec_augment);
  }

  // Throws ConfigError naming the field: probabilities in [0, 1], ranges as documented per field,
  // weights >= 0 with a positive sum when noise is on, background_weight > 0 needs a manifest,
  // mask counts and widths >= 0, max_time_mask_fraction in [0, 1].
  void Validate(std::string_view key_path = "augmentation") const;

  // True when some waveform augmentation can happen (any of edge_cut, speed, shift, reverb, noise, gain,
  // band_limit, digital_silence has probability > 0).
  bool AnyWaveform() const;
};

// ---- Building blocks (pure functions, tested one by one) ----

// Uniform in [0, 1) from 53 random bits; the same sequence with every standard library.
double Uniform01(std::mt19937_64& rng);
double UniformIn(const UniformRange& range, std::mt19937_64& rng);
// Standard normal (Box-Muller from two Uniform01 draws).
double StandardNormal(std::mt19937_64& rng);

// Mean of x^2 (0 for an empty span).
double MeanPower(std::span<const float> samples);
// Resamples by `factor` with soxr (SOXR_HQ): output length llround(n / factor); the audio plays `factor`
// times faster (and higher). factor in [0.5, 2].
std::vector<float> ChangeSpeed(std::span<const float> samples, double factor);
// Moves the audio `shift` samples later (> 0) or earlier (< 0), keeping the length; vacated samples are 0.
void ShiftSamples(std::vector<float>& samples, int64_t shift);
// The samples without their first `start` and last `end` (each clamped to [0, size / 3]).
std::vector<float> CutEdges(std::span<const float> samples, int64_t start, int64_t end);
// `start` zeros, the samples, then `end` zeros (negative counts are 0).
std::vector<float> PadWithZeros(std::span<const float> samples, int64_t start, int64_t end);
// Resamples `samples` (at rate_hz) to via_hz and back, keeping the length: nothing above via_hz / 2 is left.
// Unchanged when via_hz >= rate_hz.
std::vector<float> BandLimit(std::span<const float> samples, double rate_hz, double via_hz);
// The impulse response of ReverbAugmentConfig, rt60_s seconds long at rate_hz: h[0] = 1 (the direct sound),
// then from 2 ms on Gaussian noise times 10^(-3 t / rt60_s) (energy -60 dB at t = rt60_s), scaled so that
// 10 log10(1 / sum of the tail's squares) = drr_db. Draws one normal number per tail sample.
std::vector<float> SyntheticRoomResponse(double rate_hz, double rt60_s, double drr_db, std::mt19937_64& rng);
// The linear convolution of `samples` with `response` (FFT), cut to samples.size(): y[n] = sum_k h[k] x[n-k].
std::vector<float> Convolve(std::span<const float> samples, std::span<const float> response);
// Convolves with SyntheticRoomResponse(rate_hz, rt60_s, drr_db) and restores the input's mean power.
std::vector<float> Reverberate(std::span<const float> samples, double rate_hz, double rt60_s, double drr_db,
                               std::mt19937_64& rng);
// Multiplies by 10^(gain_db / 20).
void ApplyGainDb(std::span<float> samples, double gain_db);
// Adds `noise` (same length as `signal`) scaled so that 10 log10(P_signal / P_scaled_noise) = snr_db.
// Returns the scale applied to the noise; 0 (nothing added) when the signal or the noise has zero power.
double MixAtSnr(std::span<float> signal, std::span<const float> noise, double snr_db);
// Gaussian white noise with unit variance.
std::vector<float> WhiteNoise(int64_t n, std::mt19937_64& rng);
// Pink (1/f power) noise with unit variance, Voss-McCartney: the sum of 16 white generators, generator k
// redrawn every 2^k samples, covering 16 octaves (down to fs / 2^17, below 1 Hz at 16 kHz).
std::vector<float> PinkNoise(int64_t n, std::mt19937_64& rng);

// One SpecAugment mask, as applied.
struct SpecMask {
  bool time = true;       // true: frames [start, start + width); false: base bins [start, start + width)
  int64_t start = 0;
  int64_t width = 0;
};
// Masks `frames` ([num_frames, dim], row-major) in place; dim is a multiple of base_dim (deltas appended).
// Returns the masks drawn (width 0 masks included), for tests and logging.
std::vector<SpecMask> ApplySpecAugment(std::span<float> frames, int64_t num_frames, int dim, int base_dim,
                                       const SpecAugmentConfig& config, std::mt19937_64& rng);

// The digital silence ApplyToWaveform added: zeros at the start and at the end, in samples.
struct ZeroPadding {
  int64_t start = 0;
  int64_t end = 0;
};

// Applies an AugmentationConfig; holds the background audio (decoded lazily, resampled to the rate given).
class Augmenter {
 public:
  // Validates `config`; reads the background manifest (IoError/ConfigError naming file:line) but decodes
  // a background file only the first time it is drawn.
  Augmenter(const AugmentationConfig& config, double sample_rate_hz);
  ~Augmenter();
  Augmenter(const Augmenter&) = delete;
  Augmenter& operator=(const Augmenter&) = delete;

  const AugmentationConfig& Config() const { return config_; }

  // Edge cut, speed, shift, reverb, noise, gain, band limit, digital silence (each with its probability), in
  // place. `label`: the example's class name, for edge_cut.labels (empty: no class). Returns the digital
  // silence added (zeros when none).
  ZeroPadding ApplyToWaveform(std::vector<float>& samples, std::mt19937_64& rng, std::string_view label = {}) const;
  // SpecAugment with its probability.
  void ApplyToFeatures(std::span<float> frames, int64_t num_frames, int dim, int base_dim,
                       std::mt19937_64& rng) const;

  // A noise clip of n samples as drawn by ApplyToWaveform (white, pink or a random stretch of background
  // audio, looped when shorter), unit-free: MixAtSnr scales it.
  std::vector<float> DrawNoise(int64_t n, std::mt19937_64& rng) const;
  int64_t NumBackgroundFiles() const;

 private:
  struct Background;
  bool EdgeCutApplies(std::string_view label) const;

  AugmentationConfig config_;
  std::vector<std::string> edge_cut_labels_;  // edge_cut.labels split; empty = every example
  double sample_rate_hz_;
  std::unique_ptr<Background> background_;
};

}  // namespace ossicle
