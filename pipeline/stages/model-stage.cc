// model.rnn — an acoustic model over feature frames (models/model-stream.h), optionally per speech segment.
//
// Without a segments input the whole input is one sequence. With one (vad.energy), frame t is speech when
// its centre sample FrameStart(t) + window / 2 lies in a speech segment; the model runs once per segment
// (a fresh stream each time: a bidirectional model never runs over more than one segment, and silence
// costs nothing), and the frames of silence are dropped. A frame is decided only once the detector has
// classified its centre, so the result does not depend on how audio, frames and segments interleave.
#include <algorithm>
#include <deque>
#include <limits>

#include "features/errors.h"
#include "features/frame-extraction.h"
#include "models/acoustic-model.h"
#include "models/model-stream.h"
#include "pipeline/stages/builtin-stages.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace {

struct ModelStageOptions {
  std::string path;
  StreamingConfig streaming;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"path", "path", "model file (.safetensors written by ossicle)"}, self.path);
    StreamingConfig::Fields(self.streaming, v);
  }
  void Validate(std::string_view key_path) const {
    if (path.empty()) {
      throw ConfigError(RuleMessage(key_path, "path", path,
                                    "the model file to run (--set " + std::string(key_path) + ".path=FILE)"));
    }
    streaming.Validate(key_path);
  }
};

constexpr size_t kFeaturesPort = 0;
constexpr size_t kSegmentsPort = 1;

class ModelInstance : public StageInstance {
 public:
  // ports: the port of each input (features or segments); gated: there is a segments input.
  ModelInstance(std::shared_ptr<const AcousticModel> model, const StreamingConfig& streaming,
                const FeatureConfig& features, const std::vector<size_t>& ports, bool gated)
      : stream_(model, streaming),
        frame_(features.frame),
        half_window_(features.frame.WindowSamples() / 2),
        dim_(features.Dim()),
        num_classes_(model->Architecture().num_classes),
        gated_(gated),
        ports_(ports),
        block_(std::max(1, streaming.chunk_frames)),
        held_(features.Dim()),
        pending_(features.Dim()) {
    if (!gated_) decided_until_ = kAll;
  }

  void Accept(size_t input, const Packet& packet, Emitter& out) override {
    if (ports_[input] == kFeaturesPort) {
      const auto& chunk = std::get<FeatureChunk>(packet);
      for (Eigen::Index r = 0; r < chunk.frames.rows(); ++r) {
        std::span<float> row = held_.Append();
        std::copy(chunk.frames.row(r).data(), chunk.frames.row(r).data() + dim_, row.begin());
      }
    } else {
      const auto& update = std::get<SegmentUpdate>(packet);
      for (const SpeechSegment& s : update.segments) final_.push_back(s);
      open_start_ = update.open_start;
      decided_until_ = std::max(decided_until_, update.decided_until);
    }
    Process(out);
  }

  void Finish(Emitter& out) override {
    decided_until_ = kAll;
    open_start_.reset();
    Process(out);
    EndRun(out);
  }

 private:
  static constexpr int64_t kAll = std::numeric_limits<int64_t>::max();
  static constexpr int64_t kNoRun = std::numeric_limits<int64_t>::min();

  // The run (segment start) that frame t belongs to, or kNoRun for silence. Only for decided frames.
  int64_t RunOf(int64_t t) {
    if (!gated_) return 0;
    const int64_t centre = FrameStart(frame_, t) + half_window_;
    while (!final_.empty() && final_.front().end_sample <= centre) final_.pop_front();
    if (!final_.empty() && final_.front().start_sample <= centre) return final_.front().start_sample;
    if (open_start_ && *open_start_ <= centre) return *open_start_;
    return kNoRun;
  }

