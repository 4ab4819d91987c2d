// Training losses on log-probabilities, with their gradients with respect to the LOGITS (the log-softmax
// that produced the log-probabilities is differentiated here, so TrainingPass::Backward takes the result
// directly).
//
//   MatrixF d_logits;
//   LossResult ce = FrameCrossEntropy(out.log_probs, targets, {.ignore_index = -1}, &d_logits);
//   double mean = ce.loss / ce.total_weight;                      // PyTorch's reduction="mean"
//
// Every loss is a SUM (PyTorch's reduction="sum"); d_logits = d(sum loss) / d logits is overwritten (not
// accumulated), shaped like the log-probabilities, zero on ignored rows. A null d_logits skips the gradient.
// Inputs must be log_softmax outputs (each row's exp sums to 1): the gradient through the log-softmax uses it.
// The float overloads are the ones training uses; the double ones serve gradient checks.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "features/config-fields.h"
#include "models/recurrent-layer.h"

namespace ossicle {

// torch.nn.functional.cross_entropy's options.
struct CrossEntropyConfig {
  int ignore_index = -1;         // targets equal to this contribute nothing
  float label_smoothing = 0;     // in [0, 1]: target distribution (1 - s) one-hot + s / C uniform
  // Empty, or one weight >= 0 per class (PyTorch's `weight`). Not in Fields: the config readers have no
  // list-of-numbers field type; set it from code (e.g. from class frequencies).
  std::vector<float> class_weights = {};

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"ignore_index", "", "target value that is ignored"}, self.ignore_index);
    v(FieldInfo{"label_smoothing", "", "label smoothing in [0, 1] (PyTorch's label_smoothing)"},
      self.label_smoothing);
  }
  // ConfigError naming the field. num_classes > 0 also checks the number of class weights.
  void Validate(std::string_view path = "cross_entropy", int num_classes = 0) const;
};

// torch.nn.functional.ctc_loss's options.
struct CtcConfig {
  int blank = 0;               // index of the blank token
  bool zero_infinity = false;  // infinite losses (input too short for its target) and their gradients -> 0

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"blank", "", "index of the CTC blank token"}, self.blank);
    v(FieldInfo{"zero_infinity", "", "zero the loss and gradient of impossible alignments"},
      self.zero_infinity);
  }
  void Validate(std::string_view path = "ctc", int num_classes = 0) const;
};

struct LossResult {
  double loss = 0;           // the sum (an infinite CTC loss makes it +inf unless zero_infinity)
  int64_t count = 0;         // frames (CE: non-ignored frames; clip CE: non-ignored clips) or sequences (CTC)
  int64_t num_infinite = 0;  // CTC: sequences whose target cannot be aligned to their input
  // CE: the sum of the target classes' weights over counted rows (= count without class weights); the
  // divisor of PyTorch's reduction="mean". CTC: the sum of the target lengths.
  double total_weight = 0;
};

// Frame-level cross-entropy, as F.cross_entropy(logits.reshape(B*T, C), targets, weight, ignore_index,
// reduction="sum", label_smoothing): per counted frame
//   (1 - s) * w[y] * -log p[y]  +  (s / C) * sum_c w[c] * -log p[c].
// `log_probs` [B * T, C]; `targets` B * T values (row b * T + t), frames at or past each length ignored
// whatever their target. ConfigError for a target outside [0, C) that is not ignore_index (naming the
// sequence, frame and value) or a size mismatch.
// num_threads >= 2: the rows in two halves on two threads (same result; for training steps).
LossResult FrameCrossEntropy(const SequenceBatch& log_probs, std::span<const int32_t> targets,
                             const CrossEntropyConfig& config, MatrixF* d_logits, int num_threads = 1);
LossResult FrameCrossEntropy(const SequenceBatchD& log_probs, std::span<const int32_t> targets,
                             const CrossEntropyConfig& config, MatrixD* d_logits);

// Clip-level cross-entropy: one label per row of `clip_log_probs` [B, C] (the attention head's output).
LossResult ClipCrossEntropy(const MatrixF& clip_log_probs, std::span<const int32_t> labels,
                            const CrossEntropyConfig& config, MatrixF* d_logits);
LossResult ClipCrossEntropy(const MatrixD& clip_log_probs, std::span<const int32_t> labels,
                            const CrossEntropyConfig& config, MatrixD* d_logits);

// Connectionist temporal classification (Graves et al. 2006), as F.ctc_loss(log_probs, targets,
// input_lengths = log_probs.lengths, target_lengths, blank, reduction="sum", zero_infinity): the sum over
// sequences of -log p(target | input), computed in log space (forward-backward over the target with blanks
// interleaved; repeated labels need a blank between them). A target that cannot fit its input (fewer frames
// than labels plus repeats) has an infinite loss: counted in num_infinite, its gradient is zero (PyTorch's is
// NaN there), and with zero_infinity its loss is 0 too. `targets[b]` holds labels in [0, C) other than
// `blank` (ConfigError naming the sequence and position otherwise); targets.size() == B.
// num_threads >= 2: the sequences in two halves on two threads (same result; for training steps).
LossResult CtcLoss(const SequenceBatch& log_probs, const std::vector<std::vector<int32_t>>& targets,
                   const CtcConfig& config, MatrixF* d_logits, int num_threads = 1);
LossResult CtcLoss(const SequenceBatchD& log_probs, const std::vector<std::vector<int32_t>>& targets,
                   const CtcConfig& config, MatrixD* d_logits);

}  // namespace ossicle
