#include "models/losses.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "features/errors.h"
#include "models/paired-thread.h"

namespace ossicle {

void CrossEntropyConfig::Validate(std::string_view path, int num_classes) const {
  if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
    throw ConfigError(RuleMessage(path, "label_smoothing", label_smoothing, "in [0, 1]"));
  }
  if (num_classes > 0 && !class_weights.empty() && static_cast<int>(class_weights.size()) != num_classes) {
    throw ConfigError(std::string(path) + ".class_weights has " + std::to_string(class_weights.size()) +
                      " values; expected one per class (" + std::to_string(num_classes) + ")");
  }
  for (size_t c = 0; c < class_weights.size(); ++c) {
    if (!(class_weights[c] >= 0.0f) || !std::isfinite(class_weights[c])) {
      throw ConfigError(std::string(path) + ".class_weights[" + std::to_string(c) + "] = " +
                        FormatValue(class_weights[c]) + "; expected a finite value >= 0");
    }
  }
}

void CtcConfig::Validate(std::string_view path, int num_classes) const {
  if (blank < 0 || (num_classes > 0 && blank >= num_classes)) {
    throw ConfigError(RuleMessage(path, "blank", blank,
                                  num_classes > 0 ? "in [0, " + std::to_string(num_classes) + ")" : ">= 0"));
  }
}

