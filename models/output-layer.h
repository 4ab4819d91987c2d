// Linear layers, log-softmax, and the attention-pooling head.
#pragma once

#include <string_view>

#include "models/tensor-types.h"

namespace ossicle {

// y = x W^T + b, PyTorch's nn.Linear. weight [out, in], bias [out].
struct Linear {
  MatrixF weight;
  VectorF bias;
  int In() const { return static_cast<int>(weight.cols()); }
  int Out() const { return static_cast<int>(weight.rows()); }
  // Shapes checked: ModelFormatError naming `name`.
  void Check(std::string_view name, int in, int out) const;
  void Forward(const MatrixF& x, MatrixF& y) const {
    y.noalias() = x * weight.transpose();
    y.rowwise() += bias.transpose();
  }
};

// Row-wise log-softmax, computed stably: x - max - log(sum(exp(x - max))).
void LogSoftmaxRows(const MatrixF& x, MatrixF& y);

// Attention pooling for whole-clip decisions (the attention-on-LSTM design of Shan et al. 2018,
// "Attention-based end-to-end models for small-footprint keyword spotting"):
//   e_t = v . tanh(W h_t + b),  alpha = softmax over the valid frames of e,  c = sum_t alpha_t h_t,
// then the output Linear and log-softmax on c.  W [A, D], b [A], v [A].
struct AttentionPooling {
  Linear projection;  // W, b
  VectorF context;    // v
  void Check(std::string_view name, int input, int attention) const;
  // frames [T, D] of one sequence (T >= 1); weights [T] out; pooled [D] out.
  void Pool(const MatrixF& frames, RowVectorF& weights, RowVectorF& pooled) const;
};

}  // namespace ossicle
