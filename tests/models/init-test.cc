// AcousticModel::Initialize (PyTorch's default initialisation, seeded) and the parameter views.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/model-gradients.h"
#include "models/training-pass.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

std::vector<std::string> Labels(int n) {
  std::vector<std::string> labels;
  for (int c = 0; c < n; ++c) labels.push_back("c" + std::to_string(c));
  return labels;
}

ModelArchitecture Arch(CellType cell, HeadType head) {
  return {.cell = cell, .input_size = 40, .hidden_size = 64, .num_layers = 2, .bidirectional = true,
          .num_classes = 12, .head = head, .attention_size = head == HeadType::kAttention ? 32 : 0};
}

TEST_CASE("Initialize draws PyTorch's default bounds, deterministically from the seed", "[models][init]") {
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    for (HeadType head : {HeadType::kFrame, HeadType::kAttention}) {
      const ModelArchitecture arch = Arch(cell, head);
      INFO(ConfigToString(arch));
      auto model = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), Labels(12), 42);
      CHECK(model->Labels() == Labels(12));
      CHECK(model->Features().mel.num_mel_bins == 40);
      const std::vector<ConstParameterView> params = model->Parameters();
      REQUIRE(params.size() == ParameterNames(arch).size());
      int64_t total = 0;
      for (size_t i = 0; i < params.size(); ++i) {
        const ConstParameterView& p = params[i];
        INFO(p.name);
        CHECK(p.name == ParameterNames(arch)[i]);
        int64_t n = 1;
        for (int64_t d : p.shape) n *= d;
        CHECK(n == static_cast<int64_t>(p.values.size()));
        total += n;
        // nn.LSTM / nn.GRU: U(-1/sqrt(H), 1/sqrt(H)); nn.Linear: U(-1/sqrt(in), 1/sqrt(in)).
        double bound = 1.0 / std::sqrt(64.0);
        if (p.name.rfind("out.", 0) == 0 || p.name == "att.weight" || p.name == "att.bias") bound = 1.0 / std::sqrt(128.0);
        if (p.name == "att.context") bound = 1.0 / std::sqrt(32.0);
        double sum = 0, sum_sq = 0, largest = 0;
        for (float v : p.values) {
          REQUIRE(std::abs(v) <= bound);
          sum += v;
          sum_sq += static_cast<double>(v) * v;
          largest = std::max(largest, static_cast<double>(std::abs(v)));
        }
        const double count = static_cast<double>(p.values.size());
        if (count >= 1000) {
          // Uniform on [-k, k]: mean 0 (standard error k / sqrt(3 n)), variance k^2 / 3, max |v| close to k.
          CHECK(std::abs(sum / count) < 5 * bound / std::sqrt(3 * count));
          CHECK(sum_sq / count == Approx(bound * bound / 3).epsilon(0.1));
          CHECK(largest > 0.99 * bound);
        }
      }
      CHECK(total == model->NumParameters());
      // Shapes in PyTorch's layout.
      CHECK(params[0].shape == std::vector<int64_t>{NumGates(cell) * 64, 40});
      CHECK(params[2].shape == std::vector<int64_t>{NumGates(cell) * 64});
      CHECK(params.back().shape == std::vector<int64_t>{12});

      auto same = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), Labels(12), 42);
      auto other = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), Labels(12), 43);
      const auto same_params = same->Parameters(), other_params = other->Parameters();
      for (size_t i = 0; i < params.size(); ++i) {
        CHECK(std::equal(params[i].values.begin(), params[i].values.end(), same_params[i].values.begin()));
        CHECK(!std::equal(params[i].values.begin(), params[i].values.end(), other_params[i].values.begin()));
      }
    }
  }
}

TEST_CASE("Initialize: the first values of seed 0 are fixed on every platform", "[models][init]") {
  // Draws are (top 24 bits of std::mt19937_64, whose sequence the standard fixes) * 2^-24 mapped to
  // [-k, k): a change here changes every model trained from a seed.
  ModelArchitecture arch{.cell = CellType::kLstm, .input_size = 1, .hidden_size = 4, .num_layers = 1,
                         .bidirectional = false, .num_classes = 2};
  auto model = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(1), Labels(2), 0);
  std::mt19937_64 rng(0);
  const float u = static_cast<float>(rng() >> 40) * 0x1p-24f;
  CHECK(model->Parameters()[0].values[0] == (2.0f * u - 1.0f) * 0.5f);
  // The 10000th output of mt19937_64 with the default seed is fixed by the standard ([rand.predef]).
  std::mt19937_64 standard;
  standard.discard(9999);
  CHECK(standard() == 9981545732273789042ull);
}

