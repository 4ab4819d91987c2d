// sink.text — records as lines for people (what `ossicle run` and `ossicle listen` print by default):
//   speech.wav  1.23-1.61 s  yes  (score 0.912)
//   speech.wav  "go left"  (confidence 0.874)
//   speech.wav  2.40 s, 1 hit
//   bad.wav  error: bad.wav: not a recognised audio file (libsndfile: Format not recognised.)
#include <fmt/core.h>

#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

struct TextSinkOptions {
  std::string path;
  bool summaries = true;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    SinkFileOptions::Fields(self, v);
    v(FieldInfo{"summaries", "", "also print each input's summary line"}, self.summaries);
  }
};

std::string Describe(const Record& r) {
  const std::string type = r.value("type", "");
  const std::string file = r.value("file", "");
  if (type == "hit") {
    return fmt::format("{}  {:.2f}-{:.2f} s  {}  (score {:.3f})", file, r.value("start_s", 0.0), r.value("end_s", 0.0),
                       r.value("keyword", ""), r.value("score", 0.0));
  }
  if (type == "transcript") {
    return fmt::format("{}  \"{}\"  (confidence {:.3f})", file, r.value("text", ""), r.value("confidence", 0.0));
  }
  if (type == "summary") {
    const int64_t hits = r.value("hits", int64_t{0});
    std::string line = fmt::format("{}  {:.2f} s, {} hit{}", file, r.value("duration_s", 0.0), hits, hits == 1 ? "" : "s");
    if (r.contains("overruns")) line += fmt::format(", {} overruns", r.value("overruns", int64_t{0}));
    if (r.contains("warning")) line += "  warning: " + r.value("warning", "");
    return line;
  }
  if (type == "error") return fmt::format("{}  error: {}", file, r.value("error", ""));
  return r.dump();
}

class TextSinkInstance : public SinkInstance {
 public:
  explicit TextSinkInstance(const TextSinkOptions& options) : file_(options.path), summaries_(options.summaries) {}
  void Accept(size_t, const Packet& packet, Emitter&) override {
    const Record& r = std::get<Record>(packet);
    if (!summaries_ && r.value("type", "") == "summary") return;
    file_.Write(Describe(r) + "\n");
  }
  void Close() override { file_.Close(); }

 private:
  SinkFile file_;
  bool summaries_;
};

class TextSinkStage : public SimpleStage {
 public:
  explicit TextSinkStage(const TextSinkOptions& options) : options_(options) { output_.kind = StreamKind::kRecords; }
  Lifetime GetLifetime() const override { return Lifetime::kPerRun; }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<TextSinkInstance>(options_);
  }

 private:
  TextSinkOptions options_;
};

}  // namespace

void RegisterTextSinkStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "sink.text",
      .summary = "writes records as readable lines (hits with times and scores, transcripts, summaries)",
      .inputs = {InputPort{StreamKind::kRecords, 1, -1, "records"}},
      .docs = [] { return OptionDocs<TextSinkOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        TextSinkOptions options;
        ctx.ReadOptions(options);
        return std::make_unique<TextSinkStage>(options);
      },
      .is_sink = true,
  });
}

}  // namespace ossicle
