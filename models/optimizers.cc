#include "models/optimizers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "features/errors.h"
#include "models/paired-thread.h"
#include "models/safetensors.h"

namespace ossicle {

namespace {

void Check(bool ok, std::string_view path, std::string_view field, const auto& value, std::string_view rule) {
  if (!ok) throw ConfigError(RuleMessage(path, field, value, rule));
}

bool InUnitInterval(double x) { return std::isfinite(x) && x >= 0.0 && x < 1.0; }

// Clipping factor of torch.nn.utils.clip_grad_norm_: 1e-6 keeps it finite for a zero norm.
float ClipFactor(double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0f;
  return static_cast<float>(std::min(1.0, max_norm / (norm + 1e-6)));
}

}  // namespace

void OptimizerConfig::Validate(std::string_view path) const {
  Check(std::isfinite(learning_rate) && learning_rate > 0.0, path, "learning_rate", learning_rate, "> 0");
  Check(std::isfinite(momentum) && momentum >= 0.0 && momentum < 1.0, path, "momentum", momentum, "in [0, 1)");
  Check(!nesterov || type != OptimizerType::kSgd || momentum > 0.0, path, "nesterov", nesterov,
        "false when momentum is 0 (Nesterov needs momentum)");
  Check(InUnitInterval(beta1), path, "beta1", beta1, "in [0, 1)");
  Check(InUnitInterval(beta2), path, "beta2", beta2, "in [0, 1)");
  Check(std::isfinite(epsilon) && epsilon > 0.0, path, "epsilon", epsilon, "> 0");
  Check(std::isfinite(weight_decay) && weight_decay >= 0.0, path, "weight_decay", weight_decay, ">= 0");
  Check(std::isfinite(clip_grad_norm) && clip_grad_norm >= 0.0, path, "clip_grad_norm", clip_grad_norm,
        ">= 0 (0 = no clipping)");
}

void LrScheduleConfig::Validate(std::string_view path) const {
  Check(warmup_steps >= 0, path, "warmup_steps", warmup_steps, ">= 0");
  Check(std::isfinite(min_learning_rate) && min_learning_rate >= 0.0, path, "min_learning_rate",
        min_learning_rate, ">= 0");
  Check(std::isfinite(plateau_factor) && plateau_factor > 0.0 && plateau_factor < 1.0, path, "plateau_factor",
        plateau_factor, "in (0, 1)");
  Check(plateau_patience >= 0, path, "plateau_patience", plateau_patience, ">= 0");
  Check(std::isfinite(plateau_threshold) && plateau_threshold >= 0.0, path, "plateau_threshold", plateau_threshold,
        ">= 0");
}

double GlobalNorm(std::span<const std::span<const float>> tensors) {
  double sum = 0.0;
  for (const auto& t : tensors) {
    for (const float x : t) sum += static_cast<double>(x) * x;
  }
  return std::sqrt(sum);
}

double ClipByGlobalNorm(std::span<const std::span<float>> tensors, double max_norm) {
  if (!(max_norm > 0.0)) throw ConfigError(RuleMessage("", "clip_grad_norm", max_norm, "> 0"));
  std::vector<std::span<const float>> views(tensors.begin(), tensors.end());
  const double norm = GlobalNorm(views);
  const float factor = ClipFactor(norm, max_norm);
  if (std::isfinite(norm) && factor < 1.0f) {
    for (const auto& t : tensors) {
      for (float& x : t) x *= factor;
    }
  }
  return norm;
}

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<std::string> names, std::vector<int64_t> sizes,
                     int num_threads)
    : config_(config), names_(std::move(names)), sizes_(std::move(sizes)) {
  config_.Validate();
  if (names_.size() != sizes_.size()) {
    throw ConfigError("optimizer: " + std::to_string(names_.size()) + " parameter names for " +
                      std::to_string(sizes_.size()) + " sizes");
  }
  for (size_t i = 0; i < sizes_.size(); ++i) {
    if (sizes_[i] < 0) throw ConfigError("optimizer: parameter '" + names_[i] + "' has a negative size");
  }
  const bool uses_first = config_.type != OptimizerType::kSgd || config_.momentum > 0.0;
  const bool uses_second = config_.type != OptimizerType::kSgd;
  for (const int64_t n : sizes_) {
    first_.emplace_back(uses_first ? static_cast<size_t>(n) : 0, 0.0f);
    second_.emplace_back(uses_second ? static_cast<size_t>(n) : 0, 0.0f);
  }
  if (num_threads >= 2) pair_ = std::make_unique<PairedThread>();
}

Optimizer::~Optimizer() = default;
Optimizer::Optimizer(Optimizer&&) noexcept = default;
Optimizer& Optimizer::operator=(Optimizer&&) noexcept = default;

