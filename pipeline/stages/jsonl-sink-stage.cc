// sink.jsonl — records as JSON lines, one object per line, in the order they are produced.
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

class JsonlSinkInstance : public SinkInstance {
 public:
  explicit JsonlSinkInstance(const std::string& path) : file_(path) {}
  void Accept(size_t, const Packet& packet, Emitter&) override { file_.Write(std::get<Record>(packet).dump() + "\n"); }
  void Close() override { file_.Close(); }

 private:
  SinkFile file_;
};

class JsonlSinkStage : public SimpleStage {
 public:
  explicit JsonlSinkStage(const SinkFileOptions& options) : options_(options) { output_.kind = StreamKind::kRecords; }
  Lifetime GetLifetime() const override { return Lifetime::kPerRun; }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<JsonlSinkInstance>(options_.path);
  }

 private:
  SinkFileOptions options_;
};

}  // namespace

void RegisterJsonlSinkStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "sink.jsonl",
      .summary = "writes records as JSON lines (hit, transcript, summary, error)",
      .inputs = {InputPort{StreamKind::kRecords, 1, -1, "records"}},
      .docs = [] { return OptionDocs<SinkFileOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        SinkFileOptions options;
        ctx.ReadOptions(options);
        return std::make_unique<JsonlSinkStage>(options);
      },
      .is_sink = true,
  });
}

}  // namespace ossicle
