// sink.csv — records as CSV rows with a fixed header (RFC 4180 quoting). Columns that do not apply to a
// record's type stay empty.
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

constexpr const char* kHeader = "type,file,keyword,start_s,end_s,score,text,confidence,duration_s,hits,error\n";

// A field quoted when it holds a comma, quote or line break; quotes doubled.
std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string Column(const Record& r, const char* key) {
  if (!r.contains(key)) return "";
  const auto& v = r.at(key);
  return CsvField(v.is_string() ? v.get<std::string>() : v.dump());
}

class CsvSinkInstance : public SinkInstance {
 public:
  explicit CsvSinkInstance(const std::string& path) : file_(path) { file_.Write(kHeader); }
  void Accept(size_t, const Packet& packet, Emitter&) override {
    const Record& r = std::get<Record>(packet);
    std::string row;
    bool first = true;
    for (const char* key : {"type", "file", "keyword", "start_s", "end_s", "score", "text", "confidence", "duration_s",
                            "hits", "error"}) {
      if (!first) row += ',';
      first = false;
      row += Column(r, key);
    }
    file_.Write(row + "\n");
  }
  void Close() override { file_.Close(); }

 private:
  SinkFile file_;
};

class CsvSinkStage : public SimpleStage {
 public:
  explicit CsvSinkStage(const SinkFileOptions& options) : options_(options) { output_.kind = StreamKind::kRecords; }
  Lifetime GetLifetime() const override { return Lifetime::kPerRun; }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<CsvSinkInstance>(options_.path);
  }

 private:
  SinkFileOptions options_;
};

}  // namespace

void RegisterCsvSinkStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "sink.csv",
      .summary = "writes records as CSV: type,file,keyword,start_s,end_s,score,text,confidence,duration_s,hits,error",
      .inputs = {InputPort{StreamKind::kRecords, 1, -1, "records"}},
      .docs = [] { return OptionDocs<SinkFileOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        SinkFileOptions options;
        ctx.ReadOptions(options);
        return std::make_unique<CsvSinkStage>(options);
      },
      .is_sink = true,
  });
}

}  // namespace ossicle
