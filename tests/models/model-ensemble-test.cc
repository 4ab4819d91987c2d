// EnsembleModels: the merged model's log-probabilities are the log of the members' mean probabilities, frame
// by frame, for LSTM and GRU, one or two directions, any hidden sizes and nested ensembles; it survives a
// save and load; mismatched members and training are refused with messages naming the member or the field.
#include "models/model-ensemble.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "features/errors.h"
#include "models/training-pass.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

const std::vector<std::string> kLabels = {"a", "b", "c", "d"};

std::shared_ptr<const AcousticModel> Member(CellType cell, bool bidirectional, int hidden, uint64_t seed,
                                            HeadType head = HeadType::kFrame) {
  ModelArchitecture arch{.cell = cell, .input_size = 5, .hidden_size = hidden, .num_layers = 2,
                         .bidirectional = bidirectional, .num_classes = 4, .head = head,
                         .attention_size = head == HeadType::kAttention ? 3 : 0};
  return AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(5), kLabels, seed);
}

// Two sequences (lengths 7 and 4) of random features.
SequenceBatch Input() {
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  SequenceBatch x;
  x.max_frames = 7;
  x.lengths = {7, 4};
  x.data = MatrixF::Zero(14, 5);
  for (Eigen::Index r = 0; r < 14; ++r) {
    if (r >= 7 + 4) continue;  // padding of the second sequence stays zero
    for (Eigen::Index c = 0; c < 5; ++c) x.data(r, c) = n(rng);
  }
  return x;
}

// log of the mean of the members' probabilities, over the valid frames.
MatrixF MeanOfProbabilities(const std::vector<std::shared_ptr<const AcousticModel>>& models, const SequenceBatch& x) {
  MatrixF sum;
  for (const auto& m : models) {
    const MatrixF p = m->Forward(x).log_probs.data.array().exp().matrix();
    sum = sum.size() == 0 ? p : MatrixF(sum + p);
  }
  return (sum.array() / static_cast<float>(models.size())).log().matrix();
}

double MaxDiffOnValidFrames(const MatrixF& a, const MatrixF& b, const SequenceBatch& x) {
  double worst = 0.0;
  for (size_t s = 0; s < x.lengths.size(); ++s) {
    for (int64_t t = 0; t < x.lengths[s]; ++t) {
      const Eigen::Index r = static_cast<Eigen::Index>(static_cast<int64_t>(s) * x.max_frames + t);
      worst = std::max(worst, static_cast<double>((a.row(r) - b.row(r)).cwiseAbs().maxCoeff()));
    }
  }
  return worst;
}

TEST_CASE("ensemble: log-probabilities are the log of the members' mean probabilities", "[models][ensemble]") {
  const SequenceBatch x = Input();
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    for (bool bidirectional : {true, false}) {
      INFO((cell == CellType::kLstm ? "lstm" : "gru") << (bidirectional ? " bidirectional" : " forward"));
      const auto a = Member(cell, bidirectional, 3, 1);
      const auto b = Member(cell, bidirectional, 6, 2);
      const std::vector<EnsembleMember> members = {{"a", a}, {"b", b}};
      const auto merged = EnsembleModels(members);
      CHECK(merged->Architecture().hidden_size == 9);
      CHECK(merged->Architecture().ensemble_size == 2);
      CHECK(merged->Labels() == kLabels);
      const MatrixF expected = MeanOfProbabilities({a, b}, x);
      const ModelOutput y = merged->Forward(x);
      CHECK(MaxDiffOnValidFrames(y.log_probs.data, expected, x) < 1e-5);
      // The members really differ, so the mean is not one of them.
      CHECK(MaxDiffOnValidFrames(a->Forward(x).log_probs.data, expected, x) > 1e-3);
      // Each frame is a distribution.
      for (Eigen::Index r = 0; r < 7; ++r) CHECK(y.log_probs.data.row(r).array().exp().sum() == Approx(1.0).epsilon(1e-5));
    }
  }
}

TEST_CASE("ensemble: a nested ensemble counts its members; a saved ensemble loads the same", "[models][ensemble]") {
  const SequenceBatch x = Input();
  const auto a = Member(CellType::kLstm, true, 3, 1);
  const auto b = Member(CellType::kLstm, true, 4, 2);
  const auto c = Member(CellType::kLstm, true, 2, 3);
  const std::vector<EnsembleMember> ab = {{"a", a}, {"b", b}};
  const std::vector<EnsembleMember> abc = {{"ab", EnsembleModels(ab)}, {"c", c}};
  const auto merged = EnsembleModels(abc);
  CHECK(merged->Architecture().ensemble_size == 3);
  CHECK(merged->Architecture().hidden_size == 9);
  CHECK(MaxDiffOnValidFrames(merged->Forward(x).log_probs.data, MeanOfProbabilities({a, b, c}, x), x) < 1e-5);

  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "abc.safetensors").string();
  merged->Save(path);
  const auto loaded = AcousticModel::Load(path);
  CHECK(loaded->Architecture().ensemble_size == 3);
  CHECK(MaxDiffOnValidFrames(loaded->Forward(x).log_probs.data, merged->Forward(x).log_probs.data, x) == 0.0);
  CHECK_THAT(loaded->ProvenanceJson(), Catch::Matchers::Contains("mean of probabilities"));
}

TEST_CASE("ensemble: mismatched members, too few members and training are refused", "[models][ensemble][errors]") {
  const auto a = Member(CellType::kLstm, true, 3, 1);
  auto check = [&](std::shared_ptr<const AcousticModel> other, const std::string& what) {
    const std::vector<EnsembleMember> members = {{"a.safetensors", a}, {"b.safetensors", other}};
    CHECK_THROWS_MATCHES(EnsembleModels(members), ConfigError, HasMessage(what, "ensemble member b.safetensors: "));
  };
  check(Member(CellType::kGru, true, 3, 2), "the cell is gru but a.safetensors has lstm");
  check(Member(CellType::kLstm, false, 3, 2), "bidirectional is false");
  check(Member(CellType::kLstm, true, 3, 2, HeadType::kAttention), "attention head");
  check(a->WithMetadata(a->Features(), {"a", "b", "c", "z"}, "{}"), "the label list");
  FeatureConfig other_features = a->Features();
  other_features.frame.frame_shift_ms = 20;
  check(a->WithMetadata(other_features, kLabels, "{}"), "frame_shift_ms = 20");

  const std::vector<EnsembleMember> one = {{"a.safetensors", a}};
  CHECK_THROWS_MATCHES(EnsembleModels(one), ConfigError, HasMessage("expected at least two models"));

  const std::vector<EnsembleMember> two = {{"a", a}, {"b", Member(CellType::kLstm, true, 2, 2)}};
  const auto merged = EnsembleModels(two);
  CHECK_THROWS_MATCHES(TrainingPass(*merged), ConfigError, HasMessage("for inference", "architecture.ensemble_size = 2"));
  ModelArchitecture attention = a->Architecture();
  attention.head = HeadType::kAttention;
  attention.attention_size = 3;
  attention.ensemble_size = 2;
  CHECK_THROWS_MATCHES(attention.Validate(), ConfigError, HasMessage("expected 1 with the attention head", "architecture.ensemble_size = 2"));
}

}  // namespace
}  // namespace ossicle