void Optimizer::ForEachRange(const std::function<void(size_t, size_t, size_t)>& update) const {
  // Values [lo, hi) of the concatenation of all slots, slot by slot.
  auto run = [&](int64_t lo, int64_t hi) {
    int64_t start = 0;
    for (size_t i = 0; i < sizes_.size() && start < hi; ++i) {
      const int64_t end = start + sizes_[i];
      const int64_t a = std::max(lo, start), b = std::min(hi, end);
      if (a < b) update(i, static_cast<size_t>(a - start), static_cast<size_t>(b - start));
      start = end;
    }
  };
  int64_t total = 0;
  for (const int64_t n : sizes_) total += n;
  if (pair_ == nullptr) {
    run(0, total);
    return;
  }
  pair_->Run([&] { run(0, total / 2); }, [&] { run(total / 2, total); });
}

double Optimizer::Step(std::span<const std::span<float>> params, std::span<const std::span<const float>> grads,
                       double learning_rate) {
  if (params.size() != sizes_.size() || grads.size() != sizes_.size()) {
    throw ConfigError("optimizer step: " + std::to_string(params.size()) + " parameters and " +
                      std::to_string(grads.size()) + " gradients for " + std::to_string(sizes_.size()) + " slots");
  }
  for (size_t i = 0; i < sizes_.size(); ++i) {
    const auto n = static_cast<size_t>(sizes_[i]);
    if (params[i].size() != n || grads[i].size() != n) {
      throw ConfigError("optimizer step: parameter '" + names_[i] + "' has " + std::to_string(params[i].size()) +
                        " values and its gradient " + std::to_string(grads[i].size()) + "; expected " +
                        std::to_string(n));
    }
  }
  if (!std::isfinite(learning_rate) || learning_rate < 0.0) {
    throw ConfigError(RuleMessage("optimizer step", "learning_rate", learning_rate, ">= 0 and finite"));
  }
  const double norm = GlobalNorm(grads);
  if (!std::isfinite(norm)) return norm;
  ++step_;
  const float clip = ClipFactor(norm, config_.clip_grad_norm);
  const auto lr = static_cast<float>(learning_rate);
  const auto wd = static_cast<float>(config_.weight_decay);

  if (config_.type == OptimizerType::kSgd) {
    const auto mu = static_cast<float>(config_.momentum);
    ForEachRange([&](size_t i, size_t begin, size_t end) {
      float* p = params[i].data();
      const float* g = grads[i].data();
      float* buf = first_[i].data();
      for (size_t j = begin; j < end; ++j) {
        float d = g[j] * clip;
        if (wd != 0.0f) d += wd * p[j];
        if (mu != 0.0f) {
          buf[j] = step_ == 1 ? d : mu * buf[j] + d;
          d = config_.nesterov ? d + mu * buf[j] : buf[j];
        }
        p[j] -= lr * d;
      }
    });
    return norm;
  }

  // Adam / AdamW. The bias corrections are computed in double, as PyTorch computes them in Python.
  const double t = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(config_.beta1, t);
  const double bc2 = 1.0 - std::pow(config_.beta2, t);
  const auto step_size = static_cast<float>(learning_rate / bc1);
  const auto bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const auto b2 = static_cast<float>(config_.beta2);
  const auto one_minus_b1 = static_cast<float>(1.0 - config_.beta1);
  const auto one_minus_b2 = static_cast<float>(1.0 - config_.beta2);
  const auto eps = static_cast<float>(config_.epsilon);
  const bool decoupled = config_.type == OptimizerType::kAdamW;
  const float decay = 1.0f - lr * wd;
  ForEachRange([&](size_t i, size_t begin, size_t end) {
    float* p = params[i].data();
    const float* g = grads[i].data();
    float* m = first_[i].data();
    float* v = second_[i].data();
    // Local copies: the float stores below could alias the captured references, which would keep the loop
    // from being vectorised.
    const float clip_l = clip, wd_l = wd, decay_l = decay, b2_l = b2, one_minus_b1_l = one_minus_b1;
    const float one_minus_b2_l = one_minus_b2, bc2_sqrt_l = bc2_sqrt, eps_l = eps, step_size_l = step_size;
    const bool decoupled_l = decoupled;
    for (size_t j = begin; j < end; ++j) {
      float d = g[j] * clip_l;
      if (decoupled_l) {
        p[j] *= decay_l;
      } else if (wd_l != 0.0f) {
        d += wd_l * p[j];
      }
      m[j] += one_minus_b1_l * (d - m[j]);  // torch's lerp_(grad, 1 - beta1)
      v[j] = b2_l * v[j] + one_minus_b2_l * (d * d);
      const float denom = std::sqrt(v[j]) / bc2_sqrt_l + eps_l;
      p[j] -= step_size_l * (m[j] / denom);
    }
  });
  return norm;
}

