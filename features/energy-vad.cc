#include "features/energy-vad.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "features/errors.h"

namespace ossicle {

namespace {

// Added to the mean square so that digital silence has a finite energy: 10 log10(1e-10) = -100 dB, below
// anything a 24-bit converter delivers (about -144 dB for one LSB, but no real input is that quiet).
constexpr double kEnergyFloor = 1e-10;

void CheckFinite(std::string_view path, std::string_view field, double value) {
  if (!std::isfinite(value)) throw ConfigError(RuleMessage(path, field, value, "a finite number"));
}

void CheckPositive(std::string_view path, std::string_view field, double value) {
  if (!std::isfinite(value) || value <= 0.0) throw ConfigError(RuleMessage(path, field, value, "> 0"));
}

void CheckNonNegative(std::string_view path, std::string_view field, double value) {
  if (!std::isfinite(value) || value < 0.0) throw ConfigError(RuleMessage(path, field, value, ">= 0"));
}

}  // namespace

void EnergyVadConfig::Validate(std::string_view path) const {
  CheckPositive(path, "frame_ms", frame_ms);
  CheckNonNegative(path, "margin_db", margin_db);
  CheckFinite(path, "min_energy_db", min_energy_db);
  CheckFinite(path, "floor_min_db", floor_min_db);
  CheckNonNegative(path, "floor_rise_db_per_s", floor_rise_db_per_s);
  CheckNonNegative(path, "min_speech_ms", min_speech_ms);
  CheckNonNegative(path, "min_silence_ms", min_silence_ms);
  CheckNonNegative(path, "hangover_ms", hangover_ms);
  if (hangover_ms > min_silence_ms) {
    // The end of a segment is decided after min_silence_ms of quiet; a longer hangover would reach into
    // frames not yet seen.
    throw ConfigError(RuleMessage(path, "hangover_ms", hangover_ms,
                                  "<= min_silence_ms (" + FormatValue(min_silence_ms) + ")"));
  }
  if (!std::isfinite(max_segment_ms) || max_segment_ms < frame_ms) {
    throw ConfigError(RuleMessage(path, "max_segment_ms", max_segment_ms,
                                  ">= frame_ms (" + FormatValue(frame_ms) + ")"));
  }
}

struct EnergyVad::Impl {
  EnergyVadConfig config;
  double rate = 16000.0;
  int64_t frame_samples = 160;
  int64_t min_silence_frames = 0, hangover_frames = 0, min_speech_frames = 0, max_segment_frames = 1;
  double rise_per_frame_db = 0.0;

  // Stream position.
  int64_t samples = 0;       // samples accepted
  int64_t frame = 0;         // frames classified
  double sum_squares = 0.0;  // of the samples of the frame being filled
  int64_t frame_fill = 0;
  bool have_floor = false;
  double floor_db = 0.0;

  // The open segment, in frames.
  bool open = false;
  bool continuation = false;  // it continues a segment cut at max_segment_ms
  int64_t seg_start = 0, first_active = 0, last_active = 0;

  int64_t FrameEnd(int64_t f) const { return std::min((f + 1) * frame_samples, samples); }

  void Close(int64_t end_sample, bool cut, std::vector<SpeechSegment>& out) {
    open = false;
    if (!continuation && last_active - first_active + 1 < min_speech_frames) return;
    out.push_back(SpeechSegment{seg_start * frame_samples, end_sample, cut});
  }