namespace {

constexpr double kLogZero = -std::numeric_limits<double>::infinity();

// f(begin, end) over [0, n): in two halves on two threads when num_threads >= 2. The first half's error is
// rethrown first, so the error reported is the one a single thread meets first.
template <class F>
void ForHalves(int num_threads, int64_t n, F&& f) {
  if (num_threads < 2 || n < 2) {
    f(int64_t{0}, n);
    return;
  }
  PairedThread pair;
  pair.Run([&] { f(int64_t{0}, n / 2); }, [&] { f(n / 2, n); });
}

// Writes the gradient of a loss through the log-softmax that made `lp`: d logits = g - softmax * sum(g),
// where g = d loss / d log-probabilities. Works on one row.
template <class Scalar, class GradRow, class LpRow, class OutRow>
void ThroughLogSoftmax(const GradRow& g, const LpRow& lp, OutRow&& out) {
  const double sum = g.sum();
  for (Eigen::Index c = 0; c < g.size(); ++c) {
    out(c) = static_cast<Scalar>(g(c) - std::exp(static_cast<double>(lp(c))) * sum);
  }
}

// Cross-entropy over the rows of `lp` [N, C] for which valid(row) holds.
template <class Scalar, class Valid>
LossResult CrossEntropyRows(const BasicMatrix<Scalar>& lp, std::span<const int32_t> targets,
                            const CrossEntropyConfig& config, BasicMatrix<Scalar>* d_logits, Valid valid,
                            const char* what, int64_t frames, int num_threads = 1) {
  const int num_classes = static_cast<int>(lp.cols());
  config.Validate(std::string(what), num_classes);
  if (static_cast<int64_t>(targets.size()) != lp.rows()) {
    throw ConfigError(std::string(what) + ": " + std::to_string(targets.size()) + " targets for " +
                      std::to_string(lp.rows()) + " rows of log-probabilities");
  }
  const double smoothing = static_cast<double>(config.label_smoothing);
  const bool weighted = !config.class_weights.empty();
  auto weight = [&](Eigen::Index c) {
    return weighted ? static_cast<double>(config.class_weights[static_cast<size_t>(c)]) : 1.0;
  };
  if (d_logits != nullptr) d_logits->setZero(lp.rows(), num_classes);
  // Per row: its loss and target weight (counted rows only), summed in row order afterwards, so the sums
  // do not depend on num_threads.
  std::vector<double> row_loss(static_cast<size_t>(lp.rows())), row_weight(static_cast<size_t>(lp.rows()));
  std::vector<char> counted(static_cast<size_t>(lp.rows()), 0);
  ForHalves(num_threads, lp.rows(), [&](int64_t r0, int64_t r1) {
    Eigen::Array<double, 1, Eigen::Dynamic> g(num_classes);
    for (Eigen::Index r = r0; r < r1; ++r) {
      if (!valid(r)) continue;
      const int32_t y = targets[static_cast<size_t>(r)];
      if (y == config.ignore_index) continue;
      if (y < 0 || y >= num_classes) {
        const std::string where =
            frames > 0 ? "sequence " + std::to_string(r / frames) + " frame " + std::to_string(r % frames)
                       : "clip " + std::to_string(r);
        throw ConfigError(std::string(what) + ": target of " + where + " is " + std::to_string(y) +
                          "; expected in [0, " + std::to_string(num_classes) + ") or ignore_index " +
                          std::to_string(config.ignore_index));
      }
      const double w_y = weight(y);
      double loss = -(1.0 - smoothing) * w_y * static_cast<double>(lp(r, y));
      g.setZero();
      g(y) = -(1.0 - smoothing) * w_y;
      if (smoothing > 0) {
        const double share = smoothing / num_classes;
        for (Eigen::Index c = 0; c < num_classes; ++c) {
          loss -= share * weight(c) * static_cast<double>(lp(r, c));
          g(c) -= share * weight(c);
        }
      }
      row_loss[static_cast<size_t>(r)] = loss;
      row_weight[static_cast<size_t>(r)] = w_y;
      counted[static_cast<size_t>(r)] = 1;
      if (d_logits != nullptr) ThroughLogSoftmax<Scalar>(g, lp.row(r), d_logits->row(r));
    }
  });
  LossResult result;
  for (size_t r = 0; r < counted.size(); ++r) {
    if (!counted[r]) continue;
    result.loss += row_loss[r];
    result.count += 1;
    result.total_weight += row_weight[r];
  }
  return result;
}

template <class Scalar>
LossResult FrameCrossEntropyT(const BasicSequenceBatch<Scalar>& log_probs, std::span<const int32_t> targets,
                              const CrossEntropyConfig& config, BasicMatrix<Scalar>* d_logits, int num_threads = 1) {
  const int64_t frames = log_probs.max_frames;
  if (log_probs.data.rows() != log_probs.BatchSize() * frames) {
    throw ConfigError("frame cross-entropy: log-probabilities have " + std::to_string(log_probs.data.rows()) +
                      " rows for " + std::to_string(log_probs.BatchSize()) + " sequences of " +
                      std::to_string(frames) + " frames");
  }
  return CrossEntropyRows<Scalar>(
      log_probs.data, targets, config, d_logits,
      [&](Eigen::Index r) { return r % frames < log_probs.lengths[static_cast<size_t>(r / frames)]; },
      "frame cross-entropy", frames, num_threads);
}

template <class Scalar>
LossResult ClipCrossEntropyT(const BasicMatrix<Scalar>& log_probs, std::span<const int32_t> labels,
                             const CrossEntropyConfig& config, BasicMatrix<Scalar>* d_logits) {
  return CrossEntropyRows<Scalar>(
      log_probs, labels, config, d_logits, [](Eigen::Index) { return true; }, "clip cross-entropy", 0);
}

using ArrayD = Eigen::Array<double, 1, Eigen::Dynamic>;
using TableD = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// log(exp(a) + exp(b) + exp(c)) element-wise. Shifted by the maximum, the sum is >= 1, so the tiny value
// Eigen's vectorised exp gives for -inf (it clamps its argument near -709) does not matter; where all
// three are -inf the result is set to exactly -inf (an unreachable state must stay unreachable).
ArrayD LogSumExp3(const ArrayD& a, const ArrayD& b, const ArrayD& c) {
  const ArrayD m = a.max(b).max(c);
  const ArrayD shift = (m == kLogZero).select(ArrayD::Zero(m.size()), m);
  const ArrayD sum = ((a - shift).exp() + (b - shift).exp() + (c - shift).exp()).log() + shift;
  return (m == kLogZero).select(ArrayD::Constant(m.size(), kLogZero), sum);
}

double LogAdd(double a, double b) {
  if (a == kLogZero) return b;
  if (b == kLogZero) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(-std::abs(a - b)));
}

