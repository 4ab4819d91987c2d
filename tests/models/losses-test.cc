// Cross-entropy and CTC: values and gradients against PyTorch (tests/data/models/training_golden.safetensors,
// made by make_training_golden.py next to it), closed-form cases, finite differences in double precision,
// and the validation messages.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "features/errors.h"
#include "models/losses.h"
#include "models/safetensors.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

const SafetensorsFile& LossGoldens() {
  static const SafetensorsFile file =
      SafetensorsFile::Open(std::string(OSSICLE_TEST_DATA_DIR) + "/models/training_golden.safetensors");
  return file;
}

template <class Scalar>
BasicMatrix<Scalar> LogSoftmax(const BasicMatrix<Scalar>& x) {
  BasicMatrix<Scalar> y(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const Scalar m = x.row(r).maxCoeff();
    y.row(r) = x.row(r).array() - (m + std::log((x.row(r).array() - m).exp().sum()));
  }
  return y;
}

MatrixD ReadMatrix(const std::string& name, int64_t rows, int64_t cols) {
  const std::vector<double> v = LossGoldens().ReadDouble(name);
  REQUIRE(static_cast<int64_t>(v.size()) == rows * cols);
  return Eigen::Map<const MatrixD>(v.data(), rows, cols);
}

// max |got - want| <= tolerance * max |want|, printing the worst entry.
void CompareMatrix(const std::string& what, const MatrixF& got, const MatrixD& want, double tolerance) {
  INFO(what);
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  Eigen::Index r = 0, c = 0;
  const double worst = (got.cast<double>() - want).cwiseAbs().maxCoeff(&r, &c);
  INFO("worst at (" << r << ", " << c << "): expected " << want(r, c) << ", got " << got(r, c));
  CHECK(worst <= tolerance * want.cwiseAbs().maxCoeff());
}

TEST_CASE("frame cross-entropy matches PyTorch: ignore_index, label smoothing, class weights", "[models][losses]") {
  const MatrixD logits = ReadMatrix("ce.logits", 12, 5);
  SequenceBatch lp;
  lp.max_frames = 4;
  lp.lengths = LossGoldens().ReadInt("ce.lengths");  // 4, 2, 3
  lp.data = LogSoftmax<double>(logits).cast<float>();
  std::vector<int32_t> targets;
  for (int64_t t : LossGoldens().ReadInt("ce.targets")) targets.push_back(static_cast<int32_t>(t));
  // Past each length the targets hold -1 in the golden; any value there is ignored.
  targets[7] = 123;
  const std::vector<float> weights = LossGoldens().ReadFloat("ce.weights");
  struct Variant {
    const char* name;
    float smoothing;
    bool weighted;
  };
  for (const Variant& v : {Variant{"plain", 0.0f, false}, Variant{"smooth", 0.2f, false},
                           Variant{"weighted", 0.0f, true}, Variant{"both", 0.2f, true}}) {
    INFO(v.name);
    CrossEntropyConfig config{.ignore_index = -1, .label_smoothing = v.smoothing};
    if (v.weighted) config.class_weights = weights;
    MatrixF d_logits;
    const LossResult r = FrameCrossEntropy(lp, targets, config, &d_logits);
    const double want = LossGoldens().ReadDouble(std::string("ce.") + v.name + ".loss").at(0);
    CHECK(std::abs(r.loss - want) <= 1e-5 * want);
    CHECK(r.count == 8);  // 9 valid frames, one of them ignored
    if (!v.weighted) CHECK(r.total_weight == 8.0);
    CompareMatrix("d_logits", d_logits, ReadMatrix(std::string("ce.") + v.name + ".grad", 12, 5), 1e-5);
    // Without d_logits: the same loss.
    CHECK(FrameCrossEntropy(lp, targets, config, nullptr).loss == r.loss);
  }
}

