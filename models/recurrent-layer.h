// LSTM and GRU layers in PyTorch's formulation, uni- or bidirectional, over batches of variable-length
// sequences.
//
// LSTM (gate order i, f, g, o as in torch.nn.LSTM; two bias vectors):
//   [i f g o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
//   i, f, o = sigmoid(.), g = tanh(.), c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t)
// GRU (gate order r, z, n as in torch.nn.GRU; r applied to W_hn h + b_hn):
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}
// Weights are immutable after construction and can be shared by any number of threads; all per-call
// state lives in the caller's buffers.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "models/tensor-types.h"

namespace ossicle {

enum class CellType { kLstm, kGru };
template <>
struct EnumNames<CellType> {
  static constexpr std::array kValues{std::pair{CellType::kLstm, std::string_view{"lstm"}},
                                      std::pair{CellType::kGru, std::string_view{"gru"}}};
};

// Gates per cell: 4 for LSTM (i f g o), 3 for GRU (r z n).
constexpr int NumGates(CellType cell) { return cell == CellType::kLstm ? 4 : 3; }

struct DirectionWeights {
  MatrixF w_ih;  // [gates * hidden, input]
  MatrixF w_hh;  // [gates * hidden, hidden]
  VectorF b_ih;  // [gates * hidden]
  VectorF b_hh;  // [gates * hidden]
};

// A batch of B sequences padded to T frames: row b * T + t holds frame t of sequence b. Rows at or past a
// sequence's length are ignored on input and written as zeros on output.
// Float for the model; double for the gradient checks of the training pass.
template <class Scalar>
struct BasicSequenceBatch {
  BasicMatrix<Scalar> data;     // [B * T, dim]
  int64_t max_frames = 0;       // T
  std::vector<int64_t> lengths; // B values in [0, T]
  int64_t BatchSize() const { return static_cast<int64_t>(lengths.size()); }
  int Dim() const { return static_cast<int>(data.cols()); }
};
using SequenceBatch = BasicSequenceBatch<float>;
using SequenceBatchD = BasicSequenceBatch<double>;

// The recurrent state of one direction of one layer for a batch: h [B, H] and, for LSTM, c [B, H].
struct RecurrentState {
  MatrixF h;
  MatrixF c;
};

class RecurrentLayer {
 public:
  // Checks every shape: ModelFormatError naming `name` (e.g. "rnn layer 1") on a mismatch.
  RecurrentLayer(CellType cell, int input_size, int hidden_size, bool bidirectional, DirectionWeights forward,
                 DirectionWeights backward, std::string_view name);

  CellType Cell() const { return cell_; }
  int InputSize() const { return input_size_; }
  int HiddenSize() const { return hidden_size_; }
  bool Bidirectional() const { return bidirectional_; }
  int OutputSize() const { return hidden_size_ * (bidirectional_ ? 2 : 1); }
  const DirectionWeights& Weights(int direction) const { return direction == 0 ? fwd_ : bwd_; }
  // For training: the values may be changed in place (never the shapes); call WeightsChanged() afterwards,
  // before the next Forward.
  DirectionWeights& MutableWeights(int direction) { return direction == 0 ? fwd_ : bwd_; }
  void WeightsChanged();

  // Runs the layer over `in` and writes [B * T, OutputSize()] into out->data (forward | backward halves).
  // The forward direction starts from `initial` (zeros when null) and, when `final_state` is given, leaves
  // its state after frame `carry_frames[b] - 1` of each sequence there (state at the start when 0): this is
  // how chunked streaming carries the forward state. The backward direction of each sequence starts from
  // zeros at its own last valid frame (PyTorch's packed sequences).
  // With num_threads >= 2 a bidirectional layer runs its two directions on two threads.
  void Forward(const SequenceBatch& in, SequenceBatch* out, const RecurrentState* initial = nullptr,
               RecurrentState* final_state = nullptr, std::span<const int64_t> carry_frames = {},
               int num_threads = 1) const;

  // Runs one direction: `reverse` false = forward in time. Output columns [col, col + H) of out.
  void RunDirection(const SequenceBatch& in, bool reverse, const RecurrentState* initial, MatrixF& out, int col,
                    RecurrentState* final_state, std::span<const int64_t> carry_frames) const;

 private:
  CellType cell_;
  int input_size_;
  int hidden_size_;
  bool bidirectional_;
  DirectionWeights fwd_;
  DirectionWeights bwd_;
  // Bias added to the input projection once per frame: b_ih, plus b_hh where it is not gated (LSTM all
  // gates; GRU r and z). Indexed by direction.
  std::array<RowVectorF, 2> input_bias_;
};

}  // namespace ossicle