// CTC for one sequence: frames [len, C] of log-probabilities; returns -log p(target), +inf when the target
// cannot be aligned. With `grad`, writes d(-log p) / d logits into grad [len, C] (left untouched when infinite).
template <class Scalar, class Frames, class Grad>
double CtcSequence(const Frames& lp, int64_t len, const std::vector<int32_t>& target, int blank, Grad* grad) {
  const int64_t labels = static_cast<int64_t>(target.size());
  const int64_t ext_len = 2 * labels + 1;
  if (len == 0) return labels == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  std::vector<int32_t> ext(static_cast<size_t>(ext_len), blank);
  for (int64_t j = 0; j < labels; ++j) ext[static_cast<size_t>(2 * j + 1)] = target[static_cast<size_t>(j)];
  // skip[s]: the path may jump from s - 2 to s (a label differing from the label before it).
  ArrayD skip_mask = ArrayD::Constant(ext_len, kLogZero);
  for (int64_t s = 2; s < ext_len; ++s) {
    if (ext[static_cast<size_t>(s)] != blank && ext[static_cast<size_t>(s)] != ext[static_cast<size_t>(s - 2)]) {
      skip_mask(s) = 0;
    }
  }
  TableD emit(len, ext_len);  // emit(t, s) = log p_t(ext[s])
  for (int64_t t = 0; t < len; ++t) {
    for (int64_t s = 0; s < ext_len; ++s) emit(t, s) = static_cast<double>(lp(t, ext[static_cast<size_t>(s)]));
  }
  // Forward variables: alpha(t, s) = log of the probability of the prefixes ending in s at t (emission
  // included).
  TableD alpha = TableD::Constant(len, ext_len, kLogZero);
  alpha(0, 0) = emit(0, 0);
  if (ext_len > 1) alpha(0, 1) = emit(0, 1);
  ArrayD shifted1(ext_len), shifted2(ext_len);
  for (int64_t t = 1; t < len; ++t) {
    const ArrayD prev = alpha.row(t - 1);
    shifted1(0) = kLogZero;
    shifted1.tail(ext_len - 1) = prev.head(ext_len - 1);
    shifted2.setConstant(kLogZero);
    if (ext_len > 2) shifted2.tail(ext_len - 2) = prev.head(ext_len - 2) + skip_mask.tail(ext_len - 2);
    alpha.row(t) = LogSumExp3(prev, shifted1, shifted2) + emit.row(t);
  }
  const double log_p =
      ext_len > 1 ? LogAdd(alpha(len - 1, ext_len - 1), alpha(len - 1, ext_len - 2)) : alpha(len - 1, 0);
  if (log_p == kLogZero || std::isnan(log_p)) return std::numeric_limits<double>::infinity();
  if (grad == nullptr) return -log_p;

  // Backward variables: beta(t, s) = log of the probability of the suffixes from s at t (emission included).
  TableD beta = TableD::Constant(len, ext_len, kLogZero);
  beta(len - 1, ext_len - 1) = emit(len - 1, ext_len - 1);
  if (ext_len > 1) beta(len - 1, ext_len - 2) = emit(len - 1, ext_len - 2);
  for (int64_t t = len - 2; t >= 0; --t) {
    const ArrayD next = beta.row(t + 1);
    shifted1(ext_len - 1) = kLogZero;
    shifted1.head(ext_len - 1) = next.tail(ext_len - 1);
    shifted2.setConstant(kLogZero);
    if (ext_len > 2) shifted2.head(ext_len - 2) = next.tail(ext_len - 2) + skip_mask.tail(ext_len - 2);
    beta.row(t) = LogSumExp3(next, shifted1, shifted2) + emit.row(t);
  }
  // Occupancy of (t, s) among all alignments: alpha * beta / p_t(ext[s]) / p. d(-log p) / d log p_t(k) is
  // minus the occupancy summed over the s with ext[s] = k.
  // (Pairs that no alignment reaches are 0, also where an emission is -inf.)
  const TableD occupancy =
      (alpha == kLogZero || beta == kLogZero).select(TableD::Zero(len, ext_len), (alpha + beta - emit - log_p).exp());
  const Eigen::Index classes = lp.cols();
  ArrayD g(classes);
  for (int64_t t = 0; t < len; ++t) {
    g.setZero();
    for (int64_t s = 0; s < ext_len; ++s) g(ext[static_cast<size_t>(s)]) -= occupancy(t, s);
    ThroughLogSoftmax<Scalar>(g, lp.row(t), grad->row(t));
  }
  return -log_p;
}

