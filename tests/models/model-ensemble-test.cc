// EnsembleModels: the merged model's log-probabilities are the log of the members' mean probabilities, frame
// by frame, for LSTM and GRU, one or two directions, any hidden sizes and nested ensembles; it survives a
// save and load (as the members' own tensors; a dense file of the merged tensors loads too); mismatched members and training are refused with messages naming the member or the field.
#include "models/model-ensemble.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "features/errors.h"
#include "models/safetensors.h"
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

// Members of hidden sizes 3, 4 and 2, merged as (a + b) + c.
struct Nested {
  std::shared_ptr<const AcousticModel> a, b, c, merged;
};
Nested NestedEnsemble() {
  Nested n{Member(CellType::kLstm, true, 3, 1), Member(CellType::kLstm, true, 4, 2), Member(CellType::kLstm, true, 2, 3),
           nullptr};
  const std::vector<EnsembleMember> ab = {{"a", n.a}, {"b", n.b}};
  const std::vector<EnsembleMember> abc = {{"ab", EnsembleModels(ab)}, {"c", n.c}};
  n.merged = EnsembleModels(abc);
  return n;
}

TEST_CASE("ensemble: a nested ensemble counts its members, a saved ensemble loads the same", "[models][ensemble]") {
  const SequenceBatch x = Input();
  const auto [a, b, c, merged] = NestedEnsemble();
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
  CHECK(loaded->EnsembleHiddenSizes() == std::vector<int>{3, 4, 2});
}

// Every value of every parameter of `got` equals `want`'s (same names and shapes).
void CheckSameParameters(const AcousticModel& got, const AcousticModel& want) {
  const auto g = got.Parameters(), w = want.Parameters();
  REQUIRE(g.size() == w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO(g[i].name);
    CHECK(g[i].name == w[i].name);
    CHECK(g[i].shape == w[i].shape);
    CHECK(std::equal(g[i].values.begin(), g[i].values.end(), w[i].values.begin(), w[i].values.end()));
  }
}

