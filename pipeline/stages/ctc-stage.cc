// decoder.ctc_greedy, decoder.ctc_beam — transcripts from a CTC model's posteriors (models/ctc-decoder.h).
#include <filesystem>

#include "features/errors.h"
#include "models/ctc-decoder.h"
#include "pipeline/stages/builtin-stages.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace {

// The decoder's own options plus when transcripts are emitted.
template <class DecoderConfig>
struct CtcStageOptions {
  DecoderConfig decoder;
  bool per_segment = false;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    DecoderConfig::Fields(self.decoder, v);
    v(FieldInfo{"per_segment", "",
                "one transcript per speech segment (model fed by vad.energy) instead of one per input"},
      self.per_segment);
  }
  void Validate(std::string_view path) const { decoder.Validate(path); }
};

template <class Decoder, class DecoderConfig>
class CtcInstance : public StageInstance {
 public:
  CtcInstance(const CtcStageOptions<DecoderConfig>& options, const StreamInfo& in, std::string file, double offset_s)
      : decoder_(options.decoder, in.labels, in.FrameShiftSeconds()),
        per_segment_(options.per_segment),
        file_(std::move(file)),
        offset_s_(offset_s) {}

  void Accept(size_t, const Packet& packet, Emitter& out) override {
    const auto& chunk = std::get<PosteriorChunk>(packet);
    if (chunk.log_probs.rows() > 0) decoder_.AcceptFrames(chunk.log_probs, chunk.first_frame);
    if (chunk.segment_end && per_segment_) {
      // Hypotheses start afresh; frame indices stay absolute (the next segment comes after a gap).
      out.Emit(Packet(TranscriptRecord(file_, decoder_.InputFinished(), offset_s_)));
      decoder_.Reset();
    }
  }

  void Finish(Emitter& out) override {
    if (per_segment_) return;  // every segment has been reported
    out.Emit(Packet(TranscriptRecord(file_, decoder_.InputFinished(), offset_s_)));
  }

 private:
  Decoder decoder_;
  bool per_segment_;
  std::string file_;
  double offset_s_;
};

template <class Decoder, class DecoderConfig>
class CtcStage : public SimpleStage {
 public:
  CtcStage(const CtcStageOptions<DecoderConfig>& options, const StreamInfo& in) : options_(options), in_(in) {
    output_.kind = StreamKind::kRecords;
  }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    return std::make_unique<CtcInstance<Decoder, DecoderConfig>>(options_, in_, input.name,
                                                                 FrameTimeOffsetSeconds(in_.features));
  }

 private:
  CtcStageOptions<DecoderConfig> options_;
  StreamInfo in_;
};

template <class Decoder, class DecoderConfig>
std::unique_ptr<const Stage> BuildCtcStage(const StageBuildContext& ctx) {
  CtcStageOptions<DecoderConfig> options;
  constexpr bool kBeam = std::is_same_v<DecoderConfig, CtcBeamConfig>;
  ApplyModelDecoderDefaults(ctx, kBeam ? "decoder.ctc_beam" : "decoder.ctc_greedy", options);
  const CtcStageOptions<DecoderConfig> model_defaults = options;
  ctx.ReadOptions(options);
  if constexpr (std::is_same_v<DecoderConfig, CtcBeamConfig>) {
    // A word list file the graph (or --set) names wins over the words of the model's metadata, which the
    // decoder would otherwise take instead of the file.
    if (options.decoder.word_list_file != model_defaults.decoder.word_list_file &&
        options.decoder.words == model_defaults.decoder.words) {
      options.decoder.words.clear();
    }
    // The word list is a file named in the graph: relative to the graph's folder (or, from --set, to the
    // working directory).
    std::string& file = options.decoder.word_list_file;
    if (!file.empty() && std::filesystem::path(file).is_relative()) {
      bool from_command_line = false;
      for (const auto& [key, value] : ctx.spec.overrides) from_command_line = from_command_line || key == "word_list_file";
      file = from_command_line ? std::filesystem::absolute(file).lexically_normal().string()
                               : (ctx.Source().base_dir / file).lexically_normal().string();
    }
  }
  const StreamInfo& in = *ctx.InputOn(0);
  ctx.WithPosition("", [&] { Decoder check(options.decoder, in.labels, in.FrameShiftSeconds(), ctx.spec.name); });
  return std::make_unique<CtcStage<Decoder, DecoderConfig>>(options, in);
}

}  // namespace

void RegisterCtcStages(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "decoder.ctc_greedy",
      .summary = "CTC best-path decoding of a CTC model's posteriors (transcript records)",
      .inputs = {InputPort{StreamKind::kPosteriors, 1, 1, "posteriors"}},
      .docs = [] { return OptionDocs<CtcStageOptions<CtcGreedyConfig>>(); },
      .build = BuildCtcStage<CtcGreedyDecoder, CtcGreedyConfig>,
  });
  registry.Add(StageType{
      .name = "decoder.ctc_beam",
      .summary = "CTC prefix beam search, optionally restricted to a word list (transcript records)",
      .inputs = {InputPort{StreamKind::kPosteriors, 1, 1, "posteriors"}},
      .docs = [] { return OptionDocs<CtcStageOptions<CtcBeamConfig>>(); },
      .build = BuildCtcStage<CtcBeamDecoder, CtcBeamConfig>,
  });
}

}  // namespace ossicle
