// sink.npy — features or posteriors as one .npy matrix [frames, dims] (float32) per input:
// <dir>/<input file name without extension>.npy. Frames a voice-activity detector left out are absent.
#include <filesystem>

#include "features/errors.h"
#include "pipeline/npy-file.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

struct NpySinkOptions {
  std::string dir;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"dir", "path", "folder for <input name>.npy (created when missing)"}, self.dir);
  }
  void Validate(std::string_view key_path) const {
    if (dir.empty()) {
      throw ConfigError(RuleMessage(key_path, "dir", dir, "the output folder (--set " + std::string(key_path) + ".dir=DIR)"));
    }
  }
};

class NpySinkInstance : public SinkInstance {
 public:
  NpySinkInstance(const std::string& path, int dim) : writer_(path, dim) {}
  void Accept(size_t, const Packet& packet, Emitter&) override {
    const MatrixF& m = packet.index() == 1 ? std::get<FeatureChunk>(packet).frames : std::get<PosteriorChunk>(packet).log_probs;
    writer_.AppendRows({m.data(), static_cast<size_t>(m.size())});
  }
  void Close() override { writer_.Close(); }

 private:
  NpyWriter writer_;
};

class NpySinkStage : public SimpleStage {
 public:
  NpySinkStage(const NpySinkOptions& options, int dim) : options_(options), dim_(dim) { output_.kind = StreamKind::kRecords; }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    std::filesystem::create_directories(options_.dir);
    const std::filesystem::path out = std::filesystem::path(options_.dir) / std::filesystem::path(input.name).stem();
    return std::make_unique<NpySinkInstance>(out.string() + ".npy", dim_);
  }

 private:
  NpySinkOptions options_;
  int dim_;
};

}  // namespace

void RegisterNpySinkStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "sink.npy",
      .summary = "writes features or posteriors as <dir>/<input name>.npy, float32 [frames, dims]",
      .inputs = {InputPort{StreamKind::kFeatures, 0, 1, "features"}, InputPort{StreamKind::kPosteriors, 0, 1, "posteriors"}},
      .docs = [] { return OptionDocs<NpySinkOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        NpySinkOptions options;
        ctx.ReadOptions(options);
        if (ctx.inputs.size() != 1) ctx.FailInput(0, "sink.npy takes one input: features or posteriors");
        return std::make_unique<NpySinkStage>(options, ctx.inputs[0]->dim);
      },
      .is_sink = true,
  });
}

}  // namespace ossicle
