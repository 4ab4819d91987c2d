// Running a shared model over a stream of feature frames: per-stream state, any chunk size.
//
//   auto model = AcousticModel::Load(path);                  // shared, immutable, thread-safe
//   ModelStream stream(model, StreamingConfig{});            // one per input stream
//   stream.AcceptFrames(features);                           // [n, input_size], any n >= 0, repeat
//   stream.InputFinished();
//   for (int64_t t = stream.FirstFrameHeld(); t < stream.NumFramesReady(); ++t) use(stream.LogProbs(t));
//
// Unidirectional models carry their state across chunks: any chunking gives the whole-input result.
// Bidirectional models cannot run causally; `mode` chooses how they stream:
//   offline         the whole input at InputFinished() (exactly Forward()).
//   chunked         latency-controlled chunks (LC-BLSTM): each chunk of chunk_frames runs with
//                   right_context_frames more frames; the forward state after the chunk carries over, the
//                   backward pass starts from zeros at the end of the context. Latency: chunk + context.
//   sliding_window  the model runs offline over windows of window_frames every hop_frames and each window
//                   contributes the hop_frames frames around its centre (the first and last windows also
//                   their edges). Latency: (window + hop) / 2.
// In every mode a chunk or window at least as long as the input gives exactly the offline result.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/frame-buffer.h"
#include "models/acoustic-model.h"

namespace ossicle {

enum class BidirectionalMode { kOffline, kChunked, kSlidingWindow };
template <>
struct EnumNames<BidirectionalMode> {
  static constexpr std::array kValues{std::pair{BidirectionalMode::kOffline, std::string_view{"offline"}},
                                      std::pair{BidirectionalMode::kChunked, std::string_view{"chunked"}},
                                      std::pair{BidirectionalMode::kSlidingWindow, std::string_view{"sliding_window"}}};
};

struct StreamingConfig {
  BidirectionalMode mode = BidirectionalMode::kChunked;
  int chunk_frames = 64;
  int right_context_frames = 16;
  int window_frames = 200;
  int hop_frames = 100;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"mode", "", "how a bidirectional model streams (unidirectional models always stream exactly)"},
      self.mode);
    v(FieldInfo{"chunk_frames", "frames", "chunked: frames emitted per chunk"}, self.chunk_frames);
    v(FieldInfo{"right_context_frames", "frames", "chunked: look-ahead frames for the backward pass"},
      self.right_context_frames);
    v(FieldInfo{"window_frames", "frames", "sliding_window: frames per window"}, self.window_frames);
    v(FieldInfo{"hop_frames", "frames", "sliding_window: frames between window starts"}, self.hop_frames);
  }
  void Validate(std::string_view path = "streaming") const;
};

class ModelStream {
 public:
  // ConfigError for an attention-head model (its decision needs the whole clip: use Forward()).
  ModelStream(std::shared_ptr<const AcousticModel> model, const StreamingConfig& config);

  void AcceptFrames(const MatrixF& frames);
  void InputFinished();
  bool IsFinished() const { return finished_; }
  int64_t NumFramesAccepted() const { return input_.End(); }

  int64_t NumFramesReady() const { return log_probs_.End(); }
  int64_t FirstFrameHeld() const { return log_probs_.Begin(); }
  std::span<const float> LogProbs(int64_t t) const { return log_probs_.Frame(t); }
  std::span<const float> LogProbsFrom(int64_t t) const { return log_probs_.From(t); }
  void ReleaseFramesBefore(int64_t t) { log_probs_.ReleaseBefore(t); }

  void Reset();

 private:
  void Process();
  // Runs the stack over input frames [begin, end) and appends the head's output of frames
  // [begin + skip, begin + skip + emit). carry > 0: forward states start from and are saved after `carry`.
  void RunSpan(int64_t begin, int64_t end, int64_t skip, int64_t emit, int64_t carry);

  std::shared_ptr<const AcousticModel> model_;
  StreamingConfig config_;
  bool causal_;  // unidirectional: exact streaming regardless of mode
  bool finished_ = false;
  FrameBuffer input_;
  FrameBuffer log_probs_;
  std::vector<RecurrentState> states_;  // per layer, forward direction
  bool have_states_ = false;
  int64_t next_ = 0;  // next input frame whose output is not yet emitted
  int64_t window_index_ = 0;
};

}  // namespace ossicle