TEST_CASE("clip cross-entropy: -log p of the label, weighted mean divisor", "[models][losses]") {
  MatrixF lp(2, 3);
  lp << std::log(0.5f), std::log(0.25f), std::log(0.25f),  //
      std::log(0.1f), std::log(0.2f), std::log(0.7f);
  const std::vector<int32_t> labels{0, 2};
  MatrixF d;
  LossResult r = ClipCrossEntropy(lp, labels, {}, &d);
  CHECK(r.loss == Approx(-std::log(0.5) - std::log(0.7)).epsilon(1e-6));
  CHECK(r.count == 2);
  // d logits = softmax - one-hot.
  CHECK(d(0, 0) == Approx(-0.5).margin(1e-6));
  CHECK(d(0, 1) == Approx(0.25).margin(1e-6));
  CHECK(d(1, 2) == Approx(-0.3).margin(1e-6));
  CHECK(d(1, 0) == Approx(0.1).margin(1e-6));

  r = ClipCrossEntropy(lp, labels, {.class_weights = {2.0f, 1.0f, 3.0f}}, nullptr);
  CHECK(r.loss == Approx(-2 * std::log(0.5) - 3 * std::log(0.7)).epsilon(1e-6));
  CHECK(r.total_weight == 5.0);
  r = ClipCrossEntropy(lp, std::vector<int32_t>{-1, 2}, {}, nullptr);
  CHECK(r.count == 1);
}

struct CtcGolden {
  SequenceBatch lp;
  std::vector<std::vector<int32_t>> targets;
};

CtcGolden LoadCtc(int blank) {
  CtcGolden g;
  const int64_t batch = 4, frames = 7, classes = 5;
  g.lp.max_frames = frames;
  g.lp.lengths = LossGoldens().ReadInt("ctc.lengths");
  g.lp.data = LogSoftmax<double>(ReadMatrix("ctc.logits", batch * frames, classes)).cast<float>();
  const std::string key = "ctc.blank" + std::to_string(blank);
  const std::vector<int64_t> flat = LossGoldens().ReadInt(key + ".targets");
  const std::vector<int64_t> lengths = LossGoldens().ReadInt(key + ".target_lengths");
  const int64_t width = LossGoldens().Info(key + ".targets").shape.at(1);
  g.targets.resize(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = 0; j < lengths[static_cast<size_t>(b)]; ++j) {
      g.targets[static_cast<size_t>(b)].push_back(static_cast<int32_t>(flat[static_cast<size_t>(b * width + j)]));
    }
  }
  return g;
}

TEST_CASE("CTC matches PyTorch: repeated labels, any blank, impossible targets, zero_infinity", "[models][losses]") {
  for (int blank : {0, 4}) {
    INFO("blank " << blank);
    const CtcGolden g = LoadCtc(blank);
    const std::string key = "ctc.blank" + std::to_string(blank);
    const std::vector<double> per_sequence = LossGoldens().ReadDouble(key + ".losses");
    REQUIRE(std::isinf(per_sequence[2]));  // three labels in two frames

    // Each sequence alone, against reduction="none".
    for (size_t b = 0; b < per_sequence.size(); ++b) {
      INFO("sequence " << b);
      SequenceBatch one;
      one.max_frames = g.lp.max_frames;
      one.lengths = {g.lp.lengths[b]};
      one.data = g.lp.data.middleRows(static_cast<Eigen::Index>(b) * one.max_frames, one.max_frames);
      const LossResult r = CtcLoss(one, {g.targets[b]}, {.blank = blank}, nullptr);
      if (std::isinf(per_sequence[b])) {
        CHECK(std::isinf(r.loss));
        CHECK(r.num_infinite == 1);
      } else {
        CHECK(r.loss == Approx(per_sequence[b]).epsilon(1e-5));
        CHECK(r.num_infinite == 0);
      }
    }

    // The batch with zero_infinity: the sum of the finite losses and PyTorch's gradient.
    MatrixF d_logits;
    const LossResult r = CtcLoss(g.lp, g.targets, {.blank = blank, .zero_infinity = true}, &d_logits);
    const double want = LossGoldens().ReadDouble(key + ".loss").at(0);
    CHECK(std::abs(r.loss - want) <= 1e-5 * want);
    CHECK(r.count == 4);
    CHECK(r.num_infinite == 1);
    CHECK(r.total_weight == 8.0);
    CompareMatrix("d_logits", d_logits, ReadMatrix(key + ".grad", 28, 5), 1e-5);
    CHECK(d_logits.middleRows(2 * 7, 7).isZero());  // the impossible sequence

    // Without zero_infinity the sum is infinite; the gradient stays finite (zero for that sequence).
    MatrixF d_inf;
    const LossResult inf = CtcLoss(g.lp, g.targets, {.blank = blank}, &d_inf);
    CHECK(std::isinf(inf.loss));
    CHECK(inf.num_infinite == 1);
    CHECK(d_inf == d_logits);
  }
}

