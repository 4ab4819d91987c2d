// Gradients of a loss with respect to every parameter of an AcousticModel, one flat row-major buffer per
// tensor in ParameterNames(arch) order (the layout of AcousticModel::Parameters()).
//
//   auto grads = ossicle::ModelGradients::ZerosLike(*model);
//   pass.Forward(batch, &rng); ...; pass.Backward(d_logits, grads);   // accumulates (+=)
//   if (grads.GlobalNorm() > 5) grads.Scale(5 / norm);                // clip, then the optimiser step
//   grads.SetZero();                                                  // before the next batch
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ossicle {

class AcousticModel;

struct ModelGradients {
  std::vector<std::string> names;                // ParameterNames order
  std::vector<std::vector<int64_t>> shapes;      // as ParameterView::shape
  std::vector<std::vector<float>> values;        // values[i].size() == product of shapes[i]

  // Zeros shaped like the model's parameters.
  static ModelGradients ZerosLike(const AcousticModel& model);
  void SetZero();
  // sqrt of the sum of squares over every tensor (accumulated in double), as
  // torch.nn.utils.clip_grad_norm_ computes the total 2-norm.
  double GlobalNorm() const;
  void Scale(float factor);
  // this += other. ConfigError when the two do not hold the same tensors with the same shapes.
  void Add(const ModelGradients& other);
  // Index of `name` in names, or -1.
  int Find(const std::string& name) const;
  int64_t NumValues() const;
};

}  // namespace ossicle
