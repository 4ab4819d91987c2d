// One training step's model computation: a forward pass that keeps what the backward pass needs, and the
// backward pass (backpropagation through time) that accumulates d loss / d parameter.
//
//   auto model = ossicle::AcousticModel::Initialize(arch, features, labels, seed);
//   auto grads = ossicle::ModelGradients::ZerosLike(*model);
//   ossicle::TrainingPass pass(*model, {.dropout = 0.1f, .num_threads = 2});
//   std::mt19937_64 rng(seed);
//   const ossicle::ModelOutput& out = pass.Forward(batch.features, &rng);     // dropout on: rng given
//   ossicle::MatrixF d_logits;
//   auto loss = ossicle::FrameCrossEntropy(out.log_probs, batch.labels, {}, &d_logits);  // models/losses.h
//   pass.Backward(d_logits, grads);                                            // grads += d loss / d params
//   ... optimiser updates model->MutableParameters(), then model->ParametersChanged() ...
//
// The math is PyTorch's (nn.LSTM / nn.GRU over packed sequences, nn.Linear, log_softmax), so gradients match
// torch.autograd; see models/recurrent-layer.h for the cell equations and models/output-layer.h for the
// attention head. Dropout is nn.LSTM(dropout=p)'s: inverted dropout (kept values scaled by 1 / (1 - p)) on
// the output of every recurrent layer but the last, only when Forward gets a generator.
//
// Layout and cost: the batch is reordered once, time-major with sequences sorted by length, so that at each
// step the active sequences are one contiguous block. Per time step only the recurrent product h W_hh^T
// (forward) or dGates W_hh (backward) and element-wise work remain; the input projections, dW_ih = dGates^T X,
// dW_hh = dGates^T H_prev and dX = dGates W_ih are single products over all frames. Buffers are kept and
// reused across calls of the same pass. With num_threads >= 2 the pass keeps a second thread
// (models/paired-thread.h): the two directions of a bidirectional layer run on the two threads, forward and
// backward, and the work between layers (reordering, the frame head, its gradients) is split over them by
// sequences. Every value is computed the same way whatever the split, so results equal the one-thread ones.
//
// A pass holds per-batch state: use one pass per thread. It reads the parameters during Forward and Backward,
// so they must not change between the two.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string_view>

#include "features/config-fields.h"
#include "models/acoustic-model.h"
#include "models/model-gradients.h"

namespace ossicle {

struct TrainingPassConfig {
  float dropout = 0;    // probability in [0, 1) of zeroing each value between stacked recurrent layers
  int num_threads = 1;  // >= 2: two threads (directions in parallel, the rest in halves); 1 to 64

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"dropout", "", "dropout between stacked recurrent layers (probability)"}, self.dropout);
    v(FieldInfo{"num_threads", "", "threads for the model computation (2 runs directions in parallel)"},
      self.num_threads);
  }
  // ConfigError naming the field: "<path>.dropout = 1; expected in [0, 1)".
  void Validate(std::string_view path = "training_pass") const;
};

// The forward and backward math on any scalar: float for training, double for finite-difference checks.
template <class Scalar>
class BasicTrainingPass {
 public:
  using Matrix = BasicMatrix<Scalar>;

  // ConfigError when `arch` or `config` is invalid.
  explicit BasicTrainingPass(const ModelArchitecture& arch, TrainingPassConfig config = {});
  ~BasicTrainingPass();
  BasicTrainingPass(BasicTrainingPass&&) noexcept;
  BasicTrainingPass& operator=(BasicTrainingPass&&) noexcept;

  // `parameters`: one pointer per tensor of ParameterNames(arch), in that order, to row-major data of the
  // tensor's shape. They are read by Forward and by Backward, so they must stay valid and unchanged until
  // Backward returns. `input` [B * T, input_size]; rows past each length are ignored. The attention head
  // needs every length >= 1. ConfigError on a mis-shaped input. The returned output is valid until the
  // next Forward.
  const BasicModelOutput<Scalar>& Forward(std::span<const Scalar* const> parameters,
                                          const BasicSequenceBatch<Scalar>& input, std::mt19937_64* rng = nullptr);

  // d_logits = d loss / d logits for the last Forward: frame head [B * T, C] (rows at or past each length are
  // ignored), attention head [B, C]. ADDS d loss / d parameter to `gradients` (one pointer per tensor, as
  // `parameters`) and, when d_input is given, sets it to d loss / d input [B * T, input_size] (zero past
  // each length). ConfigError when d_logits is mis-shaped; Error when there was no Forward.
  void Backward(const Matrix& d_logits, std::span<Scalar* const> gradients, Matrix* d_input = nullptr);

  // The dropout multipliers (0 or 1 / (1 - p)) applied to the input of `layer` (>= 1) in the last Forward, in
  // the pass's internal row order; null when no dropout ran there. For tests and diagnostics.
  const Matrix* DropoutMask(int layer) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

extern template class BasicTrainingPass<float>;
extern template class BasicTrainingPass<double>;

// The training pass of one model, in float.
class TrainingPass {
 public:
  // `model` must outlive the pass; its parameters may change between steps (not between Forward and
  // Backward).
  explicit TrainingPass(const AcousticModel& model, TrainingPassConfig config = {});

  // The model's forward pass (as AcousticModel::Forward, plus dropout when `rng` is given), keeping what
  // Backward needs. The output stays valid until the next Forward.
  const ModelOutput& Forward(const SequenceBatch& input, std::mt19937_64* rng = nullptr);

  // Accumulates (+=) d loss / d parameter into `grads` (ModelGradients::ZerosLike of the model; ConfigError
  // otherwise); see BasicTrainingPass::Backward for d_logits and d_input.
  void Backward(const MatrixF& d_logits, ModelGradients& grads, MatrixF* d_input = nullptr);

  const TrainingPassConfig& Config() const { return config_; }
  const MatrixF* DropoutMask(int layer) const { return core_.DropoutMask(layer); }

 private:
  const AcousticModel& model_;
  TrainingPassConfig config_;
  BasicTrainingPass<float> core_;
};

}  // namespace ossicle
