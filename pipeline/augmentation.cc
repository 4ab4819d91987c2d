#include "pipeline/augmentation.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <mutex>
#include <numbers>

#include "features/errors.h"
#include "features/rfft.h"
#include "models/decoder-support.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/config-yaml.h"
#include "pipeline/resample.h"

namespace ossicle {
namespace {

void CheckProbability(std::string_view path, double p) {
  if (!(p >= 0.0 && p <= 1.0)) throw ConfigError(RuleMessage(path, "probability", p, "in [0, 1]"));
}

void CheckNonNegative(std::string_view path, std::string_view field, double value) {
  if (!(value >= 0.0) || !std::isfinite(value)) throw ConfigError(RuleMessage(path, field, value, ">= 0"));
}

template <class T>
void CheckIntRange(std::string_view path, std::string_view field, T value, T lo, T hi) {
  if (value < lo || value > hi) {
    throw ConfigError(RuleMessage(path, field, value,
                                  "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]"));
  }
}

// Voss-McCartney rows: row k is redrawn every 2^k samples, so 16 rows span 16 octaves.
constexpr int kPinkRows = 16;

}  // namespace

void UniformRange::Validate(std::string_view key_path, double lo, double hi) const {
  const std::string rule = "in [" + FormatValue(lo) + ", " + FormatValue(hi) + "]";
  if (!(min >= lo && min <= hi)) throw ConfigError(RuleMessage(key_path, "min", min, rule));
  if (!(max >= lo && max <= hi)) throw ConfigError(RuleMessage(key_path, "max", max, rule));
  if (min > max) throw ConfigError(RuleMessage(key_path, "max", max, ">= min (" + FormatValue(min) + ")"));
}

void AugmentationConfig::Validate(std::string_view key_path) const {
  const std::string ec = JoinKey(key_path, "edge_cut");
  CheckProbability(ec, edge_cut.probability);
  edge_cut.cut_s.Validate(JoinKey(ec, "cut_s"), 0.0, 10.0);
  for (const std::string& l : SplitList(edge_cut.labels)) {
    if (l.empty()) throw ConfigError(JoinKey(ec, "labels") + " = '" + edge_cut.labels + "'; expected class names "
                                     "separated by commas, without empty items");
  }

  const std::string sp = JoinKey(key_path, "speed");
  CheckProbability(sp, speed.probability);
  speed.factor.Validate(JoinKey(sp, "factor"), 0.5, 2.0);

  const std::string sh = JoinKey(key_path, "shift");
  CheckProbability(sh, shift.probability);
  shift.shift_ms.Validate(JoinKey(sh, "shift_ms"), -10000.0, 10000.0);

  const std::string rv = JoinKey(key_path, "reverb");
  CheckProbability(rv, reverb.probability);
  reverb.rt60_s.Validate(JoinKey(rv, "rt60_s"), 0.05, 3.0);
  reverb.drr_db.Validate(JoinKey(rv, "drr_db"), -20.0, 40.0);

  const std::string no = JoinKey(key_path, "noise");
  CheckProbability(no, noise.probability);
  noise.snr_db.Validate(JoinKey(no, "snr_db"), -50.0, 100.0);
  CheckNonNegative(no, "white_weight", noise.white_weight);
  CheckNonNegative(no, "pink_weight", noise.pink_weight);
  CheckNonNegative(no, "background_weight", noise.background_weight);
  if (noise.background_weight > 0 && noise.background_manifest.empty()) {
    throw ConfigError(RuleMessage(no, "background_weight", noise.background_weight,
                                  "0 when no background_manifest is given"));
  }
  if (!noise.background_manifest.empty() && noise.background_weight == 0) {
    throw ConfigError(RuleMessage(no, "background_weight", noise.background_weight,
                                  "> 0 when background_manifest is given"));
  }
  if (noise.probability > 0 && noise.white_weight + noise.pink_weight + noise.background_weight <= 0) {
    throw ConfigError(RuleMessage(no, "white_weight", noise.white_weight,
                                  "white_weight + pink_weight + background_weight > 0 when noise is on"));
  }

  const std::string ga = JoinKey(key_path, "gain");
  CheckProbability(ga, gain.probability);
  gain.gain_db.Validate(JoinKey(ga, "gain_db"), -60.0, 40.0);

  const std::string bl = JoinKey(key_path, "band_limit");
  CheckProbability(bl, band_limit.probability);
  band_limit.sample_rate_hz.Validate(JoinKey(bl, "sample_rate_hz"), 2000.0, 96000.0);

  const std::string ds = JoinKey(key_path, "digital_silence");
  CheckProbability(ds, digital_silence.probability);
  digital_silence.pad_s.Validate(JoinKey(ds, "pad_s"), 0.0, 10.0);

  const std::string sa = JoinKey(key_path, "spec_augment");
  CheckProbability(sa, spec_augment.probability);
  CheckIntRange(sa, "time_masks", spec_augment.time_masks, 0, 100);
  CheckIntRange(sa, "max_time_mask_frames", spec_augment.max_time_mask_frames, 0, 100000);
  if (!(spec_augment.max_time_mask_fraction >= 0 && spec_augment.max_time_mask_fraction <= 1)) {
    throw ConfigError(RuleMessage(sa, "max_time_mask_fraction", spec_augment.max_time_mask_fraction, "in [0, 1]"));
  }
  CheckIntRange(sa, "freq_masks", spec_augment.freq_masks, 0, 100);
  CheckIntRange(sa, "max_freq_mask_bins", spec_augment.max_freq_mask_bins, 0, 10000);
}

bool AugmentationConfig::AnyWaveform() const {
  return edge_cut.probability > 0 || speed.probability > 0 || shift.probability > 0 || reverb.probability > 0 ||
         noise.probability > 0 || gain.probability > 0 || band_limit.probability > 0 ||
         digital_silence.probability > 0;
}

// ---- random numbers ----

double Uniform01(std::mt19937_64& rng) {
  // The top 53 bits make a double in [0, 1) with every value equally likely (2^-53 spacing).
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double UniformIn(const UniformRange& range, std::mt19937_64& rng) {
  return range.min + (range.max - range.min) * Uniform01(rng);
}

double StandardNormal(std::mt19937_64& rng) {
  // Box-Muller; 1 - U lies in (0, 1], so the log is finite.
  const double u1 = 1.0 - Uniform01(rng);
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// ---- waveform building blocks ----

double MeanPower(std::span<const float> samples) {
  if (samples.empty()) return 0.0;
  double sum = 0.0;
  for (float x : samples) sum += static_cast<double>(x) * x;
  return sum / static_cast<double>(samples.size());
}

std::vector<float> SyntheticRoomResponse(double rate_hz, double rt60_s, double drr_db, std::mt19937_64& rng) {
  if (!(rt60_s >= 0.05 && rt60_s <= 3.0)) {
    throw ConfigError(RuleMessage("augmentation.reverb", "rt60_s", rt60_s, "in [0.05, 3]"));
  }
  const auto length = std::max<int64_t>(2, std::llround(rt60_s * rate_hz));
  const int64_t tail_start = std::min<int64_t>(length - 1, std::max<int64_t>(1, std::llround(0.002 * rate_hz)));
  std::vector<float> h(static_cast<size_t>(length), 0.0f);
  std::vector<double> tail(static_cast<size_t>(length - tail_start));
  double energy = 0.0;
  for (size_t i = 0; i < tail.size(); ++i) {
    const double t = static_cast<double>(tail_start + static_cast<int64_t>(i)) / rate_hz;
    tail[i] = StandardNormal(rng) * std::pow(10.0, -3.0 * t / rt60_s);
    energy += tail[i] * tail[i];
  }
  const double scale = energy > 0 ? std::sqrt(std::pow(10.0, -drr_db / 10.0) / energy) : 0.0;
  h[0] = 1.0f;
  for (size_t i = 0; i < tail.size(); ++i) h[static_cast<size_t>(tail_start) + i] = static_cast<float>(tail[i] * scale);
  return h;
}

std::vector<float> Convolve(std::span<const float> samples, std::span<const float> response) {
  std::vector<float> out(samples.size(), 0.0f);
  if (samples.empty() || response.empty()) return out;
  const int size = RoundUpToPowerOfTwo(static_cast<int>(samples.size() + response.size() - 1));
  RealFft fft(std::max(size, 2));
  std::vector<double> a(static_cast<size_t>(fft.Size()), 0.0), b(a.size(), 0.0);
  std::copy(samples.begin(), samples.end(), a.begin());
  std::copy(response.begin(), response.end(), b.begin());
  std::vector<std::complex<double>> fa(static_cast<size_t>(fft.NumBins())), fb(fa.size());
  fft.Forward(a, fa);
  fft.Forward(b, fb);
  for (size_t k = 0; k < fa.size(); ++k) fa[k] *= fb[k];
  fft.Inverse(fa, a);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(a[i]);
  return out;
}

std::vector<float> Reverberate(std::span<const float> samples, double rate_hz, double rt60_s, double drr_db,
                               std::mt19937_64& rng) {
  const std::vector<float> h = SyntheticRoomResponse(rate_hz, rt60_s, drr_db, rng);
  std::vector<float> out = Convolve(samples, h);
  const double before = MeanPower(samples), after = MeanPower(out);
  if (before > 0 && after > 0) {
    const auto g = static_cast<float>(std::sqrt(before / after));
    for (float& x : out) x *= g;
  }
  return out;
}

std::vector<float> ChangeSpeed(std::span<const float> samples, double factor) {
  if (!(factor >= 0.5 && factor <= 2.0)) {
    throw ConfigError(RuleMessage("augmentation.speed", "factor", factor, "in [0.5, 2]"));
  }
  // Playing `factor` times faster = reading the samples as if recorded at factor x the rate.
  return ResampleAudio(samples, factor, 1.0);
}

void ShiftSamples(std::vector<float>& samples, int64_t shift) {
  const auto n = static_cast<int64_t>(samples.size());
  if (shift == 0 || n == 0) return;
  if (shift >= n || shift <= -n) {
    std::fill(samples.begin(), samples.end(), 0.0f);
  } else if (shift > 0) {
    std::move_backward(samples.begin(), samples.end() - shift, samples.end());
    std::fill(samples.begin(), samples.begin() + shift, 0.0f);
  } else {
    std::move(samples.begin() - shift, samples.end(), samples.begin());
    std::fill(samples.end() + shift, samples.end(), 0.0f);
  }
}

std::vector<float> CutEdges(std::span<const float> samples, int64_t start, int64_t end) {
  const auto n = static_cast<int64_t>(samples.size());
  start = std::clamp<int64_t>(start, 0, n / 3);
  end = std::clamp<int64_t>(end, 0, n / 3);
  return {samples.begin() + start, samples.end() - end};
}

std::vector<float> PadWithZeros(std::span<const float> samples, int64_t start, int64_t end) {
  start = std::max<int64_t>(start, 0);
  end = std::max<int64_t>(end, 0);
  std::vector<float> out(static_cast<size_t>(start) + samples.size() + static_cast<size_t>(end), 0.0f);
  std::copy(samples.begin(), samples.end(), out.begin() + start);
  return out;
}

std::vector<float> BandLimit(std::span<const float> samples, double rate_hz, double via_hz) {
  if (via_hz >= rate_hz || samples.empty()) return {samples.begin(), samples.end()};
  std::vector<float> back = ResampleAudio(ResampleAudio(samples, rate_hz, via_hz), via_hz, rate_hz);
  back.resize(samples.size(), 0.0f);  // the round trip may differ by a sample; the length is kept
  return back;
}

void ApplyGainDb(std::span<float> samples, double gain_db) {
  const auto g = static_cast<float>(std::pow(10.0, gain_db / 20.0));
  for (float& x : samples) x *= g;
}

double MixAtSnr(std::span<float> signal, std::span<const float> noise, double snr_db) {
  if (noise.size() != signal.size()) {
    throw ConfigError("MixAtSnr: noise has " + std::to_string(noise.size()) + " samples; expected " +
                      std::to_string(signal.size()) + " (the signal's length)");
  }
  const double ps = MeanPower(signal);
  const double pn = MeanPower(noise);
  if (ps <= 0 || pn <= 0) return 0.0;
  // P_signal / (scale^2 P_noise) = 10^(snr / 10).
  const double scale = std::sqrt(ps / (pn * std::pow(10.0, snr_db / 10.0)));
  const auto s = static_cast<float>(scale);
  for (size_t i = 0; i < signal.size(); ++i) signal[i] += s * noise[i];
  return scale;
}

std::vector<float> WhiteNoise(int64_t n, std::mt19937_64& rng) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (float& x : out) x = static_cast<float>(StandardNormal(rng));
  return out;
}

std::vector<float> PinkNoise(int64_t n, std::mt19937_64& rng) {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::array<double, kPinkRows> rows{};
  double sum = 0.0;
  for (double& r : rows) {
    r = StandardNormal(rng);
    sum += r;
  }
  // Each sample is the sum of the 16 rows plus one fresh white term: 17 independent unit normals, so
  // dividing by sqrt(17) gives unit variance. Row k changes when the counter's lowest set bit is k.
  const double norm = 1.0 / std::sqrt(static_cast<double>(kPinkRows + 1));
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) {
      const int k = std::min(std::countr_zero(static_cast<uint64_t>(i)), kPinkRows - 1);
      const double fresh = StandardNormal(rng);
      sum += fresh - rows[static_cast<size_t>(k)];
      rows[static_cast<size_t>(k)] = fresh;
    }
    out[i] = static_cast<float>((sum + StandardNormal(rng)) * norm);
  }
  return out;
}

