// Optimisers (SGD with momentum, Adam, AdamW), clipping by global gradient norm, and learning-rate schedules
// (constant, linear warm-up + cosine decay, reduce-on-plateau), following PyTorch's documented update rules
// so that a recipe tuned in PyTorch carries over.
//
//   ossicle::Optimizer opt(config.optimizer, names, sizes);      // one slot per parameter tensor
//   ossicle::LrSchedule schedule(config.schedule, config.optimizer.learning_rate, total_steps);
//   for (int64_t step = 0; ...; ++step) {
//     ... gradients into grads ...
//     double norm = opt.Step(params, grads, schedule.LearningRate(step));   // params updated in place
//   }
//   schedule.EndOfEpoch(dev_accuracy, /*higher_is_better=*/true);           // reduce-on-plateau bookkeeping
//
// Update rules for one parameter p with gradient g at step t = 1, 2, ... (lr the step's learning rate; the
// gradient is first scaled by min(1, clip_grad_norm / (norm + 1e-6)) when clipping is on, as
// torch.nn.utils.clip_grad_norm_ does, norm being the L2 norm over all parameters' gradients):
//   sgd:   g += weight_decay p;  b = g (t = 1) or momentum b + g;  g = nesterov ? g + momentum b : b;  p -= lr g
//          (torch.optim.SGD with dampening 0; momentum 0 is plain SGD)
//   adam:  g += weight_decay p;  m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
//          p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)          (torch.optim.Adam)
//   adamw: p *= 1 - lr weight_decay (decoupled decay), then adam without the L2 term      (torch.optim.AdamW)
// The state (momentum buffers, m, v, t) is float32 like PyTorch's and can be saved and restored exactly, so a
// resumed run continues bit for bit.
//
// Thread safety: an Optimizer or LrSchedule is used by one thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

class PairedThread;
class SafetensorsFile;
class SafetensorsWriter;

enum class OptimizerType { kSgd, kAdam, kAdamW };
template <>
struct EnumNames<OptimizerType> {
  static constexpr std::array kValues{std::pair{OptimizerType::kSgd, std::string_view{"sgd"}},
                                      std::pair{OptimizerType::kAdam, std::string_view{"adam"}},
                                      std::pair{OptimizerType::kAdamW, std::string_view{"adamw"}}};
};

struct OptimizerConfig {
  OptimizerType type = OptimizerType::kAdam;
  double learning_rate = 1e-3;  // peak rate; the schedule shapes it over the run
  double momentum = 0.9;        // sgd only
  bool nesterov = false;        // sgd only
  double beta1 = 0.9;           // adam, adamw
  double beta2 = 0.999;         // adam, adamw
  double epsilon = 1e-8;        // adam, adamw
  double weight_decay = 0.0;    // L2 on the gradient (sgd, adam) or decoupled decay (adamw), on every tensor
  double clip_grad_norm = 0.0;  // maximum global L2 norm of the gradients; 0 = no clipping

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"type", "", "update rule"}, self.type);
    v(FieldInfo{"learning_rate", "", "peak learning rate (the schedule scales it)"}, self.learning_rate);
    v(FieldInfo{"momentum", "", "sgd: momentum factor (0 = plain SGD)"}, self.momentum);
    v(FieldInfo{"nesterov", "", "sgd: Nesterov momentum"}, self.nesterov);
    v(FieldInfo{"beta1", "", "adam/adamw: decay of the first moment"}, self.beta1);
    v(FieldInfo{"beta2", "", "adam/adamw: decay of the second moment"}, self.beta2);
    v(FieldInfo{"epsilon", "", "adam/adamw: added to the root of the second moment"}, self.epsilon);
    v(FieldInfo{"weight_decay", "", "L2 penalty (sgd, adam) or decoupled weight decay (adamw)"}, self.weight_decay);
    v(FieldInfo{"clip_grad_norm", "", "clip the global gradient norm to this value (0 = off)"},
      self.clip_grad_norm);
  }
  void Validate(std::string_view path = "optimizer") const;
};

// The L2 norm over every value of every tensor (accumulated in double).
double GlobalNorm(std::span<const std::span<const float>> tensors);
// Scales the tensors in place so that their global norm is at most max_norm (torch.nn.utils.clip_grad_norm_:
// factor max_norm / (norm + 1e-6) when below 1). Returns the norm before clipping. max_norm > 0.
double ClipByGlobalNorm(std::span<const std::span<float>> tensors, double max_norm);

class Optimizer {
 public:
  // One slot per parameter tensor: names[i] (for state files and messages) holding sizes[i] values.
  // ConfigError when the config breaks a rule or the lists differ in length. num_threads >= 2: Step updates
  // the two halves of the values on two threads (element by element, so the result does not depend on it).
  Optimizer(const OptimizerConfig& config, std::vector<std::string> names, std::vector<int64_t> sizes,
            int num_threads = 1);
  ~Optimizer();
  Optimizer(Optimizer&&) noexcept;
  Optimizer& operator=(Optimizer&&) noexcept;