  void ClassifyFrame(double mean_square, std::vector<SpeechSegment>& out) {
    const int64_t f = frame++;
    const double energy_db = 10.0 * std::log10(mean_square + kEnergyFloor);
    if (!have_floor) {
      floor_db = std::max(energy_db, config.floor_min_db);
      have_floor = true;
    }
    const bool active = energy_db > floor_db + config.margin_db && energy_db > config.min_energy_db;
    floor_db = energy_db < floor_db ? energy_db : std::min(energy_db, floor_db + rise_per_frame_db);
    floor_db = std::max(floor_db, config.floor_min_db);

    if (open && f - seg_start >= max_segment_frames) {
      if (active) {  // cut in the middle of speech: frame f starts the next part
        Close(f * frame_samples, true, out);
        open = true;
        continuation = true;
        seg_start = first_active = f;
      } else {  // in a pause: end the segment here, speech that resumes starts a new one
        Close(std::min(FrameEnd(last_active) + hangover_frames * frame_samples, f * frame_samples), false, out);
      }
    }
    if (active) {
      if (!open) {
        open = true;
        continuation = false;
        seg_start = first_active = f;
      }
      last_active = f;
    } else if (open && f - last_active >= min_silence_frames) {
      Close(std::min(FrameEnd(last_active) + hangover_frames * frame_samples, samples), false, out);
    }
  }
};

EnergyVad::EnergyVad(const EnergyVadConfig& config, double sample_rate_hz, std::string_view path)
    : impl_(std::make_unique<Impl>()) {
  config.Validate(path);
  if (!std::isfinite(sample_rate_hz) || sample_rate_hz <= 0.0) {
    throw ConfigError(std::string(path) + ": sample rate " + FormatValue(sample_rate_hz) + " Hz; expected > 0");
  }
  Impl& d = *impl_;
  d.config = config;
  d.rate = sample_rate_hz;
  d.frame_samples = std::llround(config.frame_ms * sample_rate_hz / 1000.0);
  if (d.frame_samples < 1) {
    throw ConfigError(RuleMessage(path, "frame_ms", config.frame_ms,
                                  "at least one sample at " + FormatValue(sample_rate_hz) + " Hz"));
  }
  const double frame_s = static_cast<double>(d.frame_samples) / sample_rate_hz;
  const auto frames = [&](double ms) {
    return static_cast<int64_t>(std::ceil(ms / 1000.0 / frame_s - 1e-9));
  };
  d.min_silence_frames = std::max<int64_t>(1, frames(config.min_silence_ms));
  d.hangover_frames = std::min(frames(config.hangover_ms), d.min_silence_frames);
  d.min_speech_frames = frames(config.min_speech_ms);
  d.max_segment_frames =
      std::max<int64_t>(1, static_cast<int64_t>(std::floor(config.max_segment_ms / 1000.0 / frame_s + 1e-9)));
  d.rise_per_frame_db = config.floor_rise_db_per_s * frame_s;
}

EnergyVad::~EnergyVad() = default;
EnergyVad::EnergyVad(EnergyVad&&) noexcept = default;
EnergyVad& EnergyVad::operator=(EnergyVad&&) noexcept = default;

std::vector<SpeechSegment> EnergyVad::AcceptWaveform(std::span<const float> samples) {
  Impl& d = *impl_;
  std::vector<SpeechSegment> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    const float x = samples[i];
    if (!std::isfinite(x)) {
      std::ostringstream os;
      os << "voice activity detector: sample " << d.samples << " (t = " << static_cast<double>(d.samples) / d.rate
         << " s) is " << x << "; expected finite sample values";
      throw AudioError(os.str());
    }
    d.sum_squares += static_cast<double>(x) * static_cast<double>(x);
    ++d.samples;
    if (++d.frame_fill == d.frame_samples) {
      d.ClassifyFrame(d.sum_squares / static_cast<double>(d.frame_samples), out);
      d.sum_squares = 0.0;
      d.frame_fill = 0;
    }
  }
  return out;
}

std::vector<SpeechSegment> EnergyVad::InputFinished() {
  Impl& d = *impl_;
  std::vector<SpeechSegment> out;
  if (d.frame_fill > 0) {
    d.ClassifyFrame(d.sum_squares / static_cast<double>(d.frame_fill), out);
    d.sum_squares = 0.0;
    d.frame_fill = 0;
  }
  if (d.open) d.Close(std::min(d.FrameEnd(d.last_active) + d.hangover_frames * d.frame_samples, d.samples), false, out);
  return out;
}

void EnergyVad::Reset() {
  Impl& d = *impl_;
  d.samples = 0;
  d.frame = 0;
  d.sum_squares = 0.0;
  d.frame_fill = 0;
  d.have_floor = false;
  d.floor_db = 0.0;
  d.open = false;
  d.continuation = false;
}

std::optional<int64_t> EnergyVad::OpenSegmentStart() const {
  const Impl& d = *impl_;
  if (!d.open || (!d.continuation && d.last_active - d.first_active + 1 < d.min_speech_frames)) return std::nullopt;
  return d.seg_start * d.frame_samples;
}

int64_t EnergyVad::NumSamplesAccepted() const { return impl_->samples; }
int64_t EnergyVad::NumFramesProcessed() const { return impl_->frame; }
double EnergyVad::NoiseFloorDb() const { return impl_->floor_db; }
double EnergyVad::SampleRateHz() const { return impl_->rate; }

}  // namespace ossicle