// ---- SpecAugment ----

std::vector<SpecMask> ApplySpecAugment(std::span<float> frames, int64_t num_frames, int dim, int base_dim,
                                       const SpecAugmentConfig& config, std::mt19937_64& rng) {
  if (dim <= 0 || base_dim <= 0 || dim % base_dim != 0 || num_frames < 0 ||
      static_cast<int64_t>(frames.size()) != num_frames * dim) {
    throw ConfigError("ApplySpecAugment: " + std::to_string(frames.size()) + " values for " +
                      std::to_string(num_frames) + " frames x " + std::to_string(dim) +
                      " dims (base " + std::to_string(base_dim) + "); expected frames x dims, dims a multiple of base");
  }
  std::vector<SpecMask> masks;
  // Column means before any masking (the kMean fill value of each cell).
  std::vector<float> mean(static_cast<size_t>(dim), 0.0f);
  if (config.fill == MaskFill::kMean && num_frames > 0) {
    std::vector<double> sum(static_cast<size_t>(dim), 0.0);
    for (int64_t t = 0; t < num_frames; ++t) {
      for (int d = 0; d < dim; ++d) sum[static_cast<size_t>(d)] += frames[static_cast<size_t>(t * dim + d)];
    }
    for (int d = 0; d < dim; ++d) {
      mean[static_cast<size_t>(d)] = static_cast<float>(sum[static_cast<size_t>(d)] / static_cast<double>(num_frames));
    }
  }
  auto fill = [&](int64_t t, int d) {
    frames[static_cast<size_t>(t * dim + d)] = mean[static_cast<size_t>(d)];
  };
  // Widest time mask: the configured frames, capped at the fraction of this utterance.
  const int64_t max_t = std::min<int64_t>(
      config.max_time_mask_frames,
      static_cast<int64_t>(std::floor(config.max_time_mask_fraction * static_cast<double>(num_frames))));
  for (int m = 0; m < config.time_masks; ++m) {
    SpecMask mask;
    mask.time = true;
    mask.width = static_cast<int64_t>(Uniform01(rng) * static_cast<double>(max_t + 1));
    mask.start = static_cast<int64_t>(Uniform01(rng) * static_cast<double>(num_frames - mask.width + 1));
    for (int64_t t = mask.start; t < mask.start + mask.width; ++t) {
      for (int d = 0; d < dim; ++d) fill(t, d);
    }
    masks.push_back(mask);
  }
  const int max_f = std::min(config.max_freq_mask_bins, base_dim);
  for (int m = 0; m < config.freq_masks; ++m) {
    SpecMask mask;
    mask.time = false;
    mask.width = static_cast<int64_t>(Uniform01(rng) * static_cast<double>(max_f + 1));
    mask.start = static_cast<int64_t>(Uniform01(rng) * static_cast<double>(base_dim - mask.width + 1));
    for (int block = 0; block < dim; block += base_dim) {
      for (int64_t f = mask.start; f < mask.start + mask.width; ++f) {
        for (int64_t t = 0; t < num_frames; ++t) fill(t, block + static_cast<int>(f));
      }
    }
    masks.push_back(mask);
  }
  return masks;
}