TEST_CASE("CTC closed forms on uniform posteriors", "[models][losses]") {
  // Every frame uniform over C = 3 classes (blank 0): p(target) = (number of alignments) / 3^T.
  auto uniform = [](int64_t frames) {
    SequenceBatch lp;
    lp.max_frames = frames;
    lp.lengths = {frames};
    lp.data = MatrixF::Constant(frames, 3, -std::log(3.0f));
    return lp;
  };
  // "a" in 2 frames: aa, _a, a_.
  CHECK(CtcLoss(uniform(2), {{1}}, {}, nullptr).loss == Approx(-std::log(3.0 / 9.0)).epsilon(1e-6));
  // "aa" in 3 frames: only a_a (a repeat needs a blank between).
  CHECK(CtcLoss(uniform(3), {{1, 1}}, {}, nullptr).loss == Approx(-std::log(1.0 / 27.0)).epsilon(1e-6));
  // "ab" in 3 frames: ab_, a_b, _ab, aab, abb.
  CHECK(CtcLoss(uniform(3), {{1, 2}}, {}, nullptr).loss == Approx(-std::log(5.0 / 27.0)).epsilon(1e-6));
  // "aa" in 2 frames is impossible; "" in 4 frames is the all-blank path.
  CHECK(std::isinf(CtcLoss(uniform(2), {{1, 1}}, {}, nullptr).loss));
  CHECK(CtcLoss(uniform(2), {{1, 1}}, {.zero_infinity = true}, nullptr).loss == 0.0);
  CHECK(CtcLoss(uniform(4), {{}}, {}, nullptr).loss == Approx(4 * std::log(3.0)).epsilon(1e-6));
  // No frames: an empty target costs nothing, any other is impossible.
  SequenceBatch empty;
  empty.max_frames = 2;
  empty.lengths = {0};
  empty.data = MatrixF::Zero(2, 3);
  CHECK(CtcLoss(empty, {{}}, {}, nullptr).loss == 0.0);
  CHECK(CtcLoss(empty, {{2}}, {}, nullptr).num_infinite == 1);
}

