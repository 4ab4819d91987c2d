// decoder.ctc_keywords — keywords given as text, spotted with a CTC model (models/ctc-keyword-spotter.h).
#include "features/errors.h"
#include "models/ctc-keyword-spotter.h"
#include "pipeline/stages/builtin-stages.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace {

class CtcKeywordInstance : public StageInstance {
 public:
  CtcKeywordInstance(const CtcKeywordSpotterConfig& config, const StreamInfo& in, std::string file, double offset_s)
      : spotter_(config, in.labels, in.FrameShiftSeconds()), file_(std::move(file)), offset_s_(offset_s) {}

  void Accept(size_t, const Packet& packet, Emitter& out) override {
    const auto& chunk = std::get<PosteriorChunk>(packet);
    if (chunk.log_probs.rows() > 0) EmitHits(spotter_.AcceptFrames(chunk.log_probs, chunk.first_frame), out);
    if (chunk.segment_end) EmitHits(spotter_.InputFinished(), out);
  }

  void Finish(Emitter& out) override { EmitHits(spotter_.InputFinished(), out); }

 private:
  void EmitHits(const std::vector<KeywordHit>& hits, Emitter& out) {
    for (const KeywordHit& hit : hits) out.Emit(Packet(HitRecord(file_, hit, offset_s_)));
  }

  CtcKeywordSpotter spotter_;
  std::string file_;
  double offset_s_;
};

class CtcKeywordStage : public SimpleStage {
 public:
  CtcKeywordStage(const CtcKeywordSpotterConfig& config, const StreamInfo& in) : config_(config), in_(in) {
    output_.kind = StreamKind::kRecords;
  }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    return std::make_unique<CtcKeywordInstance>(config_, in_, input.name, FrameTimeOffsetSeconds(in_.features));
  }

 private:
  CtcKeywordSpotterConfig config_;
  StreamInfo in_;
};

std::unique_ptr<const Stage> BuildCtcKeywordStage(const StageBuildContext& ctx) {
  CtcKeywordSpotterConfig config;
  const StreamInfo& in = *ctx.InputOn(0);
  ApplyModelDecoderDefaults(ctx, "decoder.ctc_keywords", config);  // the model's calibrated threshold, ...
  ctx.ReadOptions(config);
  ctx.WithPosition("keywords", [&] { CtcKeywordSpotter check(config, in.labels, in.FrameShiftSeconds(), ctx.spec.name); });
  return std::make_unique<CtcKeywordStage>(config, in);
}

}  // namespace

void RegisterCtcKeywordStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "decoder.ctc_keywords",
      .summary = "keywords given as text, scored against a CTC model's posteriors over sliding windows "
                 "(hit records)",
      .inputs = {InputPort{StreamKind::kPosteriors, 1, 1, "posteriors"}},
      .docs = [] { return OptionDocs<CtcKeywordSpotterConfig>(); },
      .build = BuildCtcKeywordStage,
  });
}

}  // namespace ossicle
