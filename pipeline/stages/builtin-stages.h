// The built-in stage types (one file per kind in pipeline/stages/) and what they share.
// Internal to ossicle::pipeline: applications use pipeline/stage-registry.h and pipeline/graph-runner.h.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/stage-registry.h"
#include "pipeline/stage.h"

namespace ossicle {

void RegisterFileSourceStage(StageRegistry& registry);        // source.file
void RegisterMicrophoneSourceStage(StageRegistry& registry);  // source.microphone
void RegisterFeatureStages(StageRegistry& registry);          // features.fbank, features.mfcc
void RegisterVadStage(StageRegistry& registry);               // vad.energy
void RegisterModelStage(StageRegistry& registry);             // model.rnn
void RegisterKeywordStage(StageRegistry& registry);           // decoder.keywords
void RegisterCtcStages(StageRegistry& registry);              // decoder.ctc_greedy, decoder.ctc_beam
void RegisterCtcKeywordStage(StageRegistry& registry);        // decoder.ctc_keywords
void RegisterJsonlSinkStage(StageRegistry& registry);         // sink.jsonl
void RegisterCsvSinkStage(StageRegistry& registry);           // sink.csv
void RegisterTextSinkStage(StageRegistry& registry);          // sink.text
void RegisterWavSinkStage(StageRegistry& registry);           // sink.wav

// All of the above, in the order config-docs lists them.
void RegisterBuiltinStages(StageRegistry& registry);

// The path list of a source.file stage (empty for other stages).
std::vector<std::string> FileSourcePaths(const Stage& stage);

// A stage whose output is fixed at build time and whose instances come from a factory.
class SimpleStage : public Stage {
 public:
  const StreamInfo& Output() const override { return output_; }

 protected:
  StreamInfo output_;
};

// Times of frames in seconds, for records: frame t starts at FrameStart(t) / rate (may be negative for
// centred framings, clamped to 0) and ends one window later.
double FrameStartSeconds(const FeatureConfig& features, int64_t frame);
double FrameEndSeconds(const FeatureConfig& features, int64_t frame);

// A sink's text output: standard output when `path` is empty or "-", else `path`, written to
// "<path>.tmp" and renamed when closed, so a failed run never leaves a half-written file behind.
// IoError names the path.
class SinkFile {
 public:
  explicit SinkFile(const std::string& path);
  ~SinkFile();  // without Close(): the temporary is removed
  SinkFile(const SinkFile&) = delete;
  SinkFile& operator=(const SinkFile&) = delete;

  void Write(const std::string& text);  // flushed at once for standard output (live use)
  void Close();                         // flush, close, rename

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  bool is_stdout_ = false;
};

// The common options of the text sinks.
struct SinkFileOptions {
  std::string path;  // "" or "-": standard output

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"path", "path", "output file; empty or - for standard output"}, self.path);
  }
};

}  // namespace ossicle