// ---- Augmenter ----

struct Augmenter::Background {
  std::vector<ManifestEntry> entries;
  std::string manifest;
  double rate_hz = 0;
  std::mutex mutex;
  std::vector<std::shared_ptr<const std::vector<float>>> decoded;

  std::shared_ptr<const std::vector<float>> Get(size_t i) {
    {
      std::lock_guard lock(mutex);
      if (decoded[i]) return decoded[i];
    }
    // Decoded outside the lock so threads can decode different files at once; a race decodes twice and
    // keeps the first (identical) result.
    AudioReadConfig read;
    read.sample_rate_hz = rate_hz;
    std::vector<float> samples;
    try {
      samples = ReadAudioFile(entries[i].audio_path, read);
    } catch (const AudioError& e) {
      throw AudioError(EntryLocation(manifest, entries[i]) + ": background audio: " + e.what());
    }
    auto ptr = std::make_shared<const std::vector<float>>(std::move(samples));
    std::lock_guard lock(mutex);
    if (!decoded[i]) decoded[i] = std::move(ptr);
    return decoded[i];
  }
};

Augmenter::Augmenter(const AugmentationConfig& config, double sample_rate_hz)
    : config_(config), sample_rate_hz_(sample_rate_hz) {
  config_.Validate();
  edge_cut_labels_ = SplitList(config_.edge_cut.labels);
  if (!(sample_rate_hz > 0)) {
    throw ConfigError(RuleMessage("augmentation", "sample_rate_hz", sample_rate_hz, "> 0"));
  }
  if (!config_.noise.background_manifest.empty()) {
    background_ = std::make_unique<Background>();
    background_->manifest = config_.noise.background_manifest;
    background_->entries = ReadManifest(config_.noise.background_manifest, ManifestColumns{});
    background_->rate_hz = sample_rate_hz;
    background_->decoded.resize(background_->entries.size());
  }
}