  void Process(Emitter& out) {
    int64_t t = held_.Begin();
    const int64_t end = held_.End();
    while (t < end && FrameStart(frame_, t) + half_window_ < decided_until_) {
      const int64_t run = RunOf(t);
      if (run != run_) EndRun(out);
      if (run != kNoRun) {
        if (run_ == kNoRun) {
          run_ = run;
          run_first_frame_ = t;
        }
        const std::span<const float> frame = held_.Frame(t);
        std::copy(frame.begin(), frame.end(), pending_.Append().begin());
      }
      ++t;
      held_.ReleaseBefore(t);
    }
    // The model gets whole blocks of block_ frames counted from the run's start, whatever the chunking
    // upstream: the same matrix products in the same order, so the output is bit for bit the same.
    const int64_t fed = stream_.NumFramesAccepted();
    const int64_t whole = (pending_.End() - fed) / block_ * block_;
    if (whole > 0) Feed(fed + whole, out);
  }

  // Gives the pending frames of the run up to run frame `until` to the model and emits what it gives.
  void Feed(int64_t until, Emitter& out) {
    const int64_t from = stream_.NumFramesAccepted();
    if (until > from) {
      const std::span<const float> rows = pending_.From(from);
      stream_.AcceptFrames(Eigen::Map<const MatrixF>(rows.data(), until - from, dim_));
      pending_.ReleaseBefore(until);
    }
    EmitReady(out, false);
  }

  void EmitReady(Emitter& out, bool segment_end) {
    const int64_t ready = stream_.NumFramesReady();
    if (ready <= emitted_ && !segment_end) return;
    PosteriorChunk chunk;
    chunk.first_frame = run_first_frame_ + emitted_;
    chunk.segment_end = segment_end;
    if (ready > emitted_) {
      const std::span<const float> rows = stream_.LogProbsFrom(emitted_);
      chunk.log_probs = Eigen::Map<const MatrixF>(rows.data(), ready - emitted_, num_classes_);
      stream_.ReleaseFramesBefore(ready);
      emitted_ = ready;
    } else {
      chunk.log_probs.resize(0, num_classes_);
    }
    out.Emit(Packet(std::move(chunk)));
  }

  void EndRun(Emitter& out) {
    if (run_ == kNoRun) return;
    Feed(pending_.End(), out);
    stream_.InputFinished();
    EmitReady(out, true);
    stream_.Reset();
    pending_.Clear();
    run_ = kNoRun;
    emitted_ = 0;
  }

  ModelStream stream_;
  FrameConfig frame_;
  int64_t half_window_;
  int dim_;
  int num_classes_;
  bool gated_;
  const std::vector<size_t>& ports_;  // owned by the stage, which outlives its instances
  int64_t block_;      // frames given to the model at a time
  FrameBuffer held_;   // frames received, not yet classified (absolute frame indices)
  FrameBuffer pending_;  // frames of the current run not yet given to the model (indices from the run's start)
  std::deque<SpeechSegment> final_;
  std::optional<int64_t> open_start_;
  int64_t decided_until_ = 0;  // samples before it are classified
  int64_t run_ = kNoRun;       // the segment being run (its start sample), or kNoRun
  int64_t run_first_frame_ = 0;
  int64_t emitted_ = 0;        // frames of the run emitted (stream indices)
};

class ModelStage : public SimpleStage {
 public:
  ModelStage(std::shared_ptr<const AcousticModel> model, const StreamingConfig& streaming,
             const FeatureConfig& features, std::vector<size_t> ports, bool gated)
      : model_(std::move(model)), streaming_(streaming), ports_(std::move(ports)), gated_(gated) {
    output_.kind = StreamKind::kPosteriors;
    output_.sample_rate_hz = features.frame.sample_rate_hz;
    output_.features = features;
    output_.dim = model_->Architecture().num_classes;
    output_.labels = model_->Labels();
  }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<ModelInstance>(model_, streaming_, output_.features, ports_, gated_);
  }

 private:
  std::shared_ptr<const AcousticModel> model_;
  StreamingConfig streaming_;
  std::vector<size_t> ports_;  // port of each input
  bool gated_;
};

std::string DescribeDim(const FeatureConfig& f) {
  const std::string base = f.type == FeatureType::kMfcc ? "mfcc.num_ceps = " + std::to_string(f.mfcc.num_ceps)
                                                        : "mel.num_mel_bins = " + std::to_string(f.mel.num_mel_bins);
  return base + ", deltas.order = " + std::to_string(f.deltas.order);
}

