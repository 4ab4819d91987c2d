// features.fbank, features.mfcc, features.model — the streaming front end (features/online-features.h) as a
// stage. features.model computes whichever of the two a model file was trained with (match_model required).
#include "features/errors.h"
#include "features/online-features.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

// A feature configuration without its `type` (the stage type says it) and, for fbank, without `mfcc`.
// The base is Kaldi's (FeatureConfig::KaldiFbank / KaldiMfcc), or the configuration stored in the model
// file of the model.rnn stage named by match_model, or a features YAML file named by `config`; the other
// keys then change it.
template <FeatureType kType>
struct FeatureStageOptions {
  std::string match_model;
  std::string config;
  FeatureConfig features = kType == FeatureType::kMfcc ? FeatureConfig::KaldiMfcc() : FeatureConfig::KaldiFbank();

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"match_model", "",
                "name of a model.rnn stage: start from the features its model file was trained with"},
      self.match_model);
    v(FieldInfo{"config", "path", "features YAML file read first (e.g. configs/features/kaldi-fbank-40.yaml)"},
      self.config);
    FeatureConfig::Fields(self.features, [&](FieldInfo info, auto& value) {
      if (info.name == "type") return;
      if (kType == FeatureType::kFbank && info.name == "mfcc") return;
      v(info, value);
    });
  }
};

// features.model: no type of its own; the base is always the model's configuration (fbank or MFCC), and the
// keys change it as for the stage of that type (mfcc keys only for an MFCC model).
struct ModelFeatureStageOptions {
  std::string match_model;
  FeatureConfig features = FeatureConfig::KaldiFbank();

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"match_model", "",
                "name of the model.rnn stage whose model file's features (fbank or mfcc) this stage computes "
                "(required)"},
      self.match_model);
    FeatureConfig::Fields(self.features, [&](FieldInfo info, auto& value) {
      if (info.name == "type") return;
      v(info, value);
    });
  }
};

class FeatureInstance : public StageInstance {
 public:
  explicit FeatureInstance(const FeatureConfig& config, std::shared_ptr<const CmvnStats> stats)
      : extractor_(config, std::move(stats)) {}

  void Accept(size_t, const Packet& packet, Emitter& out) override {
    const auto& chunk = std::get<AudioChunk>(packet);
    extractor_.AcceptWaveform(chunk.samples);
    EmitReady(out);
  }

  void Finish(Emitter& out) override {
    extractor_.InputFinished();
    EmitReady(out);
  }

 private:
  void EmitReady(Emitter& out) {
    const int64_t end = extractor_.NumFramesReady();
    if (end <= next_) return;
    FeatureChunk chunk;
    chunk.first_frame = next_;
    const std::span<const float> rows = extractor_.FramesFrom(next_);
    chunk.frames = Eigen::Map<const MatrixF>(rows.data(), end - next_, extractor_.Dim());
    next_ = end;
    extractor_.ReleaseFramesBefore(end);
    out.Emit(Packet(std::move(chunk)));
  }

  OnlineFeatureExtractor extractor_;
  int64_t next_ = 0;
};

class FeatureStage : public SimpleStage {
 public:
  explicit FeatureStage(const FeatureConfig& config) : config_(config) {
    // Global CMVN statistics are loaded once and shared by every input.
    if (config.cmvn.mode == CmvnMode::kGlobal) stats_ = std::make_shared<const CmvnStats>(CmvnStats::Load(config.cmvn.stats_file));
    output_.kind = StreamKind::kFeatures;
    output_.sample_rate_hz = config.frame.sample_rate_hz;
    output_.features = config;
    output_.dim = config.Dim();
  }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<FeatureInstance>(config_, stats_);
  }

 private:
  FeatureConfig config_;
  std::shared_ptr<const CmvnStats> stats_;
};

// Validates the final configuration, checks the input's sample rate, builds the stage.
std::unique_ptr<const Stage> FinishFeatureStage(const StageBuildContext& ctx, const FeatureConfig& features) {
  ctx.WithPosition("", [&] { features.Validate(ctx.spec.name); });
  const StreamInfo* audio = ctx.InputOn(0);
  if (audio != nullptr && audio->sample_rate_hz != features.frame.sample_rate_hz) {
    ctx.FailInput(0, "sample-rate mismatch: '" + ctx.spec.inputs[0] + "' delivers " + FormatValue(audio->sample_rate_hz) +
                         " Hz but " + ctx.KeyPath("frame.sample_rate_hz") + " is " +
                         FormatValue(features.frame.sample_rate_hz) + " Hz");
  }
  std::unique_ptr<const Stage> stage;
  ctx.WithPosition("cmvn.stats_file", [&] { stage = std::make_unique<FeatureStage>(features); });
  return stage;
}

