#include "models/model-gradients.h"

#include <cmath>

#include "features/errors.h"
#include "models/acoustic-model.h"

namespace ossicle {

ModelGradients ModelGradients::ZerosLike(const AcousticModel& model) {
  ModelGradients g;
  for (const ConstParameterView& p : model.Parameters()) {
    g.names.push_back(p.name);
    g.shapes.push_back(p.shape);
    g.values.emplace_back(p.values.size(), 0.0f);
  }
  return g;
}

void ModelGradients::SetZero() {
  for (std::vector<float>& v : values) std::fill(v.begin(), v.end(), 0.0f);
}

double ModelGradients::GlobalNorm() const {
  double sum = 0;
  for (const std::vector<float>& v : values) {
    for (float x : v) sum += static_cast<double>(x) * static_cast<double>(x);
  }
  return std::sqrt(sum);
}

void ModelGradients::Scale(float factor) {
  for (std::vector<float>& v : values) {
    for (float& x : v) x *= factor;
  }
}

void ModelGradients::Add(const ModelGradients& other) {
  if (other.names != names || other.shapes != shapes || other.values.size() != values.size()) {
    throw ConfigError("model gradients: adding gradients of " + std::to_string(other.names.size()) +
                      " tensors to gradients of " + std::to_string(names.size()) +
                      " tensors with other names or shapes");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (other.values[i].size() != values[i].size()) {
      throw ConfigError("model gradients: '" + names[i] + "' holds " + std::to_string(other.values[i].size()) +
                        " values; expected " + std::to_string(values[i].size()));
    }
    for (size_t j = 0; j < values[i].size(); ++j) values[i][j] += other.values[i][j];
  }
}

int ModelGradients::Find(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int64_t ModelGradients::NumValues() const {
  int64_t n = 0;
  for (const std::vector<float>& v : values) n += static_cast<int64_t>(v.size());
  return n;
}

}  // namespace ossicle
