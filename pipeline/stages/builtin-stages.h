// The built-in stage types (one file per kind in pipeline/stages/) and what they share.
// Internal to ossicle::pipeline: applications use pipeline/stage-registry.h and pipeline/graph-runner.h.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/ctc-decoder.h"
#include "models/keyword-hit.h"
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
void RegisterNpySinkStage(StageRegistry& registry);           // sink.npy

// All of the above, in the order config-docs lists them.
void RegisterBuiltinStages(StageRegistry& registry);

// The path list of a source.file stage (empty for other stages).
std::vector<std::string> FileSourcePaths(const Stage& stage);

// The feature configuration stored in the model file of the model.rnn stage `model_stage` (its options
// read with the same rules and overrides as when it is built), for a features stage's match_model option.
// ConfigError at `ctx`'s option `key` when there is no such model.rnn stage.
FeatureConfig ModelStageFeatures(const StageBuildContext& ctx, const std::string& model_stage, std::string_view key);

// A stage whose output is fixed at build time and whose instances come from a factory.
class SimpleStage : public Stage {
 public:
  const StreamInfo& Output() const override { return output_; }

 protected:
  StreamInfo output_;
};

// Decoders time frame f as [f D, (f + 1) D) (D = frame shift). Frame f's window is centred on
// (FrameStart(f) + window / 2) / rate, so records shift decoder times by
//   offset = (FrameStart(0) + window / 2) / rate - D / 2
// (7.5 ms for Kaldi's 25 ms / 10 ms snipped frames, -5 ms for centred frames): each frame's interval is then
// centred on its window's centre. Times below 0 are clamped to 0.
double FrameTimeOffsetSeconds(const FeatureConfig& features);

// Seconds rounded to 0.1 ms for records (shorter JSON; far below any frame shift).
double RecordTime(double seconds);

// {"type":"hit","file":F,"keyword":K,"start_s":..,"end_s":..,"score":..}, times shifted by offset_s.
Record HitRecord(const std::string& file, const KeywordHit& hit, double offset_s);
// {"type":"transcript","file":F,"text":..,"tokens":[{"token":..,"start_s":..,"end_s":..}],
//  "words":[...],"confidence":..}, times shifted by offset_s.
Record TranscriptRecord(const std::string& file, const Transcript& transcript, double offset_s);

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