TEST_CASE("Initialize refuses inconsistent arguments, naming the field", "[models][init]") {
  const ModelArchitecture arch = Arch(CellType::kLstm, HeadType::kFrame);
  CHECK_THROWS_MATCHES(AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), Labels(11), 1), ConfigError,
                       HasMessage("11 labels for architecture.num_classes = 12"));
  CHECK_THROWS_MATCHES(AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(23), Labels(12), 1), ConfigError,
                       HasMessage("architecture.input_size = 40; expected the feature dimension 23"));
  ModelArchitecture bad = arch;
  bad.hidden_size = 0;
  CHECK_THROWS_MATCHES(AcousticModel::Initialize(bad, FeatureConfig::KaldiFbank(40), Labels(12), 1), ConfigError,
                       HasMessage("architecture.hidden_size = 0"));
}

TEST_CASE("parameters changed in place reach inference after ParametersChanged", "[models][init]") {
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    ModelArchitecture arch{.cell = cell, .input_size = 3, .hidden_size = 5, .num_layers = 2, .bidirectional = true,
                           .num_classes = 4};
    auto model = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(3), Labels(4), 9);
    SequenceBatch input;
    input.max_frames = 4;
    input.lengths = {4, 3};
    input.data = MatrixF::Random(8, 3);
    const MatrixF before = model->Forward(input).log_probs.data;
    // Every bias, including b_hh which the layers fuse into a cached input bias.
    for (ParameterView& p : model->MutableParameters()) {
      if (p.name.find("bias") != std::string::npos) {
        for (float& v : p.values) v += 0.5f;
      }
    }
    model->ParametersChanged();
    const MatrixF after = model->Forward(input).log_probs.data;
    CHECK((after - before).cwiseAbs().maxCoeff() > 1e-3f);
    // The training pass reads the parameters directly: it agrees with inference.
    TrainingPass pass(*model);
    CHECK((pass.Forward(input).log_probs.data - after).cwiseAbs().maxCoeff() <= 1e-6f);

    // A saved model loads back with the changed values; a mutable copy is independent.
    test::ScopedTempDir tmp;
    model->Save((tmp.path() / "m.safetensors").string());
    auto loaded = AcousticModel::Load((tmp.path() / "m.safetensors").string());
    CHECK((loaded->Forward(input).log_probs.data - after).cwiseAbs().maxCoeff() == 0.0f);
    auto copy = loaded->MutableCopy();
    copy->MutableParameters().back().values[0] += 1.0f;
    CHECK(copy->Parameters().back().values[0] == loaded->Parameters().back().values[0] + 1.0f);
  }
}

TEST_CASE("ModelGradients: zeros like the model, norm, scale, add", "[models][init]") {
  ModelArchitecture arch{.cell = CellType::kGru, .input_size = 3, .hidden_size = 2, .num_layers = 1,
                         .bidirectional = false, .num_classes = 2};
  auto model = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(3), Labels(2), 1);
  ModelGradients g = ModelGradients::ZerosLike(*model);
  CHECK(g.names == ParameterNames(arch));
  CHECK(g.NumValues() == model->NumParameters());
  CHECK(g.GlobalNorm() == 0.0);
  g.values[0][0] = 3;
  g.values.back()[1] = 4;
  CHECK(g.GlobalNorm() == 5.0);
  g.Scale(0.5f);
  CHECK(g.GlobalNorm() == 2.5);
  ModelGradients h = g;
  h.Add(g);
  CHECK(h.values[0][0] == 3.0f);
  CHECK(g.Find("out.bias") == static_cast<int>(g.names.size()) - 1);
  CHECK(g.Find("nope") == -1);
  h.SetZero();
  CHECK(h.GlobalNorm() == 0.0);
  ModelGradients other = g;
  other.values[1].pop_back();
  CHECK_THROWS_MATCHES(h.Add(other), ConfigError, HasMessage("'rnn.weight_hh_l0' holds 11 values; expected 12"));
}

}  // namespace
}  // namespace ossicle
