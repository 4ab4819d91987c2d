#include "models/model-stream.h"

#include <algorithm>
#include <string>

#include "features/errors.h"

namespace ossicle {

void StreamingConfig::Validate(std::string_view path) const {
  auto check = [&](bool ok, std::string_view field, int value, std::string_view rule) {
    if (!ok) throw ConfigError(RuleMessage(path, field, value, rule));
  };
  check(chunk_frames >= 1, "chunk_frames", chunk_frames, ">= 1");
  check(right_context_frames >= 0, "right_context_frames", right_context_frames, ">= 0");
  check(window_frames >= 1, "window_frames", window_frames, ">= 1");
  check(hop_frames >= 1 && hop_frames <= window_frames, "hop_frames", hop_frames,
        "between 1 and window_frames (" + std::to_string(window_frames) + ")");
}

ModelStream::ModelStream(std::shared_ptr<const AcousticModel> model, const StreamingConfig& config)
    : model_(std::move(model)),
      config_(config),
      causal_(!model_->Architecture().bidirectional),
      input_(model_->Architecture().input_size),
      log_probs_(model_->Architecture().num_classes) {
  config_.Validate();
  if (model_->Architecture().head != HeadType::kFrame) {
    throw ConfigError("streaming needs a model with a frame head; this model has an attention head (one decision "
                      "per clip): run it on whole clips");
  }
}

void ModelStream::AcceptFrames(const MatrixF& frames) {
  if (finished_) throw Error("ModelStream::AcceptFrames called after InputFinished");
  if (frames.rows() > 0 && frames.cols() != model_->Architecture().input_size) {
    throw ConfigError("model input has " + std::to_string(frames.cols()) + " values per frame; the model expects " +
                      std::to_string(model_->Architecture().input_size));
  }
  for (Eigen::Index r = 0; r < frames.rows(); ++r) {
    std::span<float> dst = input_.Append();
    std::copy(frames.row(r).data(), frames.row(r).data() + frames.cols(), dst.begin());
  }
  Process();
}

void ModelStream::InputFinished() {
  if (finished_) return;
  finished_ = true;
  Process();
}

void ModelStream::RunSpan(int64_t begin, int64_t end, int64_t skip, int64_t emit, int64_t carry) {
  const int64_t n = end - begin;
  SequenceBatch in;
  in.max_frames = n;
  in.lengths = {n};
  in.data.resize(n, model_->Architecture().input_size);
  std::span<const float> src = input_.From(begin);
  std::copy(src.begin(), src.begin() + n * in.data.cols(), in.data.data());
  SequenceBatch rnn;
  std::vector<RecurrentState> next_states;
  const int64_t carry_frames[1] = {carry};
  model_->ForwardStack(in, rnn, have_states_ ? &states_ : nullptr, carry > 0 ? &next_states : nullptr,
                       carry > 0 ? std::span<const int64_t>(carry_frames) : std::span<const int64_t>());
  if (carry > 0) {
    states_ = std::move(next_states);
    have_states_ = true;
  }
  ModelOutput out;
  SequenceBatch emitted;
  emitted.max_frames = emit;
  emitted.lengths = {emit};
  emitted.data = rnn.data.middleRows(skip, emit);
  model_->ForwardHead(emitted, out);
  for (int64_t t = 0; t < emit; ++t) {
    std::span<float> dst = log_probs_.Append();
    std::copy(out.log_probs.data.row(t).data(), out.log_probs.data.row(t).data() + out.log_probs.data.cols(),
              dst.begin());
  }
  next_ = begin + skip + emit;
}

void ModelStream::Process() {
  const int64_t available = input_.End();
  if (causal_) {  // exact: the forward state carries over every chunk
    if (available > next_) RunSpan(next_, available, 0, available - next_, available - next_);
    input_.ReleaseBefore(next_);
    return;
  }
  switch (config_.mode) {
    case BidirectionalMode::kOffline:
      if (finished_ && available > 0 && next_ == 0) RunSpan(0, available, 0, available, 0);
      break;
    case BidirectionalMode::kChunked: {
      const int64_t n = config_.chunk_frames, r = config_.right_context_frames;
      while (next_ < available && (next_ + n + r <= available || finished_)) {
        const int64_t emit = std::min(n, available - next_);
        const int64_t end = std::min(next_ + n + r, available);
        RunSpan(next_, end, 0, emit, emit);
      }
      break;
    }
    case BidirectionalMode::kSlidingWindow: {
      const int64_t w = config_.window_frames, hop = config_.hop_frames, margin = (w - hop) / 2;
      for (;;) {
        const int64_t start = window_index_ * hop;
        const bool last = finished_ && start + w >= available;
        if (!last && start + w > available) break;
        const int64_t end = std::min(start + w, available);
        const int64_t emit_end = last ? available : std::min(start + margin + hop, available);
        if (emit_end > next_) RunSpan(start, end, next_ - start, emit_end - next_, 0);
        ++window_index_;
        if (last) break;
      }
      break;
    }
  }
  // Frames before the next window or chunk are no longer needed.
  const int64_t keep = config_.mode == BidirectionalMode::kSlidingWindow ? window_index_ * config_.hop_frames
                                                                         : next_;
  if (config_.mode != BidirectionalMode::kOffline) input_.ReleaseBefore(std::min(keep, next_));
}

void ModelStream::Reset() {
  finished_ = false;
  input_.Clear();
  log_probs_.Clear();
  states_.clear();
  have_states_ = false;
  next_ = 0;
  window_index_ = 0;
}

}  // namespace ossicle