Augmenter::~Augmenter() = default;

int64_t Augmenter::NumBackgroundFiles() const {
  return background_ ? static_cast<int64_t>(background_->entries.size()) : 0;
}

std::vector<float> Augmenter::DrawNoise(int64_t n, std::mt19937_64& rng) const {
  const NoiseAugmentConfig& c = config_.noise;
  const double bg_weight = background_ ? c.background_weight : 0.0;
  const double total = c.white_weight + c.pink_weight + bg_weight;
  const double u = Uniform01(rng) * total;
  if (u < c.white_weight || total <= 0) return WhiteNoise(n, rng);
  if (u < c.white_weight + c.pink_weight || !background_) return PinkNoise(n, rng);
  const auto count = static_cast<double>(background_->entries.size());
  const auto index = std::min(static_cast<size_t>(Uniform01(rng) * count), background_->entries.size() - 1);
  const auto clip = background_->Get(index);
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0)), 0.0f);
  if (clip->empty()) return out;
  // A random start, then the clip looped as often as needed.
  size_t pos = static_cast<size_t>(Uniform01(rng) * static_cast<double>(clip->size()));
  for (float& x : out) {
    x = (*clip)[pos];
    if (++pos == clip->size()) pos = 0;
  }
  return out;
}

bool Augmenter::EdgeCutApplies(std::string_view label) const {
  if (edge_cut_labels_.empty()) return true;
  return std::find(edge_cut_labels_.begin(), edge_cut_labels_.end(), label) != edge_cut_labels_.end();
}

