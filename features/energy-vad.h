// Energy-based voice activity detection, streaming: speech segments as absolute sample ranges.
//
//   ossicle::EnergyVad vad(ossicle::EnergyVadConfig{}, 16000.0);
//   for (each block of samples) for (const SpeechSegment& s : vad.AcceptWaveform(block)) run_model(s);
//   for (const SpeechSegment& s : vad.InputFinished()) run_model(s);
//
// Frames: consecutive, non-overlapping blocks of N = round(frame_ms * rate / 1000) samples; frame f covers
// samples [f N, (f + 1) N) (the last frame at InputFinished() may be shorter).
// Energy: E_f = 10 log10(mean of x^2 over the frame + 1e-10) dB, with samples in [-1, 1] (0 dB = a full-scale
// square wave; a full-scale sine is -3 dB; the 1e-10 makes digital silence -100 dB).
// Noise floor F (dB), adaptive: the first frame sets it; then F <- E_f when E_f < F (it follows minima
// at once), else F <- min(E_f, F + floor_rise_db_per_s * N / rate) (it rises slowly through loud
// stretches); finally F <- max(F, floor_min_db). The floor is updated after the frame is classified.
// Active frame: E_f > F + margin_db and E_f > min_energy_db.
// Segments: a segment starts at an active frame and continues through pauses shorter than
// min_silence_ms (counted from the end of the last active frame to the next active frame). It ends at
// the end of its last active frame plus hangover_ms (never past the next segment's start or the input's
// end). Segments whose active part (first to last active frame) is shorter than min_speech_ms are dropped
// (clicks). A segment that reaches max_segment_ms is cut there, so a bidirectional model never has to
// run over an unbounded sequence: when the frame at the cut is active, the speech continues in a new
// segment starting at the cut (`continued` is set on the earlier part; a continuation is never dropped as
// too short); in a pause, the segment simply ends (with its hangover, but not past the cut).
// A segment is reported once it is final: after min_silence_ms of inactivity following it, at a cut, or
// at InputFinished(). Everything is decided frame by frame, so any chunking of the samples gives exactly
// the same segments as one call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

struct EnergyVadConfig {
  double frame_ms = 10.0;
  double margin_db = 12.0;          // an active frame is this far above the noise floor
  double min_energy_db = -60.0;     // frames quieter than this are never speech (dBFS as above)
  double floor_min_db = -90.0;      // the floor never goes below this (digital silence)
  double floor_rise_db_per_s = 3.0; // how fast the floor climbs while frames are louder than it
  double min_speech_ms = 60.0;      // shorter bursts of activity are not speech
  double min_silence_ms = 300.0;    // shorter pauses do not end a segment
  double hangover_ms = 0.0;         // added after the last active frame of a segment
  double max_segment_ms = 30000.0;  // longer speech is cut into segments of this length

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"frame_ms", "ms", "energy frame length (frames do not overlap)"}, self.frame_ms);
    v(FieldInfo{"margin_db", "dB", "a frame is active when this far above the noise floor"}, self.margin_db);
    v(FieldInfo{"min_energy_db", "dB", "frames quieter than this (dB re full scale) are never speech"},
      self.min_energy_db);
    v(FieldInfo{"floor_min_db", "dB", "lowest noise floor"}, self.floor_min_db);
    v(FieldInfo{"floor_rise_db_per_s", "dB/s", "rate at which the noise floor rises through louder frames"},
      self.floor_rise_db_per_s);
    v(FieldInfo{"min_speech_ms", "ms", "segments with a shorter active part are dropped"}, self.min_speech_ms);
    v(FieldInfo{"min_silence_ms", "ms", "shorter pauses do not end a segment"}, self.min_silence_ms);
    v(FieldInfo{"hangover_ms", "ms", "speech kept after the last active frame of a segment"},
      self.hangover_ms);
    v(FieldInfo{"max_segment_ms", "ms", "longer speech is cut into segments of at most this length"},
      self.max_segment_ms);
  }

  // ConfigError naming the field ("vad.frame_ms = 0; expected > 0").
  void Validate(std::string_view path = "vad") const;
  std::string ToString() const { return ConfigToString(*this); }
};

struct SpeechSegment {
  int64_t start_sample = 0;  // first sample of the segment (absolute, since the last Reset())
  int64_t end_sample = 0;    // one past the last sample
  bool continued = false;    // cut at max_segment_ms: the next segment continues this speech

  double StartSeconds(double sample_rate_hz) const { return static_cast<double>(start_sample) / sample_rate_hz; }
  double EndSeconds(double sample_rate_hz) const { return static_cast<double>(end_sample) / sample_rate_hz; }
};

class EnergyVad {
 public:
  // Validates `config` (ConfigError); sample_rate_hz must be > 0 and give frames of at least one sample.
  EnergyVad(const EnergyVadConfig& config, double sample_rate_hz, std::string_view path = "vad");
  ~EnergyVad();
  EnergyVad(EnergyVad&&) noexcept;
  EnergyVad& operator=(EnergyVad&&) noexcept;

  // Samples continue where the previous call ended. Returns the segments that became final. Throws
  // AudioError for a NaN or infinite sample (naming its absolute index).
  std::vector<SpeechSegment> AcceptWaveform(std::span<const float> samples);
  // Ends the input: the remaining samples form a last (shorter) frame; returns the remaining segments.
  std::vector<SpeechSegment> InputFinished();
  void Reset();

  // The start of a segment that is in progress (at least min_speech_ms active so far and not yet final).
  std::optional<int64_t> OpenSegmentStart() const;
  int64_t NumSamplesAccepted() const;
  // Frames classified so far, and the current noise floor (dB).
  int64_t NumFramesProcessed() const;
  double NoiseFloorDb() const;
  double SampleRateHz() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
