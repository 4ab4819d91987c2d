#include "models/output-layer.h"

#include <string>

#include "features/errors.h"

namespace ossicle {

void Linear::Check(std::string_view name, int in, int out) const {
  if (weight.rows() != out || weight.cols() != in || bias.rows() != out) {
    throw ModelFormatError(std::string(name) + ": weight [" + std::to_string(weight.rows()) + ", " +
                           std::to_string(weight.cols()) + "] and bias [" + std::to_string(bias.rows()) +
                           "]; expected weight [" + std::to_string(out) + ", " + std::to_string(in) + "] and bias [" +
                           std::to_string(out) + "]");
  }
}

void LogSoftmaxRows(const MatrixF& x, MatrixF& y) {
  y.resize(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float m = x.row(r).maxCoeff();
    const float lse = m + std::log((x.row(r).array() - m).exp().sum());
    y.row(r) = x.row(r).array() - lse;
  }
}

void AttentionPooling::Check(std::string_view name, int input, int attention) const {
  projection.Check(std::string(name) + " projection", input, attention);
  if (context.rows() != attention) {
    throw ModelFormatError(std::string(name) + ": context vector has " + std::to_string(context.rows()) +
                           " values; expected " + std::to_string(attention));
  }
}

void AttentionPooling::Pool(const MatrixF& frames, RowVectorF& weights, RowVectorF& pooled) const {
  MatrixF proj;
  projection.Forward(frames, proj);
  const VectorF e = proj.array().tanh().matrix() * context;  // [T]
  const float m = e.maxCoeff();
  weights = (e.array() - m).exp().transpose();
  weights /= weights.sum();
  pooled.noalias() = weights * frames;
}

}  // namespace ossicle