// Buffers of CtcSequenceScaled, reused across the sequences of a batch.
struct CtcScratch {
  std::vector<double> probs;         // exp(lp) [len, C]
  std::vector<double> alpha, beta;   // [len, S]
  std::vector<int32_t> ext;          // the target with blanks interleaved [S]
  std::vector<char> skip;            // skip[s]: a path may come from s - 2 [S]
  std::vector<double> g;             // per frame d(-log p) / d log-probability [C]
};

// CTC for one sequence in probability space with the forward and backward variables of every frame scaled
// to sum 1 (Rabiner's scaling; log p = sum of the logs of the scales): one exp per (frame, class) instead of
// several exp/log per (frame, state) in log space; same value and gradient up to rounding. Returns false,
// with `grad` zero, when a frame's variables all vanish: an impossible alignment or an underflow
// (log-probabilities below about -700), which the log-space CtcSequence then settles exactly.
template <class Scalar, class Frames, class Grad>
bool CtcSequenceScaled(const Frames& lp, int64_t len, const std::vector<int32_t>& target, int blank, Grad* grad,
                       CtcScratch& w, double* loss) {
  const int64_t labels = static_cast<int64_t>(target.size());
  const int64_t S = 2 * labels + 1;
  const int64_t C = lp.cols();
  if (len == 0) return false;
  w.ext.assign(static_cast<size_t>(S), blank);
  for (int64_t j = 0; j < labels; ++j) w.ext[static_cast<size_t>(2 * j + 1)] = target[static_cast<size_t>(j)];
  w.skip.assign(static_cast<size_t>(S), 0);
  for (int64_t s = 2; s < S; ++s) {
    const int32_t e = w.ext[static_cast<size_t>(s)];
    w.skip[static_cast<size_t>(s)] = e != blank && e != w.ext[static_cast<size_t>(s - 2)];
  }
  w.probs.resize(static_cast<size_t>(len * C));
  for (int64_t t = 0; t < len; ++t) {
    for (int64_t c = 0; c < C; ++c) w.probs[static_cast<size_t>(t * C + c)] = std::exp(static_cast<double>(lp(t, c)));
  }
  const int32_t* ext = w.ext.data();
  const char* skip = w.skip.data();
  auto p = [&](int64_t t, int64_t s) { return w.probs[static_cast<size_t>(t * C + ext[s])]; };
  w.alpha.assign(static_cast<size_t>(len * S), 0.0);
  double log_p = 0;
  {
    double* a = w.alpha.data();
    a[0] = p(0, 0);
    if (S > 1) a[1] = p(0, 1);
    const double scale = S > 1 ? a[0] + a[1] : a[0];
    if (!(scale > 0)) return false;
    a[0] /= scale;
    if (S > 1) a[1] /= scale;
    log_p += std::log(scale);
  }
  for (int64_t t = 1; t < len; ++t) {
    const double* prev = w.alpha.data() + (t - 1) * S;
    double* a = w.alpha.data() + t * S;
    double scale = 0;
    for (int64_t s = 0; s < S; ++s) {
      double v = prev[s];
      if (s >= 1) v += prev[s - 1];
      if (skip[s]) v += prev[s - 2];
      a[s] = v * p(t, s);
      scale += a[s];
    }
    if (!(scale > 0) || !std::isfinite(scale)) return false;
    const double inv = 1.0 / scale;
    for (int64_t s = 0; s < S; ++s) a[s] *= inv;
    log_p += std::log(scale);
  }
  const double* last = w.alpha.data() + (len - 1) * S;
  const double end = S > 1 ? last[S - 1] + last[S - 2] : last[0];
  if (!(end > 0)) return false;
  log_p += std::log(end);
  if (!std::isfinite(log_p)) return false;
  *loss = -log_p;
  if (grad == nullptr) return true;

  w.beta.assign(static_cast<size_t>(len * S), 0.0);
  {
    double* b = w.beta.data() + (len - 1) * S;
    b[S - 1] = p(len - 1, S - 1);
    if (S > 1) b[S - 2] = p(len - 1, S - 2);
  }
  for (int64_t t = len - 2; t >= 0; --t) {
    const double* next = w.beta.data() + (t + 1) * S;
    double* b = w.beta.data() + t * S;
    double scale = 0;
    for (int64_t s = 0; s < S; ++s) {
      double v = next[s];
      if (s + 1 < S) v += next[s + 1];
      if (s + 2 < S && skip[s + 2]) v += next[s + 2];
      b[s] = v * p(t, s);
      scale += b[s];
    }
    if (!(scale > 0) || !std::isfinite(scale)) return false;
    const double inv = 1.0 / scale;
    for (int64_t s = 0; s < S; ++s) b[s] *= inv;
  }
  // Occupancy of (t, s) = alpha * beta / p_t(ext[s]) normalised over s (every alignment passes through one
  // state per frame), so the scales cancel. d(-log p) / d log p_t(k) = minus the occupancy summed over the s
  // with ext[s] = k; then through the log-softmax: g - softmax * sum(g).
  w.g.resize(static_cast<size_t>(C));
  for (int64_t t = 0; t < len; ++t) {
    const double* a = w.alpha.data() + t * S;
    const double* b = w.beta.data() + t * S;
    std::fill(w.g.begin(), w.g.end(), 0.0);
    double total = 0;
    for (int64_t s = 0; s < S; ++s) {
      const double ps = p(t, s);
      const double q = ps > 0 ? a[s] * b[s] / ps : 0.0;
      w.g[static_cast<size_t>(ext[s])] -= q;
      total += q;
    }
    if (!(total > 0) || !std::isfinite(total)) {
      grad->setZero();
      return false;
    }
    const double inv = 1.0 / total;
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += w.g[static_cast<size_t>(c)] *= inv;
    auto out = grad->row(t);
    const double* pt = w.probs.data() + t * C;
    for (int64_t c = 0; c < C; ++c) out(c) = static_cast<Scalar>(w.g[static_cast<size_t>(c)] - pt[c] * sum);
  }
  return true;
}

