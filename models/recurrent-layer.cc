#include "models/recurrent-layer.h"

#include <algorithm>
#include <exception>
#include <string>
#include <thread>

#include "features/errors.h"

namespace ossicle {

namespace {

void CheckShape(std::string_view layer, std::string_view what, int64_t rows, int64_t cols, int64_t want_rows,
                int64_t want_cols) {
  if (rows != want_rows || cols != want_cols) {
    throw ModelFormatError(std::string(layer) + ": " + std::string(what) + " has shape [" + std::to_string(rows) +
                           ", " + std::to_string(cols) + "]; expected [" + std::to_string(want_rows) + ", " +
                           std::to_string(want_cols) + "]");
  }
}

void CheckDirection(std::string_view layer, const DirectionWeights& w, int gates, int input, int hidden,
                    std::string_view suffix) {
  const std::string s(suffix);
  CheckShape(layer, "weight_ih" + s, w.w_ih.rows(), w.w_ih.cols(), gates * hidden, input);
  CheckShape(layer, "weight_hh" + s, w.w_hh.rows(), w.w_hh.cols(), gates * hidden, hidden);
  CheckShape(layer, "bias_ih" + s, w.b_ih.rows(), 1, gates * hidden, 1);
  CheckShape(layer, "bias_hh" + s, w.b_hh.rows(), 1, gates * hidden, 1);
}

}  // namespace

RecurrentLayer::RecurrentLayer(CellType cell, int input_size, int hidden_size, bool bidirectional,
                               DirectionWeights forward, DirectionWeights backward, std::string_view name)
    : cell_(cell),
      input_size_(input_size),
      hidden_size_(hidden_size),
      bidirectional_(bidirectional),
      fwd_(std::move(forward)),
      bwd_(std::move(backward)) {
  if (input_size < 1 || hidden_size < 1) {
    throw ModelFormatError(std::string(name) + ": input size " + std::to_string(input_size) + " and hidden size " +
                           std::to_string(hidden_size) + " must be >= 1");
  }
  const int gates = NumGates(cell);
  CheckDirection(name, fwd_, gates, input_size, hidden_size, "");
  if (bidirectional) CheckDirection(name, bwd_, gates, input_size, hidden_size, "_reverse");
  WeightsChanged();
}

void RecurrentLayer::WeightsChanged() {
  for (int d = 0; d < (bidirectional_ ? 2 : 1); ++d) {
    const DirectionWeights& w = d == 0 ? fwd_ : bwd_;
    RowVectorF bias = w.b_ih.transpose();
    if (cell_ == CellType::kLstm) {
      bias += w.b_hh.transpose();
    } else {  // GRU: b_hn stays inside r * (W_hn h + b_hn)
      bias.head(2 * hidden_size_) += w.b_hh.head(2 * hidden_size_).transpose();
    }
    input_bias_[static_cast<size_t>(d)] = bias;
  }
}

void RecurrentLayer::Forward(const SequenceBatch& in, SequenceBatch* out, const RecurrentState* initial,
                             RecurrentState* final_state, std::span<const int64_t> carry_frames,
                             int num_threads) const {
  if (in.Dim() != input_size_) {
    throw ModelFormatError("recurrent layer: input has " + std::to_string(in.Dim()) + " values per frame; expected " +
                           std::to_string(input_size_));
  }
  out->max_frames = in.max_frames;
  out->lengths = in.lengths;
  out->data.setZero(in.data.rows(), OutputSize());
  if (bidirectional_ && num_threads >= 2) {
    // The directions write disjoint columns of the output; the backward one runs on a second thread.
    std::exception_ptr error;
    std::thread backward([&]() {
      try {
        RunDirection(in, true, nullptr, out->data, hidden_size_, nullptr, {});
      } catch (...) {
        error = std::current_exception();
      }
    });
    RunDirection(in, false, initial, out->data, 0, final_state, carry_frames);
    backward.join();
    if (error) std::rethrow_exception(error);
    return;
  }
  RunDirection(in, false, initial, out->data, 0, final_state, carry_frames);
  if (bidirectional_) RunDirection(in, true, nullptr, out->data, hidden_size_, nullptr, {});
}

void RecurrentLayer::RunDirection(const SequenceBatch& in, bool reverse, const RecurrentState* initial,
                                  MatrixF& out, int col, RecurrentState* final_state,
                                  std::span<const int64_t> carry_frames) const {
  const DirectionWeights& w = reverse ? bwd_ : fwd_;
  const int64_t batch = in.BatchSize();
  const int64_t frames = in.max_frames;
  const int h = hidden_size_;
  const int g = NumGates(cell_) * h;
  const bool lstm = cell_ == CellType::kLstm;

  // Sequences sorted by length, longest first: at step s the active ones are the first active[s] rows,
  // so the state and the step's inputs are contiguous blocks (no per-step gathers).
  std::vector<int64_t> order(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) order[static_cast<size_t>(b)] = b;
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return in.lengths[static_cast<size_t>(x)] > in.lengths[static_cast<size_t>(y)];
  });
  auto len_of = [&](int64_t i) { return in.lengths[static_cast<size_t>(order[static_cast<size_t>(i)])]; };
  const int64_t longest = batch > 0 ? len_of(0) : 0;

  // Inputs in step-major order (row s * B + i: step s of the i-th longest sequence; the backward direction
  // reads each sequence from its own last frame), then their projections in one matrix product.
  // Per-thread workspaces, reused across calls: same-sized calls (the common case) neither allocate nor
  // touch fresh pages.
  thread_local MatrixF steps, xp, rec;
  steps.resize(longest * batch, in.Dim());
  if (batch > 1 && len_of(batch - 1) < longest) steps.setZero();  // rows of finished sequences stay defined
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t b = order[static_cast<size_t>(i)], len = len_of(i);
    for (int64_t s = 0; s < len; ++s) steps.row(s * batch + i) = in.data.row(b * frames + (reverse ? len - 1 - s : s));
  }
  xp.resize(longest * batch, g);
  xp.noalias() = steps * w.w_ih.transpose();
  xp.rowwise() += input_bias_[reverse ? 1 : 0];

  MatrixF state_h = MatrixF::Zero(batch, h);
  MatrixF state_c = MatrixF::Zero(batch, lstm ? h : 0);
  for (int64_t i = 0; initial != nullptr && i < batch; ++i) {
    state_h.row(i) = initial->h.row(order[static_cast<size_t>(i)]);
    if (lstm) state_c.row(i) = initial->c.row(order[static_cast<size_t>(i)]);
  }
  if (final_state != nullptr) {  // sequences that carry 0 frames keep the initial state
    final_state->h = initial != nullptr ? initial->h : MatrixF::Zero(batch, h);
    final_state->c = initial != nullptr && lstm ? initial->c : MatrixF::Zero(batch, lstm ? h : 0);
  }

  rec.resize(batch, g);  // per-step buffer, sized once: the loop below does not allocate
  int64_t n = batch;
  for (int64_t s = 0; s < longest; ++s) {
    while (n > 0 && len_of(n - 1) <= s) --n;
    auto hh = state_h.topRows(n);
    auto r = rec.topRows(n);
    r.noalias() = hh * w.w_hh.transpose();
    auto x = xp.middleRows(s * batch, n);
    if (lstm) {
      x += r;  // pre-activations of i f g o
      auto cc = state_c.topRows(n);
      cc.array() = x.middleCols(h, h).array().logistic() * cc.array() +
                   x.leftCols(h).array().logistic() * x.middleCols(2 * h, h).array().tanh();
      hh.array() = x.rightCols(h).array().logistic() * cc.array().tanh();
    } else {
      r.rightCols(h).rowwise() += w.b_hh.tail(h).transpose();  // W_hn h + b_hn
      auto rz = x.leftCols(2 * h);
      rz += r.leftCols(2 * h);
      rz.array() = rz.array().logistic();  // r | z
      auto nn = x.rightCols(h);
      nn.array() = (nn.array() + rz.leftCols(h).array() * r.rightCols(h).array()).tanh();
      hh.array() = (1.0f - rz.rightCols(h).array()) * nn.array() + rz.rightCols(h).array() * hh.array();
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b = order[static_cast<size_t>(i)];
      const int64_t t = reverse ? len_of(i) - 1 - s : s;
      out.row(b * frames + t).segment(col, h) = hh.row(i);
      if (final_state != nullptr && !carry_frames.empty() && carry_frames[static_cast<size_t>(b)] == s + 1) {
        final_state->h.row(b) = hh.row(i);
        if (lstm) final_state->c.row(b) = state_c.row(i);
      }
    }
  }
  if (final_state != nullptr && carry_frames.empty()) {
    for (int64_t i = 0; i < batch; ++i) {
      final_state->h.row(order[static_cast<size_t>(i)]) = state_h.row(i);
      if (lstm) final_state->c.row(order[static_cast<size_t>(i)]) = state_c.row(i);
    }
  }
}

}  // namespace ossicle
