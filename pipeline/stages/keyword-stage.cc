// decoder.keywords — keyword hits from a frame classifier's posteriors (models/kws-decoder.h).
#include "features/errors.h"
#include "models/kws-decoder.h"
#include "pipeline/stages/builtin-stages.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace {

class KeywordInstance : public StageInstance {
 public:
  KeywordInstance(const KwsDecoderConfig& config, const StreamInfo& in, std::string file, double offset_s)
      : decoder_(config, in.labels, in.FrameShiftSeconds()), file_(std::move(file)), offset_s_(offset_s) {}

  void Accept(size_t, const Packet& packet, Emitter& out) override {
    const auto& chunk = std::get<PosteriorChunk>(packet);
    if (chunk.log_probs.rows() > 0) EmitHits(decoder_.AcceptFrames(chunk.log_probs, chunk.first_frame), out);
    // The end of a speech segment: what is pending is decided now, not at the next segment.
    if (chunk.segment_end) EmitHits(decoder_.InputFinished(), out);
  }

  void Finish(Emitter& out) override { EmitHits(decoder_.InputFinished(), out); }

 private:
  void EmitHits(const std::vector<KeywordHit>& hits, Emitter& out) {
    for (const KeywordHit& hit : hits) out.Emit(Packet(HitRecord(file_, hit, offset_s_)));
  }

  KwsDecoder decoder_;
  std::string file_;
  double offset_s_;
};

class KeywordStage : public SimpleStage {
 public:
  KeywordStage(const KwsDecoderConfig& config, const StreamInfo& in) : config_(config), in_(in) {
    output_.kind = StreamKind::kRecords;
  }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    return std::make_unique<KeywordInstance>(config_, in_, input.name, FrameTimeOffsetSeconds(in_.features));
  }

 private:
  KwsDecoderConfig config_;
  StreamInfo in_;
};

std::unique_ptr<const Stage> BuildKeywordStage(const StageBuildContext& ctx) {
  KwsDecoderConfig config;
  const StreamInfo& in = *ctx.InputOn(0);
  ApplyModelDecoderDefaults(ctx, "decoder.keywords", config);  // the model's calibrated threshold, ...
  ctx.ReadOptions(config);
  // Keywords and thresholds against the model's labels, now rather than when the first file is read.
  ctx.WithPosition("keywords", [&] { KwsDecoder check(config, in.labels, in.FrameShiftSeconds(), ctx.spec.name); });
  return std::make_unique<KeywordStage>(config, in);
}

}  // namespace

void RegisterKeywordStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "decoder.keywords",
      .summary = "keyword hits from a keyword model's posteriors: smoothing, confidence window, threshold, "
                 "suppression (hit records)",
      .inputs = {InputPort{StreamKind::kPosteriors, 1, 1, "posteriors"}},
      .docs = [] { return OptionDocs<KwsDecoderConfig>(); },
      .build = BuildKeywordStage,
  });
}

}  // namespace ossicle