TEST_CASE("CTC is the same with the blank at another index", "[models][losses]") {
  // Moving the blank from 0 to 3 (and relabelling) is a permutation of the classes.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  MatrixD logits(8, 4);
  for (double& x : logits.reshaped()) x = normal(rng);
  MatrixD moved(8, 4);
  moved << logits.rightCols(3), logits.leftCols(1);  // class c -> c - 1, blank 0 -> 3
  SequenceBatchD a, b;
  a.max_frames = b.max_frames = 8;
  a.lengths = b.lengths = {8};
  a.data = LogSoftmax<double>(logits);
  b.data = LogSoftmax<double>(moved);
  MatrixD da, db;
  const double la = CtcLoss(a, {{1, 3, 3, 2}}, {.blank = 0}, &da).loss;
  const double lb = CtcLoss(b, {{0, 2, 2, 1}}, {.blank = 3}, &db).loss;
  CHECK(la == Approx(lb).epsilon(1e-12));
  MatrixD da_moved(8, 4);
  da_moved << da.rightCols(3), da.leftCols(1);
  CHECK((da_moved - db).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("loss gradients equal central finite differences in double precision", "[models][losses]") {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal;
  const int64_t batch = 3, frames = 6, classes = 5;
  MatrixD logits(batch * frames, classes);
  for (double& x : logits.reshaped()) x = 2 * normal(rng);
  SequenceBatchD lp;
  lp.max_frames = frames;
  lp.lengths = {6, 3, 5};
  const std::vector<int32_t> frame_targets{0, 4, 4, -1, 2, 1, 3, 3, 1, 0, 0, 0, 2, 2, 0, 1, 4, 0};
  const std::vector<std::vector<int32_t>> ctc_targets{{1, 1, 2}, {4}, {2, 3, 2}};
  const CrossEntropyConfig ce{.ignore_index = -1, .label_smoothing = 0.3f, .class_weights = {1, 2, 0.5, 1, 3}};
  auto loss = [&](const MatrixD& x, MatrixD* d_logits) {
    lp.data = LogSoftmax<double>(x);
    MatrixD d_ctc;
    const double l = FrameCrossEntropy(lp, frame_targets, ce, d_logits).loss +
                     CtcLoss(lp, ctc_targets, {.blank = 0}, d_logits ? &d_ctc : nullptr).loss;
    if (d_logits != nullptr) *d_logits += d_ctc;
    return l;
  };
  MatrixD grad;
  loss(logits, &grad);
  constexpr double kEps = 1e-6;
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    for (Eigen::Index c = 0; c < classes; ++c) {
      MatrixD x = logits;
      x(r, c) += kEps;
      const double up = loss(x, nullptr);
      x(r, c) -= 2 * kEps;
      const double down = loss(x, nullptr);
      const double numeric = (up - down) / (2 * kEps);
      INFO("row " << r << " class " << c << ": finite difference " << numeric << ", gradient " << grad(r, c));
      CHECK(std::abs(numeric - grad(r, c)) <= 1e-7 + 1e-6 * std::abs(numeric));
    }
  }
}

TEST_CASE("two threads give the same losses and gradients as one", "[models][losses][threads]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  SequenceBatch lp;
  lp.max_frames = 9;
  for (int64_t len : {9, 4, 7, 0, 9}) lp.lengths.push_back(len);  // odd batch: halves of 2 and 3 sequences
  lp.data = LogSoftmax<float>(MatrixF::NullaryExpr(45, 6, [&] { return u(rng); }));
  std::vector<int32_t> frame_targets(45);
  for (size_t r = 0; r < frame_targets.size(); ++r) frame_targets[r] = r % 5 == 3 ? -1 : static_cast<int32_t>(r % 6);
  const CrossEntropyConfig ce{.label_smoothing = 0.1f, .class_weights = {1, 2, 0.5f, 1, 3, 1}};
  // Sequence 3 (no frames) with a target is infinite; sequence 1 has a repeat that needs a blank.
  const std::vector<std::vector<int32_t>> tokens{{1, 2, 3}, {2, 2}, {5, 1, 4, 4}, {3}, {1}};
  MatrixF d1, d2;
  const LossResult ce1 = FrameCrossEntropy(lp, frame_targets, ce, &d1, 1);
  const LossResult ce2 = FrameCrossEntropy(lp, frame_targets, ce, &d2, 2);
  CHECK(ce1.loss == ce2.loss);  // summed in row order either way: equal, not merely close
  CHECK(ce1.total_weight == ce2.total_weight);
  CHECK(ce1.count == ce2.count);
  CHECK(ce1.count == 23);  // 29 frames within the lengths, 6 of them ignored (rows 3, 8, 18, 23, 38, 43)
  CHECK(d1 == d2);
  MatrixF c1, c2;
  const LossResult ctc1 = CtcLoss(lp, tokens, {.zero_infinity = true}, &c1, 1);
  const LossResult ctc2 = CtcLoss(lp, tokens, {.zero_infinity = true}, &c2, 2);
  CHECK(ctc1.loss == ctc2.loss);
  CHECK(ctc1.loss > 0);
  CHECK(ctc1.num_infinite == 1);
  CHECK(ctc2.num_infinite == 1);
  CHECK(c1 == c2);
  CHECK_FALSE(c1.isZero());
  // The error reported is the first a single thread meets, whichever half holds it.
  std::vector<int32_t> bad = frame_targets;
  bad[38] = 9;  // sequence 4 frame 2 (second half)
  bad[10] = 7;  // sequence 1 frame 1 (first half)
  CHECK_THROWS_MATCHES(FrameCrossEntropy(lp, bad, {}, nullptr, 2), ConfigError,
                       HasMessage("target of sequence 1 frame 1 is 7"));
  bad[10] = 0;
  CHECK_THROWS_MATCHES(FrameCrossEntropy(lp, bad, {}, nullptr, 2), ConfigError,
                       HasMessage("target of sequence 4 frame 2 is 9"));
}

TEST_CASE("loss errors name the field, sequence and value", "[models][losses]") {
  SequenceBatch lp;
  lp.max_frames = 2;
  lp.lengths = {2, 1};
  lp.data = MatrixF::Constant(4, 3, -std::log(3.0f));
  CHECK_THROWS_MATCHES(FrameCrossEntropy(lp, std::vector<int32_t>{0, 1, 3, 0}, {}, nullptr), ConfigError,
                       HasMessage("target of sequence 1 frame 0 is 3; expected in [0, 3) or ignore_index -1"));
  CHECK_THROWS_MATCHES(FrameCrossEntropy(lp, std::vector<int32_t>{0, 1, 2}, {}, nullptr), ConfigError,
                       HasMessage("3 targets for 4 rows"));
  CHECK_THROWS_MATCHES(FrameCrossEntropy(lp, std::vector<int32_t>{0, 1, 2, 0}, {.label_smoothing = 1.5f}, nullptr),
                       ConfigError, HasMessage("frame cross-entropy.label_smoothing = 1.5; expected in [0, 1]"));
  CHECK_THROWS_MATCHES(
      FrameCrossEntropy(lp, std::vector<int32_t>{0, 1, 2, 0}, {.class_weights = {1.0f, 2.0f}}, nullptr),
      ConfigError, HasMessage("class_weights has 2 values; expected one per class (3)"));
  CHECK_THROWS_MATCHES(
      FrameCrossEntropy(lp, std::vector<int32_t>{0, 1, 2, 0}, {.class_weights = {1.0f, -2.0f, 1.0f}}, nullptr),
      ConfigError, HasMessage("class_weights[1] = -2; expected a finite value >= 0"));
  CHECK_THROWS_MATCHES(CtcLoss(lp, {{1}, {0}}, {}, nullptr), ConfigError,
                       HasMessage("target 1 position 0 is 0; expected a label in [0, 3) other than the blank (0)"));
  CHECK_THROWS_MATCHES(CtcLoss(lp, {{1}, {7}}, {}, nullptr), ConfigError, HasMessage("target 1 position 0 is 7"));
  CHECK_THROWS_MATCHES(CtcLoss(lp, {{1}}, {}, nullptr), ConfigError, HasMessage("1 targets for 2 sequences"));
  CHECK_THROWS_MATCHES(CtcLoss(lp, {{1}, {1}}, {.blank = 3}, nullptr), ConfigError,
                       HasMessage("ctc.blank = 3; expected in [0, 3)"));
}

}  // namespace
}  // namespace ossicle
