// vad.energy — speech segments from an energy-based voice activity detector (features/energy-vad.h).
//
// Besides the final segments, every update says up to which sample the audio is decided (pipeline/stage.h,
// SegmentUpdate), derived from the detector's rules:
//   * while a segment is open (at least min_speech_ms active), a sample more than min_silence_ms + 2 frames
//     before the end of the audio seen belongs to it: a longer pause would have closed the segment;
//   * with no segment open, a segment can still start no earlier than min_speech_ms + min_silence_ms +
//     2 frames before that end (a burst must last min_speech_ms, counting pauses shorter than
//     min_silence_ms, before it opens), so everything earlier is silence.
// The two extra frames cover the frame being filled and the frame rounding of the durations.
#include <algorithm>
#include <cmath>
#include <limits>

#include "features/energy-vad.h"
#include "features/errors.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

class VadInstance : public StageInstance {
 public:
  VadInstance(const EnergyVadConfig& config, double sample_rate_hz) : vad_(config, sample_rate_hz) {
    auto samples = [&](double ms) { return static_cast<int64_t>(std::ceil(ms * sample_rate_hz / 1000.0)); };
    const int64_t frames2 = 2 * samples(config.frame_ms);
    open_lag_ = samples(config.min_silence_ms) + frames2;
    closed_lag_ = samples(config.min_speech_ms) + samples(config.min_silence_ms) + frames2;
  }

  void Accept(size_t, const Packet& packet, Emitter& out) override {
    const auto& chunk = std::get<AudioChunk>(packet);
    std::vector<SpeechSegment> segments = vad_.AcceptWaveform(chunk.samples);
    SegmentUpdate update;
    update.open_start = vad_.OpenSegmentStart();
    const int64_t seen = vad_.NumSamplesAccepted();
    int64_t decided = update.open_start ? std::max(*update.open_start, seen - open_lag_) : seen - closed_lag_;
    for (const SpeechSegment& s : segments) decided = std::max(decided, s.end_sample);
    update.decided_until = std::max(decided_until_, decided);
    if (segments.empty() && update.decided_until == decided_until_ && update.open_start == open_start_) return;
    update.segments = std::move(segments);
    decided_until_ = update.decided_until;
    open_start_ = update.open_start;
    out.Emit(Packet(std::move(update)));
  }

  void Finish(Emitter& out) override {
    SegmentUpdate update;
    update.segments = vad_.InputFinished();
    update.decided_until = std::numeric_limits<int64_t>::max();
    out.Emit(Packet(std::move(update)));
  }

 private:
  EnergyVad vad_;
  int64_t open_lag_ = 0, closed_lag_ = 0;
  int64_t decided_until_ = 0;
  std::optional<int64_t> open_start_;
};

class VadStage : public SimpleStage {
 public:
  VadStage(const EnergyVadConfig& config, double sample_rate_hz) : config_(config) {
    output_.kind = StreamKind::kSegments;
    output_.sample_rate_hz = sample_rate_hz;
  }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<VadInstance>(config_, output_.sample_rate_hz);
  }

 private:
  EnergyVadConfig config_;
};

std::unique_ptr<const Stage> BuildVadStage(const StageBuildContext& ctx) {
  EnergyVadConfig config;
  ctx.ReadOptions(config);
  const double rate = ctx.InputOn(0)->sample_rate_hz;
  ctx.WithPosition("frame_ms", [&] { EnergyVad check(config, rate, ctx.spec.name); });
  return std::make_unique<VadStage>(config, rate);
}

}  // namespace

void RegisterVadStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "vad.energy",
      .summary = "speech segments by frame energy above an adaptive noise floor (feeds model.rnn so the model "
                 "runs per segment and sleeps through silence)",
      .inputs = {InputPort{StreamKind::kAudio, 1, 1, "audio"}},
      .docs = [] { return OptionDocs<EnergyVadConfig>(); },
      .build = BuildVadStage,
  });
}

}  // namespace ossicle
