// source.microphone — live audio from a capture device (pipeline/microphone-source.h), one input per run,
// until a stop is requested (Ctrl-C in `ossicle listen`) or max_duration_s of audio has been delivered.
// On a stop the device is stopped and what it had already captured still goes through the graph.
#include "features/errors.h"
#include "pipeline/microphone-source.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

class MicrophoneInstance : public StageInstance {
 public:
  MicrophoneInstance(const MicrophoneConfig& config, const InputContext& input)
      : mic_(config), input_(input), rate_(config.sample_rate_hz) {}

  bool Produce(Emitter& out) override {
    if (done_) return false;
    if (!started_) {
      mic_.Start();
      started_ = true;
    }
    if (!stopping_ && input_.StopRequested()) {
      mic_.Stop();
      stopping_ = true;
    }
    const bool more = mic_.Read(block_);
    if (!block_.empty()) {
      AudioChunk chunk;
      chunk.first_sample = next_sample_;
      chunk.samples = block_;
      next_sample_ += static_cast<int64_t>(block_.size());
      out.Emit(Packet(std::move(chunk)));
    }
    if (!more) done_ = true;
    return more;
  }

  void Accept(size_t, const Packet&, Emitter&) override {}
  void Finish(Emitter&) override {}

  nlohmann::json SummaryFields() const override {
    const CaptureStats stats = mic_.Stats();
    return {{"duration_s", static_cast<double>(next_sample_) / rate_},
            {"device", mic_.Device().name},
            {"overruns", stats.overruns},
            {"dropped_s", stats.DroppedSeconds(mic_.DeviceSampleRateHz())}};
  }

 private:
  MicrophoneSource mic_;
  const InputContext& input_;
  double rate_;
  std::vector<float> block_;
  int64_t next_sample_ = 0;
  bool started_ = false, stopping_ = false, done_ = false;
};

class MicrophoneStage : public SimpleStage {
 public:
  explicit MicrophoneStage(const MicrophoneConfig& config) : config_(config) {
    output_.kind = StreamKind::kAudio;
    output_.sample_rate_hz = config.sample_rate_hz;
  }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    return std::make_unique<MicrophoneInstance>(config_, input);
  }

 private:
  MicrophoneConfig config_;
};

}  // namespace

void RegisterMicrophoneSourceStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "source.microphone",
      .summary = "live audio from a capture device (PortAudio), resampled to sample_rate_hz, until stopped",
      .inputs = {},
      .docs = [] { return OptionDocs<MicrophoneConfig>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        MicrophoneConfig config;
        ctx.ReadOptions(config);
        return std::make_unique<MicrophoneStage>(config);
      },
  });
}

}  // namespace ossicle
