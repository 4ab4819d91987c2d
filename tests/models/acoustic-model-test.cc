// The model file: import from a PyTorch export, save, load, metadata, feature checks, errors; the
// attention-pooling head.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <random>

#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/golden-case.h"
#include "models/model-stream.h"
#include "models/safetensors.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

using Catch::Contains;
TEST_CASE("import-torch infers the architecture from a state_dict export", "[models][file]") {
  struct Case {
    const char* file;
    CellType cell;
    int input, hidden, layers;
    bool bidir;
    int classes;
    int64_t params;
  };
  // Parameter counts: per layer and direction G*H*(in + H + 2), plus C*(D + 1) for the output layer.
  const Case cases[] = {
      {"lstm_uni_1layer.safetensors", CellType::kLstm, 5, 4, 1, false, 6, 16 * (5 + 4 + 2) + 6 * 5},
      {"gru_uni_2layer.safetensors", CellType::kGru, 13, 16, 2, false, 5, 48 * (13 + 16 + 2) + 48 * (16 + 16 + 2) + 5 * 17},
      {"lstm_bi_2layer.safetensors", CellType::kLstm, 40, 32, 2, true, 12,
       2 * 128 * (40 + 32 + 2) + 2 * 128 * (64 + 32 + 2) + 12 * 65},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    std::vector<std::string> ignored;
    auto m = AcousticModel::ImportTorch(test::ModelTestData(c.file), FeatureConfig::KaldiFbank(c.input), {}, &ignored);
    const ModelArchitecture& a = m->Architecture();
    CHECK(a.cell == c.cell);
    CHECK(a.input_size == c.input);
    CHECK(a.hidden_size == c.hidden);
    CHECK(a.num_layers == c.layers);
    CHECK(a.bidirectional == c.bidir);
    CHECK(a.num_classes == c.classes);
    CHECK(m->NumParameters() == c.params);
    CHECK(m->Labels().size() == static_cast<size_t>(c.classes));
    // The goldens also hold inputs, outputs and gradients: not parameters, so ignored.
    CHECK(std::find(ignored.begin(), ignored.end(), "input") != ignored.end());
    CHECK(std::find(ignored.begin(), ignored.end(), "grad_ce.out.weight") != ignored.end());
    CHECK(std::find(ignored.begin(), ignored.end(), "out.weight") == ignored.end());
  }
}

TEST_CASE("a saved model loads back with the same outputs and metadata", "[models][file]") {
  test::ScopedTempDir tmp;
  FeatureConfig features = FeatureConfig::KaldiFbank(40);
  features.deltas.order = 1;
  std::vector<std::string> labels;
  for (int i = 0; i < 12; ++i) labels.push_back("class-" + std::to_string(i));
  auto imported = AcousticModel::ImportTorch(test::ModelTestData("lstm_bi_2layer.safetensors"), features, labels);
  const std::string path = (tmp.path() / "model.safetensors").string();
  imported->Save(path);
  auto loaded = AcousticModel::Load(path);
  CHECK(loaded->Labels() == labels);
  CHECK(ConfigToString(loaded->Features()) == ConfigToString(features));
  CHECK(ConfigToString(loaded->Architecture()) == ConfigToString(imported->Architecture()));
  CHECK_THAT(loaded->ProvenanceJson(), Contains("imported_from"));
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  MatrixF x(33, 40);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  const MatrixF a = imported->Forward(SingleSequence(x)).log_probs.data;
  const MatrixF b = loaded->Forward(SingleSequence(x)).log_probs.data;
  CHECK((a - b).cwiseAbs().maxCoeff() == 0.0f);

  SECTION("features other than the model's are refused, naming the key") {
    FeatureConfig other = features;
    other.mel.num_mel_bins = 80;
    CHECK_THROWS_WITH(loaded->CheckFeatures(other, "graph.yaml"),
                      Contains("graph.yaml: features.mel.num_mel_bins = 80 but the model was trained with 40"));
    CHECK_NOTHROW(loaded->CheckFeatures(features, "graph.yaml"));
  }
}

TEST_CASE("model file errors name the file and the problem", "[models][file][errors]") {
  test::ScopedTempDir tmp;
  // A plain PyTorch export is not an ossicle model: the message says what to do.
  CHECK_THROWS_WITH(AcousticModel::Load(test::ModelTestData("lstm_uni_1layer.safetensors")),
                    Contains("lstm_uni_1layer.safetensors: no 'format' in the metadata") &&
                        Contains("ossicle model import-torch"));
  CHECK_THROWS_AS(AcousticModel::Load((tmp.path() / "missing.safetensors").string()), Error);
  CHECK_THROWS_WITH(AcousticModel::ImportTorch(test::ModelTestData("lstm_uni_1layer.safetensors"), FeatureConfig{}, {"a", "b"}),
                    Contains("2 labels given for a model with 6 classes"));

  // A tensor of the wrong shape, written into an otherwise valid model file.
  auto m = AcousticModel::ImportTorch(test::ModelTestData("lstm_uni_1layer.safetensors"), FeatureConfig::KaldiFbank(5), {});
  const std::string good = (tmp.path() / "good.safetensors").string();
  m->Save(good);
  SafetensorsFile f = SafetensorsFile::Open(good);
  const std::string bad = (tmp.path() / "bad.safetensors").string();
  {
    SafetensorsWriter w(bad);
    for (const auto& [k, v] : f.Metadata()) w.SetMetadata(k, v);
    for (const std::string& name : f.TensorNames()) {
      std::vector<float> v = f.ReadFloat(name);
      std::vector<int64_t> shape = f.Info(name).shape;
      if (name == "rnn.weight_hh_l0") {
        shape = {16, 3};
        v.resize(48);
      }
      w.AddF32(name, shape, v);
    }
    w.Close();
  }
  CHECK_THROWS_WITH(AcousticModel::Load(bad), Contains("bad.safetensors") && Contains("rnn.weight_hh_l0") &&
                                                   Contains("[16,3]") && Contains("[16,4]"));
}

TEST_CASE("attention pooling: weights sum to one, zero context pools the mean", "[models][attention]") {
  // Build a tiny model by hand: LSTM F=3 H=2 uni, attention A=4, 3 classes.
  ModelArchitecture arch;
  arch.cell = CellType::kLstm;
  arch.input_size = 3;
  arch.hidden_size = 2;
  arch.num_layers = 1;
  arch.bidirectional = false;
  arch.num_classes = 3;
  arch.head = HeadType::kAttention;
  arch.attention_size = 4;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  bool zero_context = true;
  auto read = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = (name == "att.context" && zero_context) ? 0.0f : u(rng);
    return v;
  };
  auto model = AcousticModel::FromTensors(arch, read, "hand-made");
  MatrixF x(6, 3);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  ModelOutput y = model->Forward(SingleSequence(x));
  REQUIRE(y.attention_weights.cols() == 6);
  for (int t = 0; t < 6; ++t) CHECK(y.attention_weights(0, t) == Approx(1.0 / 6));
  CHECK(y.clip_log_probs.row(0).array().exp().sum() == Approx(1.0));
  CHECK_THROWS_WITH(ModelStream(model, StreamingConfig{}), Contains("attention head"));

  zero_context = false;
  auto model2 = AcousticModel::FromTensors(arch, read, "hand-made");
  y = model2->Forward(SingleSequence(x));
  CHECK(y.attention_weights.row(0).sum() == Approx(1.0));
  CHECK(y.attention_weights.row(0).maxCoeff() > y.attention_weights.row(0).minCoeff());
}

}  // namespace
}  // namespace ossicle