void Optimizer::SaveState(SafetensorsWriter& out, const std::string& prefix) const {
  out.SetMetadata(prefix + "type", std::string(EnumToString(config_.type)));
  out.SetMetadata(prefix + "step", std::to_string(step_));
  const char* first_name = config_.type == OptimizerType::kSgd ? ".momentum" : ".exp_avg";
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!first_[i].empty()) out.AddF32(prefix + names_[i] + first_name, {sizes_[i]}, first_[i]);
    if (!second_[i].empty()) out.AddF32(prefix + names_[i] + ".exp_avg_sq", {sizes_[i]}, second_[i]);
  }
}

void Optimizer::LoadState(const SafetensorsFile& in, const std::string& prefix) {
  const auto& meta = in.Metadata();
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) throw ModelFormatError(in.Path() + ": no '" + key + "' in the metadata");
    return it->second;
  };
  const std::string& type = get(prefix + "type");
  if (type != EnumToString(config_.type)) {
    throw ModelFormatError(in.Path() + ": optimizer state is for '" + type + "'; this run uses '" +
                           std::string(EnumToString(config_.type)) + "'");
  }
  int64_t step = -1;
  try {
    size_t used = 0;
    step = std::stoll(get(prefix + "step"), &used);
    if (used != get(prefix + "step").size()) step = -1;
  } catch (const std::logic_error&) {
    step = -1;
  }
  if (step < 0) throw ModelFormatError(in.Path() + ": metadata '" + prefix + "step' is not a step count");
  const char* first_name = config_.type == OptimizerType::kSgd ? ".momentum" : ".exp_avg";
  std::vector<std::vector<float>> first(first_.size()), second(second_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::array<int64_t, 1> shape{sizes_[i]};
    if (!first_[i].empty()) first[i] = in.ReadFloat(prefix + names_[i] + first_name, shape);
    if (!second_[i].empty()) second[i] = in.ReadFloat(prefix + names_[i] + ".exp_avg_sq", shape);
  }
  first_ = std::move(first);
  second_ = std::move(second);
  step_ = step;
}

LrSchedule::LrSchedule(const LrScheduleConfig& config, double peak_learning_rate, int64_t total_steps)
    : config_(config), peak_(peak_learning_rate), total_steps_(total_steps) {
  config_.Validate();
  if (!std::isfinite(peak_) || peak_ <= 0.0) throw ConfigError(RuleMessage("optimizer", "learning_rate", peak_, "> 0"));
  if (total_steps_ < 1) throw ConfigError("schedule: the run has no optimiser steps");
}

double LrSchedule::LearningRate(int64_t step) const {
  double lr = peak_;
  switch (config_.type) {
    case LrScheduleType::kConstant:
      break;
    case LrScheduleType::kWarmupCosine: {
      const int64_t decay_steps = total_steps_ - config_.warmup_steps;
      if (step >= config_.warmup_steps && decay_steps > 1) {
        // Progress 0 at the first step after the warm-up, 1 at the last step of the run.
        const double progress =
            std::min(1.0, static_cast<double>(step - config_.warmup_steps) / static_cast<double>(decay_steps - 1));
        const double lo = std::min(config_.min_learning_rate, peak_);
        lr = lo + (peak_ - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
      }
      break;
    }
    case LrScheduleType::kReduceOnPlateau:
      lr = std::max(peak_ * state_.scale, std::min(config_.min_learning_rate, peak_));
      break;
  }
  if (step < config_.warmup_steps) {
    lr *= static_cast<double>(step + 1) / static_cast<double>(config_.warmup_steps);
  }
  return lr;
}

bool LrSchedule::EndOfEpoch(double metric, bool higher_is_better) {
  if (config_.type != LrScheduleType::kReduceOnPlateau || !std::isfinite(metric)) return false;
  const double t = config_.plateau_threshold;
  const bool better = !state_.has_best || (higher_is_better ? metric > state_.best * (1.0 + t)
                                                            : metric < state_.best * (1.0 - t));
  if (better) {
    state_.best = metric;
    state_.has_best = true;
    state_.bad_epochs = 0;
    return false;
  }
  if (++state_.bad_epochs <= config_.plateau_patience) return false;
  state_.bad_epochs = 0;
  const double floor_scale = config_.min_learning_rate / peak_;
  if (state_.scale <= floor_scale) return false;
  state_.scale = std::max(state_.scale * config_.plateau_factor, floor_scale);
  return true;
}

}  // namespace ossicle