namespace {

// Samples at a clip's start and end for edge_cut and digital_silence: one draw picks the start, the end or
// both (a third each), then each picked edge draws its length in seconds from `range`.
ZeroPadding DrawEdges(const UniformRange& range, double rate_hz, std::mt19937_64& rng) {
  const double which = Uniform01(rng);  // [0, 1/3): start, [1/3, 2/3): end, else both
  ZeroPadding edges;
  if (which < 1.0 / 3.0 || which >= 2.0 / 3.0) edges.start = std::llround(UniformIn(range, rng) * rate_hz);
  if (which >= 1.0 / 3.0) edges.end = std::llround(UniformIn(range, rng) * rate_hz);
  return edges;
}

}  // namespace

ZeroPadding Augmenter::ApplyToWaveform(std::vector<float>& samples, std::mt19937_64& rng,
                                       std::string_view label) const {
  const AugmentationConfig& c = config_;
  if (c.edge_cut.probability > 0 && EdgeCutApplies(label) && Uniform01(rng) < c.edge_cut.probability) {
    const ZeroPadding cut = DrawEdges(c.edge_cut.cut_s, sample_rate_hz_, rng);
    samples = CutEdges(samples, cut.start, cut.end);
  }
  // One decision draw per step, always taken, so the sequence of draws does not depend on earlier outcomes'
  // probabilities being 0 or 1.
  if (Uniform01(rng) < c.speed.probability) {
    samples = ChangeSpeed(samples, UniformIn(c.speed.factor, rng));
  }
  if (Uniform01(rng) < c.shift.probability) {
    const double ms = UniformIn(c.shift.shift_ms, rng);
    ShiftSamples(samples, std::llround(ms * sample_rate_hz_ / 1000.0));
  }
  if (c.reverb.probability > 0 && Uniform01(rng) < c.reverb.probability) {
    const double rt60 = UniformIn(c.reverb.rt60_s, rng);
    const double drr = UniformIn(c.reverb.drr_db, rng);
    samples = Reverberate(samples, sample_rate_hz_, rt60, drr, rng);
  }
  if (Uniform01(rng) < c.noise.probability) {
    const double snr = UniformIn(c.noise.snr_db, rng);
    const std::vector<float> noise = DrawNoise(static_cast<int64_t>(samples.size()), rng);
    MixAtSnr(samples, noise, snr);
  }
  if (Uniform01(rng) < c.gain.probability) {
    ApplyGainDb(samples, UniformIn(c.gain.gain_db, rng));
  }
  if (c.band_limit.probability > 0 && Uniform01(rng) < c.band_limit.probability) {
    samples = BandLimit(samples, sample_rate_hz_, UniformIn(c.band_limit.sample_rate_hz, rng));
  }
  ZeroPadding pad;
  if (c.digital_silence.probability > 0 && Uniform01(rng) < c.digital_silence.probability) {
    pad = DrawEdges(c.digital_silence.pad_s, sample_rate_hz_, rng);
    samples = PadWithZeros(samples, pad.start, pad.end);
  }
  return pad;
}

void Augmenter::ApplyToFeatures(std::span<float> frames, int64_t num_frames, int dim, int base_dim,
                                std::mt19937_64& rng) const {
  if (Uniform01(rng) < config_.spec_augment.probability) {
    ApplySpecAugment(frames, num_frames, dim, base_dim, config_.spec_augment, rng);
  }
}

}  // namespace ossicle