template <class Scalar>
LossResult CtcLossT(const BasicSequenceBatch<Scalar>& log_probs, const std::vector<std::vector<int32_t>>& targets,
                    const CtcConfig& config, BasicMatrix<Scalar>* d_logits, int num_threads = 1) {
  const int num_classes = log_probs.Dim();
  config.Validate("ctc", num_classes);
  const int64_t batch = log_probs.BatchSize(), frames = log_probs.max_frames;
  if (log_probs.data.rows() != batch * frames) {
    throw ConfigError("ctc: log-probabilities have " + std::to_string(log_probs.data.rows()) + " rows for " +
                      std::to_string(batch) + " sequences of " + std::to_string(frames) + " frames");
  }
  if (static_cast<int64_t>(targets.size()) != batch) {
    throw ConfigError("ctc: " + std::to_string(targets.size()) + " targets for " + std::to_string(batch) +
                      " sequences");
  }
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& target = targets[static_cast<size_t>(b)];
    for (size_t j = 0; j < target.size(); ++j) {
      if (target[j] < 0 || target[j] >= num_classes || target[j] == config.blank) {
        throw ConfigError("ctc: target " + std::to_string(b) + " position " + std::to_string(j) + " is " +
                          std::to_string(target[j]) + "; expected a label in [0, " + std::to_string(num_classes) +
                          ") other than the blank (" + std::to_string(config.blank) + ")");
      }
    }
  }
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = log_probs.lengths[static_cast<size_t>(b)];
    if (len < 0 || len > frames) {
      throw ConfigError("ctc: sequence " + std::to_string(b) + " has length " + std::to_string(len) +
                        "; expected in [0, " + std::to_string(frames) + "]");
    }
  }
  if (d_logits != nullptr) d_logits->setZero(batch * frames, num_classes);
  // Per sequence losses, summed in order afterwards (the sum does not depend on num_threads).
  std::vector<double> losses(static_cast<size_t>(batch));
  ForHalves(num_threads, batch, [&](int64_t b0, int64_t b1) {
    CtcScratch scratch;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t len = log_probs.lengths[static_cast<size_t>(b)];
      const auto lp = log_probs.data.middleRows(b * frames, len);
      const std::vector<int32_t>& target = targets[static_cast<size_t>(b)];
      double loss;
      if (d_logits != nullptr) {
        auto grad = d_logits->middleRows(b * frames, len);
        if (!CtcSequenceScaled<Scalar>(lp, len, target, config.blank, &grad, scratch, &loss)) {
          loss = CtcSequence<Scalar>(lp, len, target, config.blank, &grad);
        }
      } else {
        using Block = decltype(d_logits->middleRows(0, 0));
        if (!CtcSequenceScaled<Scalar, decltype(lp), Block>(lp, len, target, config.blank, nullptr, scratch, &loss)) {
          loss = CtcSequence<Scalar, decltype(lp), Block>(lp, len, target, config.blank, nullptr);
        }
      }
      losses[static_cast<size_t>(b)] = loss;
    }
  });
  LossResult result;
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& target = targets[static_cast<size_t>(b)];
    const double loss = losses[static_cast<size_t>(b)];
    result.count += 1;
    result.total_weight += static_cast<double>(target.size());
    if (std::isinf(loss)) {
      result.num_infinite += 1;
      if (!config.zero_infinity) result.loss = std::numeric_limits<double>::infinity();
      continue;
    }
    result.loss += loss;
  }
  return result;
}

}  // namespace