template <FeatureType kType>
std::unique_ptr<const Stage> BuildFeatureStage(const StageBuildContext& ctx) {
  FeatureStageOptions<kType> options;
  // The base first, so that the stage's own keys change it.
  FeatureStageOptions<kType> only_file;
  ctx.ReadOptions(only_file);  // reads match_model and config with the path rules (the rest is read below)
  if (!only_file.match_model.empty() && !only_file.config.empty()) {
    ctx.FailOption("config", "give either match_model or config, not both");
  }
  if (!only_file.match_model.empty()) {
    const FeatureConfig base = ModelStageFeatures(ctx, only_file.match_model, "match_model");
    if (base.type != kType) {
      ctx.FailOption("match_model", "the model of '" + only_file.match_model + "' was trained on " +
                                        std::string(EnumToString(base.type)) + " features but this stage is " + ctx.spec.type);
    }
    options.features = base;
  }
  {
    if (!only_file.config.empty()) {
      YamlSource source;
      YAML::Node root;
      ctx.WithPosition("config", [&] { root = LoadYamlFile(only_file.config, source); });
      FeatureConfig base = options.features;
      ReadConfig(root, base, source, "");
      if (base.type != kType) {
        ctx.FailOption("config", only_file.config + " describes " + std::string(EnumToString(base.type)) +
                                     " features but this stage is " + ctx.spec.type);
      }
      options.features = base;
    }
  }
  options.features.type = kType;
  ctx.ReadOptions(options);
  return FinishFeatureStage(ctx, options.features);
}

std::unique_ptr<const Stage> BuildModelFeatureStage(const StageBuildContext& ctx) {
  ModelFeatureStageOptions only_model;
  ctx.ReadOptions(only_model);
  if (only_model.match_model.empty()) {
    ctx.FailOption("match_model", "required: the name of the model.rnn stage whose features this stage computes");
  }
  ModelFeatureStageOptions options;
  options.features = ModelStageFeatures(ctx, only_model.match_model, "match_model");
  const FeatureConfig base = options.features;
  ctx.ReadOptions(options);
  options.features.type = base.type;
  if (base.type != FeatureType::kMfcc && (options.features.mfcc.num_ceps != base.mfcc.num_ceps ||
                                          options.features.mfcc.cepstral_lifter != base.mfcc.cepstral_lifter)) {
    ctx.FailOption("mfcc", "the model of '" + only_model.match_model +
                               "' was trained on fbank features; mfcc options apply to an MFCC model");
  }
  return FinishFeatureStage(ctx, options.features);
}

std::vector<ConfigDocRow> FeatureDocs(FeatureType type) {
  return type == FeatureType::kMfcc ? OptionDocs<FeatureStageOptions<FeatureType::kMfcc>>()
                                    : OptionDocs<FeatureStageOptions<FeatureType::kFbank>>();
}

}  // namespace

void RegisterFeatureStages(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "features.fbank",
      .summary = "log mel filterbank energies (streaming; any chunking gives the whole-input frames)",
      .inputs = {InputPort{StreamKind::kAudio, 1, 1, "audio"}},
      .docs = [] { return FeatureDocs(FeatureType::kFbank); },
      .build = BuildFeatureStage<FeatureType::kFbank>,
  });
  registry.Add(StageType{
      .name = "features.mfcc",
      .summary = "mel-frequency cepstral coefficients (streaming)",
      .inputs = {InputPort{StreamKind::kAudio, 1, 1, "audio"}},
      .docs = [] { return FeatureDocs(FeatureType::kMfcc); },
      .build = BuildFeatureStage<FeatureType::kMfcc>,
  });
  registry.Add(StageType{
      .name = "features.model",
      .summary = "the features a model was trained with, fbank or mfcc (streaming; every default comes from the model file of the match_model stage)",
      .inputs = {InputPort{StreamKind::kAudio, 1, 1, "audio"}},
      .docs = [] { return OptionDocs<ModelFeatureStageOptions>(); },
      .build = BuildModelFeatureStage,
  });
}

}  // namespace ossicle