TEST_CASE("ensemble: the file stores the members' own tensors, which split back exactly", "[models][ensemble]") {
  const SequenceBatch x = Input();
  const auto [a, b, c, merged] = NestedEnsemble();
  REQUIRE(merged->EnsembleHiddenSizes() == std::vector<int>{3, 4, 2});

  const auto parts = SplitEnsemble(*merged);
  REQUIRE(parts.size() == 3);
  CheckSameParameters(*parts[0], *a);
  CheckSameParameters(*parts[1], *b);
  CheckSameParameters(*parts[2], *c);
  CHECK(parts[2]->Labels() == kLabels);
  CHECK_THROWS_MATCHES(merged->MutableCopy()->SetEnsembleHiddenSizes({5, 4}), ConfigError,
                       HasMessage("expected 3 sizes >= 1 summing to hidden_size 9", "ensemble_hidden_sizes = [5,4]"));
  CHECK_THROWS_MATCHES(SplitEnsemble(*a), ConfigError, HasMessage("(ensemble_size 1)", "split ensemble: the model is not an ensemble"));

  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "abc.safetensors").string();
  merged->Save(path);
  {
    const SafetensorsFile file = SafetensorsFile::Open(path);
    CHECK(file.Metadata().at("ensemble_hidden_sizes") == "[3,4,2]");
    CHECK_FALSE(file.Has("rnn.weight_hh_l0"));  // no merged (block) tensors
    CHECK(file.Info("members.0.rnn.weight_hh_l0").shape == std::vector<int64_t>{12, 3});
    CHECK(file.Info("members.1.rnn.weight_ih_l1_reverse").shape == std::vector<int64_t>{16, 8});
    CHECK(file.Info("members.2.out.weight").shape == std::vector<int64_t>{4, 4});
    for (const ConstParameterView& p : b->Parameters()) {
      if (p.name != "rnn.weight_hh_l1") continue;
      CHECK(file.ReadFloat("members.1.rnn.weight_hh_l1", {16, 4}) == std::vector<float>(p.values.begin(), p.values.end()));
    }
  }
  const auto loaded = AcousticModel::Load(path);
  CheckSameParameters(*loaded, *merged);
  CHECK(MaxDiffOnValidFrames(loaded->Forward(x).log_probs.data, MeanOfProbabilities({a, b, c}, x), x) < 1e-5);

  // A dense file (the merged tensors under their plain names, as written before 2026-11-28) still loads; an
  // ensemble made from it has no member sizes, so it is saved dense too.
  const std::string dense = (tmp.path() / "dense.safetensors").string();
  {
    const SafetensorsFile file = SafetensorsFile::Open(path);
    SafetensorsWriter w(dense);
    for (const auto& [key, value] : file.Metadata()) {
      if (key != "ensemble_hidden_sizes") w.SetMetadata(key, value);
    }
    for (const ConstParameterView& p : merged->Parameters()) w.AddF32(p.name, p.shape, p.values);
    w.Close();
  }
  const auto from_dense = AcousticModel::Load(dense);
  CheckSameParameters(*from_dense, *merged);
  CHECK(from_dense->EnsembleHiddenSizes().empty());
  const std::vector<EnsembleMember> nested = {{"dense", from_dense}, {"c", c}};
  CHECK(EnsembleModels(nested)->EnsembleHiddenSizes().empty());

  // Member sizes that do not fit the architecture, and a missing member tensor, name the file and the key.
  auto rewrite = [&](const std::string& out, const std::string& sizes, const std::string& drop) {
    const SafetensorsFile file = SafetensorsFile::Open(path);
    SafetensorsWriter w(out);
    for (const auto& [key, value] : file.Metadata()) w.SetMetadata(key, key == "ensemble_hidden_sizes" ? sizes : value);
    for (const std::string& name : file.TensorNames()) {
      if (name != drop) w.AddF32(name, file.Info(name).shape, file.ReadFloat(name));
    }
    w.Close();
  };
  const std::string bad = (tmp.path() / "bad.safetensors").string();
  for (const std::string sizes : {"[3,4]", "[3,4,3]", "[3,\"4\",2]", "[3,6,0]", "{}", "[3,4294967300,-4294967298]"}) {
    INFO(sizes);
    rewrite(bad, sizes, "");
    CHECK_THROWS_MATCHES(AcousticModel::Load(bad), ModelFormatError,
                         HasMessage("expected 3 sizes >= 1 summing to architecture.hidden_size 9", bad + ": metadata ensemble_hidden_sizes = "));
  }
  rewrite(bad, "[3,4,2]", "members.1.rnn.bias_hh_l0");
  CHECK_THROWS_MATCHES(AcousticModel::Load(bad), ModelFormatError, HasMessage("members.1.rnn.bias_hh_l0"));
}

// The same merged tensors without recorded member sizes: runs the merged block-structured stack.
std::shared_ptr<const AcousticModel> DenseTwin(const AcousticModel& merged) {
  const std::vector<ConstParameterView> params = merged.Parameters();
  const TensorReader read = [&](const std::string& name, const std::vector<int64_t>& shape) {
    const auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.name == name; });
    REQUIRE(it != params.end());
    REQUIRE(it->shape == shape);
    return std::vector<float>(it->values.begin(), it->values.end());
  };
  auto twin = AcousticModel::FromTensors(merged.Architecture(), read, "dense twin");
  REQUIRE(twin->EnsembleHiddenSizes().empty());
  return twin;
}

// Random states [2, 9] per layer (c empty for GRU).
std::vector<RecurrentState> RandomStates(CellType cell, int layers) {
  std::mt19937 rng(9);
  std::normal_distribution<float> n(0.0f, 0.5f);
  std::vector<RecurrentState> states(static_cast<size_t>(layers));
  for (RecurrentState& s : states) {
    s.h = MatrixF::NullaryExpr(2, 9, [&]() { return n(rng); });
    s.c = cell == CellType::kLstm ? MatrixF(MatrixF::NullaryExpr(2, 9, [&]() { return n(rng); })) : MatrixF(2, 0);
  }
  return states;
}