LossResult FrameCrossEntropy(const SequenceBatch& log_probs, std::span<const int32_t> targets,
                             const CrossEntropyConfig& config, MatrixF* d_logits, int num_threads) {
  return FrameCrossEntropyT(log_probs, targets, config, d_logits, num_threads);
}
LossResult FrameCrossEntropy(const SequenceBatchD& log_probs, std::span<const int32_t> targets,
                             const CrossEntropyConfig& config, MatrixD* d_logits) {
  return FrameCrossEntropyT(log_probs, targets, config, d_logits);
}
LossResult ClipCrossEntropy(const MatrixF& clip_log_probs, std::span<const int32_t> labels,
                            const CrossEntropyConfig& config, MatrixF* d_logits) {
  return ClipCrossEntropyT(clip_log_probs, labels, config, d_logits);
}
LossResult ClipCrossEntropy(const MatrixD& clip_log_probs, std::span<const int32_t> labels,
                            const CrossEntropyConfig& config, MatrixD* d_logits) {
  return ClipCrossEntropyT(clip_log_probs, labels, config, d_logits);
}
LossResult CtcLoss(const SequenceBatch& log_probs, const std::vector<std::vector<int32_t>>& targets,
                   const CtcConfig& config, MatrixF* d_logits, int num_threads) {
  return CtcLossT(log_probs, targets, config, d_logits, num_threads);
}
LossResult CtcLoss(const SequenceBatchD& log_probs, const std::vector<std::vector<int32_t>>& targets,
                   const CtcConfig& config, MatrixD* d_logits) {
  return CtcLossT(log_probs, targets, config, d_logits);
}

}  // namespace ossicle
