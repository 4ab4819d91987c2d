// The stage interface of processing graphs, and the packets that flow between stages.
//
// A graph (pipeline/graph-config.h) is a list of named stages; each stage reads the output streams of the
// stages named in its `input` list and produces one output stream of one kind:
//
//   source.file ──audio──> features.fbank ──features──> model.rnn ──posteriors──> decoder.keywords ──records──> sink.jsonl
//        └──────audio──> vad.energy ──────segments──────────┘
//
// Two objects per stage:
//   * Stage: built once from the YAML options when the graph is loaded and validated (models loaded, keyword
//     lists checked against the model's labels, ...). Immutable afterwards and shared: one Stage serves any
//     number of inputs on any number of threads at once.
//   * StageInstance: the per-stream state, made by Stage::Start() for one input (one file, one microphone
//     session) and used by one thread. Sinks are the exception: they are started once per run (one output
//     file for all inputs) and see every input's records in turn.
//
// Packets are pushed: the runner calls Accept(input, packet, out) on each downstream instance, which may
// emit any number of packets through `out` (delivered downstream before Emit returns) and must never block.
// Any chunk size is allowed (down to one sample or frame) and the concatenated output never depends on how
// the input was chunked: a stage holds what it cannot decide yet and releases it when it can.
// Indices (samples, frames) are absolute int64_t counts from the start of the input and never wrap.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "features/config-fields.h"
#include "features/energy-vad.h"
#include "features/feature-config.h"
#include "models/tensor-types.h"

namespace ossicle {

// ---- stream kinds and what is known about a stream before anything flows

enum class StreamKind { kAudio, kFeatures, kPosteriors, kSegments, kRecords };
template <>
struct EnumNames<StreamKind> {
  static constexpr std::array kValues{std::pair{StreamKind::kAudio, std::string_view{"audio"}},
                                      std::pair{StreamKind::kFeatures, std::string_view{"features"}},
                                      std::pair{StreamKind::kPosteriors, std::string_view{"posteriors"}},
                                      std::pair{StreamKind::kSegments, std::string_view{"segments"}},
                                      std::pair{StreamKind::kRecords, std::string_view{"records"}}};
};

// The static description of one stage's output, used to validate the graph before audio flows
// (sample-rate and dimension mismatches, features a model was not trained on).
struct StreamInfo {
  StreamKind kind = StreamKind::kAudio;
  // audio and segments: the rate of the sample indices (Hz).
  double sample_rate_hz = 0.0;
  // features and posteriors: the features that define the frame grid (frame t starts at
  // FrameStart(features.frame, t) samples) and, for features, the values. Posteriors keep the features
  // their model was fed, so decoders know the frame shift and can relate frames to samples.
  FeatureConfig features;
  // features: values per frame; posteriors: classes per frame.
  int dim = 0;
  // posteriors: class names (column c is labels[c]).
  std::vector<std::string> labels;

  double FrameShiftSeconds() const { return features.frame.frame_shift_ms / 1000.0; }
};

// ---- packets

// Mono samples [first_sample, first_sample + samples.size()) at the stream's sample_rate_hz.
struct AudioChunk {
  int64_t first_sample = 0;
  std::vector<float> samples;
};

// Frames [first_frame, first_frame + frames.rows()), one row per frame (features: Dim() columns).
struct FeatureChunk {
  int64_t first_frame = 0;
  MatrixF frames;
};

// Log-posteriors of frames [first_frame, first_frame + log_probs.rows()), one column per label.
// A model stage fed by a voice-activity detector runs once per speech segment: frames outside speech are
// never emitted (the indices jump over them) and the last chunk of each segment has segment_end set, so a
// decoder can finish what it holds there. Without a detector the whole input is one segment.
struct PosteriorChunk {
  int64_t first_frame = 0;
  MatrixF log_probs;
  bool segment_end = false;
};

// What a voice-activity detector has decided so far. Every sample before decided_until is classified: it
// is speech if and only if it lies in a final segment reported up to now (SpeechSegment from
// features/energy-vad.h: [start_sample, end_sample)) or at or after open_start. `segments` lists the
// segments that became final since the previous update, in time order; open_start is the start of the
// segment in progress, if any (it is reported again in `segments` when it becomes final). decided_until
// never decreases; INT64_MAX once the input has ended.
struct SegmentUpdate {
  int64_t decided_until = 0;
  std::optional<int64_t> open_start;
  std::vector<SpeechSegment> segments;
};

// A result record (JSON object) in one of the agreed formats:
//   {"type":"hit","file":F,"keyword":K,"start_s":..,"end_s":..,"score":..}
//   {"type":"transcript","file":F,"text":..,"tokens":[{"token":..,"start_s":..,"end_s":..}],"confidence":..}
//   {"type":"summary","file":F,"duration_s":..,"hits":N,"transcripts":N,...}   (one per input, always, last)
//   {"type":"error","file":F,"error":"<message>","exit_code":N}
using Record = nlohmann::json;

using Packet = std::variant<AudioChunk, FeatureChunk, PosteriorChunk, SegmentUpdate, Record>;

StreamKind KindOf(const Packet& packet);

// ---- per-stream state

// Where a stage delivers its output. Emit() passes the packet to every downstream stage before returning.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void Emit(const Packet& packet) = 0;
};

// What a stage instance knows about the input it runs on. It outlives the instance.
struct InputContext {
  std::string name;  // the input's name in records: the file path as given, or "microphone:<device>"
  // Polled by sources between blocks; once it returns true they stop producing (a microphone drains what
  // it captured) and the graph finishes normally (records flushed, summary written). Empty: never.
  // Must be cheap and thread-safe (e.g. ossicle::StopRequested from pipeline/stop-signal.h).
  std::function<bool()> stop_requested;
  bool StopRequested() const { return stop_requested && stop_requested(); }
};

class StageInstance {
 public:
  virtual ~StageInstance() = default;

  // Sources only: produces the next block of the input through `out`. Returns false once the input is
  // exhausted or a stop was requested (InputContext::StopRequested, polled here; a device then delivers
  // what it had captured first); later calls keep returning false. May wait for a device (briefly: the
  // stop request is polled at least every 100 ms).
  virtual bool Produce(Emitter& out);

  // A packet from input `input` (the index in the stage's `input` list).
  virtual void Accept(size_t input, const Packet& packet, Emitter& out) = 0;

  // Every upstream stage has finished: emit everything still held. Called once per input, in the
  // graph's order. Sinks see it at the end of each input (after that input's summary record).
  virtual void Finish(Emitter& out) = 0;

  // Sources: what the summary record of this input carries besides its records ("duration_s", for a
  // microphone "overruns", for a truncated file "warning"). Others: nothing.
  virtual nlohmann::json SummaryFields() const { return nlohmann::json::object(); }
};

// The immutable, shared part of one stage: options validated, models loaded.
class Stage {
 public:
  enum class Lifetime {
    kPerInput,  // a fresh instance for every input (sources, features, models, decoders)
    kPerRun,    // one instance for the whole run, fed every input in turn (sinks); closed by Close()
  };

  virtual ~Stage() = default;
  virtual const StreamInfo& Output() const = 0;
  virtual Lifetime GetLifetime() const { return Lifetime::kPerInput; }
  virtual std::unique_ptr<StageInstance> Start(const InputContext& input) const = 0;
};

// Per-run sink instances are closed once after the last input (final rename, flush). Throws IoError.
class SinkInstance : public StageInstance {
 public:
  void Finish(Emitter&) override {}
  virtual void Close() = 0;
};

}  // namespace ossicle