std::unique_ptr<const Stage> BuildModelStage(const StageBuildContext& ctx) {
  ModelStageOptions options;
  ctx.ReadOptions(options);
  std::shared_ptr<const AcousticModel> model;
  ctx.WithPosition("path", [&] { model = AcousticModel::Load(options.path); });
  if (model->Architecture().head != HeadType::kFrame) {
    ctx.FailOption("path", options.path + " has an attention head (one decision per clip); model.rnn needs a "
                                          "frame head that gives posteriors per frame");
  }
  const StreamInfo& features = *ctx.InputOn(kFeaturesPort);
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    if (ctx.input_ports[i] == kFeaturesPort) continue;
    if (ctx.inputs[i]->sample_rate_hz != features.sample_rate_hz) {
      ctx.FailInput(kSegmentsPort, "sample-rate mismatch: segments of '" + ctx.spec.inputs[i] + "' count samples at " +
                                       FormatValue(ctx.inputs[i]->sample_rate_hz) + " Hz but the features are computed at " +
                                       FormatValue(features.sample_rate_hz) + " Hz");
    }
  }
  const int want = model->Architecture().input_size;
  if (features.dim != want) {
    ctx.FailInput(kFeaturesPort, "dimension mismatch: the features have " + std::to_string(features.dim) +
                                     " values per frame (" + DescribeDim(features.features) + ") but " + options.path +
                                     " expects " + std::to_string(want) + " (" + DescribeDim(model->Features()) + ")");
  }
  try {
    model->CheckFeatures(features.features, options.path);
  } catch (const ConfigError& e) {
    ctx.FailInput(kFeaturesPort, std::string("features differ from the model's: ") + e.what() +
                                     " (set the features stage's options to the model's, e.g. with `ossicle model info`)");
  }
  return std::make_unique<ModelStage>(model, options.streaming, features.features, ctx.input_ports,
                                      ctx.InputOn(kSegmentsPort) != nullptr);
}

}  // namespace

FeatureConfig ModelStageFeatures(const StageBuildContext& ctx, const std::string& model_stage, std::string_view key) {
  const int index = ctx.graph.Find(model_stage);
  if (index < 0 || ctx.graph.stages[static_cast<size_t>(index)].type != "model.rnn") {
    std::vector<std::string_view> models;
    for (const StageSpec& s : ctx.graph.stages) {
      if (s.type == "model.rnn") models.push_back(s.name);
    }
    const std::string near = NearestName(model_stage, models);
    ctx.FailOption(key, "no model.rnn stage named '" + model_stage + "'" +
                            (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
  }
  const StageSpec& spec = ctx.graph.stages[static_cast<size_t>(index)];
  const StageBuildContext model_ctx{ctx.graph, spec, {}, {}};
  ModelStageOptions options;
  model_ctx.ReadOptions(options);
  std::shared_ptr<const AcousticModel> model;
  model_ctx.WithPosition("path", [&] { model = AcousticModel::Load(options.path); });
  return model->Features();
}

std::string ModelStageDecoderJson(const StageBuildContext& ctx, const std::string& model_stage) {
  const int index = ctx.graph.Find(model_stage);
  if (index < 0 || ctx.graph.stages[static_cast<size_t>(index)].type != "model.rnn") return "";
  const StageSpec& spec = ctx.graph.stages[static_cast<size_t>(index)];
  const StageBuildContext model_ctx{ctx.graph, spec, {}, {}};
  ModelStageOptions options;
  model_ctx.ReadOptions(options);
  std::string json;
  model_ctx.WithPosition("path", [&] { json = ReadModelDecoderJson(options.path); });
  return json;
}

void RegisterModelStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "model.rnn",
      .summary = "runs an LSTM/GRU acoustic model over feature frames, giving per-frame log-posteriors "
                 "(per speech segment when fed segments)",
      .inputs = {InputPort{StreamKind::kFeatures, 1, 1, "features"},
                 InputPort{StreamKind::kSegments, 0, 1, "speech segments"}},
      .docs = [] { return OptionDocs<ModelStageOptions>(); },
      .build = BuildModelStage,
  });
}

}  // namespace ossicle