TEST_CASE("ensemble: the members run their own stacks, with the merged stack's outputs and states",
          "[models][ensemble]") {
  const SequenceBatch x = Input();
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    for (bool bidirectional : {true, false}) {
      INFO((cell == CellType::kLstm ? "lstm" : "gru") << (bidirectional ? " bidirectional" : " forward"));
      const std::vector<EnsembleMember> ab = {{"a", Member(cell, bidirectional, 3, 1)},
                                              {"b", Member(cell, bidirectional, 4, 2)}};
      const std::vector<EnsembleMember> abc = {{"ab", EnsembleModels(ab)}, {"c", Member(cell, bidirectional, 2, 3)}};
      const auto merged = EnsembleModels(abc);
      REQUIRE(merged->EnsembleHiddenSizes() == std::vector<int>{3, 4, 2});
      const auto dense = DenseTwin(*merged);
      // Parameters: the members' own values; the dense twin counts its zero blocks too.
      const int64_t own = EnsembleModels(ab)->NumParameters() + abc[1].model->NumParameters();
      CHECK(merged->NumParameters() == own);
      CHECK(own == ab[0].model->NumParameters() + ab[1].model->NumParameters() + abc[1].model->NumParameters());
      CHECK(dense->NumParameters() > own);

      for (int threads : {1, 2}) {
        const ModelOutput got = merged->Forward(x, threads), want = dense->Forward(x, threads);
        CHECK(MaxDiffOnValidFrames(got.rnn_output.data, want.rnn_output.data, x) < 1e-6);
        CHECK(MaxDiffOnValidFrames(got.log_probs.data, want.log_probs.data, x) < 1e-6);
      }
      // Carried forward states (chunked streaming): from given initial states, saved after frames 5 and 2.
      const std::vector<RecurrentState> initial = RandomStates(cell, 2);
      const std::vector<int64_t> carry = {5, 2};
      SequenceBatch got_out, want_out;
      std::vector<RecurrentState> got_final, want_final;
      merged->ForwardStack(x, got_out, &initial, &got_final, carry);
      dense->ForwardStack(x, want_out, &initial, &want_final, carry);
      CHECK(MaxDiffOnValidFrames(got_out.data, want_out.data, x) < 1e-6);
      REQUIRE(got_final.size() == 2);
      for (size_t k = 0; k < 2; ++k) {
        REQUIRE(got_final[k].h.rows() == 2);
        REQUIRE(got_final[k].h.cols() == 9);
        REQUIRE(got_final[k].c.cols() == want_final[k].c.cols());
        CHECK((got_final[k].h - want_final[k].h).cwiseAbs().maxCoeff() < 1e-6);
        if (cell == CellType::kLstm) CHECK((got_final[k].c - want_final[k].c).cwiseAbs().maxCoeff() < 1e-6);
      }
      // The carried state matters (so the comparison above is not of two zero states).
      SequenceBatch from_zero;
      merged->ForwardStack(x, from_zero, nullptr, nullptr, {});
      CHECK(MaxDiffOnValidFrames(from_zero.data, got_out.data, x) > 1e-3);

      // The members' stacks are what runs: a weight outside every member's block (zero in a merged model)
      // changes the dense twin's output but not the ensemble's.
      auto changed = merged->MutableCopy();
      for (ParameterView& p : changed->MutableParameters()) {
        if (p.name == "rnn.weight_hh_l0") p.values[8] = 3.0f;  // row 0 (member a), column 8 (member c)
      }
      changed->ParametersChanged();
      CHECK(MaxDiffOnValidFrames(changed->Forward(x).log_probs.data, merged->Forward(x).log_probs.data, x) == 0.0);
      CHECK(MaxDiffOnValidFrames(DenseTwin(*changed)->Forward(x).log_probs.data, merged->Forward(x).log_probs.data,
                                 x) > 1e-4);
    }
  }
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
