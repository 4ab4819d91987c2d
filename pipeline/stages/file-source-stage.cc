// source.file — audio files, one input per file, read in blocks (pipeline/audio-file-reader.h).
#include <algorithm>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

struct FileSourceOptions {
  std::vector<std::string> paths;  // the inputs (`ossicle run GRAPH [inputs...]` replaces them)
  AudioReadConfig audio;
  int64_t chunk_samples = 0;  // 0: blocks as the reader delivers them

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"paths", "path", "audio files to process (inputs on the command line replace them)"}, self.paths);
    AudioReadConfig::Fields(self.audio, v);
    v(FieldInfo{"chunk_samples", "samples",
                "samples per block passed downstream (0: as decoded); results do not depend on it"},
      self.chunk_samples);
  }

  void Validate(std::string_view path) const {
    audio.Validate(path);
    if (audio.sample_rate_hz == 0.0) {
      // The graph's rates are checked before any file is opened, so the rate must be known.
      throw ConfigError(RuleMessage(path, "sample_rate_hz", audio.sample_rate_hz,
                                    "> 0 in a graph (the stages after the source need a fixed rate)"));
    }
    if (chunk_samples < 0 || chunk_samples > kMaxAudioBlockFrames) {
      throw ConfigError(RuleMessage(path, "chunk_samples", chunk_samples, "in [0, 16777216]"));
    }
  }
};

class FileSourceInstance : public StageInstance {
 public:
  FileSourceInstance(const InputContext& input, const FileSourceOptions& options)
      : input_(input), reader_(input.name, options.audio), chunk_(options.chunk_samples) {}

  bool Produce(Emitter& out) override {
    if (done_ || input_.StopRequested()) return false;
    if (!reader_.ReadBlock(block_)) {
      done_ = true;
      return false;
    }
    const size_t step = chunk_ > 0 ? static_cast<size_t>(chunk_) : block_.size();
    for (size_t begin = 0; begin < block_.size(); begin += step) {
      AudioChunk chunk;
      chunk.first_sample = next_sample_;
      const size_t end = std::min(block_.size(), begin + step);
      chunk.samples.assign(block_.begin() + static_cast<std::ptrdiff_t>(begin),
                           block_.begin() + static_cast<std::ptrdiff_t>(end));
      next_sample_ += static_cast<int64_t>(end - begin);
      out.Emit(Packet(std::move(chunk)));
    }
    return true;
  }

  void Accept(size_t, const Packet&, Emitter&) override {}
  void Finish(Emitter&) override {}

  nlohmann::json SummaryFields() const override {
    nlohmann::json j = {{"duration_s", static_cast<double>(next_sample_) / reader_.OutputSampleRateHz()}};
    if (const std::string w = reader_.Warning(); !w.empty()) j["warning"] = w;
    return j;
  }

 private:
  const InputContext& input_;
  AudioFileReader reader_;
  int64_t chunk_;
  std::vector<float> block_;
  int64_t next_sample_ = 0;
  bool done_ = false;
};

class FileSourceStage : public SimpleStage {
 public:
  explicit FileSourceStage(const FileSourceOptions& options) : options_(options) {
    output_.kind = StreamKind::kAudio;
    output_.sample_rate_hz = options.audio.sample_rate_hz;
  }
  std::unique_ptr<StageInstance> Start(const InputContext& input) const override {
    return std::make_unique<FileSourceInstance>(input, options_);
  }
  const std::vector<std::string>& Paths() const { return options_.paths; }

 private:
  FileSourceOptions options_;
};

}  // namespace

std::vector<std::string> FileSourcePaths(const Stage& stage) {
  const auto* source = dynamic_cast<const FileSourceStage*>(&stage);
  return source != nullptr ? source->Paths() : std::vector<std::string>{};
}

void RegisterFileSourceStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "source.file",
      .summary = "reads audio files (any libsndfile format), resampled to sample_rate_hz and mixed to mono",
      .inputs = {},
      .docs = [] { return OptionDocs<FileSourceOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        FileSourceOptions options;
        ctx.ReadOptions(options);
        return std::make_unique<FileSourceStage>(options);
      },
  });
}

}  // namespace ossicle