  // One update of every parameter from its gradient, with this step's learning rate. params and grads hold
  // one span per slot, in slot order, each of the slot's size (ConfigError otherwise). Gradients are read
  // only (clipping is applied on the fly). Returns the global gradient norm before clipping; when it is not
  // finite (NaN or inf) nothing is changed and the step is not counted, so one bad batch cannot destroy the
  // weights — the caller decides what to do (count it, stop).
  double Step(std::span<const std::span<float>> params, std::span<const std::span<const float>> grads,
              double learning_rate);

  const OptimizerConfig& Config() const { return config_; }
  int64_t StepCount() const { return step_; }
  const std::vector<std::string>& Names() const { return names_; }

  // The state as tensors "<prefix><name>.<buffer>" (buffer momentum, exp_avg, exp_avg_sq) plus the metadata
  // "<prefix>step" and "<prefix>type". LoadState checks that the file's state fits this optimiser (type,
  // every tensor present with the right size): ModelFormatError naming the file and the tensor otherwise.
  void SaveState(SafetensorsWriter& out, const std::string& prefix = "optimizer.") const;
  void LoadState(const SafetensorsFile& in, const std::string& prefix = "optimizer.");

 private:
  // update(slot, begin, end) over every value of every slot, in two halves when there are two threads.
  void ForEachRange(const std::function<void(size_t, size_t, size_t)>& update) const;

  OptimizerConfig config_;
  std::vector<std::string> names_;
  std::vector<int64_t> sizes_;
  int64_t step_ = 0;
  std::vector<std::vector<float>> first_;   // sgd: momentum buffer; adam(w): m
  std::vector<std::vector<float>> second_;  // adam(w): v
  std::unique_ptr<PairedThread> pair_;       // num_threads >= 2
};

enum class LrScheduleType {
  kConstant,        // the peak rate throughout (after the warm-up)
  kWarmupCosine,    // linear warm-up, then half a cosine from the peak down to min_learning_rate at the last step
  kReduceOnPlateau  // the peak rate, multiplied by plateau_factor whenever the dev metric stops improving
};
template <>
struct EnumNames<LrScheduleType> {
  static constexpr std::array kValues{std::pair{LrScheduleType::kConstant, std::string_view{"constant"}},
                                      std::pair{LrScheduleType::kWarmupCosine, std::string_view{"warmup_cosine"}},
                                      std::pair{LrScheduleType::kReduceOnPlateau, std::string_view{"plateau"}}};
};

struct LrScheduleConfig {
  LrScheduleType type = LrScheduleType::kConstant;
  int64_t warmup_steps = 0;          // every type: rate * (step + 1) / warmup_steps for the first steps
  double min_learning_rate = 0.0;    // floor of warmup_cosine and plateau
  double plateau_factor = 0.5;       // plateau: rate multiplier on a plateau
  int plateau_patience = 2;          // plateau: epochs without improvement tolerated (reduced on the next one)
  double plateau_threshold = 1e-4;   // plateau: relative change that counts as an improvement

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"type", "", "learning-rate schedule"}, self.type);
    v(FieldInfo{"warmup_steps", "steps", "linear warm-up from rate/warmup_steps to the peak"}, self.warmup_steps);
    v(FieldInfo{"min_learning_rate", "", "lowest rate of warmup_cosine and plateau"}, self.min_learning_rate);
    v(FieldInfo{"plateau_factor", "", "plateau: multiply the rate by this on a plateau"}, self.plateau_factor);
    v(FieldInfo{"plateau_patience", "epochs", "plateau: epochs without improvement before reducing"},
      self.plateau_patience);
    v(FieldInfo{"plateau_threshold", "", "plateau: relative change that counts as an improvement"},
      self.plateau_threshold);
  }
  void Validate(std::string_view path = "schedule") const;
};

// The learning rate of every step. Step numbers count optimiser steps from 0 over the whole run.
class LrSchedule {
 public:
  // What reduce-on-plateau remembers between epochs (saved in checkpoints).
  struct State {
    double scale = 1.0;       // product of the reductions so far
    double best = 0.0;        // best metric seen (valid when has_best)
    bool has_best = false;
    int bad_epochs = 0;       // epochs since the best one
    bool operator==(const State&) const = default;
  };

  // total_steps: optimiser steps of the whole run (the cosine reaches min_learning_rate at the last one).
  LrSchedule(const LrScheduleConfig& config, double peak_learning_rate, int64_t total_steps);

  double LearningRate(int64_t step) const;
  // Plateau bookkeeping after an epoch's evaluation (torch.optim.lr_scheduler.ReduceLROnPlateau with
  // threshold_mode "rel", cooldown 0): better when metric > best (1 + threshold) (higher_is_better) or
  // metric < best (1 - threshold); after more than `patience` epochs that are not better the rate is
  // multiplied by the factor (never below min_learning_rate). Returns true when it reduced the rate. A no-op
  // for the other types.
  bool EndOfEpoch(double metric, bool higher_is_better);

  const State& GetState() const { return state_; }
  void SetState(const State& state) { state_ = state; }

 private:
  LrScheduleConfig config_;
  double peak_;
  int64_t total_steps_;
  State state_;
};

}  // namespace ossicle
