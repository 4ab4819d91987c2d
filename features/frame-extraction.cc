#include "features/frame-extraction.h"

#include <cmath>
#include <numbers>

#include "features/errors.h"
#include "features/rfft.h"

namespace ossicle {

int FrameConfig::WindowSamples() const {
  return static_cast<int>(sample_rate_hz * 0.001 * frame_length_ms);
}

int FrameConfig::ShiftSamples() const {
  return static_cast<int>(sample_rate_hz * 0.001 * frame_shift_ms);
}

int FrameConfig::FftSize() const { return fft_size > 0 ? fft_size : RoundUpToPowerOfTwo(WindowSamples()); }

void FrameConfig::Validate(std::string_view path) const {
  auto check = [&](bool ok, std::string_view field, const auto& value, std::string_view rule) {
    if (!ok) throw ConfigError(RuleMessage(path, field, value, rule));
  };
  check(std::isfinite(sample_rate_hz) && sample_rate_hz >= 1000.0 && sample_rate_hz <= 384000.0,
        "sample_rate_hz", sample_rate_hz, "between 1000 and 384000");
  check(std::isfinite(frame_length_ms) && frame_length_ms > 0.0 && frame_length_ms <= 1000.0,
        "frame_length_ms", frame_length_ms, "> 0 and <= 1000");
  check(WindowSamples() >= 2, "frame_length_ms", frame_length_ms,
        "a window of at least 2 samples at sample_rate_hz");
  check(std::isfinite(frame_shift_ms) && frame_shift_ms > 0.0 && frame_shift_ms <= 1000.0,
        "frame_shift_ms", frame_shift_ms, "> 0 and <= 1000");
  check(ShiftSamples() >= 1, "frame_shift_ms", frame_shift_ms, "a shift of at least 1 sample at sample_rate_hz");
  check(std::isfinite(sample_scale) && sample_scale > 0.0, "sample_scale", sample_scale, "> 0");
  check(std::isfinite(dither) && dither >= 0.0, "dither", dither, ">= 0");
  check(std::isfinite(preemphasis_coefficient) && preemphasis_coefficient >= 0.0 &&
            preemphasis_coefficient <= 1.0,
        "preemphasis_coefficient", preemphasis_coefficient, "between 0 and 1");
  check(fft_size == 0 || (fft_size >= WindowSamples() && fft_size % 2 == 0 && fft_size <= (1 << 20)),
        "fft_size", fft_size, "0 (automatic) or an even number >= the window length in samples");
}

int64_t NumFrames(const FrameConfig& config, int64_t num_samples) {
  const int64_t win = config.WindowSamples();
  const int64_t shift = config.ShiftSamples();
  switch (config.padding) {
    case FramePadding::kSnipEdges: return num_samples < win ? 0 : 1 + (num_samples - win) / shift;
    case FramePadding::kKaldiReflect: return (num_samples + shift / 2) / shift;
    case FramePadding::kCenterZero:
    case FramePadding::kCenterReflect: return num_samples == 0 ? 0 : 1 + num_samples / shift;
  }
  return 0;
}

int64_t FrameStart(const FrameConfig& config, int64_t t) {
  const int64_t win = config.WindowSamples();
  const int64_t shift = config.ShiftSamples();
  switch (config.padding) {
    case FramePadding::kSnipEdges: return t * shift;
    case FramePadding::kKaldiReflect: return t * shift + shift / 2 - win / 2;
    case FramePadding::kCenterZero:
    case FramePadding::kCenterReflect:
      // librosa/torch place the window at (n_fft - win) / 2 inside an n_fft frame centred on t * shift:
      // (n_fft - win) / 2 - n_fft / 2 = -ceil(win / 2) for an even n_fft (odd windows included).
      return t * shift - (win + 1) / 2;
  }
  return 0;
}

FramePreprocessor::FramePreprocessor(const FrameConfig& config)
    : config_(config),
      window_(MakeWindow(config.window, config.WindowSamples(), config.periodic_window)),
      scratch_(static_cast<size_t>(config.WindowSamples())) {}

namespace {

// SplitMix64 (Steele, Lea, Flood 2014): a counter-based generator, so frame t's noise can be made
// from (seed, t) alone, whatever the chunking.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Uniform01(uint64_t& state) {  // (0, 1]: 53 random bits, never 0 so log() is finite
  return (static_cast<double>(SplitMix64(state) >> 11) + 1.0) * 0x1.0p-53;
}

}  // namespace

void FramePreprocessor::Process(std::span<const float> raw, int64_t frame_index, std::span<double> out) {
  const size_t win = window_.size();
  const double scale = config_.sample_scale;
  const double c = config_.preemphasis_coefficient;
  const double* w = window_.data();
  if (config_.dither == 0.0) {
    // The common case in one vectorisable pass: y[n] = scale x[n] - mean, p[n] = y[n] - c y[n-1]
    // (p[0] = y[0] - c y[0]), out[n] = p[n] w[n].
    double mean = 0.0;
    if (config_.remove_dc_offset) {
      double sum = 0.0;
      for (size_t n = 0; n < win; ++n) sum += raw[n];
      mean = scale * sum / static_cast<double>(win);
    }
    const float* x = raw.data();
    out[0] = (1.0 - c) * (scale * x[0] - mean) * w[0];
    for (size_t n = 1; n < win; ++n) {
      out[n] = ((scale * x[n] - mean) - c * (scale * x[n - 1] - mean)) * w[n];
    }
  } else {
    double* x = scratch_.data();
    for (size_t n = 0; n < win; ++n) x[n] = scale * static_cast<double>(raw[n]);
    uint64_t state = config_.dither_seed ^ (static_cast<uint64_t>(frame_index) * 0xd1b54a32d192ed03ULL);
    for (size_t n = 0; n < win; n += 2) {  // Box-Muller: two Gaussian values per pair of uniforms
      const double r = std::sqrt(-2.0 * std::log(Uniform01(state)));
      const double phi = 2.0 * std::numbers::pi * Uniform01(state);
      x[n] += config_.dither * r * std::cos(phi);
      if (n + 1 < win) x[n + 1] += config_.dither * r * std::sin(phi);
    }
    if (config_.remove_dc_offset) {
      double sum = 0.0;
      for (size_t n = 0; n < win; ++n) sum += x[n];
      const double mean = sum / static_cast<double>(win);
      for (size_t n = 0; n < win; ++n) x[n] -= mean;
    }
    for (size_t n = win - 1; n > 0; --n) x[n] -= c * x[n - 1];
    x[0] -= c * x[0];
    for (size_t n = 0; n < win; ++n) out[n] = x[n] * w[n];
  }
  for (size_t n = win; n < out.size(); ++n) out[n] = 0.0;
}

}  // namespace ossicle
