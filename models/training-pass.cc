#include "models/training-pass.h"

#include "features/errors.h"

namespace ossicle {

void TrainingPassConfig::Validate(std::string_view path) const {
  if (!(dropout >= 0.0f && dropout < 1.0f)) throw ConfigError(RuleMessage(path, "dropout", dropout, "in [0, 1)"));
  if (num_threads < 1 || num_threads > 64) {
    throw ConfigError(RuleMessage(path, "num_threads", num_threads, "between 1 and 64"));
  }
}

template <class Scalar>
struct BasicTrainingPass<Scalar>::Impl {
  ModelArchitecture arch;
  TrainingPassConfig config;
  BasicModelOutput<Scalar> output;
};

template <class Scalar>
BasicTrainingPass<Scalar>::BasicTrainingPass(const ModelArchitecture& arch, TrainingPassConfig config)
    : impl_(std::make_unique<Impl>()) {
  arch.Validate();
  config.Validate();
  impl_->arch = arch;
  impl_->config = config;
}

template <class Scalar>
BasicTrainingPass<Scalar>::~BasicTrainingPass() = default;
template <class Scalar>
BasicTrainingPass<Scalar>::BasicTrainingPass(BasicTrainingPass&&) noexcept = default;
template <class Scalar>
BasicTrainingPass<Scalar>& BasicTrainingPass<Scalar>::operator=(BasicTrainingPass&&) noexcept = default;

template <class Scalar>
const BasicModelOutput<Scalar>& BasicTrainingPass<Scalar>::Forward(std::span<const Scalar* const>,
                                                                   const BasicSequenceBatch<Scalar>&,
                                                                   std::mt19937_64*) {
  throw Error("training pass: not implemented yet");
}

template <class Scalar>
void BasicTrainingPass<Scalar>::Backward(const Matrix&, std::span<Scalar* const>, Matrix*) {
  throw Error("training pass: not implemented yet");
}

template class BasicTrainingPass<float>;
template class BasicTrainingPass<double>;

TrainingPass::TrainingPass(const AcousticModel& model, TrainingPassConfig config)
    : model_(model), config_(config), core_(model.Architecture(), config) {}

const ModelOutput& TrainingPass::Forward(const SequenceBatch& input, std::mt19937_64* rng) {
  std::vector<const float*> params;
  for (const ConstParameterView& p : model_.Parameters()) params.push_back(p.values.data());
  return core_.Forward(params, input, rng);
}

void TrainingPass::Backward(const MatrixF& d_logits, ModelGradients& grads, MatrixF* d_input) {
  std::vector<float*> g;
  for (auto& v : grads.values) g.push_back(v.data());
  core_.Backward(d_logits, g, d_input);
}

}  // namespace ossicle
